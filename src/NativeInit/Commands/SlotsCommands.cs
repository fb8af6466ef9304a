using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Platform;
using NativeInit.Core.Boot;
using NativeInit.Core.Boot.Init;

namespace NativeInit;

/// <summary>`nativeinit slots` and `nativeinit mark-good`: the A/B slots of a converted system.</summary>
internal static class SlotsCommands
{
    private static readonly OptionSpec BootDir = new("boot-dir", null, "DIR", "the /boot partition's mount point (default /boot)");

    public static readonly CommandSpec Slots = new()
    {
        Name = "slots",
        JsonSchema = "slots",
        Summary = "each A/B slot's state: booted, good, tries left, preference, bundle version, when written",
        Usage = "slots [--boot-dir /boot] [--json]",
        Options = [BootDir, new("json", null, null, "print one JSON object")],
        Run = RunSlots,
    };

    public static readonly CommandSpec MarkGood = new()
    {
        Name = "mark-good",
        JsonSchema = "slots",
        Summary = "the running slot reached multi-user: mark it good and re-arm its tries (run once per boot by a unit)",
        Usage = "mark-good [--boot-dir /boot] [--slot A|B] [--json]",
        Options =
        [
            BootDir,
            new("slot", null, "A|B", "the slot to mark (default: nativeinit.slot= of /proc/cmdline)"),
            new("json", null, null, "print the slots afterwards as one JSON object"),
        ],
        Run = RunMarkGood,
    };

    private static int RunSlots(ParsedArgs a, CommandContext ctx)
    {
        var (slots, reports) = BootSlotsStore.Read(a.Get("boot-dir") ?? "/boot", KernelCommandLine.ReadProc());
        Print(a.Has("json"), slots, reports, ctx);
        return ExitCodes.Success;
    }

    private static int RunMarkGood(ParsedArgs a, CommandContext ctx)
    {
        using var hangUp = TerminationSignals.IgnoreHangUp(); // a lost terminal never stops a write (issue 18)
        string boot = a.Get("boot-dir") ?? "/boot";
        var cmdline = KernelCommandLine.ReadProc();
        var slots = BootSlotsStore.MarkGood(boot, cmdline, a.Get("slot"));
        var (_, reports) = BootSlotsStore.Read(boot, cmdline);
        if (!a.Has("json")) ctx.Out.WriteLine($"slot {slots.Order[0]} marked good ({BootSlots.GoodTries} tries)");
        Print(a.Has("json"), slots, reports, ctx);
        return ExitCodes.Success;
    }

    private static void Print(bool json, BootSlots slots, IReadOnlyList<SlotReport> reports, CommandContext ctx)
    {
        if (json)
        {
            ctx.Out.WriteJson(w =>
            {
                w.WriteStartObject();
                w.WriteNumber("schemaVersion", 1);
                w.WriteStartArray("order");
                foreach (var n in slots.Order) w.WriteStringValue(n);
                w.WriteEndArray();
                w.WriteStartArray("slots");
                foreach (var r in reports)
                {
                    w.WriteStartObject();
                    w.WriteString("name", r.State.Name);
                    w.WriteBoolean("booted", r.Booted);
                    w.WriteBoolean("good", r.State.Ok);
                    w.WriteBoolean("ok", r.State.Ok);
                    w.WriteNumber("tries", r.State.Tries);
                    w.WriteBoolean("bootable", r.State.Bootable);
                    if (r.Preference >= 0) w.WriteNumber("preference", r.Preference); else w.WriteNull("preference");
                    if (r.Record?.BundleVersion is { } v) w.WriteString("bundleVersion", v); else w.WriteNull("bundleVersion");
                    if (r.Record?.WrittenAt is { } t) w.WriteString("writtenAt", t); else w.WriteNull("writtenAt");
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            });
            ctx.Out.WriteLine();
            return;
        }
        ctx.Out.WriteLine("slot  booted  good  tries  order  bundle              written");
        foreach (var r in reports)
        {
            ctx.Out.WriteLine($"{r.State.Name,-4}  {(r.Booted ? "yes" : "no"),-6}  {(r.State.Ok ? "yes" : "no"),-4}  {r.State.Tries,-5}  " +
                $"{(r.Preference >= 0 ? (r.Preference + 1).ToString() : "-"),-5}  {DisplayText.Of(r.Record?.BundleVersion ?? "-"),-18}  " +
                $"{r.Record?.WrittenAt?.ToString("u") ?? "-"}");
        }
        var next = slots.Next();
        ctx.Out.WriteLine(next is null ? "next boot: the recovery entry (no slot is good with tries left)" : $"next boot: slot {next}");
    }
}
