using NativeInit.Core;
using NativeInit.Core.Boot.Init;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot.Init;

/// <summary>
/// rd.nativeinit.disk= resolves to exactly one whole disk (issue 12): partuuid: (MBR disk signature + partition number
/// read from the disk, GPT unique GUID as sgdisk wrote it, or the kernel's uevent), uuid: (the filesystem UUID mkfs
/// wrote), serial:, wwn:. A fake /sys/block and /dev hold image files as the devices.
/// </summary>
public class DiskLocatorTests
{
    private sealed class FakeDisks : IDisposable
    {
        public TempDir Tmp { get; } = new();
        public string Sys => Tmp.Combine("sys/block");
        public string Dev => Tmp.Combine("dev");

        public FakeDisks()
        {
            Directory.CreateDirectory(Sys);
            Directory.CreateDirectory(Dev);
        }

        /// <summary>A disk NAME with partitions 1..count in sysfs and its device (an image file) in dev.</summary>
        public string Disk(string name, int partitions, long bytes = 8L << 20)
        {
            var dir = Path.Combine(Sys, name);
            Directory.CreateDirectory(dir);
            for (int i = 1; i <= partitions; i++)
            {
                Directory.CreateDirectory(Path.Combine(dir, name + i));
                File.WriteAllText(Path.Combine(dir, name + i, "partition"), i + "\n");
            }
            var dev = Path.Combine(Dev, name);
            using (var f = File.Create(dev)) f.SetLength(bytes);
            return dev;
        }

        public void Dispose() => Tmp.Dispose();
    }

    [Fact]
    public void Partuuid_of_an_MBR_partition_names_its_disk()
    {
        using var d = new FakeDisks();
        var vda = d.Disk("vda", 2);
        var vdb = d.Disk("vdb", 1);
        WriteMbr(vda, 0x5e1f6a2b, 2);
        WriteMbr(vdb, 0x11223344, 1);
        Assert.Equal(Path.Combine(d.Dev, "vda"), DiskLocator.Find("partuuid:5e1f6a2b-02", d.Sys, d.Dev));
        Assert.Equal(Path.Combine(d.Dev, "vda"), DiskLocator.Find("partuuid:5E1F6A2B-01", d.Sys, d.Dev));
        Assert.Equal(Path.Combine(d.Dev, "vdb"), DiskLocator.Find("partuuid:11223344-01", d.Sys, d.Dev));
        Assert.Null(DiskLocator.Find("partuuid:11223344-02", d.Sys, d.Dev)); // vdb has no partition 2
        Assert.Null(DiskLocator.Find("partuuid:deadbeef-01", d.Sys, d.Dev));
    }

    [SkippableFact]
    public void Partuuid_of_a_GPT_partition_is_the_unique_guid_sgdisk_wrote()
    {
        Tool.Require("sgdisk");
        using var d = new FakeDisks();
        var vdc = d.Disk("vdc", 2);
        const string guid = "3b9c2f4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
        Tool.Check("sgdisk", "-n1:2048:+1M", "-n2:0:+2M", "-u2:" + guid, vdc);
        Assert.Equal(vdc, DiskLocator.Find("partuuid:" + guid, d.Sys, d.Dev));
        Assert.Equal(vdc, DiskLocator.Find("partuuid:" + guid.ToUpperInvariant(), d.Sys, d.Dev));
        Assert.Null(DiskLocator.Find("partuuid:3b9c2f4e-1a2b-4c3d-8e9f-000000000000", d.Sys, d.Dev));
    }

    [Fact]
    public void Partuuid_from_the_kernels_uevent()
    {
        using var d = new FakeDisks();
        d.Disk("sda", 1);
        File.WriteAllText(Path.Combine(d.Sys, "sda/sda1/uevent"), "DEVTYPE=partition\nPARTN=1\nPARTUUID=abcd0123-01\n");
        Assert.Equal(Path.Combine(d.Dev, "sda"), DiskLocator.Find("partuuid:abcd0123-01", d.Sys, d.Dev));
    }

    [SkippableFact]
    public void Uuid_of_a_filesystem_names_the_disk_holding_it()
    {
        Tool.Require("mkfs.ext4");
        using var d = new FakeDisks();
        d.Disk("vda", 1);
        d.Disk("vdb", 1);
        const string uuid = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
        var part = Path.Combine(d.Dev, "vdb1");
        using (var f = File.Create(part)) f.SetLength(8L << 20);
        Tool.Check("mkfs.ext4", "-q", "-F", "-U", uuid, part);
        Assert.Equal(Path.Combine(d.Dev, "vdb"), DiskLocator.Find("uuid:" + uuid, d.Sys, d.Dev));
        Assert.Null(DiskLocator.Find("uuid:6f1c2a3b-4d5e-4f60-8a7b-000000000000", d.Sys, d.Dev));
    }

    [Fact]
    public void Serial_and_wwn_compare_as_the_kernel_spells_them()
    {
        using var d = new FakeDisks();
        d.Disk("sda", 1);
        d.Disk("vdb", 1);
        Directory.CreateDirectory(Path.Combine(d.Sys, "sda/device"));
        File.WriteAllText(Path.Combine(d.Sys, "sda/device/wwid"), "naa.5000c500a1b2c3d4\n");
        File.WriteAllText(Path.Combine(d.Sys, "vdb/serial"), "GW-DISK-7\n");
        Assert.Equal(Path.Combine(d.Dev, "sda"), DiskLocator.Find("wwn:0x5000C500A1B2C3D4", d.Sys, d.Dev));
        Assert.Equal(Path.Combine(d.Dev, "sda"), DiskLocator.Find("wwn:naa.5000c500a1b2c3d4", d.Sys, d.Dev));
        Assert.Equal(Path.Combine(d.Dev, "vdb"), DiskLocator.Find("serial:GW-DISK-7", d.Sys, d.Dev));
        Assert.Null(DiskLocator.Find("serial:GW-DISK-8", d.Sys, d.Dev));
    }

    [Fact]
    public void Two_disks_with_one_identity_are_refused_not_guessed()
    {
        using var d = new FakeDisks();
        WriteMbr(d.Disk("vda", 1), 0x01020304, 1);
        WriteMbr(d.Disk("vdb", 1), 0x01020304, 1); // a cloned disk
        var e = Assert.Throws<NativeInitException>(() => DiskLocator.Find("partuuid:01020304-01", d.Sys, d.Dev));
        Assert.Contains("names 2 disks (vda, vdb)", e.Message);
    }

    [Fact]
    public void A_bare_kernel_name_is_not_an_identity()
    {
        var e = Assert.Throws<UsageException>(() => DiskLocator.Find("sda", "/nonexistent", "/nonexistent"));
        Assert.Contains("partuuid:PARTUUID", e.Message);
    }

    private static void WriteMbr(string dev, uint signature, int partitions)
    {
        var mbr = new byte[512];
        BitConverter.GetBytes(signature).CopyTo(mbr, 440);
        for (int i = 0; i < partitions; i++) mbr[446 + i * 16 + 4] = 0x83;
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        using var f = new FileStream(dev, FileMode.Open, FileAccess.Write);
        f.Write(mbr);
    }
}
