using Microsoft.Win32.SafeHandles;

namespace NativeInit.Core.Lvm;

/// <summary>
/// Growing after a successful conversion (what `pvresize` then `lvextend -l +100%FREE` do): the PV takes the new size of
/// its partition, and one LV takes every free extent — its last segment is lengthened when the free extents follow it
/// on the PV, otherwise new linear segments are appended. A new metadata copy (seqno + 1) is committed, then the label
/// gets the new device size.
/// </summary>
public static class LvmGrow
{
    /// <summary>Free extent ranges (start, count) of PV <paramref name="pvName"/>, in order.</summary>
    public static List<(long Start, long Count)> FreeRanges(LvmVolumeGroup vg, string pvName)
    {
        var pv = vg.FindPv(pvName) ?? throw new NativeInitException($"VG {vg.Name} has no PV {pvName}");
        var used = vg.LogicalVolumes.SelectMany(l => l.Segments).SelectMany(s => s.Stripes.Where(t => t.Pv == pvName).Select(t => (t.StartExtent, s.ExtentCount / Math.Max(1, s.StripeCount))))
            .OrderBy(u => u.StartExtent).ToList();
        var free = new List<(long, long)>();
        long next = 0;
        foreach (var (start, count) in used)
        {
            if (start > next) free.Add((next, start - next));
            next = Math.Max(next, start + count);
        }
        if (pv.PeCount > next) free.Add((next, pv.PeCount - next));
        return free;
    }

    /// <summary>
    /// The VG after growing its only PV to <paramref name="newPvSizeBytes"/> and giving every free extent to
    /// <paramref name="lvName"/> (a copy; seqno + 1). Refuses a PV that would shrink below its allocated extents.
    /// </summary>
    public static LvmVolumeGroup Plan(LvmVolumeGroup vg, long peStartBytes, long newPvSizeBytes, string lvName)
    {
        var grown = LvmMetadataText.Read(LvmMetadataText.Write(vg));
        grown.CreationHost = vg.CreationHost;
        grown.CreationTime = vg.CreationTime;
        if (grown.PhysicalVolumes.Count != 1) throw new RefusedException($"VG {vg.Name} has {grown.PhysicalVolumes.Count} PVs; growing handles one");
        var pv = grown.PhysicalVolumes[0];
        var lv = grown.FindLv(lvName) ?? throw new RefusedException($"VG {vg.Name} has no LV {lvName} to grow");
        long newCount = (newPvSizeBytes - peStartBytes) / grown.ExtentSizeBytes;
        long allocated = pv.PeCount - FreeRanges(grown, pv.Name).Sum(f => f.Count);
        long lastUsed = grown.LogicalVolumes.SelectMany(l => l.Segments).SelectMany(s => s.Stripes.Select(t => t.StartExtent + s.ExtentCount)).DefaultIfEmpty(0).Max();
        if (newCount < lastUsed)
            throw new RefusedException($"PV {pv.Name} of VG {vg.Name}: {ByteSize.Format(newPvSizeBytes)} holds {newCount} extents, but extents up to {lastUsed} are allocated ({allocated} in use)");
        pv.DevSize = newPvSizeBytes / LvmConstants.SectorSize;
        pv.PeCount = newCount;
        grown.Seqno = vg.Seqno + 1;

        foreach (var (start, count) in FreeRanges(grown, pv.Name))
        {
            var last = lv.Segments.OrderBy(s => s.StartExtent).LastOrDefault();
            if (last is not null && last.IsLinear && last.Stripes[0].Pv == pv.Name && last.Stripes[0].StartExtent + last.ExtentCount == start)
                last.ExtentCount += count;
            else
                lv.Segments.Add(new LvmSegment { StartExtent = lv.ExtentCount, ExtentCount = count, Stripes = [(pv.Name, start)] });
        }
        return grown;
    }

    /// <summary>Commits <paramref name="grown"/> (from <see cref="Plan"/>) to the PV at <paramref name="pvOffset"/>, then
    /// rewrites the label with the new device size.</summary>
    public static void Write(SafeFileHandle handle, long pvOffset, LvmVolumeGroup grown, long newPvSizeBytes, string where)
    {
        var current = LvmDiskFormat.Read(handle, pvOffset, where);
        if (current.VolumeGroup?.Id != grown.Id) throw new NativeInitException($"{where}: the PV holds another VG than {grown.Name}");
        LvmDiskFormat.UpdateMetadata(handle, pvOffset, grown, where);
        var l = current.Label;
        var label = new LvmPvLabel
        {
            Sector = l.Sector,
            PvId = l.PvId,
            DeviceSize = newPvSizeBytes,
            DataAreas = l.DataAreas,
            MetadataAreas = l.MetadataAreas,
            ExtensionVersion = l.ExtensionVersion,
            ExtensionFlags = l.ExtensionFlags,
            BootloaderAreas = l.BootloaderAreas,
        };
        RandomAccess.Write(handle, LvmDiskFormat.BuildLabelSector(label), pvOffset + (long)l.Sector * LvmDiskFormat.SectorSize);
        RandomAccess.FlushToDisk(handle);
    }
}
