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
