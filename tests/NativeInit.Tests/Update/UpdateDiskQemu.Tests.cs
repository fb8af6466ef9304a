using NativeInit.Core.Boot;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.Update;

/// <summary>
/// `update` on a running system's real devices (issue 14), where the host has no device-mapper: the converted A/B
/// image is /dev/vda of a VM (the Debian kernel with virtio, dm-mod and xfs, a busybox initramfs holding nativeinit and
/// mkfs.xfs); the initramfs activates the VG (`nativeinit lvm activate`), mounts /boot, and runs `nativeinit update`
/// without --image: the running slot from the kernel command line (nativeinit.slot=A), slot B through
/// /dev/mapper/VA-root_b. The host then checks the image as the image tests do.
/// </summary>
[Trait("Category", "Qemu")]
[Collection(AbImageCollection.Name)]
public class UpdateDiskQemuTests(AbImageFixture fx, ITestOutputHelper output)
{
    [SkippableFact]
    public void Update_in_a_vm_writes_slot_B_through_device_mapper_and_switches_grubenv_last()
    {
        fx.Require();
        QemuRunner.RequireQemu();
        Tool.Require("cpio", "gzip", "/usr/bin/busybox", "ldd");
        KernelCache.FolderOrSkip();
        using var dir = new TempDir();
        string img = fx.Copy(dir);
        fx.MarkGood(img, "A");
        var (aOff, aLen) = fx.Lv(img, "root_a");
        string aBefore = AbImageFixture.HashRange(img, aOff, aLen);

        // The VM: busybox, nativeinit, mkfs.xfs with its libraries, virtio, dm-mod and xfs, the bundle and the key.
        string mkfs = Tool.Check("/bin/sh", "-c", "command -v mkfs.xfs").Trim();
        string o = BusyboxVm.Run(dir, fx.Binary, img, """
            mkdir -p /boot
            /nativeinit lvm activate /dev/vda3 >/dev/null; echo "ACTIVATE-RC=$?"
            mount -t xfs /dev/vda2 /boot; echo "MOUNT-RC=$?"
            /nativeinit update /bundle.tar --key /vendor.pub; echo "UPDATE-RC=$?"
            /nativeinit slots --boot-dir /boot
            umount /boot
            /nativeinit lvm deactivate /dev/vda3 >/dev/null; echo "DEACTIVATE-RC=$?"
            """, new Dictionary<string, string> { ["bundle.tar"] = fx.BundleV3, ["vendor.pub"] = fx.Public },
            BusyboxVm.XfsModules, [mkfs], append: "nativeinit.slot=A", timeout: TimeSpan.FromMinutes(6)).Replace("\r", "", StringComparison.Ordinal);
        output.WriteLine(o);
        Assert.DoesNotContain("INSMOD-FAILED", o);
        Assert.True(o.Contains("UPDATE-RC=0", StringComparison.Ordinal), o);
        Assert.Contains("writes slot B: LV VA/root_b (/dev/mapper/VA-root_b", o);
        Assert.Contains("update: grubenv: next boot slot B once", o);
        Assert.Contains("DEACTIVATE-RC=0", o);

        // On the host: grubenv switched, slot B holds the 3.0 system with its kernel on /boot, slot A untouched.
        var slots = BootSlots.Read(AbImageFixture.Env(img));
        Assert.Equal(["B", "A"], slots.Order);
        Assert.Equal(1, slots["B"].Tries);
        Assert.Equal(aBefore, AbImageFixture.HashRange(img, aOff, aLen));
        Assert.StartsWith("kernel 5.1\n", AbImageFixture.WithBoot(img, "cat $m/slot-B/vmlinuz"));
        // The VM's root (the initramfs) carries nothing, so slot B differs from the bundle only where update writes.
        var diffs = AbImageFixture.Unexpected(fx.TreeDiff(img, "root_b", fx.RootfsV3));
        Assert.True(diffs.Count == 0, "unexpected differences in slot B:\n" + string.Join('\n', diffs));
        string b = fx.WithSlot(img, "root_b", "cat $s/etc/os-release; grep ' / ' $s/etc/fstab; echo \"uuid $(blkid -p -o value -s UUID $sl)\"");
        Assert.Contains("VERSION=3", b);
        string uuid = b.Split('\n').First(l => l.StartsWith("uuid ", StringComparison.Ordinal))[5..];
        Assert.Contains($"UUID={uuid} / xfs defaults 0 1", b);
    }
}
