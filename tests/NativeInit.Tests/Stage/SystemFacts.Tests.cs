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
