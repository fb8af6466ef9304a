using NativeInit.Core.Disk;
using System.Text.Json;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Lvm;

namespace NativeInit.Core.Layout;

/// <summary>What `layout grow` would do: the PV partition to the end of the disk, the PV and the layout's grow LV.</summary>
public sealed class LayoutGrowPlan
{
    public required LayoutFile Layout { get; init; }
    public required string Target { get; init; }
    public required bool IsImage { get; init; }
    public required GptTable Before { get; init; }
    public required GptTable After { get; init; }
    public required int Partition { get; init; }
    public required LvmVolumeGroup VgBefore { get; init; }
    public required LvmVolumeGroup VgAfter { get; init; }
    public required long PvOffset { get; init; }
    public required long NewPvSize { get; init; }
    public required string LvName { get; init; }

    public bool NothingToDo => VgAfter.FindLv(LvName)!.ExtentCount == VgBefore.FindLv(LvName)!.ExtentCount
        && VgAfter.PhysicalVolumes[0].PeCount == VgBefore.PhysicalVolumes[0].PeCount;

    public void WriteText(TextWriter w)
    {
        var p0 = Before.Find(Partition)!;
        var p1 = After.Find(Partition)!;
        w.WriteLine($"grow on {(IsImage ? "image" : "disk")} {Target}: {After.DiskSectors} sectors of {After.SectorSize} bytes");
        w.WriteLine($"  GPT: backup header LBA {Before.BackupHeaderLba} -> {After.BackupHeaderLba}, last usable LBA {Before.LastUsableLba} -> {After.LastUsableLba}");
        w.WriteLine($"  partition {Partition}: LBA {p0.FirstLba}-{p0.LastLba} -> {p1.FirstLba}-{p1.LastLba} ({ByteSize.Format(p0.ByteLength(After.SectorSize))} -> {ByteSize.Format(p1.ByteLength(After.SectorSize))})");
        var pv0 = VgBefore.PhysicalVolumes[0];
        var pv1 = VgAfter.PhysicalVolumes[0];
        w.WriteLine($"  PV: dev_size {pv0.DevSize} -> {pv1.DevSize} sectors, pe_count {pv0.PeCount} -> {pv1.PeCount}");
        var lv0 = VgBefore.FindLv(LvName)!;
        var lv1 = VgAfter.FindLv(LvName)!;
        w.WriteLine($"  LV {DisplayText.Of(VgAfter.Name)}/{DisplayText.Of(LvName)}: {lv0.ExtentCount} -> {lv1.ExtentCount} extents ({ByteSize.Format(lv0.ExtentCount * VgAfter.ExtentSizeBytes)} -> {ByteSize.Format(lv1.ExtentCount * VgAfter.ExtentSizeBytes)})");
        foreach (var s in lv1.Segments)
            w.WriteLine($"    segment extents {s.StartExtent}-{s.StartExtent + s.ExtentCount - 1} -> {DisplayText.Of(s.Stripes[0].Pv)}:{s.Stripes[0].StartExtent}-{s.Stripes[0].StartExtent + s.ExtentCount - 1}");
        if (NothingToDo) w.WriteLine("  nothing to grow");
    }

    public void WriteJson(Utf8JsonWriter j)
    {
        j.WriteStartObject();
        j.WriteNumber("schemaVersion", 1);
        j.WriteString("target", Target);
        j.WriteNumber("partition", Partition);
        j.WriteNumber("partitionLastLbaBefore", Before.Find(Partition)!.LastLba);
        j.WriteNumber("partitionLastLbaAfter", After.Find(Partition)!.LastLba);
        j.WriteNumber("peCountBefore", VgBefore.PhysicalVolumes[0].PeCount);
        j.WriteNumber("peCountAfter", VgAfter.PhysicalVolumes[0].PeCount);
        j.WriteString("lv", LvName);
        j.WriteNumber("extentsBefore", VgBefore.FindLv(LvName)!.ExtentCount);
        j.WriteNumber("extentsAfter", VgAfter.FindLv(LvName)!.ExtentCount);
        j.WriteNumber("sizeAfter", VgAfter.FindLv(LvName)!.ExtentCount * VgAfter.ExtentSizeBytes);
        j.WriteBoolean("nothingToDo", NothingToDo);
        j.WriteEndObject();
    }
}

