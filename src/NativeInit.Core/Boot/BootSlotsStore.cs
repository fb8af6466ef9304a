using System.Text.Json;
using NativeInit.Core.Boot.Init;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Boot;

/// <summary>What NativeInit recorded when it wrote a slot (<c>BOOT/nativeinit/slot-X.json</c>).</summary>
public sealed record SlotRecord(string? BundleVersion, DateTimeOffset? WrittenAt);

/// <summary>A slot as `nativeinit slots` reports it.</summary>
public sealed record SlotReport(SlotState State, bool Booted, int Preference, SlotRecord? Record);

/// <summary>The A/B state of a running converted system: grubenv on /boot, the running slot from the kernel command
/// line (<c>nativeinit.slot=X</c>, which the slot's GRUB entry passes), the slot records. `slots` and `mark-good`
/// are this type's two jobs.</summary>
public static class BootSlotsStore
{
    /// <summary>The kernel argument that names the slot a kernel was booted from.</summary>
    public const string SlotArgument = "nativeinit.slot";

    /// <summary>Finds grubenv under <paramref name="bootDir"/> (grub2/ first, as CentOS; then grub/).</summary>
    public static string EnvPath(string bootDir)
    {
        foreach (var d in new[] { "grub2", "grub" })
        {
            string p = Path.Combine(bootDir, d, "grubenv");
            if (File.Exists(p)) return p;
        }
        throw new RefusedException($"{bootDir}: no grub2/grubenv or grub/grubenv: not a system converted to an A/B layout");
    }

    public static string? RunningSlot(KernelCommandLine cmdline) =>
        cmdline.Get(SlotArgument) is { } s && BootSlots.Names.Contains(s) ? s : null;

    public static (BootSlots Slots, IReadOnlyList<SlotReport> Reports) Read(string bootDir, KernelCommandLine cmdline)
    {
        string path = EnvPath(bootDir);
        var env = GrubEnv.Parse(File.ReadAllBytes(path), path);
        if (env[BootSlots.OrderVariable] is null)
            throw new RefusedException($"{path}: no {BootSlots.OrderVariable} variable: this system has no A/B slots");
        var slots = BootSlots.Read(env);
        string? running = RunningSlot(cmdline);
        var reports = slots.Slots.Select(s => new SlotReport(s, s.Name == running,
            slots.Order.ToList().IndexOf(s.Name), ReadRecord(bootDir, s.Name))).ToList();
        return (slots, reports);
    }

    /// <summary>`mark-good`: the running slot reached multi-user. grubenv is rewritten in place within its block and
    /// fsynced (GRUB's save_env writes the same sectors); nothing else changes.</summary>
    public static BootSlots MarkGood(string bootDir, KernelCommandLine cmdline, string? slot = null)
    {
        string running = slot ?? RunningSlot(cmdline)
            ?? throw new RefusedException($"the kernel command line has no {SlotArgument}=A|B: not booted from an A/B slot entry");
        string path = EnvPath(bootDir);
        var env = GrubEnv.Parse(File.ReadAllBytes(path), path);
        var slots = BootSlots.Read(env);
        slots.MarkGood(running);
        slots.WriteTo(env);
        WriteInPlace(path, env.ToBytes());
        return slots;
    }

    /// <summary>Rewrites grubenv in place (same inode and blocks, as GRUB expects) and fsyncs it.</summary>
    public static void WriteInPlace(string path, ReadOnlySpan<byte> block)
    {
        using var h = BootCalls.OpenForRandomAccess(path, write: true);
        if (RandomAccess.GetLength(h) != block.Length)
            throw new RefusedException($"{path}: {RandomAccess.GetLength(h)} bytes, not a {block.Length}-byte GRUB environment block");
        RandomAccess.Write(h, block, 0);
        BootCalls.Fsync(h, path);
    }

    public static string RecordPath(string bootDir, string slot) => Path.Combine(bootDir, "nativeinit", $"slot-{slot}.json");

    /// <summary>Writes slot <paramref name="slot"/>'s record (atomically) under <paramref name="bootDir"/>.</summary>
    public static void WriteRecord(string bootDir, string slot, SlotRecord record)
    {
        string p = RecordPath(bootDir, slot);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        AtomicFile.Write(p, JsonText.ToUtf8(w =>
        {
            w.WriteStartObject();
            w.WriteString("slot", slot);
            if (record.BundleVersion is { } v) w.WriteString("bundleVersion", v); else w.WriteNull("bundleVersion");
            if (record.WrittenAt is { } t) w.WriteString("writtenAt", t); else w.WriteNull("writtenAt");
            w.WriteEndObject();
        }));
    }

    private static SlotRecord? ReadRecord(string bootDir, string slot)
    {
        string p = RecordPath(bootDir, slot);
        if (!File.Exists(p)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(p));
            var r = doc.RootElement;
            return new SlotRecord(
                r.TryGetProperty("bundleVersion", out var v) ? v.GetString() : null,
                r.TryGetProperty("writtenAt", out var t) && t.TryGetDateTimeOffset(out var at) ? at : null);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataFormatException($"{p}: not a slot record: {ex.Message}", ex);
        }
    }
}
