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
        string kernelDir = KernelCache.FolderOrSkip();
        string version = KernelCache.Version(kernelDir);
        using var dir = new TempDir();
        string img = fx.Copy(dir);
        fx.MarkGood(img, "A");
        var (aOff, aLen) = fx.Lv(img, "root_a");
        string aBefore = AbImageFixture.HashRange(img, aOff, aLen);

        // The initramfs: busybox, nativeinit, mkfs.xfs with its libraries, the modules, the bundle and the key.
        string root = dir.Combine("initramfs");
        string mods = Path.Combine(kernelDir, "lib", "modules", version, "kernel");
        string[] modules = ["drivers/virtio/virtio_ring", "drivers/virtio/virtio", "drivers/virtio/virtio_pci_legacy_dev",
            "drivers/virtio/virtio_pci_modern_dev", "drivers/virtio/virtio_pci", "drivers/block/virtio_blk", "drivers/md/dm-mod",
            "crypto/crc32c_generic", "lib/libcrc32c", "fs/xfs/xfs"];
        foreach (var d in new[] { "bin", "proc", "sys", "dev", "mods", "boot", "tmp", "usr/sbin" }) Directory.CreateDirectory(Path.Combine(root, d));
        foreach (var m in modules)
        {
            string src = Path.Combine(mods, m + ".ko");
            Skip.IfNot(File.Exists(src), $"{src} missing (built into this kernel?)");
            File.Copy(src, Path.Combine(root, "mods", Path.GetFileName(m) + ".ko"));
        }
        File.Copy("/usr/bin/busybox", Path.Combine(root, "bin", "busybox"));
        File.Copy(fx.Binary, Path.Combine(root, "nativeinit"));
        File.Copy(fx.BundleV3, Path.Combine(root, "bundle.tar"));
        File.Copy(fx.Public, Path.Combine(root, "vendor.pub"));
        string mkfs = Tool.Check("/bin/sh", "-c", "command -v mkfs.xfs").Trim();
        Tool.Sh($"""
            set -e
            r={Tool.Quote(root)}
            cp {Tool.Quote(mkfs)} $r/usr/sbin/mkfs.xfs
            for l in $(ldd {Tool.Quote(mkfs)} | grep -o '/[^ ]*'); do mkdir -p $r$(dirname $l); cp -L $l $r$l; done
            """);
        File.WriteAllText(Path.Combine(root, "init"), """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
            for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk dm-mod crc32c_generic libcrc32c xfs; do
              insmod /mods/$m.ko || echo "INSMOD-FAILED $m"
            done
            for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda3 ] && break; sleep 0.5; done
            export PATH=/usr/sbin:/bin
            /nativeinit lvm activate /dev/vda3 >/dev/null; echo "ACTIVATE-RC=$?"
            mount -t xfs /dev/vda2 /boot; echo "MOUNT-RC=$?"
            /nativeinit update /bundle.tar --key /vendor.pub; echo "UPDATE-RC=$?"
            /nativeinit slots --boot-dir /boot
            umount /boot
            /nativeinit lvm deactivate /dev/vda3 >/dev/null; echo "DEACTIVATE-RC=$?"
            sync
            poweroff -f

            """.Replace("\r", "", StringComparison.Ordinal));
        File.SetUnixFileMode(Path.Combine(root, "init"), (UnixFileMode)0x1ed);
        string initrd = dir.Combine("initramfs.gz");
        Tool.Sh($"cd {Tool.Quote(root)} && find . | cpio -o -H newc 2>/dev/null | gzip -1 > {Tool.Quote(initrd)}");

        var outcome = QemuRunner.Boot(KernelCache.KernelImage(kernelDir), initrd, img, "console=ttyS0 quiet panic=-1 nativeinit.slot=A",
            TimeSpan.FromMinutes(6), [], failOnInitFailure: false);
        output.WriteLine(outcome.Report());
        string o = outcome.Console.Replace("\r", "", StringComparison.Ordinal);
        Assert.False(outcome.TimedOut || outcome.Failure is not null, outcome.Report());
        Assert.DoesNotContain("INSMOD-FAILED", o);
        Assert.True(o.Contains("UPDATE-RC=0", StringComparison.Ordinal), outcome.Tail(80));
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
