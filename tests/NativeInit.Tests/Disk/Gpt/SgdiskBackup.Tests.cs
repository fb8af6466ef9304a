using NativeInit.Core;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Disk.Loop;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.Gpt;

public class SgdiskBackupTests
{
    private static GptTable FieldTable(ulong sectors = 20971520) =>
        GptTable.CreateEmpty(sectors, 512, new Guid("11111111-2222-3333-4444-555555555555"))
            .WithPartition(GptPartitionTypes.BiosBoot.Guid, 2048, 6143, uniqueGuid: new Guid("00000000-0000-0000-0000-000000000001"))
            .WithPartition(GptPartitionTypes.LinuxFilesystem.Guid, 6144, 2103295, uniqueGuid: new Guid("00000000-0000-0000-0000-000000000002"))
            .WithPartition(GptPartitionTypes.LinuxLvm.Guid, 2103296, sectors - 34, uniqueGuid: new Guid("00000000-0000-0000-0000-000000000003"));

    [Fact]
    public void Saved_backup_parses_back()
    {
        var t = FieldTable();
        var b = SgdiskBackup.Parse(SgdiskBackup.Save(t));
        Assert.Equal(t.Partitions, b.Table.Partitions);
        Assert.Equal(t.DiskSectors, b.Table.DiskSectors);
        Assert.Equal(512, b.SourceSectorSize);
        Assert.Equal(17920, SgdiskBackup.Save(t).Length);
    }

    [Fact]
    public void Moving_to_a_larger_disk_follows_gptfdisk()
    {
        var b = SgdiskBackup.Parse(SgdiskBackup.Save(FieldTable()));
        var moved = b.ForDisk(25165824, 512);
        Assert.Equal(25165824UL - 34, moved.LastUsableLba);
        Assert.Equal(25165824UL - 33, moved.BackupEntriesLba);
        Assert.Equal(25165823UL, moved.BackupHeaderLba);
        Assert.Equal(20971520UL - 34, moved.Find(3)!.LastLba); // partitions are not grown
    }

    [Fact]
    public void Bad_crc_in_entries_is_refused()
    {
        var bytes = SgdiskBackup.Save(FieldTable());
        bytes[3 * 512 + 130] ^= 0x40; // inside entry 2
        var e = Assert.Throws<RefusedException>(() => SgdiskBackup.Parse(bytes, "x.gpt"));
        Assert.Contains("CRC", e.Message);
    }

