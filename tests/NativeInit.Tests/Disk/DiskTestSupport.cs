using System.Security.Cryptography;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Disk.Loop;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Disk;

/// <summary>Helpers for the disk tests: sparse images, sgdisk reference disks, hashes.</summary>
internal static class DiskTestSupport
{
    public const long MiB = 1 << 20, GiB = 1L << 30;

    /// <summary>Creates a sparse image file of <paramref name="size"/> bytes.</summary>
    public static string Sparse(TempDir dir, string name, long size)
    {
        string path = dir.Combine(name);
        using (var f = new FileStream(path, FileMode.CreateNew)) f.SetLength(size);
        return path;
    }

    /// <summary>The field layout made with sgdisk on an image: 2M EF02, 1G 8300, rest 8E00; returns the sgdisk backup path.</summary>
    public static string SgdiskReference(TempDir dir, long size, string name = "ref")
    {
        string img = Sparse(dir, name + ".img", size);
        Tool.Check("sgdisk", "-n", "1:0:+2M", "-t", "1:EF02", "-n", "2:0:+1G", "-t", "2:8300", "-n", "3:0:0", "-t", "3:8E00", img);
        string backup = dir.Combine(name + ".gpt");
        Tool.Check("sgdisk", "--backup=" + backup, img);
        return backup;
    }

    /// <summary>SHA-256 of a whole file (small images only).</summary>
    public static string Hash(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }

    /// <summary>sfdisk -d with the device name replaced by DISK (DISKp1 and DISK1 both become DISK1).</summary>
    public static string SfdiskDump(string device, string? workingDirectory = null)
    {
        var r = Tool.Run("sfdisk", ["-d", device], workingDirectory: workingDirectory);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Replace(device + "p", "DISK", StringComparison.Ordinal).Replace(device, "DISK", StringComparison.Ordinal);
    }

    /// <summary>
    /// Asserts two (sparse) images are byte-identical where a partitioning tool writes: the first and last 4 MiB
    /// (MBR, both headers and arrays, a stale backup) and the first and last MiB of every partition of
    /// <paramref name="table"/> (wipes). A whole-file cmp of a 12 GiB sparse file takes a minute here.
    /// </summary>
    public static void AssertSameWhereTablesLive(string a, string b, GptTable table)
    {
        Assert.Equal(new FileInfo(a).Length, new FileInfo(b).Length);
        long size = new FileInfo(a).Length;
        var ranges = new List<(long, long)> { (0, 4 * MiB), (size - 4 * MiB, 4 * MiB) };
        foreach (var p in table.Partitions)
        {
            long off = p.ByteOffset(table.SectorSize), len = p.ByteLength(table.SectorSize);
            ranges.Add((off, Math.Min(len, MiB)));
            ranges.Add((off + len - Math.Min(len, MiB), Math.Min(len, MiB)));
        }
        using var fa = File.OpenHandle(a);
        using var fb = File.OpenHandle(b);
        foreach (var (off, len) in ranges)
        {
            var ba = new byte[len];
            var bb = new byte[len];
            RandomAccess.Read(fa, ba, off);
            RandomAccess.Read(fb, bb, off);
            if (!ba.AsSpan().SequenceEqual(bb))
            {
                int i = ba.AsSpan().CommonPrefixLength(bb);
                Assert.Fail($"{a} and {b} differ at byte {off + i} (sector {(off + i) / table.SectorSize})");
            }
        }
    }

    /// <summary>Whether a loop device for <paramref name="backingFile"/> is listed by losetup -a now.</summary>
    public static bool LoopListed(string backingFile) =>
        Tool.Run("losetup", "-a").Stdout.Contains(backingFile, StringComparison.Ordinal);

    /// <summary>True once no loop device for <paramref name="backingFile"/> is listed. A detach is deferred while another
    /// process (an lvm scan or a blkid of a test running beside) holds the device, so this looks for up to 3 s.</summary>
    public static bool LoopGone(string backingFile)
    {
        for (int i = 0; ; i++)
        {
            if (!LoopListed(backingFile)) return true;
            if (i >= 30) return false;
            Thread.Sleep(100);
        }
    }

    /// <summary>Writes a table built in code to an image and returns the DiskDevice-free path.</summary>
    public static void WriteTable(string imagePath, GptTable table, int sectorSize = 512)
    {
        using var disk = DiskDevice.Open(imagePath, writable: true, sectorSize);
        GptWriter.Write(disk, table);
    }

    /// <summary>Attaches a loop device (NativeInit's own API) for the test's duration.</summary>
    public static LoopDevice Loop(string file, long offset = 0, long size = 0, int sectorSize = 0) =>
        LoopDevice.Attach(file, offset, size, sectorSize: sectorSize);
}
