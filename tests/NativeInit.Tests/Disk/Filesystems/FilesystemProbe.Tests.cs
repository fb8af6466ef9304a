using System.Text.RegularExpressions;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Mbr;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.Filesystems;

[Trait("Category", "Integration")]
public class FilesystemProbeTests
{
    /// <summary>An old-system disk: MBR by sfdisk with xfs, ext4, swap and (logical, in an extended partition) an LVM PV.</summary>
    [SkippableFact]
    public void Mbr_partitions_and_their_filesystems_are_recognised()
    {
        Tool.Require("sfdisk", "mkfs.xfs", "mkfs.ext4", "mkswap", "pvcreate", "blkid", "losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "old.img", 1 * GiB);
        Tool.Run("sfdisk", ["-q", img], stdin: "label: dos\n2048,655360,83,*\n,65536,83\n,32768,82\n,,5\n,65536,8e\n");

        // sfdisk's own view, to compare the MBR reader with.
        var expected = Regex.Matches(Tool.Check("sfdisk", "-d", img), @"old\.img(\d+) : start=\s*(\d+), size=\s*(\d+), type=(\w+)")
            .Select(m => (int.Parse(m.Groups[1].Value), ulong.Parse(m.Groups[2].Value), ulong.Parse(m.Groups[3].Value), Convert.ToByte(m.Groups[4].Value, 16)))
            .ToList();
        List<MbrPartition> parts;
        using (var disk = DiskDevice.Open(img, writable: false))
        {
            parts = MbrTable.Read(disk).ToList();
            Assert.Equal("dos", FilesystemProbe.Probe(disk)!.Type);
        }
        Assert.Equal(expected, parts.Select(p => (p.Number, p.FirstLba, p.Sectors, p.Type)).ToList());
        Assert.True(parts[0].Bootable);
        Assert.True(parts.Single(p => p.Number == 5).IsLogical);

        var make = new Dictionary<int, string[]>
        {
            [1] = ["mkfs.xfs", "-q", "-f", "-L", "oldroot"],
            [2] = ["mkfs.ext4", "-q", "-F", "-L", "oldboot"],
            [3] = ["mkswap", "-L", "oldswap"],
            [5] = ["pvcreate", "-q", "-ff", "-y", "--zero", "y"],
        };
        var expectTypes = new Dictionary<int, string> { [1] = "xfs", [2] = "ext4", [3] = "swap", [5] = "LVM2_member" };
        foreach (var (n, cmd) in make)
        {
            var p = parts.Single(x => x.Number == n);
            using var loop = DiskTestSupport.Loop(img, p.ByteOffset(512), p.ByteLength(512));
            var r = Tool.Run(cmd[0], [.. cmd[1..], loop.DevicePath]);
            Assert.True(r.ExitCode == 0, r.ToString());
            string blkType = Tool.Run("blkid", "-p", "-o", "value", "-s", "TYPE", loop.DevicePath).Stdout.Trim();
            string blkUuid = Tool.Run("blkid", "-p", "-o", "value", "-s", "UUID", loop.DevicePath).Stdout.Trim();
            Assert.Equal(expectTypes[n], blkType);
            using var disk = DiskDevice.Open(img, writable: false);
            var probe = FilesystemProbe.Probe(disk, p.ByteOffset(512), p.ByteLength(512));
            Assert.NotNull(probe);
            Assert.Equal(blkType, probe!.Type);
            Assert.Equal(blkUuid, probe.Uuid);
            if (n != 5) Assert.StartsWith("old", probe.Label);
        }
        // The extended partition itself carries no filesystem.
        using (var disk = DiskDevice.Open(img, writable: false))
        {
            var ext = parts.Single(p => p.IsExtended);
            Assert.Equal(5, ext.Type);
        }
    }

    [Fact]
    public void Nothing_is_recognised_in_zeros()
    {
        Assert.Null(FilesystemProbe.ProbeHead(new byte[FilesystemProbe.HeadBytes], 1 << 30));
    }
}
