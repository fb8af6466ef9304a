using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;
using NativeInit.Tests.Update;

namespace NativeInit.Tests.Conversion;

/// <summary>`convert --image` on the A/B reference layout (issue 14): the bundle in slot A, slot B made empty, and the
/// boot-counting GRUB configuration, grubenv and slot kernel on /boot.</summary>
[Trait("Category", "Integration")]
[Collection(AbImageCollection.Name)]
public class ConvertAbLayoutTests(AbImageFixture fx)
{
    [SkippableFact]
    public void Convert_puts_the_bundle_in_slot_A_leaves_slot_B_empty_and_writes_counted_boots()
    {
        fx.Require();
        string img = fx.Converted; // read only here
        Assert.Contains("convert: bootloader: done", fx.ConvertOutput);

        // LVM as the layout says; slot B has its own xfs, empty.
        var (aOff, aLen) = fx.Lv(img, "root_a");
        var (bOff, bLen) = fx.Lv(img, "root_b");
        Assert.Equal(1000L << 20, aLen);
        Assert.Equal(1000L << 20, bLen);
        string b = fx.WithSlot(img, "root_b", "echo \"type $(blkid -p -o value -s TYPE $sl) label $(blkid -p -o value -s LABEL $sl)\"; echo \"entries $(ls -A $s | wc -l)\"");
        Assert.Contains("type xfs label root_b", b);
        Assert.Contains("entries 0", b);

        // Slot A holds the bundle's tree (except the carried files) and the old configuration; its fstab names no slot B.
        // (The bundle's /boot went to the /boot partition, mounted inside the root while it was extracted.)
        var aDiffs = AbImageFixture.Unexpected(fx.TreeDiff(img, "root_a", fx.RootfsV2)).Where(l => !l.StartsWith("boot", StringComparison.Ordinal) && !l.Contains(": boot/", StringComparison.Ordinal)).ToList();
        Assert.True(aDiffs.Count == 0, "unexpected differences in slot A:\n" + string.Join('\n', aDiffs));
        string a = fx.WithSlot(img, "root_a", "cat $s/etc/hostname; cat $s/etc/fstab; echo \"uuid $(blkid -p -o value -s UUID $sl)\"; echo \"bootuuid $(blkid -p -o value -s UUID $bl)\"");
        Assert.StartsWith("gw-0042\n", a);
        string aUuid = a.Split('\n').First(l => l.StartsWith("uuid ")).Split(' ')[1];
        string bootUuid = a.Split('\n').First(l => l.StartsWith("bootuuid ")).Split(' ')[1];
        Assert.True(a.Contains($"UUID={aUuid} / xfs", StringComparison.Ordinal), a);
        Assert.Contains($"UUID={bootUuid} /boot xfs", a);
        Assert.Contains(" /data xfs", a);
        Assert.Contains("tmpfs /tmp tmpfs", a);
        Assert.Equal(3, a.Split('\n').Count(l => l.StartsWith("UUID=", StringComparison.Ordinal))); // /, /boot, /data: not slot B

        // /boot: slot A's kernel under its slot name, no slot B kernel, the slot record, the boot-counting grub.cfg.
        string boot = AbImageFixture.WithBoot(img, "cat $m/slot-A/vmlinuz $m/slot-A/initramfs.img; test ! -e $m/slot-B && echo no-slot-B; " +
            "cat $m/nativeinit/slot-A.json; echo; echo ---cfg; cat $g/grub.cfg; echo ---editenv; grub-editenv $g/grubenv list");
        Assert.StartsWith("kernel 5.0\ninitramfs 5.0\nno-slot-B\n", boot);
        Assert.Contains("\"bundleVersion\": \"2.0\"", boot);
        string cfg = boot.Split("---cfg")[1].Split("---editenv")[0];
        Assert.Contains($"search --no-floppy --fs-uuid --set=root {bootUuid}", cfg);
        Assert.Contains(BootCountingScript.Decision(), cfg);
        Assert.Contains("serial --unit=0 --speed=115200\n", cfg); // GRUB_TERMINAL="serial console" of the target
        Assert.Contains("--id nativeinit-slot-A", cfg);
        Assert.Contains("linux '/slot-A/vmlinuz' root=/dev/mapper/VA-root_a ro rd.lvm.lv=VA/root_a console=ttyS0,115200 panic=1 nativeinit.slot=A", cfg);
        Assert.Contains("linux '/slot-B/vmlinuz' root=/dev/mapper/VA-root_b ro rd.lvm.lv=VA/root_b console=ttyS0,115200 panic=1 nativeinit.slot=B", cfg);
        Assert.Contains("--id nativeinit-recovery", cfg);
        Assert.Contains("nativeinit.slot=A single", cfg);
        // grubenv as grub-editenv (GRUB's own tool) reads it: slot A freshly written, one counted try; B empty.
        var vars = boot.Split("---editenv")[1].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("ORDER=A B", vars);
        Assert.Contains("A_OK=1", vars);
        Assert.Contains("A_TRIES=1", vars);
        Assert.Contains("B_OK=0", vars);
        Assert.Contains("B_TRIES=0", vars);
        var slots = BootSlots.Read(AbImageFixture.Env(img));
        Assert.Equal("A", slots.Choose());
        Assert.Null(slots.Choose()); // a first boot that never reaches mark-good: the next one is the recovery entry
    }
}
