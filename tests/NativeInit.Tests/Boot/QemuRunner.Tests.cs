namespace NativeInit.Tests.Boot;

/// <summary>The QEMU command line that <see cref="QemuRunner"/> builds from <see cref="QemuOptions"/> (no QEMU run).</summary>
public class QemuRunnerTests
{
    [Fact]
    public void Bios_boot_of_a_disk_with_a_bundle_disk_by_serial_and_a_nic()
    {
        var args = QemuRunner.Arguments(new QemuOptions
        {
            Drives = [new QemuDrive("/i/disk.img", Snapshot: true), new QemuDrive("/i/b.img", Interface: "virtio", Serial: "nativeinit-bundle")],
            MemoryMiB = 1536, Network = true,
        });
        string line = string.Join(' ', args);
        Assert.DoesNotContain("-kernel", args);
        Assert.Contains("-drive file=/i/disk.img,if=ide,format=raw,snapshot=on", line, StringComparison.Ordinal);
        Assert.Contains("-drive file=/i/b.img,if=none,id=drive1,format=raw -device virtio-blk-pci,drive=drive1,serial=nativeinit-bundle", line,
            StringComparison.Ordinal);
        Assert.Contains("-m 1536", line, StringComparison.Ordinal);
        Assert.Contains("-netdev user,id=net0 -device virtio-net-pci,netdev=net0,romfile=", line, StringComparison.Ordinal);
    }

    [Fact]
    public void An_ide_disk_with_a_serial_becomes_an_ide_hd_device_and_an_unknown_interface_is_named()
    {
        var line = string.Join(' ', QemuRunner.Arguments(new QemuOptions { Drives = [new QemuDrive("/d.img", Serial: "s1", Id: "root")] }));
        Assert.Contains("-drive file=/d.img,if=none,id=root,format=raw -device ide-hd,drive=root,serial=s1", line, StringComparison.Ordinal);
        var e = Assert.Throws<ArgumentException>(() => QemuRunner.Arguments(new QemuOptions { Drives = [new QemuDrive("/d.img", Interface: "scsi")] }));
        Assert.Contains("/d.img", e.Message, StringComparison.Ordinal);
        Assert.Contains("scsi", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Direct_kernel_boot_keeps_the_self_test_defaults()
    {
        var args = QemuRunner.Arguments(new QemuOptions { Kernel = "/k", Initrd = "/i", Append = " console=ttyS0 " });
        Assert.Equal(["-kernel", "/k", "-initrd", "/i", "-append", "console=ttyS0"], args.SkipWhile(a => a != "-kernel").Take(6));
        Assert.Equal("-machine", args[0]);
        Assert.Equal($"pc,accel={QemuOptions.Accelerator}", args[1]);
        Assert.Equal(Environment.GetEnvironmentVariable("NATIVEINIT_QEMU_ACCEL") is { Length: > 0 } a ? a : "tcg", QemuOptions.Accelerator);
    }
}
