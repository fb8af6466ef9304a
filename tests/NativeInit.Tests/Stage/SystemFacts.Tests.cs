using NativeInit.Core;
using NativeInit.Core.Stage;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Stage;

public class SystemFactsTests
{
    [Fact]
    public void Ram_and_the_disk_holding_root_come_from_the_fake_root()
    {
        using var tmp = new TempDir();
        FakeSystem.Centos7(tmp.Path, memKb: 1234, diskSectors: 4096);
        Assert.Equal(1234L * 1024, SystemFacts.MemTotalBytes(tmp.Path));
        Assert.Equal(("vda", 4096L * 512), SystemFacts.RootDisk(tmp.Path));
    }

    [Fact]
    public void A_device_mapper_root_is_followed_to_its_disk()
    {
        using var tmp = new TempDir();
        var r = tmp.Path;
        Directory.CreateDirectory(Path.Combine(r, "proc/self"));
        File.WriteAllText(Path.Combine(r, "proc/self/mountinfo"), "22 1 253:0 / / rw - xfs /dev/mapper/centos-root rw\n");
        var dm = Path.Combine(r, "sys/devices/virtual/block/dm-0");
        Directory.CreateDirectory(Path.Combine(dm, "slaves"));
        var part = Path.Combine(r, "sys/devices/pci0000:00/block/sda/sda2");
        Directory.CreateDirectory(part);
        File.WriteAllText(Path.Combine(part, "partition"), "2\n");
        File.WriteAllText(Path.Combine(r, "sys/devices/pci0000:00/block/sda/size"), "41943040\n");
        File.CreateSymbolicLink(Path.Combine(dm, "slaves/sda2"), "../../../../pci0000:00/block/sda/sda2");
        Directory.CreateDirectory(Path.Combine(r, "sys/dev/block"));
        File.CreateSymbolicLink(Path.Combine(r, "sys/dev/block/253:0"), "../../devices/virtual/block/dm-0");
        Assert.Equal(("sda", 41943040L * 512), SystemFacts.RootDisk(r));
        // The identity for the conversion boot is the PV partition's PARTUUID (DiskLocator resolves it to sda).
        File.WriteAllText(Path.Combine(part, "uevent"), "DEVTYPE=partition\nPARTN=2\nPARTUUID=0a0b0c0d-02\n");
        var where = SystemFacts.RootDevice(r);
        Assert.Equal(("sda2", 2), (where.PartitionName, where.PartitionNumber));
        Assert.Equal("partuuid:0a0b0c0d-02", SystemFacts.RootDiskIdentity(r, where, out _));
    }

    [Fact]
    public void Without_a_partuuid_the_filesystem_uuid_then_the_serial_name_the_disk_and_nothing_is_refused()
    {
        using var tmp = new TempDir();
        FakeSystem.Centos7(tmp.Path);
        File.Delete(Path.Combine(tmp.Path, "sys/devices/virtual/block/vda/vda1/uevent"));
        var where = SystemFacts.RootDevice(tmp.Path);
        Assert.Null(SystemFacts.RootDiskIdentity(tmp.Path, where, out var tried));
        Assert.Contains("no PARTUUID in", tried);
        Assert.Contains("dev/vda is missing", tried);
        Assert.Contains("no serial or wwid under", tried);

        // An xfs-like superblock in ROOT/dev/vda1 (magic "XFSB", UUID at byte 32): the filesystem UUID.
        Directory.CreateDirectory(Path.Combine(tmp.Path, "dev"));
        var sb = new byte[4096];
        "XFSB"u8.CopyTo(sb);
        sb[7] = 0x10; // block size 4096 (big-endian at byte 4)
        var uuid = Guid.Parse("11223344-5566-7788-99aa-bbccddeeff00");
        Convert.FromHexString("112233445566778899aabbccddeeff00").CopyTo(sb, 32);
        File.WriteAllBytes(Path.Combine(tmp.Path, "dev/vda1"), sb);
        Assert.Equal("uuid:" + uuid, SystemFacts.RootDiskIdentity(tmp.Path, where, out _));

        File.Delete(Path.Combine(tmp.Path, "dev/vda1"));
        File.WriteAllText(Path.Combine(tmp.Path, "sys/devices/virtual/block/vda/serial"), "GW-7\n");
        Assert.Equal("serial:GW-7", SystemFacts.RootDiskIdentity(tmp.Path, where, out _));
    }

    [Fact]
    public void Missing_figures_are_refusals_naming_the_file()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<RefusedException>(() => SystemFacts.MemTotalBytes(tmp.Path));
        Assert.Contains("proc/meminfo", e.Message);
        e = Assert.Throws<RefusedException>(() => SystemFacts.RootDisk(tmp.Path));
        Assert.Contains("mountinfo", e.Message);
    }

    [Fact]
    public void Boot_path_as_grub_sees_it()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.Combine("boot"));
        Assert.Equal("/boot", SystemFacts.PathOnItsFilesystem(tmp.Path, tmp.Combine("boot")));
        Assert.Equal("/boot/nativeinit", SystemFacts.PathOnItsFilesystem(tmp.Path, tmp.Combine("boot")) + "/nativeinit");
        // /proc is its own filesystem on any Linux: seen from /, it is the top of its filesystem.
        Assert.Equal("", SystemFacts.PathOnItsFilesystem("/", "/proc"));
    }
}
