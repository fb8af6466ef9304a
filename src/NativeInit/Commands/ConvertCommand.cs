using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Platform;
using NativeInit.Core.Boot.Init;
using NativeInit.Core.Bundle;
using NativeInit.Core.Conversion;

namespace NativeInit;

/// <summary>`nativeinit convert` (stage two) and `nativeinit status`: parse, call <see cref="ConvertJob"/>, print.</summary>
internal static class ConvertCommand
{
    private const string DefaultKey = "/etc/nativeinit/vendor.pub";

    private static readonly OptionSpec[] Target =
    [
        new("disk", null, "DEV", "the disk: a device path, or serial:S, wwn:W, partuuid:P, uuid:U (as rd.nativeinit.disk= names it)"),
        new("image", null, "FILE", "a disk image file (loop devices at the volumes' offsets, no device-mapper)"),
    ];

    public static readonly CommandSpec Convert = new()
    {
        Name = "convert",
        JsonSchema = "convert",
        Summary = "stage two: convert a legacy MBR disk in place to the bundle's GPT + LVM layout (resumes after a power cut)",
        Usage = "convert (--disk DEV | --image FILE) [--bundle PATH] [--key PUB] [--dry-run] [--yes] [--json]",
        Options =
        [
            .. Target,
            new("bundle", null, "PATH", "the staged bundle's path inside the old root (default /boot/nativeinit/bundle.tar or /nativeinit/bundle.tar)"),
            new("key", null, "PUB", $"the vendor's public key (default {DefaultKey})"),
            new("dry-run", "n", null, "run every check and print the plan; write nothing"),
            new("yes", "y", null, "really convert (without it the plan is printed and nothing is written: exit 3)"),
            new("json", null, null, "print the plan (and the result) as JSON"),
            new("resume", null, null, "accepted for the initramfs hooks: every run resumes from the journal when there is one"),
        ],
        Description = "Every check runs before the first write (exit 3, nothing written): the bundle's signature and hashes read " +
            "through its extents on the disk, the old layout, the layout against the disk, the bundle clear of the early writes, " +
            "mkfs programs, memory. After the first write a failure is exit 4; run the same command again to resume from the " +
            "journal on the new /boot. A second run after success writes nothing. " +
            "SIGHUP is ignored (the step lines and /boot/nativeinit/convert.log keep going). SIGINT or SIGTERM before the first " +
            "write stops the run (exit 3, nothing written); after it the step in progress finishes, the journal records that " +
            "the run stopped before the next step, and the run ends with exit 4 (resume with the same command).",
        Run = RunConvert,
    };

    public static readonly CommandSpec Status = new()
    {
        Name = "status",
        JsonSchema = "status",
        Summary = "say whether a disk is not converted, in progress at step S, or done, and what its next boot does",
        Usage = "status [--disk DEV | --image FILE | --root DIR [--boot-dir DIR]] [--json]",
        Options =
        [
            .. Target,
            new("root", null, "DIR", "without --disk/--image: the running system's root (default /; tests point it at a fake root)"),
            new("boot-dir", null, "DIR", "without --disk/--image: its boot directory (default /boot)"),
            new("json", null, null, "print one JSON object"),
        ],
        Description = "Without --disk or --image it reads the running system: the conversion journal on /boot (done or in " +
            "progress), else stage one's one-shot conversion entry in grubenv (staged), else not converted.",
        Run = RunStatus,
    };

    public static readonly CommandSpec Grow = new()
    {
        Name = "grow",
        JsonSchema = "layout-grow",
        Summary = "after a conversion: give the rest of the disk to the layout's grow LV and grow its file system",
        Usage = "grow (--disk DEV | --image FILE) [--yes] [--dry-run] [--json]",
        Options =
        [
            .. Target,
            new("yes", "y", null, "really grow (without it the plan is printed and nothing is written: exit 3)"),
            new("dry-run", "n", null, "print what would change; write nothing"),
            new("json", null, null, "print the plan as one JSON object"),
            CommandLog.Option,
        ],
        Description = "`layout grow` with the layout the conversion recorded on /boot, then xfs_growfs or resize2fs on the LV. " +
            "On a disk it works online on the running converted system (the LV's device-mapper table is reloaded, the file " +
            "system grown where it is mounted). " +
            "When writing, the whole output is also appended to the log file (--log). SIGHUP is ignored; SIGINT or SIGTERM " +
            "before the first write stop the run (exit 3), after it the grow is completed.",
        Run = RunGrow,
    };