/// <summary>
/// `layout grow`: after a successful conversion, the layout's <c>grow</c> LV takes the rest of the disk — the GPT moved
/// to the disk's (possibly larger) size with the PV partition extended to the end, the PV resized and the LV extended;
/// on a block device the kernel learns the new partition size and an active LV gets its new table. The filesystem is
/// grown by the caller (xfs_growfs on the mount point, resize2fs).
/// </summary>
public static class LayoutGrow
{
    public static LayoutGrowPlan Plan(LayoutFile layout, DiskDevice disk)
    {
        string lvName = layout.Grow ?? throw new RefusedException($"layout {layout.Path}: volumeGroup.grow names no LV to grow");
        var current = GptReader.Read(disk).Table ?? throw new RefusedException($"{disk.Path}: no valid GPT (apply the layout first)");
        var moved = current.DiskSectors == disk.Sectors ? current : current.MovedToDisk(disk.Sectors);
        if (moved.Find(layout.Partition) is null) throw new RefusedException($"{disk.Path}: the GPT has no partition {layout.Partition}");
        var after = moved.GrowPartition(layout.Partition);
        after.EnsureValid(disk.Path);
        var part = after.Find(layout.Partition)!;
        long pvOffset = part.ByteOffset(disk.LogicalSectorSize), newSize = part.ByteLength(disk.LogicalSectorSize);
        var pv = LvmDiskFormat.Read(disk.Handle, pvOffset, $"{disk.Path} partition {layout.Partition}");
        var vg = pv.VolumeGroup ?? throw new RefusedException($"{disk.Path} partition {layout.Partition}: the PV belongs to no VG");
        if (vg.Name != layout.VolumeGroupName) throw new RefusedException($"{disk.Path} partition {layout.Partition}: VG is {vg.Name}, the layout's is {layout.VolumeGroupName}");
        var grown = LvmGrow.Plan(vg, pv.PeStartBytes, newSize, lvName);
        return new LayoutGrowPlan
        {
            Layout = layout, Target = disk.Path, IsImage = !disk.IsBlockDevice, Before = current, After = after, Partition = layout.Partition,
            VgBefore = vg, VgAfter = grown, PvOffset = pvOffset, NewPvSize = newSize, LvName = lvName,
        };
    }

    /// <summary>What to do after a failure inside <see cref="Apply"/>.</summary>
    public const string HowToGoOn = "run layout grow again with the same layout: it plans from what is on the disk now";

    /// <summary>Writes the plan; the first write is the point of no return (any failure after it is exit 4).</summary>
    public static void Apply(LayoutGrowPlan plan, DiskDevice disk, Action<string>? log = null)
    {
        log ??= _ => { };
        if (plan.NothingToDo) { log("nothing to grow"); return; }
        PointOfNoReturn.Run(disk.Path, HowToGoOn, () => Write(plan, disk, log));
    }

    private static void Write(LayoutGrowPlan plan, DiskDevice disk, Action<string> log)
    {
        GptWriter.Write(disk, plan.After);
        log($"GPT: partition {plan.Partition} now ends at LBA {plan.After.Find(plan.Partition)!.LastLba}");
        if (disk.IsBlockDevice) log($"kernel: {KernelPartitions.Notify(disk, plan.After)}");
        LvmGrow.Write(disk.Handle, plan.PvOffset, plan.VgAfter, plan.NewPvSize, disk.Path);
        log($"LVM: PV has {plan.VgAfter.PhysicalVolumes[0].PeCount} extents, LV {plan.LvName} {plan.VgAfter.FindLv(plan.LvName)!.ExtentCount} (seqno {plan.VgAfter.Seqno})");
        if (!disk.IsBlockDevice) return;
        string dm = DmNames.DeviceName(plan.VgAfter.Name, plan.LvName);
        if (DeviceMapperControl.GetStatus(dm) is not { HasActiveTable: true }) return;
        string part = "/dev/" + BlockDeviceInfo.PartitionName(disk.KernelName!, plan.Partition);
        var (major, minor) = LvmActivation.DeviceNumber(part);
        var table = LvmActivation.Table(plan.VgAfter, plan.VgAfter.FindLv(plan.LvName)!, new Dictionary<string, (uint, uint)> { [plan.VgAfter.PhysicalVolumes[0].Name] = (major, minor) });
        DeviceMapperControl.ReloadLinear(dm, table);
        log($"device-mapper: {dm} reloaded with {table.Count} segments; grow its filesystem now (xfs_growfs MOUNTPOINT, resize2fs DEVICE)");
    }
}
