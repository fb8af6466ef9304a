using NativeInit.Core.Disk;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Lvm;

namespace NativeInit.Core.Layout;

/// <summary>
/// From a layout file and a disk (block device or image) to a <see cref="LayoutPlan"/>: the GPT from the sgdisk backup
/// moved to the disk's size, the PV on the named partition, the LVs' extents, offsets and devices. Every refusal of
/// `layout apply` happens here, before anything is written: a disk smaller than the table, the PV partition missing,
/// LVs that do not fit the PV, a target in use (mounted, swap, held; for an image: a loop device over it in use).
/// </summary>
public static class LayoutPlanner
{
    /// <param name="releasedHolders">Holders of the disk's partitions (kernel names, e.g. dm-0) that the caller
    /// removes before its first write (convert: the old VG's unused LVs); they do not make the disk "in use".</param>
    public static LayoutPlan Plan(LayoutFile layout, DiskDevice disk, LvmIdentity? identity = null, IReadOnlySet<string>? releasedHolders = null)
    {
        // (a block device in use is refused by GptApply.Plan)
        if (!disk.IsBlockDevice) RefuseIfImageInUse(disk.Path);

        SgdiskBackup backup;
        try { backup = SgdiskBackup.Load(layout.PartitionTablePath); }
        catch (NativeInitException e) when (e is RefusedException or InvalidDataFormatException) { throw new RefusedException($"layout {layout.Path}: partitionTable {layout.PartitionTablePath}: {e.Message}", e); }

        var gpt = GptApply.PlanFromBackup(disk, backup, wipePartitions: true, releasedHolders);
        var table = gpt.Desired;
        int ss = disk.LogicalSectorSize;
        var part = table.Find(layout.Partition)
            ?? throw new RefusedException($"layout {layout.Path}: volumeGroup.partition {layout.Partition} is not in the partition table {layout.PartitionTablePath} " +
                $"(entries: {string.Join(", ", table.Partitions.Select(p => p.Number))})");
        long pvOffset = part.ByteOffset(ss), pvSize = part.ByteLength(ss);
        string pvDevice = disk.IsBlockDevice && disk.KernelName is { } kn
            ? "/dev/" + BlockDeviceInfo.PartitionName(kn, part.Number)
            : $"{disk.Path} partition {part.Number}";

        var (vg, geometry) = LvmBuilder.Create(layout.VolumeGroupName, layout.ExtentSize, pvSize, pvDevice,
            layout.LogicalVolumes.Select(l => new LvmVolumeRequest(l.Name, l.SizeBytes)).ToList(), layout.MetadataSize, identity);

        var volumes = new List<PlannedVolume>();
        foreach (var spec in layout.LogicalVolumes)
        {
            var lv = vg.FindLv(spec.Name)!;
            long start = lv.Segments[0].Stripes[0].StartExtent;
            long inPv = geometry.PeStartBytes + start * geometry.ExtentSizeBytes;
            long size = lv.ExtentCount * geometry.ExtentSizeBytes;
            string dm = DmNames.DeviceName(vg.Name, lv.Name);
            string device = disk.IsBlockDevice ? DmNames.MapperPath(vg.Name, lv.Name) : $"loop over {disk.Path} at byte {pvOffset + inPv}";
            volumes.Add(new PlannedVolume(spec, lv.ExtentCount, start, inPv, pvOffset + inPv, size, dm, DmNames.Uuid(vg.Id, lv.Id), device));
        }

        // Old signatures inside each LV (an old filesystem there keeps its secondary superblocks) are wiped too.
        var wipes = new List<DiskWrite>();
        foreach (var v in volumes) wipes.AddRange(DiskWipe.Plan(disk, v.DiskOffset, v.SizeBytes, $"LV {v.Name}"));

        return new LayoutPlan
        {
            Layout = layout,
            Target = disk.Path,
            IsImage = !disk.IsBlockDevice,
            DiskBytes = disk.SizeBytes,
            SectorSize = ss,
            Gpt = gpt,
            PvPartition = part,
            PvDevice = pvDevice,
            Geometry = geometry,
            VolumeGroup = vg,
            Volumes = volumes,
            VolumeWipes = wipes,
        };
    }

