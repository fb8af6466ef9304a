using NativeInit.Core.Boot;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.Update;

/// <summary>
/// The whole A/B chain in a machine (issue 14): the disk `convert --image` made from the A/B bundle (its GPT, LVM,
/// GRUB core.img and boot.img, grub.cfg and grubenv), then `update` with a bundle whose kernel's initramfs is broken.
/// SeaBIOS boots GRUB from the disk, GRUB tries slot B once (its kernel panics and, with panic=1 from the target's
/// GRUB_CMDLINE_LINUX, reboots) and then boots slot A by itself, in the same QEMU process. The fixture's kernels are
/// placeholders: slot A's pair on /boot is replaced by the Debian kernel with a busybox initramfs that prints its
/// command line, and the update's bundle carries the Debian kernel with a broken initramfs.
/// </summary>
[Trait("Category", "Qemu")]
[Collection(AbImageCollection.Name)]
public class UpdateQemuTests(AbImageFixture fx, ITestOutputHelper output)
{
    [SkippableFact]
    public void After_an_update_whose_kernel_panics_grub_boots_the_old_slot_by_itself()
    {
        fx.Require();
        QemuRunner.RequireQemu();
        string kernelDir = KernelCache.FolderOrSkip();
        string kernel = KernelCache.KernelImage(kernelDir), version = KernelCache.Version(kernelDir);
        using var dir = new TempDir();
        string img = fx.Copy(dir);
        fx.MarkGood(img, "A");
        string marker = dir.Combine("marker.img");
        File.WriteAllBytes(marker, GrubBiosQemuTests.MarkerInitramfs(dir));
        AbImageFixture.WithBoot(img, $"cp {Tool.Quote(kernel)} $m/slot-A/vmlinuz; cp {Tool.Quote(marker)} $m/slot-A/initramfs.img", write: true);

        string rootfs = dir.Combine("rootfs-5");
        Tool.Sh($"""
            set -e
            cp -a {Tool.Quote(fx.RootfsV3)} {Tool.Quote(rootfs)}
            rm -f {Tool.Quote(rootfs)}/boot/*
            cp {Tool.Quote(kernel)} {Tool.Quote(rootfs)}/boot/vmlinuz-{version}
            printf 'not a cpio archive\n' > {Tool.Quote(rootfs)}/boot/initramfs-{version}.img
            """);
        string bundle = fx.MakeBundle(rootfs, "5.0");
        var r = Tool.Run(fx.Binary, ["update", bundle, "--key", fx.Public, "--image", img, "--running", "A"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(("B A", "1", "1"), Vars(AbImageFixture.Env(img)));

        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(img)],
            MemoryMiB = 512,
            Reboot = true,
            Timeout = TimeSpan.FromMinutes(8),
            SuccessMarkers = ["NATIVEINIT-LINUX-OK"],
            FailureMarkers = ["grub rescue>", "grub>", "error: "],
        });
        output.WriteLine(outcome.Report());
        Assert.True(outcome.SawOk, outcome.Report());
        string console = outcome.Console.Replace("\r", "", StringComparison.Ordinal);
        int b = console.IndexOf("Kernel command line: BOOT_IMAGE=/slot-B/vmlinuz root=/dev/mapper/VA-root_b", StringComparison.Ordinal);
        int panic = console.IndexOf("Kernel panic", StringComparison.Ordinal);
        int a = console.IndexOf("CMDLINE: BOOT_IMAGE=/slot-A/vmlinuz root=/dev/mapper/VA-root_a ro rd.lvm.lv=VA/root_a console=ttyS0,115200 panic=1 nativeinit.slot=A",
            StringComparison.Ordinal);
        Assert.True(b >= 0 && panic > b && a > panic, $"expected slot B's kernel, its panic, then slot A (at {b}, {panic}, {a}):\n{outcome.Tail(80)}");

        // GRUB's save_env on the converted xfs /boot: B's one try spent before it booted, A's counted once.
        var after = AbImageFixture.Env(img);
        Assert.Equal(("B A", "0", "1"), Vars(after));
        Assert.Equal((BootSlots.GoodTries - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), after["A_TRIES"]);
        // Slot A's mark-good then records B as failed.
        var state = BootSlots.Read(after);
        state.MarkGood("A");
        Assert.False(state["B"].Ok);
    }

    private static (string?, string?, string?) Vars(GrubEnv env) => (env["ORDER"], env["B_TRIES"], env["B_OK"]);
}
