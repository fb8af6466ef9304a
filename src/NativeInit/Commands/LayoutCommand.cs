using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
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
        Summary = "print exactly what `layout apply` would write (sectors, extents, devices); changes nothing",
        Usage = "layout plan --layout FILE (--disk DEV | --image FILE) [--json]",
        Options = [.. Common, new("json", null, null, "print one JSON object")],
        Run = RunPlan,
    };

    public static readonly CommandSpec Apply = new()
    {
        Name = "layout apply",
        Summary = "write the GPT, the LVM PV/VG/LVs and the filesystems of a layout onto a disk or an image",
        Usage = "layout apply --layout FILE (--disk DEV | --image FILE) [--yes] [--dry-run] [--json]",
        Options =
        [
            .. Common,
            new("yes", "y", null, "really write (without it the plan is printed and nothing is written)"),
            new("dry-run", "n", null, "run every check and print the plan; write nothing"),
            new("json", null, null, "print the plan as one JSON object"),
        ],
        Description = "Every check runs before the first write: disk size, partition table, LV sizes, mkfs programs, " +
            "nothing on the target mounted or in use. Exit 3 means refused with nothing written.",
        Run = RunApply,
    };

    public static readonly CommandSpec Grow = new()
    {
        Name = "layout grow",
        Summary = "after a conversion: give the rest of the disk to the layout's grow LV (partition, PV, LV, dm table)",
        Usage = "layout grow --layout FILE (--disk DEV | --image FILE) [--yes] [--dry-run] [--json]",
        Options =
        [
            .. Common,
            new("yes", "y", null, "really write (without it the plan is printed and nothing is written)"),
            new("dry-run", "n", null, "print what would change; write nothing"),
            new("json", null, null, "print the plan as one JSON object"),
        ],
        Description = "The GPT is moved to the disk's size and the PV partition extended to its end; the PV and the LV named by " +
            "volumeGroup.grow take the new extents. The filesystem is not grown: run xfs_growfs or resize2fs afterwards.",
        Run = RunGrow,
    };

    private static int RunGrow(ParsedArgs args, CommandContext ctx)
    {
        var (layout, target, image) = Target(args);
        bool write = args.Has("yes") && !args.Has("dry-run");
        using var disk = Open(target, image, writable: write, layout);
        var plan = LayoutGrow.Plan(layout, disk);
        if (args.Has("json"))
        {
            ctx.Out.WriteJson(j => plan.WriteJson(j));
        }
        else plan.WriteText(ctx.Out);
        if (plan.NothingToDo || args.Has("dry-run")) return ExitCodes.Success;
        if (!args.Has("yes")) throw new RefusedException($"{target}: nothing was written. Add --yes to grow");
        LayoutGrow.Apply(plan, disk, m => ctx.Error.WriteLine(m));
        return ExitCodes.Success;
    }

    private static (LayoutFile Layout, string Target, bool Image) Target(ParsedArgs args)
    {
        var layout = LayoutFile.Load(args.Require("layout"));
        string? disk = args.Get("disk"), image = args.Get("image");
        if ((disk is null) == (image is null)) throw new UsageException($"{args.Command}: give exactly one of --disk DEV or --image FILE");
        if (disk is not null && !File.Exists(disk)) throw new RefusedException($"{disk}: no such device");
        if (image is not null && !File.Exists(image)) throw new RefusedException($"{image}: no such image file");
        return (layout, disk ?? image!, image is not null);
    }

    private static DiskDevice Open(string target, bool image, bool writable, LayoutFile layout)
    {
        var disk = DiskDevice.Open(target, writable, image ? SectorSizeOf(layout) : 512);
        if (image && disk.IsBlockDevice) { disk.Dispose(); throw new UsageException($"{target} is a block device: use --disk"); }
        if (!image && !disk.IsBlockDevice) { disk.Dispose(); throw new UsageException($"{target} is not a block device: use --image"); }
        return disk;
    }

    private static int SectorSizeOf(LayoutFile layout)
    {
        try { return SgdiskBackup.Load(layout.PartitionTablePath).SourceSectorSize; }
        catch (Exception e) when (e is IOException or InvalidDataFormatException) { return 512; } // the planner reports it
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
        var (layout, target, image) = Target(args);
        using var disk = Open(target, image, writable: false, layout);
        Print(LayoutPlanner.Plan(layout, disk), args, ctx);
        return ExitCodes.Success;
    }

    private static int RunApply(ParsedArgs args, CommandContext ctx)
    {
        var (layout, target, image) = Target(args);
        bool write = args.Has("yes") && !args.Has("dry-run");
        using var disk = Open(target, image, writable: write, layout);
        var plan = LayoutPlanner.Plan(layout, disk);
        // Resume: an earlier apply of the same layout left its VG on disk; keep its ids so the metadata is identical.
        if (LayoutResume.IdentityFrom(plan, LayoutResume.ReadExisting(plan, disk)) is { } same)
        {
            plan = LayoutPlanner.Plan(layout, disk, same);
            ctx.Error.WriteLine($"{target}: VG {plan.VolumeGroup.Name} from an earlier apply of this layout is on disk; reusing its ids");
        }
        LayoutApplier.Preflight(plan);
        Print(plan, args, ctx);
        if (args.Has("dry-run"))
        {
            ctx.Error.WriteLine("dry run: every check passed; nothing was written");
            return ExitCodes.Success;
        }
        if (!args.Has("yes"))
            throw new RefusedException($"{target}: this would overwrite the partition table and data; nothing was written. Add --yes to apply");
        try
        {
            var done = LayoutApplier.Apply(plan, disk, m => ctx.Error.WriteLine(m));
            foreach (var v in done) ctx.Error.WriteLine($"LV {v.Name}: {v.Filesystem ?? "no filesystem"} on {v.Device}");
        }
        catch (NativeInitException e) when (e.ExitCode != ExitCodes.FailedAfterPointOfNoReturn && e is not RefusedException)
        {
            throw new NativeInitException($"{target}: failed after writing started: {e.Message}", ExitCodes.FailedAfterPointOfNoReturn, e);
        }
        ctx.Error.WriteLine($"{target}: layout applied");
        return ExitCodes.Success;
    }
}
