using System.Text.Json;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Conversion;

/// <summary>
/// Issue 12, old layout (c) on a real block device: CentOS 7's default install with its VG centos active in
/// device-mapper (as dracut leaves it when the kernel command line names rd.lvm.lv=centos/root). In a busybox VM
/// (the host has no device-mapper): `convert --disk` refuses while centos-root is mounted, naming it, and writes
/// nothing; once it is unmounted, convert removes the old VG's LVs from device-mapper just before its first write and
/// converts the disk, reaching the new LVs through device-mapper.
/// </summary>
[Trait("Category", "Qemu")]
public class ConvertDiskQemuTests(LegacyImageFixture fx) : IClassFixture<LegacyImageFixture>
{
    [SkippableFact]
    public void Layout_c_with_the_old_vg_active_refuses_while_it_is_mounted_then_releases_it_and_converts()
    {
        Tool.RequireRoot();
        string ni = Tool.RequireNativeInit();
        Tool.Require("qemu-system-x86_64", "sgdisk", "sfdisk", "lvm", "mkfs.xfs", "xfs_growfs", "mkswap", "cpio", "gzip", "/usr/bin/busybox", "ldd", "/usr/bin/grub-mkimage");
        KernelCache.FolderOrSkip();
        using var dir = new TempDir("/var/tmp");
        string img = dir.Combine("c.img");
        fx.BuildCentos(img);

        string script = """
            mkdir -p /old /var/log
            /nativeinit lvm activate /dev/vda2 >/dev/null; echo "ACTIVATE-RC=$?"
            for d in /sys/block/dm-*; do echo "DM $(cat $d/dm/name)"; done
            mount -o ro -t xfs /dev/mapper/centos-root /old; echo "MOUNT-RC=$?"
            before=$(dd if=/dev/vda bs=1M count=8 2>/dev/null | md5sum)
            /nativeinit convert --disk /dev/vda --key /vendor.pub --yes; echo "REFUSED-RC=$?"
            after=$(dd if=/dev/vda bs=1M count=8 2>/dev/null | md5sum)
            [ "$before" = "$after" ] && echo "UNCHANGED-AFTER-REFUSAL"
            umount /old
            /nativeinit convert --disk /dev/vda --key /vendor.pub --yes; echo "CONVERT-RC=$?"
            echo "DM-LEFT $(ls /sys/block | grep -c dm-)"
            /nativeinit status --disk /dev/vda --json | tr -d '\n' | sed 's/^/STATUS /'; echo
            """;
        string o = BusyboxVm.Run(dir, ni, img, script, new Dictionary<string, string> { ["vendor.pub"] = fx.Public },
            ["drivers/block/loop", .. BusyboxVm.XfsModules],
            // The converted system's core.img is made by the target rootfs's own grub-mkimage, else the one on PATH; this
            // test rootfs has none, so the host's (with its i386-pc modules) is put in the VM.
            ["/usr/sbin/mkfs.xfs", "/usr/sbin/xfs_growfs", "/usr/sbin/mkswap", "/usr/bin/grub-mkimage", "/usr/lib/grub/i386-pc"], memoryMiB: 1024);

        Assert.True(o.Contains("ACTIVATE-RC=0", StringComparison.Ordinal) && o.Contains("DM centos-root", StringComparison.Ordinal), o);
        Assert.Contains("MOUNT-RC=0", o);
        // Refused while the old root is mounted from its LV: exit 3, naming it, nothing written.
        Assert.Contains("REFUSED-RC=3", o);
        Assert.Matches(@"LV centos-root \(dm-\d+\) of the old VG centos is in use", o);
        Assert.Contains("UNCHANGED-AFTER-REFUSAL", o);
        // Then: the plan names the old LVs, they leave device-mapper before the first write, and the disk converts.
        Assert.Contains("old VG:  centos-", o);
        Assert.Contains("old VG: centos-root removed from device-mapper", o);
        Assert.True(o.Contains("CONVERT-RC=0", StringComparison.Ordinal), o);
        // On a disk the new LVs are device-mapper devices over the PV partition, the root cut before the bundle until the
        // extraction is done, all removed at the end (DM-LEFT 0: neither the old VG's nor the new one's are left).
        Assert.Contains("convert: the LVs through device-mapper over /dev/vda3; root mapped to its first", o);
        Assert.Matches(@"convert: extract: done \(.* on LV root \(/dev/mapper/VA-root, UUID", o);
        Assert.Matches(@"convert: volumes: done \(.* on /dev/mapper/VA-", o);
        Assert.Contains("synced; the new LVs' device-mapper devices removed", o);
        Assert.Contains("DM-LEFT 0", o);
        string status = o.Split('\n').Single(l => l.StartsWith("STATUS ", StringComparison.Ordinal))["STATUS ".Length..].Trim();
        using (var doc = JsonDocument.Parse(status)) Assert.Equal("done", doc.RootElement.GetProperty("state").GetString());

        var v = Tool.Run("sgdisk", "-v", img);
        Assert.True(v.Stdout.Contains("No problems found", StringComparison.Ordinal), v.ToString());
        using var d2 = JsonDocument.Parse(Tool.Check(ni, "status", "--image", img, "--json"));
        Assert.Equal("done", d2.RootElement.GetProperty("state").GetString());
    }
}
