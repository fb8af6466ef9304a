using NativeInit.Core;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.Gpt;

/// <summary>Reading back what the writer wrote, and falling back to the backup copy when the primary is damaged
/// (image files in a temp directory; no root needed).</summary>
public class GptReaderTests
{
    private static GptTable Layout(ulong sectors) =>
        GptTable.CreateEmpty(sectors, 512, new Guid("0D15C0DE-0000-4000-8000-000000000000"))
            .AppendPartition(GptPartitionTypes.BiosBoot.Guid, 2 * MiB, "bios")
            .AppendPartition(GptPartitionTypes.LinuxFilesystem.Guid, 16 * MiB, "boot")
            .AppendPartition(GptPartitionTypes.LinuxLvm.Guid, 0, "pv");

    [Fact]
    public void AppendPartition_aligns_to_a_mebibyte_and_rest_reaches_the_last_usable_lba()
    {
        var t = Layout(64 * 2048);
        Assert.Equal([2048UL, 6144UL, 38912UL], t.Partitions.Select(p => p.FirstLba));
        Assert.Equal(6143UL, t.Find(1)!.LastLba);
        Assert.Equal(t.LastUsableLba, t.Find(3)!.LastLba);
        Assert.Empty(t.Validate());
        Assert.Throws<RefusedException>(() => GptTable.CreateEmpty(8 * 2048, 512, Guid.NewGuid()).AppendPartition(GptPartitionTypes.LinuxLvm.Guid, 8 * MiB));
    }

    [Fact]
    public void A_damaged_primary_header_is_reported_and_the_backup_copy_is_used()
    {
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 64 * MiB);
        var table = Layout(64 * 2048);
        WriteTable(img, table);
        using (var f = File.OpenHandle(img, FileMode.Open, FileAccess.ReadWrite)) RandomAccess.Write(f, new byte[] { 0x77 }, 512 + GptFormat.HdrFirstUsableLba);
        using var disk = DiskDevice.Open(img, writable: false);
        var read = GptReader.Read(disk);
        Assert.Equal("backup", read.Source);
        Assert.Contains(read.Problems, p => p.Contains("primary header CRC", StringComparison.Ordinal));
        Assert.Equal(table.Partitions, read.Table!.Partitions);
        Assert.True(read.HasProtectiveMbr);
    }

    [Fact]
    public void A_damaged_entry_array_is_reported()
    {
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 64 * MiB);
        WriteTable(img, Layout(64 * 2048));
        using (var f = File.OpenHandle(img, FileMode.Open, FileAccess.ReadWrite)) RandomAccess.Write(f, new byte[] { 0x01 }, 1024 + 128 + 40);
        using var disk = DiskDevice.Open(img, writable: false);
        var read = GptReader.Read(disk);
        Assert.Contains("primary entry array CRC is wrong", read.Problems);
        Assert.Equal("backup", read.Source);
    }

    [Fact]
    public void A_blank_image_has_no_table()
    {
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 8 * MiB);
        using var disk = DiskDevice.Open(img, writable: false);
        var read = GptReader.Read(disk);
        Assert.Null(read.Table);
        Assert.False(read.HasProtectiveMbr);
        Assert.Equal(512, disk.LogicalSectorSize);
        Assert.Equal(8 * MiB, disk.SizeBytes);
        Assert.False(disk.IsBlockDevice);
    }
}
