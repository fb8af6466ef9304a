using System.Globalization;
using System.Text.RegularExpressions;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk;

[Trait("Category", "Integration")]
public class DiskWipeTests
{
    /// <summary>
    /// An old MBR disk whose filesystems start exactly where the new GPT partitions start (old swap, xfs with four
    /// allocation groups, ext4 with backup superblocks). After `gpt apply` no old signature is found by wipefs or
    /// blkid on any new partition, and the xfs/ext secondary superblocks that xfs_db / dumpe2fs list are gone.
    /// </summary>
    [SkippableFact]
    public void After_apply_no_old_signature_is_found_in_any_new_partition()
    {
        Tool.Require("sgdisk", "sfdisk", "mkfs.xfs", "mkfs.ext4", "mkswap", "blkid", "wipefs", "xfs_db", "dumpe2fs", "losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        // The new layout: 2M EF02, 400M 8300, rest 8E00 on a 2 GiB reference disk.
        string refImg = Sparse(dir, "ref.img", 2 * GiB);
        Tool.Check("sgdisk", "-n", "1:0:+2M", "-t", "1:EF02", "-n", "2:0:+400M", "-t", "2:8300", "-n", "3:0:0", "-t", "3:8E00", refImg);
        string backup = dir.Combine("ref.gpt");
        Tool.Check("sgdisk", "--backup=" + backup, refImg);
        var newTable = SgdiskBackup.Load(backup).ForDisk(3 * GiB / 512, 512);
        var p1 = newTable.Find(1)!; var p2 = newTable.Find(2)!; var p3 = newTable.Find(3)!;

        // The old disk: MBR partitions at the same starts.
        string img = Sparse(dir, "disk.img", 3 * GiB);
        Tool.Run("sfdisk", ["-q", img], stdin: $"label: dos\n{p1.FirstLba},{p1.Sectors},82\n{p2.FirstLba},{p2.Sectors},83\n{p3.FirstLba},,83\n");
        var secondaries = new List<(long Offset, string What)>();
        using (var l = DiskTestSupport.Loop(img, p1.ByteOffset(512), p1.ByteLength(512))) Tool.Check("mkswap", l.DevicePath);
        using (var l = DiskTestSupport.Loop(img, p2.ByteOffset(512), p2.ByteLength(512)))
        {
            Tool.Check("mkfs.xfs", "-q", "-f", "-d", "agcount=4", l.DevicePath);
            var v = Tool.Check("xfs_db", "-r", "-c", "sb 0", "-c", "p agblocks agcount blocksize", l.DevicePath);
            long ag = Field(v, "agblocks"), count = Field(v, "agcount"), bs = Field(v, "blocksize");
            for (long i = 1; i < count; i++) secondaries.Add((p2.ByteOffset(512) + i * ag * bs, "xfs"));
        }
        using (var l = DiskTestSupport.Loop(img, p3.ByteOffset(512), 1 * GiB))
        {
            Tool.Check("mkfs.ext4", "-q", "-F", "-b", "4096", l.DevicePath);
            foreach (Match m in Regex.Matches(Tool.Check("dumpe2fs", l.DevicePath), @"Backup superblock at (\d+)"))
                secondaries.Add((p3.ByteOffset(512) + long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * 4096, "ext4"));
        }
        Assert.Contains(secondaries, s => s.What == "xfs");
        Assert.Contains(secondaries, s => s.What == "ext4");
        foreach (var (off, what) in secondaries) Assert.True(HasMagic(img, off, what), $"{what} secondary superblock expected at {off}");
        foreach (var p in new[] { p1, p2, p3 })
        {
            using var l = DiskTestSupport.Loop(img, p.ByteOffset(512), p.ByteLength(512));
            Assert.Equal(0, Tool.Run("blkid", "-p", l.DevicePath).ExitCode); // the test can fail: old signatures are there
        }

        using (var disk = DiskDevice.Open(img, writable: true))
            GptApply.Execute(disk, GptApply.PlanFromBackup(disk, SgdiskBackup.Load(backup)));

        foreach (var p in new[] { p1, p2, p3 })
        {
            using var l = DiskTestSupport.Loop(img, p.ByteOffset(512), p.ByteLength(512));
            var blkid = Tool.Run("blkid", "-p", l.DevicePath);
            Assert.True(blkid.ExitCode == 2, $"partition {p.Number}: {blkid}");
            var wipefs = Tool.Run("wipefs", "-n", l.DevicePath);
            Assert.True(wipefs.ExitCode == 0 && wipefs.Stdout.Trim().Length == 0, $"partition {p.Number}: {wipefs}");
        }
        foreach (var (off, what) in secondaries) Assert.False(HasMagic(img, off, what), $"{what} secondary superblock at {off} survived");
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
        var whole = Tool.Check("blkid", "-p", "-o", "value", "-s", "PTTYPE", img).Trim();
        Assert.Equal("gpt", whole);
    }

    /// <summary>
    /// The field's disk: one MBR partition from 2048 to the end holding the old xfs root. Its primary superblock lies at
    /// the start of the new BIOS boot partition, its secondary superblocks (one per allocation group) in the middle of
    /// the new partitions: all are gone after apply. Applying the same table again keeps every partition untouched.
    /// </summary>
    [SkippableFact]
    public void Field_disk_old_xfs_root_leaves_no_superblock_and_a_second_apply_keeps_everything()
    {
        Tool.Require("sgdisk", "sfdisk", "mkfs.xfs", "blkid", "xfs_db", "losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string refImg = Sparse(dir, "ref.img", 2 * GiB);
        Tool.Check("sgdisk", "-n", "1:0:+2M", "-t", "1:EF02", "-n", "2:0:+400M", "-t", "2:8300", "-n", "3:0:0", "-t", "3:8E00", refImg);
        string backup = dir.Combine("ref.gpt");
        Tool.Check("sgdisk", "--backup=" + backup, refImg);
        string img = Sparse(dir, "disk.img", 2 * GiB);
        Tool.Run("sfdisk", ["-q", img], stdin: "label: dos\n2048,,83,*\n");
        var secondaries = new List<long>();
        using (var l = DiskTestSupport.Loop(img, 2048 * 512, 2 * GiB - 2048 * 512))
        {
            Tool.Check("mkfs.xfs", "-q", "-f", "-d", "agcount=5", l.DevicePath);
            var v = Tool.Check("xfs_db", "-r", "-c", "sb 0", "-c", "p agblocks agcount blocksize", l.DevicePath);
            long ag = Field(v, "agblocks"), count = Field(v, "agcount"), bs = Field(v, "blocksize");
            for (long i = 1; i < count; i++) secondaries.Add(2048 * 512 + i * ag * bs);
        }
        Assert.Equal(4, secondaries.Count);
        Assert.All(secondaries, off => Assert.True(HasMagic(img, off, "xfs")));

        using (var disk = DiskDevice.Open(img, writable: true))
        {
            var plan = GptApply.PlanFromBackup(disk, SgdiskBackup.Load(backup));
            Assert.Contains(plan.Changes, c => c.Number == 1 && c.OldContent == "xfs");
            GptApply.Execute(disk, plan);
        }
        Assert.All(secondaries, off => Assert.False(HasMagic(img, off, "xfs"), $"old xfs superblock at {off} survived"));
        Assert.Equal("", Tool.Run("blkid", "-p", "-o", "value", "-s", "TYPE", img).Stdout.Trim());
        Assert.Equal("gpt", Tool.Run("blkid", "-p", "-o", "value", "-s", "PTTYPE", img).Stdout.Trim());

        // Something a later step wrote at the start of partition 3 survives a second apply of the same table.
        var p3 = SgdiskBackup.Load(backup).ForDisk(2 * GiB / 512, 512).Find(3)!;
        var marker = "LABELONE-like marker"u8.ToArray();
        using (var f = File.OpenHandle(img, FileMode.Open, FileAccess.ReadWrite)) RandomAccess.Write(f, marker, p3.ByteOffset(512) + 512);
        using (var disk = DiskDevice.Open(img, writable: true))
        {
            var plan = GptApply.PlanFromBackup(disk, SgdiskBackup.Load(backup));
            Assert.All(plan.Changes, c => Assert.Equal("keep", c.Action));
            Assert.Empty(plan.WipeWrites);
            GptApply.Execute(disk, plan);
        }
        var back = new byte[marker.Length];
        using (var f = File.OpenHandle(img)) RandomAccess.Read(f, back, p3.ByteOffset(512) + 512);
        Assert.Equal(marker, back);
    }

    /// <summary>The entry point the LVM layer uses on an LV: a PV label and an ext4 on a device are gone afterwards.</summary>
    [SkippableFact]
    public void WipeDevice_removes_an_lvm_label_and_a_filesystem()
    {
        Tool.Require("pvcreate", "mkfs.ext4", "blkid", "losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "lv.img", 64 * MiB);
        foreach (var mk in new[] { new[] { "pvcreate", "-q", "-ff", "-y" }, new[] { "mkfs.ext4", "-q", "-F" } })
        {
            using var l = DiskTestSupport.Loop(img, MiB, 32 * MiB);
            Tool.Check(mk[0], [.. mk[1..], l.DevicePath]);
            Assert.Equal(0, Tool.Run("blkid", "-p", l.DevicePath).ExitCode);
            var writes = DiskWipe.WipeDevice(l.DevicePath);
            Assert.NotEmpty(writes);
            Assert.Equal(2, Tool.Run("blkid", "-p", l.DevicePath).ExitCode);
        }
    }

    private static long Field(string xfsDbOutput, string name) =>
        long.Parse(Regex.Match(xfsDbOutput, name + @" = (\d+)").Groups[1].Value, CultureInfo.InvariantCulture);

    private static bool HasMagic(string img, long offset, string what)
    {
        var b = new byte[2048];
        using var f = File.OpenHandle(img);
        RandomAccess.Read(f, b, offset);
        return what == "xfs" ? b.AsSpan(0, 4).SequenceEqual("XFSB"u8) : b[56] == 0x53 && b[57] == 0xEF;
    }
}
