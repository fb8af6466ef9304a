using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.Gpt;

public class GptWriterTests
{
    /// <summary>A 64 MiB disk with fixed GUIDs, names, attributes and a gap in the entry numbers.</summary>
    internal static GptTable GoldenTable(int sectorSize)
    {
        ulong perMiB = (ulong)(MiB / sectorSize);
        var t = GptTable.CreateEmpty(64 * perMiB, sectorSize, new Guid("6E6F7461-7469-7665-496E-697444697363"));
        return t
            .WithPartition(GptPartitionTypes.BiosBoot.Guid, 1 * perMiB, 2 * perMiB - 1, "bios", new Guid("00000001-0000-4000-8000-000000000001"), GptAttributes.LegacyBiosBootable)
            .WithPartition(GptPartitionTypes.LinuxFilesystem.Guid, 2 * perMiB, 18 * perMiB - 1, "boot", new Guid("00000002-0000-4000-8000-000000000002"))
            .WithPartition(GptPartitionTypes.LinuxLvm.Guid, 18 * perMiB, 50 * perMiB - 1, "pv", new Guid("00000003-0000-4000-8000-000000000003"))
            .WithPartition(GptPartitionTypes.LinuxSwap.Guid, 50 * perMiB, t.LastUsableLba, "swap", new Guid("00000005-0000-4000-8000-000000000005"),
                GptAttributes.NoAutomount | GptAttributes.RequiredPartition, number: 5);
    }

    /// <summary>Asserts the sfdisk dump equals the checked-in golden file; NATIVEINIT_UPDATE_GOLDEN=1 rewrites it
    /// instead (then review the diff before committing).</summary>
    private static void AssertGolden(int sectorSize, string actual)
    {
        string path = Path.Combine(Tool.RepoRoot, "tests", "NativeInit.Tests", "Disk", "Gpt", "golden", $"gpt-{sectorSize}.sfdisk");
        if (Environment.GetEnvironmentVariable("NATIVEINIT_UPDATE_GOLDEN") == "1") File.WriteAllText(path, actual);
        Assert.Equal(File.ReadAllText(path), actual);
    }

    /// <summary>The golden files are rewritten from NativeInit's own output (NATIVEINIT_UPDATE_GOLDEN), so each is
    /// also checked live against sgdisk: the same table made by sgdisk dumps to exactly the golden text, and a golden
    /// file can never be wrong in the same way as the writer.</summary>
    [SkippableTheory]
    [InlineData(512)]
    [InlineData(4096)]
    [Trait("Category", "Integration")]
    public void Each_sfdisk_golden_is_what_sgdisk_makes_of_the_same_table(int sectorSize)
    {
        Tool.Require("sgdisk", "sfdisk");
        if (sectorSize != 512) { Tool.Require("losetup"); Tool.RequireRoot(); }
        using var dir = new TempDir();
        string img = Sparse(dir, "sgdisk.img", 64 * MiB);
        var t = GoldenTable(sectorSize);
        var args = new List<string> { "-o", "-U", t.DiskGuid.ToString("D") };
        foreach (var p in t.Partitions)
        {
            args.AddRange(["-n", $"{p.Number}:{p.FirstLba}:{p.LastLba}", "-t", $"{p.Number}:{p.Type:D}", "-u", $"{p.Number}:{p.UniqueGuid:D}",
                "-c", $"{p.Number}:{p.Name}"]);
            for (int bit = 0; bit < 64; bit++)
                if (((ulong)p.Attributes & (1UL << bit)) != 0) args.AddRange(["-A", $"{p.Number}:set:{bit}"]);
        }
        string dump;
        if (sectorSize == 512)
        {
            Tool.Check("sgdisk", [.. args, img]);
            dump = SfdiskDump("sgdisk.img", dir.Path).Replace("sgdisk.img", "DISK", StringComparison.Ordinal);
        }
        else
        {
            using var loop = DiskTestSupport.Loop(img, sectorSize: sectorSize);
            Tool.Check("sgdisk", [.. args, loop.DevicePath]);
            dump = SfdiskDump(loop.DevicePath);
        }
        string golden = File.ReadAllText(Path.Combine(Tool.RepoRoot, "tests", "NativeInit.Tests", "Disk", "Gpt", "golden", $"gpt-{sectorSize}.sfdisk"));
        Assert.Equal(golden, dump);
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Written_table_512_is_clean_for_sgdisk_and_matches_the_sfdisk_golden()
    {
        Tool.Require("sgdisk", "sfdisk");
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 64 * MiB);
        // A recognisable boot code area that must survive.
        using (var f = File.OpenHandle(img, FileMode.Open, FileAccess.ReadWrite))
            RandomAccess.Write(f, Enumerable.Range(0, 440).Select(i => (byte)(i * 3 + 1)).ToArray(), 0);
        var table = GoldenTable(512);
        WriteTable(img, table);

        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
        AssertGolden(512, SfdiskDump("disk.img", dir.Path));
        var bytes = File.ReadAllBytes(img).AsSpan(0, 440).ToArray();
        Assert.Equal(Enumerable.Range(0, 440).Select(i => (byte)(i * 3 + 1)).ToArray(), bytes);
        using var disk = DiskDevice.Open(img, writable: false);
        var read = GptReader.Read(disk);
        Assert.Empty(read.Problems);
        Assert.Equal(table.Partitions, read.Table!.Partitions);
        Assert.Equal(table with { Partitions = [] }, read.Table with { Partitions = [] });
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Written_table_4096_is_clean_for_sgdisk_and_matches_the_sfdisk_golden()
    {
        Tool.Require("sgdisk", "sfdisk", "losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 64 * MiB);
        using var loop = DiskTestSupport.Loop(img, sectorSize: 4096);
        using (var disk = DiskDevice.Open(loop.DevicePath, writable: true))
        {
            Assert.Equal(4096, disk.LogicalSectorSize);
            GptWriter.Write(disk, GoldenTable(4096));
        }
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", loop.DevicePath));
        AssertGolden(4096, SfdiskDump(loop.DevicePath));
        // The image file read as 4096-byte sectors gives the same table.
        using var image = DiskDevice.Open(img, writable: false, imageSectorSize: 4096);
        Assert.Equal(GoldenTable(4096).Partitions, GptReader.Read(image).Table!.Partitions);
        Assert.Equal(4096, GptReader.DetectSectorSize(img));
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void A_stale_backup_of_a_smaller_disk_is_zeroed()
    {
        Tool.Require("sgdisk");
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 64 * MiB);
        WriteTable(img, GoldenTable(512));
        using (var f = new FileStream(img, FileMode.Open)) f.SetLength(96 * MiB); // the disk grew
        ulong oldBackupLba = 64 * 2048 - 1;
        var grown = GoldenTable(512).MovedToDisk(96 * 2048);
        using (var disk = DiskDevice.Open(img, writable: true))
        {
            var writes = GptWriter.Write(disk, grown);
            Assert.Contains(writes, w => w.What.Contains("stale backup GPT header", StringComparison.Ordinal) && w.Offset == (long)oldBackupLba * 512);
        }
        var sector = new byte[512];
        using (var f = File.OpenHandle(img)) RandomAccess.Read(f, sector, (long)oldBackupLba * 512);
        Assert.All(sector, b => Assert.Equal(0, b));
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
    }
}