    [Fact]
    public void Bad_header_crc_is_refused()
    {
        var bytes = SgdiskBackup.Save(FieldTable());
        bytes[512 + GptFormat.HdrLastUsableLba] ^= 1;
        Assert.Contains("header CRC", Assert.Throws<RefusedException>(() => SgdiskBackup.Parse(bytes)).Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(700)]
    [InlineData(1536)]
    [InlineData(17919)]
    public void Truncated_backup_is_refused(int length)
    {
        var bytes = SgdiskBackup.Save(FieldTable());
        var e = Assert.Throws<RefusedException>(() => SgdiskBackup.Parse(bytes.AsSpan(0, length), "x.gpt"));
        Assert.True(e.Message.Contains("truncated", StringComparison.Ordinal) || e.Message.Contains("signature", StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public void Disk_smaller_than_the_table_is_refused()
    {
        var b = SgdiskBackup.Parse(SgdiskBackup.Save(FieldTable()));
        var e = Assert.Throws<RefusedException>(() => b.ForDisk(20971520 - 1, 512, "small.img"));
        Assert.Contains("too small", e.Message);
        Assert.NotNull(b.ForDisk(20971520, 512)); // exactly the source size fits
        Assert.Throws<RefusedException>(() => b.ForDisk(20971520 / 8, 4096));
    }

    [Fact]
    public void Partition_outside_its_own_table_is_refused()
    {
        var t = FieldTable() with { };
        var bad = t with { Partitions = [.. t.Partitions.Take(2), t.Partitions[2] with { LastLba = t.DiskSectors - 2 }] };
        var bytes = SgdiskBackup.Save(bad);
        Assert.Contains("outside", Assert.Throws<RefusedException>(() => SgdiskBackup.Parse(bytes)).Message);
    }

    /// <summary>The reference in the brief: sgdisk's backup of a 10 GiB disk, applied by NativeInit on 12 GiB, equals what
    /// sgdisk --zap-all, --load-backup and -e produce, byte for byte where either writes (see AssertSameWhereTablesLive).</summary>
    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Apply_equals_sgdisk_load_backup_and_e()
    {
        Tool.Require("sgdisk", "sfdisk");
        using var dir = new TempDir();
        string backup = SgdiskReference(dir, 10 * GiB);
        string ours = Sparse(dir, "ours.img", 12 * GiB);
        string theirs = Sparse(dir, "theirs.img", 12 * GiB);
        // Both start as the field's disk: an MBR with one Linux partition.
        foreach (var img in new[] { ours, theirs }) Tool.Run("sfdisk", ["-q", img], stdin: "label: dos\n2048,,83,*\n");

        using (var disk = DiskDevice.Open(ours, writable: true))
        {
            var plan = GptApply.PlanFromBackup(disk, SgdiskBackup.Load(backup));
            Assert.Equal("mbr", plan.CurrentKind);
            Assert.Equal(KernelNotification.NotABlockDevice, GptApply.Execute(disk, plan));
        }
        Tool.Check("sgdisk", "--zap-all", theirs);
        Tool.Check("sgdisk", "--load-backup=" + backup, theirs);
        Tool.Check("sgdisk", "-e", theirs);

        GptTable table;
        using (var disk = DiskDevice.Open(ours, writable: false)) table = GptReader.Read(disk).Table!;
        AssertSameWhereTablesLive(ours, theirs, table);
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", ours));

        // sgdisk accepts the backup of NativeInit's result, and NativeInit's own Save() output.
        string again = dir.Combine("again.gpt");
        Tool.Check("sgdisk", "--backup=" + again, ours);
        string third = Sparse(dir, "third.img", 12 * GiB);
        Tool.Check("sgdisk", "--load-backup=" + again, third);
        AssertSameWhereTablesLive(ours, third, table);
        using (var disk = DiskDevice.Open(ours, writable: false))
        {
            var read = GptReader.Read(disk);
            Assert.Empty(read.Problems);
            File.WriteAllBytes(dir.Combine("nativeinit.gpt"), SgdiskBackup.Save(read.Table!));
        }
        // Byte for byte what sgdisk --backup writes for the same disk.
        Assert.Equal(File.ReadAllBytes(again), File.ReadAllBytes(dir.Combine("nativeinit.gpt")));
        string fourth = Sparse(dir, "fourth.img", 12 * GiB);
        Tool.Check("sgdisk", "--load-backup=" + dir.Combine("nativeinit.gpt"), fourth);
        AssertSameWhereTablesLive(ours, fourth, table);
    }

    /// <summary>The same with 4096-byte logical sectors, through loop devices with that sector size.</summary>
    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Apply_equals_sgdisk_on_4096_byte_sectors()
    {
        Tool.Require("sgdisk", "losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string refImg = Sparse(dir, "ref.img", 1 * GiB);
        string ours = Sparse(dir, "ours.img", 1536 * MiB);
        string theirs = Sparse(dir, "theirs.img", 1536 * MiB);
        string backup = dir.Combine("ref.gpt");
        using (var loop = DiskTestSupport.Loop(refImg, sectorSize: 4096))
        {
            Tool.Check("sgdisk", "-n", "1:0:+2M", "-t", "1:EF02", "-n", "2:0:+256M", "-t", "2:8300", "-n", "3:0:0", "-t", "3:8E00", loop.DevicePath);
            Tool.Check("sgdisk", "--backup=" + backup, loop.DevicePath);
        }
        using (var loop = DiskTestSupport.Loop(ours, sectorSize: 4096))
        using (var disk = DiskDevice.Open(loop.DevicePath, writable: true))
        {
            Assert.Equal(4096, disk.LogicalSectorSize);
            var b = SgdiskBackup.Load(backup);
            Assert.Equal(4096, b.SourceSectorSize);
            GptApply.Execute(disk, GptApply.PlanFromBackup(disk, b));
            Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", loop.DevicePath));
        }
        using (var loop = DiskTestSupport.Loop(theirs, sectorSize: 4096))
        {
            Tool.Check("sgdisk", "--load-backup=" + backup, loop.DevicePath);
            Tool.Check("sgdisk", "-e", loop.DevicePath);
        }
        var b4 = SgdiskBackup.Load(backup).ForDisk(1536 * MiB / 4096, 4096);
        AssertSameWhereTablesLive(ours, theirs, b4);
        Assert.True(LoopGone(ours));
    }
}
