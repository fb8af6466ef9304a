using System.Text;
using NativeInit.Core.Layout;
using NativeInit.Core.Lvm;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Boot;

/// <summary>One A/B root slot: its name ("A", "B") and the LV that holds it.</summary>
public sealed record BootSlot(string Name, string Volume);

/// <summary>
/// The boot files of an A/B layout on the /boot partition (issue 14), written by `convert` and `update`:
/// <list type="bullet">
/// <item>each slot's kernel and initramfs under its own name, <c>/slot-X/vmlinuz</c> and <c>/slot-X/initramfs.img</c>
/// (a slot's kernel never overwrites the other's, so GRUB can always fall back to a complete pair);</item>
/// <item>grub.cfg: the target's header facts from <see cref="GrubConfigSpec"/> (serial terminal, /boot by filesystem
/// UUID), then <see cref="BootCountingScript"/> (the decision, saved with save_env before the slot boots), one menu
/// entry per slot (root on the slot's LV, <c>nativeinit.slot=X</c> for `mark-good` and `slots`) and the recovery
/// entry (slot A's kernel, single user). It names fixed paths, so `update` never rewrites it;</item>
/// <item>grubenv: the slot variables of <see cref="BootSlots"/>; after a conversion slot A is the freshly written slot
/// (<see cref="BootSlots.FinishWrite"/>: first in ORDER, OK, one try), so the converted system's first boot is itself
/// counted and one that never reaches `mark-good` ends at the recovery entry, never in a loop.</item>
/// </list>
/// </summary>
public static class SlotBootConfig
{
    public const string KernelFile = "vmlinuz", InitramfsFile = "initramfs.img";

    /// <summary>The kernel argument that tells the booted system its slot (<see cref="BootSlotsStore.SlotArgument"/>).</summary>
    public static string SlotArgument(string slot) => $"{BootSlotsStore.SlotArgument}={slot}";

    /// <summary>A slot's directory on the /boot file system, as GRUB sees it ("/slot-A").</summary>
    public static string SlotDirectory(string slot) => "/slot-" + slot;

    public static string KernelPath(string slot) => SlotDirectory(slot) + "/" + KernelFile;

    public static string InitramfsPath(string slot) => SlotDirectory(slot) + "/" + InitramfsFile;

    /// <summary>The slots of a layout's volumes (A first), or null when the layout has none.</summary>
    public static IReadOnlyList<BootSlot>? SlotsOf(IEnumerable<LayoutVolume> volumes)
    {
        var slots = volumes.Where(v => v.Slot is not null).OrderBy(v => v.Slot, StringComparer.Ordinal)
            .Select(v => new BootSlot(v.Slot!, v.Name)).ToList();
        if (slots.Count == 0) return null;
        if (!slots.Select(s => s.Name).SequenceEqual(BootSlots.Names))
            throw new RefusedException($"layout: slots {string.Join(", ", slots.Select(s => s.Name))}; an A/B layout has exactly {string.Join(" and ", BootSlots.Names)}");
        return slots;
    }

    /// <summary>The kernel arguments of slot <paramref name="slot"/>'s entry: the system arguments with the root on the
    /// slot's LV (<see cref="GrubConfigWriter.SystemArguments"/>), then <c>nativeinit.slot=X</c>.</summary>
    public static IReadOnlyList<string> Arguments(GrubConfigSpec spec, BootSlot slot) =>
        [.. GrubConfigWriter.SystemArguments(spec with { RootVolume = slot.Volume }), SlotArgument(slot.Name)];