    private static int RunGrow(ParsedArgs a, CommandContext ctx)
    {
        using var log = new CommandLog(a, ctx); // issue 18: signals, best-effort output, the log file
        return log.Run(() =>
        {
            var o = Options(a, needKey: false);
            var plan = ConvertJob.Grow(o, write: false, log.Error);
            if (a.Has("json")) log.Out.WriteJson(plan.WriteJson);
            else plan.WriteText(log.Out);
            if (a.Has("dry-run")) return ExitCodes.Success;
            if (!a.Has("yes")) throw new RefusedException($"{o.Target}: nothing was written. Add --yes to grow");
            log.BeginWrites(o.Target, isBlockDevice: !o.IsImage);
            ConvertJob.Grow(o, write: true, log.Error);
            return ExitCodes.Success;
        });
    }

    private static ConvertOptions Options(ParsedArgs a, bool needKey)
    {
        string? disk = a.Get("disk"), image = a.Get("image");
        if ((disk is null) == (image is null)) throw new UsageException("give exactly one of --disk DEV or --image FILE");
        if (disk is not null && !disk.StartsWith('/'))
            disk = DiskLocator.Find(disk) ?? throw new RefusedException($"disk {disk}: no such disk is present (nothing was written)");
        byte[] key = [];
        if (needKey)
        {
            string keyPath = a.Get("key") ?? DefaultKey;
            if (!File.Exists(keyPath)) throw new RefusedException($"public key {keyPath}: no such file (give --key PUB)");
            key = BundleKeys.ReadPublic(keyPath);
        }
        return new ConvertOptions { Target = disk ?? image!, IsImage = image is not null, Bundle = a.Get("bundle"), PublicKey = key };
    }

    private static int RunConvert(ParsedArgs a, CommandContext ctx)
    {
        // Issue 18: SIGHUP is ignored; SIGINT/SIGTERM are recorded. Before the first write they stop the run (exit 3,
        // nothing written); after it the step in progress finishes and the step runner stops before the next one,
        // recording where in the journal (exit 4, resume with the same command).
        using var signals = TerminationSignals.Install();
        var o = Options(a, needKey: true);
        bool json = a.Has("json");
        using var work = new WorkDirectory("nativeinit-convert.");
        var plan = ConvertJob.Plan(o, work, json ? TextWriter.Null : ctx.Error);
        if (json) ctx.Out.WriteJson(plan.WriteJson);
        else plan.WriteText(ctx.Out);
        if (plan.AlreadyDone)
        {
            ctx.Error.WriteLine($"{o.Target}: already converted (journal state done); no changes");
            return ExitCodes.Success;
        }
        if (a.Has("dry-run"))
        {
            ctx.Error.WriteLine("dry run: every check passed; nothing was written");
            return ExitCodes.Success;
        }
        if (!a.Has("yes"))
            throw new RefusedException($"{o.Target}: this converts the disk in place (partition table, LVM, file systems); nothing was written. Add --yes to convert");
        TestHooks.WaitAt("first-write");
        if (signals.Received is { } signal) throw new RefusedException($"{o.Target}: interrupted by {signal} before the first write; nothing was written");
        ConvertJob.Run(plan, work, json ? ctx.Error : ctx.Out, ctx.Error, !Console.IsErrorRedirected);
        return ExitCodes.Success;
    }

    private static int RunStatus(ParsedArgs a, CommandContext ctx)
    {
        var s = a.Has("disk") || a.Has("image")
            ? ConvertJob.Status(Options(a, needKey: false))
            : RunningSystemStatus.Read(a.Get("root") ?? "/", a.Get("boot-dir") ?? "/boot");
        if (a.Has("json")) ctx.Out.WriteJson(s.WriteJson);
        else s.WriteText(ctx.Out);
        return ExitCodes.Success;
    }
}
