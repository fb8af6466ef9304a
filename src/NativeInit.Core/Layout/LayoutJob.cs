using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Layout;

/// <summary>How far a layout job goes after showing its plan.</summary>
public enum LayoutWriteMode
{
    /// <summary>Show the plan and refuse (exit 3): the operator did not confirm.</summary>
    RefuseUnconfirmed,
    /// <summary>Run every check, show the plan, write nothing.</summary>
    DryRun,
    /// <summary>Write.</summary>
    Write,
}

/// <summary>A layout file and the disk or image it is applied to, opened (read-only unless writing).</summary>
public sealed class LayoutTarget(LayoutFile layout, DiskDevice disk) : IDisposable
{
    public LayoutFile Layout { get; } = layout;
    public DiskDevice Disk { get; } = disk;
    public string Path => Disk.Path;
    public void Dispose() => Disk.Dispose();
}

/// <summary>
/// <c>layout plan</c>, <c>layout apply</c> and <c>layout grow</c> as one Core call each: the CLI parses and prints, and
/// tests run exactly what the commands run. Every check runs before the first write (exit 3 when one fails); the
/// writing part is the point of no return (exit 4 for any failure in it).
/// </summary>
public static class LayoutJob
{
    /// <summary>Loads the layout and opens the target: <paramref name="isImage"/> says whether an image file or a
    /// block device was asked for (a usage error when the target is the other kind).</summary>
    public static LayoutTarget Open(string layoutPath, string target, bool isImage, bool writable)
    {
        var layout = LayoutFile.Load(layoutPath);
        if (!File.Exists(target) && !Directory.Exists(target))
            throw new RefusedException($"{(isImage ? "image" : "disk")} {target}: {PosixError.Message(PosixError.ENOENT)} (ENOENT)");
        SgdiskBackup? backup = null;
        try { backup = SgdiskBackup.Load(layout.PartitionTablePath); }
        catch (NativeInitException) { } // the planner refuses with the reason
        var disk = GptJob.OpenBeforeWriting(target, writable, ImageSectorSize.Choose(target, backup: backup));
        if (isImage && disk.IsBlockDevice) { disk.Dispose(); throw new UsageException($"{target} is a block device: use --disk"); }
        if (!isImage && !disk.IsBlockDevice) { disk.Dispose(); throw new UsageException($"{target} is not a block device: use --image"); }
        return new LayoutTarget(layout, disk);
    }

    /// <summary><c>layout plan</c>: what apply would write.</summary>
    public static LayoutPlan Plan(LayoutTarget target) => LayoutPlanner.Plan(target.Layout, target.Disk);

    /// <summary>
    /// <c>layout apply</c>: plan; when an earlier apply of the same layout left its VG on the disk, plan again with its
    /// ids (a resume writes the very same metadata); preflight; <paramref name="show"/> the plan; then, by
    /// <paramref name="mode"/>, stop, refuse or write. Returns the volumes made (empty when nothing was written).
    /// </summary>
    public static IReadOnlyList<AppliedVolume> Apply(LayoutTarget target, LayoutWriteMode mode, Action<LayoutPlan> show, Action<string> log)
    {
        var plan = LayoutPlanner.Plan(target.Layout, target.Disk);
        if (LayoutResume.IdentityFrom(plan, LayoutResume.ReadExisting(plan, target.Disk)) is { } same)
        {
            plan = LayoutPlanner.Plan(target.Layout, target.Disk, same);
            log($"{target.Path}: VG {DisplayText.Of(plan.VolumeGroup.Name)} from an earlier apply of this layout is on disk; reusing its ids");
        }
        LayoutApplier.Preflight(plan);
        show(plan);
        switch (mode)
        {
            case LayoutWriteMode.DryRun:
                log("dry run: every check passed; nothing was written");
                return [];
            case LayoutWriteMode.RefuseUnconfirmed:
                throw new RefusedException($"{target.Path}: this would overwrite the partition table and data; nothing was written. Add --yes to apply");
        }
        return LayoutApplier.Apply(plan, target.Disk, log);
    }

    /// <summary><c>layout grow</c>: plan, <paramref name="show"/> it, then by <paramref name="mode"/> stop, refuse or
    /// write. Returns false when nothing was written.</summary>
    public static bool Grow(LayoutTarget target, LayoutWriteMode mode, Action<LayoutGrowPlan> show, Action<string> log)
    {
        var plan = LayoutGrow.Plan(target.Layout, target.Disk);
        show(plan);
        if (plan.NothingToDo || mode == LayoutWriteMode.DryRun) return false;
        if (mode == LayoutWriteMode.RefuseUnconfirmed) throw new RefusedException($"{target.Path}: nothing was written. Add --yes to grow");
        LayoutGrow.Apply(plan, target.Disk, log);
        return true;
    }
}