    /// <summary>grub.cfg for an A/B layout.</summary>
    public static string Text(GrubConfigSpec spec, IReadOnlyList<BootSlot> slots)
    {
        if (!spec.BootFilesystemUuid.All(c => char.IsAsciiHexDigit(c) || c == '-') || spec.BootFilesystemUuid.Length == 0)
            throw new RefusedException($"grub.cfg: '{spec.BootFilesystemUuid}' is not a filesystem UUID");
        var sb = new StringBuilder();
        sb.Append("# Written by NativeInit: A/B root slots ").Append(string.Join(", ", slots.Select(s => $"{s.Name} on {spec.VolumeGroup}/{s.Volume}")))
            .Append(", counted boots in grubenv. Entries: one per slot, recovery.\n");
        if (spec.Serial is { } serial)
        {
            sb.Append($"serial --unit={serial.Unit} --speed={serial.Speed}\n");
            sb.Append("terminal_input serial console\nterminal_output serial console\n");
        }
        sb.Append($"search --no-floppy --fs-uuid --set=root {spec.BootFilesystemUuid}\n");
        var entries = slots.Select(s => new SlotBootEntry(s.Name, KernelPath(s.Name), InitramfsPath(s.Name),
            string.Join(' ', Arguments(spec, s).Select(GrubConfigWriter.Quote)))).ToList();
        var first = slots[0];
        string recovery = $"linux {BootCountingScript.Quote(KernelPath(first.Name))} " +
            string.Join(' ', Arguments(spec, first).Append("single").Select(GrubConfigWriter.Quote)) + "\n" +
            $"initrd {BootCountingScript.Quote(InitramfsPath(first.Name))}\n";
        sb.Append(BootCountingScript.Render(entries, recovery));
        return sb.ToString();
    }

    /// <summary>Copies a kernel and its initramfs to slot <paramref name="slot"/>'s names on the /boot file system mounted
    /// at <paramref name="bootMount"/>: each written to a temporary name, fsynced, renamed over the old one, the
    /// directory fsynced (a power cut leaves the old pair or the new one, per file).</summary>
    public static void InstallKernel(string bootMount, string slot, string kernel, string initramfs)
    {
        string dir = Path.Combine(bootMount, SlotDirectory(slot).TrimStart('/'));
        Directory.CreateDirectory(dir);
        foreach (var (from, name) in new[] { (kernel, KernelFile), (initramfs, InitramfsFile) })
        {
            string dest = Path.Combine(dir, name), tmp = dest + ".tmp";
            using (var src = new FileStream(from, FileMode.Open, FileAccess.Read))
            using (var dst = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                src.CopyTo(dst, 1 << 20);
                dst.Flush(flushToDisk: true);
            }
            File.Move(tmp, dest, overwrite: true);
        }
        AtomicFile.SyncDirectory(dir);
        AtomicFile.SyncDirectory(bootMount);
    }

    /// <summary>
    /// `convert` on an A/B layout, in place of <see cref="GrubConfigWriter.WriteFiles"/>: slot A's kernel (the newest of
    /// <paramref name="spec"/>'s kernels, in /boot) under its slot names, the slot record, grub.cfg, then grubenv with
    /// slot A freshly written (first, OK, one try) and slot B empty; grubenv's other variables are kept. Returns
    /// grub.cfg's path. <paramref name="bootMount"/> is where the /boot file system is mounted.
    /// </summary>
    public static string WriteAfterConversion(string bootMount, GrubConfigSpec spec, IReadOnlyList<BootSlot> slots, SlotRecord record)
    {
        var kernel = spec.Kernels.FirstOrDefault() ?? throw new NativeInitException(
            "grub.cfg: no kernel with an initramfs in the new system's /boot for slot " + slots[0].Name);
        string text = Text(spec, slots);
        InstallKernel(bootMount, slots[0].Name, Path.Combine(bootMount, kernel.Kernel), Path.Combine(bootMount, kernel.Initramfs));
        BootSlotsStore.WriteRecord(bootMount, slots[0].Name, record);
        string dir = Path.Combine(bootMount, spec.GrubDirectory.TrimStart('/'));
        Directory.CreateDirectory(dir);
        string cfg = Path.Combine(dir, "grub.cfg");
        AtomicFile.Write(cfg, Encoding.UTF8.GetBytes(text));
        string envPath = Path.Combine(dir, "grubenv");
        GrubEnv env;
        try { env = File.Exists(envPath) ? GrubEnv.Parse(File.ReadAllBytes(envPath), envPath) : GrubEnv.Empty(); }
        catch (InvalidDataFormatException) { env = GrubEnv.Empty(); }
        if (env.Size != GrubEnv.DefaultSize) env = GrubEnv.Empty();
        var state = BootSlots.Read(GrubEnv.Empty());
        state.FinishWrite(slots[0].Name);
        state.WriteTo(env);
        AtomicFile.Write(envPath, env.ToBytes());
        return cfg;
    }

    /// <summary>The device of a slot's LV on a running system (/dev/mapper/VG-LV, activated by dracut or lvm).</summary>
    public static string DevicePath(string volumeGroup, BootSlot slot) => DmNames.MapperPath(volumeGroup, slot.Volume);
}
