using System.Text;
using NativeInit.Core.Boot;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.Boot;

/// <summary>
/// The A/B promise in a real machine (issue 14): SeaBIOS boots GRUB from the BIOS boot partition (NativeInit's
/// core.img), GRUB reads <see cref="SlotBootConfig"/>'s grub.cfg on an xfs /boot (as the converted disk has it) and the
/// grubenv an update leaves (ORDER="B A", B with one try). Slot B's initramfs is broken: its kernel panics and
/// reboots (panic=1), and GRUB, in the same QEMU process, falls back to slot A by itself, whose initramfs prints its
/// command line and powers off. grubenv afterwards shows GRUB's own save_env on xfs: B's try spent, A's counted.
/// </summary>
[Trait("Category", "Qemu")]
public class SlotBootConfigQemuTests(ITestOutputHelper output)
{
    private const string BootUuid = "0b6f3c1e-4d2a-4e8f-9a51-2c7d8e9f0a1b";

    /// <summary>grubenv's 1024 bytes found in the /boot partition's bytes (GRUB rewrites the file in place, and the
    /// file system was made from a protofile: there is one copy).</summary>
    private static GrubEnv ReadEnv(string img)
    {
        GptPartition part;
        using (var disk = DiskDevice.Open(img, writable: false)) part = GptReader.Read(disk).Table!.Find(2)!;
        var bytes = new byte[part.ByteLength(512)];
        using (var f = File.OpenRead(img))
        {
            f.Position = part.ByteOffset(512);
            f.ReadExactly(bytes);
        }
        var header = Encoding.ASCII.GetBytes(GrubEnv.Header);
        int at = bytes.AsSpan().IndexOf(header);
        Assert.True(at >= 0, "no GRUB environment block in /boot");
        Assert.True(bytes.AsSpan(at + 1).IndexOf(header) < 0, "two GRUB environment blocks in /boot");
        return GrubEnv.Parse(bytes.AsSpan(at, GrubEnv.DefaultSize), "grubenv in the image");
    }

    [SkippableFact]
    public void A_slot_whose_kernel_panics_makes_grub_fall_back_to_the_other_slot_by_itself()
    {
        QemuRunner.RequireQemu();
        string kernelDir = KernelCache.FolderOrSkip();
        using var dir = new TempDir();

        // /boot as convert + update leave it: each slot's kernel and initramfs under its names, grub.cfg, grubenv.
        string tree = dir.Combine("boot");
        Directory.CreateDirectory(Path.Combine(tree, "grub2"));
        foreach (var s in BootSlots.Names) Directory.CreateDirectory(Path.Combine(tree, "slot-" + s));
        File.Copy(KernelCache.KernelImage(kernelDir), Path.Combine(tree, "slot-A", SlotBootConfig.KernelFile));
        File.WriteAllBytes(Path.Combine(tree, "slot-A", SlotBootConfig.InitramfsFile), GrubBiosQemuTests.MarkerInitramfs(dir));
        File.Copy(KernelCache.KernelImage(kernelDir), Path.Combine(tree, "slot-B", SlotBootConfig.KernelFile));
        File.WriteAllBytes(Path.Combine(tree, "slot-B", SlotBootConfig.InitramfsFile), Encoding.ASCII.GetBytes("not a cpio archive\n"));
        var spec = new GrubConfigSpec
        {
            BootFilesystemUuid = BootUuid, VolumeGroup = "VA", RootVolume = "root_a",
            TargetArguments = ["panic=1"], ConsoleArguments = ["console=ttyS0,115200n8"], Serial = new GrubSerial(),
        };
        BootSlot[] slots = [new("A", "root_a"), new("B", "root_b")];
        File.WriteAllText(Path.Combine(tree, "grub2", "grub.cfg"), SlotBootConfig.Text(spec, slots));
        // The state an update leaves: A converted and marked good, B written and set to boot next, once.
        var state = BootSlots.Read(GrubEnv.Empty());
        state.FinishWrite("A");
        state.MarkGood("A");
        state.BeginWrite("B");
        state.FinishWrite("B");
        var env = GrubEnv.Empty();
        state.WriteTo(env);
        File.WriteAllBytes(Path.Combine(tree, "grub2", "grubenv"), env.ToBytes());
        Assert.Equal("B A", env["ORDER"]);

        // xfs needs 300 MiB: a sparse 400 MiB disk, /boot 320 MiB, GRUB for BIOS by NativeInit.
        string img = GrubBiosInstallerTests.MakeDisk(dir, diskMiB: 400, bootMiB: 320);
        GrubBiosQemuTests.PutBootFilesystem(dir, img, tree, "xfs");
        GrubBiosInstaller.Install(GrubBiosInstallerTests.Target(img, fs: "xfs"));

        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(img)],
            MemoryMiB = 512,
            Reboot = true,
            Timeout = TimeSpan.FromMinutes(6),
            SuccessMarkers = ["NATIVEINIT-LINUX-OK"],
            FailureMarkers = ["grub rescue>", "grub>", "error: "],
        });
        output.WriteLine(outcome.Report());
        string console = outcome.Console.Replace("\r", "", StringComparison.Ordinal);
        Assert.True(outcome.SawOk, outcome.Report());
        // Slot B was tried first and its kernel panicked; the machine rebooted and GRUB chose slot A by itself.
        int b = console.IndexOf("Kernel command line: BOOT_IMAGE=/slot-B/vmlinuz", StringComparison.Ordinal);
        int panic = console.IndexOf("Kernel panic", StringComparison.Ordinal);
        int a = console.IndexOf("CMDLINE: BOOT_IMAGE=/slot-A/vmlinuz root=/dev/mapper/VA-root_a ro rd.lvm.lv=VA/root_a panic=1 console=ttyS0,115200n8 nativeinit.slot=A",
            StringComparison.Ordinal);
        Assert.True(b >= 0 && panic > b && a > panic, $"expected slot B's boot, a panic, then slot A (at {b}, {panic}, {a}):\n{outcome.Tail(80)}");

        // What GRUB saved (save_env on xfs): B's one try spent before it booted, A's counted; the model agrees.
        var after = ReadEnv(img);
        Assert.Equal("B A", after["ORDER"]);
        Assert.Equal("0", after["B_TRIES"]);
        Assert.Equal((BootSlots.GoodTries - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), after["A_TRIES"]);
        var model = BootSlots.Read(env);
        Assert.Equal("B", model.Choose());
        Assert.Equal("A", model.Choose());
        Assert.Equal(model["A"].Tries.ToString(System.Globalization.CultureInfo.InvariantCulture), after["A_TRIES"]);
        // mark-good from slot A then records B as failed.
        var running = BootSlots.Read(after);
        running.MarkGood("A");
        Assert.False(running["B"].Ok);
        Assert.Equal(["A", "B"], running.Order);
    }
}