    /// <summary>Refuses when a loop device over the image file is mounted, swapped on or held (e.g. by dm).</summary>
    public static void RefuseIfImageInUse(string image)
    {
        string full = Path.GetFullPath(image);
        string sys = Path.Combine(BlockDeviceInfo.SysRoot, "block");
        if (!Directory.Exists(sys)) return;
        foreach (var dir in Directory.EnumerateDirectories(sys, "loop*"))
        {
            string backing = Path.Combine(dir, "loop", "backing_file");
            string? file;
            try { file = File.Exists(backing) ? File.ReadAllText(backing).Trim() : null; }
            catch (IOException) { continue; }
            if (file is null || (file != full && file != full + " (deleted)")) continue;
            var users = BlockDeviceInfo.FindUsers(Path.GetFileName(dir));
            if (users.Count > 0)
                throw new RefusedException($"{image}: refusing to rewrite an image in use: {string.Join("; ", users)}");
        }
    }
}

/// <summary>
/// Resuming a conversion from what is on disk: the LVM written by an earlier (interrupted) apply is read back, and when
/// its VG matches the layout (same VG name, same LVs in the same order with the same extents) its ids, time and host
/// are reused, so a repeated apply writes the very same metadata and the LVs keep their dm uuids.
/// </summary>
public static class LayoutResume
{
    /// <summary>The PV at the layout's partition on <paramref name="disk"/>, or null when there is none (or it is unreadable).</summary>
    public static LvmPvOnDisk? ReadExisting(LayoutPlan plan, DiskDevice disk)
    {
        if (plan.PvOffset + LvmDiskFormat.LabelScanSectors * LvmDiskFormat.SectorSize > disk.SizeBytes) return null;
        try { return LvmDiskFormat.Read(disk.Handle, plan.PvOffset, disk.Path); }
        catch (InvalidDataFormatException) { return null; }
    }

    /// <summary>Differences between the plan and the VG on disk; empty when the disk already holds what the plan writes.</summary>
    public static List<string> Differences(LayoutPlan plan, LvmPvOnDisk? onDisk)
    {
        var diffs = new List<string>();
        var vg = onDisk?.VolumeGroup;
        if (vg is null) { diffs.Add("no LVM volume group on the PV partition"); return diffs; }
        var want = plan.VolumeGroup;
        if (vg.Name != want.Name) diffs.Add($"VG is {vg.Name}, the layout wants {want.Name}");
        if (vg.ExtentSize != want.ExtentSize) diffs.Add($"extent size is {vg.ExtentSize} sectors, the layout wants {want.ExtentSize}");
        if (onDisk!.PeStartBytes != plan.Geometry.PeStartBytes) diffs.Add($"pe_start is {onDisk.PeStartBytes} bytes, the layout wants {plan.Geometry.PeStartBytes}");
        var have = vg.LogicalVolumes.Select(l => $"{l.Name}:{string.Join(',', l.Segments.Select(s => $"{s.StartExtent}+{s.ExtentCount}@{(s.Stripes.Count > 0 ? s.Stripes[0].StartExtent : -1)}"))}");
        var wanted = want.LogicalVolumes.Select(l => $"{l.Name}:{string.Join(',', l.Segments.Select(s => $"{s.StartExtent}+{s.ExtentCount}@{s.Stripes[0].StartExtent}"))}");
        if (!have.SequenceEqual(wanted)) diffs.Add($"LVs are [{string.Join(' ', have)}], the layout wants [{string.Join(' ', wanted)}]");
        return diffs;
    }

    /// <summary>The ids, time and host of a matching VG on disk, to plan again with (null when it does not match).</summary>
    public static LvmIdentity? IdentityFrom(LayoutPlan plan, LvmPvOnDisk? onDisk)
    {
        if (onDisk?.VolumeGroup is not { } vg || Differences(plan, onDisk).Count > 0) return null;
        return new LvmIdentity
        {
            VgId = vg.Id,
            PvId = onDisk.Label.PvId,
            LvIds = vg.LogicalVolumes.ToDictionary(l => l.Name, l => l.Id),
            Time = vg.CreationTime,
            Host = vg.CreationHost,
        };
    }
}
