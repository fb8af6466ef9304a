using NativeInit.Tests.Disk.Gpt;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Disk.Loop;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk;

/// <summary>BLKRRPART / BLKPG on a loop device with partition scanning (LO_FLAGS_PARTSCAN): the partition nodes the
/// kernel shows match the table, also when a partition is held open and the disk is busy.</summary>
[Trait("Category", "Integration")]
public class KernelPartitionsTests
{
    private static void AssertKernelShows(LoopDevice loop, GptTable table)
    {
        string name = Path.GetFileName(loop.DevicePath);
        var parts = BlockDeviceInfo.Partitions(name);
        Assert.Equal(table.Partitions.Select(p => p.Number), parts.Select(p => p.Number));
        foreach (var p in table.Partitions)
        {
            string node = "/dev/" + BlockDeviceInfo.PartitionName(name, p.Number);
            Assert.True(File.Exists(node), node);
            using var d = DiskDevice.Open(node, writable: false);
            Assert.Equal(p.ByteLength(table.SectorSize), d.SizeBytes);
        }
    }

    [SkippableFact]
    public void Partitions_appear_and_follow_a_changed_table_while_one_is_open()
    {
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 64 * MiB);
        using var loop = LoopDevice.Attach(img, partitionScan: true);
        var table = GptWriterTests.GoldenTable(512);
        using (var disk = DiskDevice.Open(loop.DevicePath, writable: true))
        {
            var how = GptApply.Execute(disk, GptApply.Plan(disk, table));
            Assert.True(how is KernelNotification.Reread or KernelNotification.PartitionByPartition, how.ToString());
        }
        AssertKernelShows(loop, table);

        // Partition 1 held open: BLKRRPART gets EBUSY, partitions 3 and 5 are replaced with BLKPG, 1 and 2 stay.
        var p3 = table.Find(3)!;
        var changed = table with
        {
            Partitions = [.. table.Partitions.Where(p => p.Number is 1 or 2), p3 with { LastLba = p3.LastLba - 2048 }],
        };
        string name = Path.GetFileName(loop.DevicePath);
        using (var held = DiskDevice.Open("/dev/" + BlockDeviceInfo.PartitionName(name, 1), writable: false))
        using (var disk = DiskDevice.Open(loop.DevicePath, writable: true))
        {
            var how = GptApply.Execute(disk, GptApply.Plan(disk, changed, wipePartitions: false));
            Assert.Equal(KernelNotification.PartitionByPartition, how);
        }
        AssertKernelShows(loop, changed);

        // Partition 5 (the last) in use and grown into the free space: resized in place (BLKPG_RESIZE_PARTITION).
        var grown = changed
            .WithPartition(GptPartitionTypes.LinuxSwap.Guid, p3.LastLba + 1, p3.LastLba + 2048, "swap", new Guid("00000005-0000-4000-8000-000000000005"), number: 5)
            .GrowPartition(5);
        Assert.Equal(grown.LastUsableLba, grown.Find(5)!.LastLba);
        using (var disk = DiskDevice.Open(loop.DevicePath, writable: true))
            GptApply.Execute(disk, GptApply.Plan(disk, grown, wipePartitions: false));
        AssertKernelShows(loop, grown);
        var shrunk = grown with { Partitions = [.. grown.Partitions.Select(p => p.Number == 5 ? p with { LastLba = p.FirstLba + 2047 } : p)] };
        using (var disk = DiskDevice.Open(loop.DevicePath, writable: true))
            GptApply.Execute(disk, GptApply.Plan(disk, shrunk, wipePartitions: false));
        AssertKernelShows(loop, shrunk);
        using (var held5 = DiskDevice.Open("/dev/" + BlockDeviceInfo.PartitionName(name, 5), writable: false))
        using (var disk = DiskDevice.Open(loop.DevicePath, writable: true))
            Assert.Equal(KernelNotification.PartitionByPartition, GptApply.Execute(disk, GptApply.Plan(disk, shrunk.GrowPartition(5), wipePartitions: false)));
        AssertKernelShows(loop, shrunk.GrowPartition(5));
    }

    [SkippableFact]
    public void An_image_file_needs_no_notification_and_a_plain_loop_carries_no_partitions()
    {
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 64 * MiB);
        var table = GptWriterTests.GoldenTable(512);
        using (var disk = DiskDevice.Open(img, writable: true))
            Assert.Equal(KernelNotification.NotABlockDevice, GptApply.Execute(disk, GptApply.Plan(disk, table)));
        using var loop = LoopDevice.Attach(img);
        using var dev = DiskDevice.Open(loop.DevicePath, writable: true);
        Assert.Equal(KernelNotification.NoPartitionSupport, KernelPartitions.Notify(dev, table));
    }
}
