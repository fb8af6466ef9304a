using NativeInit.Core;
using NativeInit.Core.Boot;
using NativeInit.Core.Layout;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

public class SlotBootConfigTests
{
    private static readonly GrubConfigSpec Spec = new()
    {
        BootFilesystemUuid = "0b6f3c1e-4d2a-4e8f-9a51-2c7d8e9f0a1b", VolumeGroup = "VA", RootVolume = "root_a",
        TargetArguments = ["root=/dev/sda1", "rd.lvm.lv=centos/root", "crashkernel=auto", "it's"], ConsoleArguments = ["console=ttyS0,115200n8"],
        Serial = new GrubSerial(),
    };

    private static readonly BootSlot[] Slots = [new("A", "root_a"), new("B", "root_b")];

    [Fact]
    public void Each_slot_boots_its_own_kernel_with_the_root_on_its_lv_and_names_itself()
    {
        string cfg = SlotBootConfig.Text(Spec, Slots);
        Assert.StartsWith("# Written by NativeInit: A/B root slots A on VA/root_a, B on VA/root_b", cfg);
        Assert.Contains("serial --unit=0 --speed=115200\n", cfg);
        Assert.Contains("search --no-floppy --fs-uuid --set=root 0b6f3c1e-4d2a-4e8f-9a51-2c7d8e9f0a1b\n", cfg);
        Assert.Contains(BootCountingScript.Decision(), cfg);
        // The old layout's root= and rd.lvm.lv= are replaced; other arguments pass through, quoted for GRUB.
        Assert.Contains("  linux '/slot-A/vmlinuz' root=/dev/mapper/VA-root_a ro rd.lvm.lv=VA/root_a crashkernel=auto 'it'\\''s' console=ttyS0,115200n8 nativeinit.slot=A\n", cfg);
        Assert.Contains("  initrd '/slot-A/initramfs.img'\n", cfg);
        Assert.Contains("  linux '/slot-B/vmlinuz' root=/dev/mapper/VA-root_b ro rd.lvm.lv=VA/root_b crashkernel=auto 'it'\\''s' console=ttyS0,115200n8 nativeinit.slot=B\n", cfg);
        Assert.DoesNotContain("centos", cfg);
        Assert.DoesNotContain("/dev/sda1", cfg);
        // The recovery entry: slot A's kernel, single user; one entry per slot.
        Assert.Contains("--id nativeinit-recovery {\n  linux '/slot-A/vmlinuz' root=/dev/mapper/VA-root_a", cfg);
        Assert.Contains("nativeinit.slot=A single\n", cfg);
        Assert.Equal(3, cfg.Split("menuentry ").Length - 1);
        Assert.Throws<RefusedException>(() => SlotBootConfig.Text(Spec with { BootFilesystemUuid = "x; reboot" }, Slots));
    }

    [Fact]
    public void Slots_come_from_the_layout_and_only_as_a_pair()
    {
        LayoutVolume V(string name, string? slot) => new(name, 1L << 30, "xfs", null, null, []) { Slot = slot };
        Assert.Null(SlotBootConfig.SlotsOf([V("root", null), V("data", null)]));
        Assert.Equal(Slots, SlotBootConfig.SlotsOf([V("data", null), V("root_b", "B"), V("root_a", "A")]));
        var e = Assert.Throws<RefusedException>(() => SlotBootConfig.SlotsOf([V("root_a", "A")]));
        Assert.Contains("exactly A and B", e.Message);
    }

    [SkippableFact]
    public void After_a_conversion_slot_A_is_fresh_with_one_try_and_other_variables_are_kept()
    {
        using var dir = new TempDir();
        string boot = dir.Path;
        File.WriteAllText(Path.Combine(boot, "vmlinuz-5.0"), "kernel 5.0\n");
        File.WriteAllText(Path.Combine(boot, "initramfs-5.0.img"), "initramfs 5.0\n");
        Directory.CreateDirectory(Path.Combine(boot, "grub2"));
        var old = GrubEnv.Empty();
        old.Set("saved_entry", "kept");
        File.WriteAllBytes(Path.Combine(boot, "grub2", "grubenv"), old.ToBytes());
        string cfg = SlotBootConfig.WriteAfterConversion(boot, Spec with { Kernels = BootKernel.Find(boot) }, Slots,
            new SlotRecord("2.0", DateTimeOffset.UnixEpoch));
        Assert.Equal(Path.Combine(boot, "grub2", "grub.cfg"), cfg);
        Assert.Equal("kernel 5.0\n", File.ReadAllText(Path.Combine(boot, "slot-A", "vmlinuz")));
        Assert.Equal("initramfs 5.0\n", File.ReadAllText(Path.Combine(boot, "slot-A", "initramfs.img")));
        Assert.False(Directory.Exists(Path.Combine(boot, "slot-B")));
        var env = GrubEnv.Parse(File.ReadAllBytes(Path.Combine(boot, "grub2", "grubenv")), "grubenv");
        Assert.Equal(GrubEnv.DefaultSize, File.ReadAllBytes(Path.Combine(boot, "grub2", "grubenv")).Length);
        Assert.Equal("kept", env["saved_entry"]);
        Assert.Equal(("A B", "1", "1", "0", "0"), (env["ORDER"], env["A_OK"], env["A_TRIES"], env["B_OK"], env["B_TRIES"]));
        // The variables lie within the block's first sector: a rewrite in place changes one sector only.
        Assert.True(System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(Path.Combine(boot, "grub2", "grubenv")), 512, 512).All(c => c == '#'));
        var (slots, reports) = BootSlotsStore.Read(boot, new NativeInit.Core.Boot.Init.KernelCommandLine("nativeinit.slot=A"));
        Assert.Equal("A", slots.Next());
        Assert.Equal("2.0", reports.First(r => r.State.Name == "A").Record!.BundleVersion);
        Assert.Null(reports.First(r => r.State.Name == "B").Record);
        // No kernel in /boot: nothing to boot, said so.
        using var empty = new TempDir();
        var e = Assert.Throws<NativeInitException>(() => SlotBootConfig.WriteAfterConversion(empty.Path, Spec, Slots, new SlotRecord(null, null)));
        Assert.Contains("no kernel with an initramfs", e.Message);
    }
}
