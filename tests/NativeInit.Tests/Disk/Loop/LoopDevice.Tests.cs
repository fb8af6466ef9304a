using NativeInit.Tests.Disk.Gpt;
using NativeInit.Core;
using NativeInit.Core.Disk.Loop;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.Loop;

[Trait("Category", "Integration")]
public class LoopDeviceTests
{
    [SkippableFact]
    public void Offset_and_size_limit_are_taken_and_a_marker_lands_at_the_offset()
    {
        Tool.Require("losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 16 * MiB);
        var marker = "NativeInit loop marker 0123456789"u8.ToArray();
        string device;
        using (var loop = LoopDevice.Attach(img, offset: 3 * MiB, sizeLimit: 5 * MiB))
        {
            device = loop.DevicePath;
            Assert.Equal(5 * MiB, loop.DeviceSize);
            // losetup's own view of the device.
            var cols = Tool.Check("losetup", "--list", "-n", "-O", "OFFSET,SIZELIMIT,BACK-FILE", device)
                .Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal((3 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), cols[0]);
            Assert.Equal((5 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), cols[1]);
            Assert.Contains("disk.img", cols[2]);
            using (var f = new FileStream(device, FileMode.Open, FileAccess.Write))
            {
                f.Position = 4096;
                var block = new byte[4096];
                marker.CopyTo(block, 0);
                f.Write(block);
                f.Flush(flushToDisk: true);
            }
        }
        var back = new byte[marker.Length];
        using (var f = File.OpenHandle(img)) RandomAccess.Read(f, back, 3 * MiB + 4096);
        Assert.Equal(marker, back);
        Assert.True(LoopGone(img), Tool.Run("losetup", "-a").Stdout);
    }

    [SkippableFact]
    public void A_set_detaches_everything_when_an_error_escapes()
    {
        Tool.Require("losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 8 * MiB);
        Action act = () =>
        {
            using var set = new LoopDeviceSet();
            set.Attach(img);
            set.Attach(img, MiB, MiB);
            set.Attach(img, 2 * MiB, 4 * MiB, sectorSize: 4096);
            Assert.Equal(3, set.Devices.Count);
            Assert.True(LoopListed(img));
            throw new InvalidOperationException("boom");
        };
        var ex = Assert.Throws<InvalidOperationException>(act);
        Assert.Equal("boom", ex.Message);
        Assert.True(LoopGone(img), Tool.Run("losetup", "-a").Stdout);
    }

    /// <summary>The path a 3.10 kernel takes (no LOOP_CONFIGURE): LOOP_SET_FD + LOOP_SET_STATUS64, read back.</summary>
    [SkippableFact]
    public void Legacy_attach_without_loop_configure_takes_offset_and_size()
    {
        Tool.Require("losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 16 * MiB);
        LoopDevice.SkipLoopConfigure = true;
        try
        {
            using var loop = LoopDevice.Attach(img, offset: 2 * MiB, sizeLimit: 6 * MiB);
            Assert.False(loop.UsedLoopConfigure);
            Assert.Equal(6 * MiB, loop.DeviceSize);
            var cols = Tool.Check("losetup", "--list", "-n", "-O", "OFFSET,SIZELIMIT,AUTOCLEAR", loop.DevicePath).Trim()
                .Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(cols.Length == 3, string.Join("|", cols));
            Assert.Equal(new[] { (2 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), (6 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), "1" }, cols);
        }
        finally
        {
            LoopDevice.SkipLoopConfigure = false;
        }
        Assert.True(LoopGone(img));
    }

    [SkippableFact]
    public void A_partition_of_an_image_is_reached_by_number()
    {
        Tool.Require("blkid", "mkfs.ext4");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 64 * MiB);
        var table = GptWriterTests.GoldenTable(512);
        WriteTable(img, table);
        using var set = new LoopDeviceSet();
        var p2 = set.AttachPartition(img, table, 2);
        Assert.Equal(table.Find(2)!.ByteLength(512), p2.DeviceSize);
        Tool.Check("mkfs.ext4", "-q", "-F", "-L", "p2", p2.DevicePath);
        // The filesystem starts exactly at the partition's first byte of the image.
        var sb = new byte[2048];
        using (var f = File.OpenHandle(img)) RandomAccess.Read(f, sb, table.Find(2)!.ByteOffset(512));
        Assert.Equal(0x53, sb[1024 + 56]);
        Assert.Equal(0xEF, sb[1024 + 57]);
        Assert.Throws<NativeInitException>(() => set.AttachPartition(img, table, 4));
    }

    [SkippableFact]
    public void Misaligned_offset_is_refused_before_attaching()
    {
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "disk.img", 8 * MiB);
        Assert.Throws<NativeInitException>(() => LoopDevice.Attach(img, offset: 100));
        Assert.True(LoopGone(img));
    }
}
