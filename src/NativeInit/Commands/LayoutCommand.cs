using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Platform;
using NativeInit.Core.Layout;

namespace NativeInit;

/// <summary>`nativeinit layout plan` and `nativeinit layout apply`: the declarative disk layout (GPT + LVM + mkfs).</summary>
internal static class LayoutCommand
{
    private static readonly OptionSpec[] Common =
    [
        new("layout", "l", "FILE", "the layout file (JSON)"),
        new("disk", null, "DEV", "the target block device"),
        new("image", null, "FILE", "the target disk image file (reached through loop devices, no device-mapper)"),
    ];

    public static readonly CommandSpec Plan = new()
    {
        Name = "layout plan",
        JsonSchema = "layout-plan",
        Summary = "print exactly what `layout apply` would write (sectors, extents, devices); changes nothing",
        Usage = "layout plan --layout FILE (--disk DEV | --image FILE) [--json]",
        Options = [.. Common, new("json", null, null, "print one JSON object")],
        Run = RunPlan,
    };

    public static readonly CommandSpec Apply = new()
    {
        Name = "layout apply",
        JsonSchema = "layout-plan",
        Summary = "write the GPT, the LVM PV/VG/LVs and the filesystems of a layout onto a disk or an image",
        Usage = "layout apply --layout FILE (--disk DEV | --image FILE) [--yes] [--dry-run] [--json]",
        Options =
        [
            .. Common,
            new("yes", "y", null, "really write (without it the plan is printed and nothing is written)"),
            new("dry-run", "n", null, "run every check and print the plan; write nothing"),
            new("json", null, null, "print the plan as one JSON object"),
            CommandLog.Option,
        ],
        Description = "Every check runs before the first write: disk size, partition table, LV sizes, mkfs programs, " +
            "nothing on the target mounted or in use. Exit 3 means refused with nothing written. " +
            "When writing, the whole output is also appended to the log file (--log). SIGHUP is ignored; SIGINT or SIGTERM " +
            "before the first write stop the run (exit 3), after it the write is completed.",
        Run = RunApply,
    };

    public static readonly CommandSpec Grow = new()
    {
        Name = "layout grow",
        JsonSchema = "layout-grow",
        Summary = "after a conversion: give the rest of the disk to the layout's grow LV (partition, PV, LV, dm table)",
        Usage = "layout grow --layout FILE (--disk DEV | --image FILE) [--yes] [--dry-run] [--json]",
        Options =
        [
            .. Common,
            new("yes", "y", null, "really write (without it the plan is printed and nothing is written)"),
            new("dry-run", "n", null, "print what would change; write nothing"),
            new("json", null, null, "print the plan as one JSON object"),
            CommandLog.Option,
        ],
        Description = "The GPT is moved to the disk's size and the PV partition extended to its end; the PV and the LV named by " +
            "volumeGroup.grow take the new extents. The filesystem is not grown: run xfs_growfs or resize2fs afterwards. When writing, the whole output " +
            "is also appended to the log file (--log); SIGHUP is ignored, SIGINT or SIGTERM stop the run only before the first write.",
        Run = RunGrow,
    };

    private static int RunGrow(ParsedArgs args, CommandContext ctx)
    {
        using var log = new CommandLog(args, ctx); // issue 18: signals, best-effort output, the log file
        return log.Run(() =>
        {
            var mode = Mode(args);
            using var target = Open(args, writable: mode == LayoutWriteMode.Write);
            LayoutJob.Grow(target, mode, plan =>
            {
                if (args.Has("json")) log.Out.WriteJson(j => plan.WriteJson(j));
                else plan.WriteText(log.Out);
                if (mode == LayoutWriteMode.Write && !plan.NothingToDo) log.BeginWrites(target.Path, target.Disk.IsBlockDevice);
            }, log.Error.WriteLine);
            return ExitCodes.Success;
        });
    }

    private static LayoutWriteMode Mode(ParsedArgs args) =>
        args.Has("dry-run") ? LayoutWriteMode.DryRun : args.Has("yes") ? LayoutWriteMode.Write : LayoutWriteMode.RefuseUnconfirmed;

    private static LayoutTarget Open(ParsedArgs args, bool writable)
    {
        string? disk = args.Get("disk"), image = args.Get("image");
        string layout = args.Require("layout");
        if ((disk is null) == (image is null)) throw new UsageException("give exactly one of --disk DEV or --image FILE");
        return LayoutJob.Open(layout, disk ?? image!, isImage: image is not null, writable);
    }

    private static void Print(LayoutPlan plan, ParsedArgs args, CommandContext ctx)
    {
        if (args.Has("json"))
        {
            ctx.Out.WriteJson(j => plan.WriteJson(j));
        }
        else plan.WriteText(ctx.Out);
    }

    private static int RunPlan(ParsedArgs args, CommandContext ctx)
    {
        using var target = Open(args, writable: false);
        Print(LayoutJob.Plan(target), args, ctx);
        return ExitCodes.Success;
    }

    private static int RunApply(ParsedArgs args, CommandContext ctx)
    {
        using var log = new CommandLog(args, ctx); // issue 18: signals, best-effort output, the log file
        return log.Run(() =>
        {
            var mode = Mode(args);
            using var target = Open(args, writable: mode == LayoutWriteMode.Write);
            var done = LayoutJob.Apply(target, mode, plan =>
            {
                if (args.Has("json")) log.Out.WriteJson(j => plan.WriteJson(j));
                else plan.WriteText(log.Out);
                if (mode == LayoutWriteMode.Write) log.BeginWrites(target.Path, target.Disk.IsBlockDevice);
            }, log.Error.WriteLine);
            foreach (var v in done) log.Error.WriteLine($"LV {DisplayText.Of(v.Name)}: {v.Filesystem ?? "no filesystem"} on {v.Device}");
            if (mode == LayoutWriteMode.Write) log.Error.WriteLine($"{target.Path}: layout applied");
            return ExitCodes.Success;
        });
    }
}
