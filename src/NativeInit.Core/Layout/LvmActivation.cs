using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Disk;
using NativeInit.Core.Lvm;

namespace NativeInit.Core.Layout;

/// <summary>One LV made reachable: its dm device and the paths lvm2/udev would give it.</summary>
public sealed record ActivatedVolume(string VolumeGroup, string LogicalVolume, DmDevice Device, string MapperPath, string LinkPath);

/// <summary>Turns LVM metadata into device-mapper linear devices (what `vgchange -ay` does for linear LVs).</summary>
public static class LvmActivation
{
    /// <summary>
    /// The linear table of <paramref name="lv"/>: each segment's extents mapped to sectors of the PV device
    /// (pe_start + extent * extent_size). <paramref name="pvDevices"/> maps PV keys ("pv0") to MAJOR:MINOR.
    /// </summary>
    public static List<LinearSegment> Table(LvmVolumeGroup vg, LvmLogicalVolume lv, IReadOnlyDictionary<string, (uint Major, uint Minor)> pvDevices)
    {
        var result = new List<LinearSegment>();
        long es = vg.ExtentSize;
        foreach (var seg in lv.Segments.OrderBy(s => s.StartExtent))
        {
            if (!seg.IsLinear)
                throw new NativeInitException($"LV {vg.Name}/{lv.Name}: segment at extent {seg.StartExtent} is '{seg.Type}' with {seg.StripeCount} stripes; only linear segments can be activated");
            var (pvName, pvExtent) = seg.Stripes[0];
            var pv = vg.FindPv(pvName) ?? throw new InvalidDataFormatException($"LV {vg.Name}/{lv.Name}: segment refers to unknown PV '{pvName}'");
            if (!pvDevices.TryGetValue(pvName, out var dev))
                throw new NativeInitException($"LV {vg.Name}/{lv.Name}: no device given for PV {pvName} ({pv.Id})");
            result.Add(new LinearSegment((ulong)(seg.StartExtent * es), (ulong)(seg.ExtentCount * es), dev.Major, dev.Minor,
                (ulong)(pv.PeStart + pvExtent * es)));
        }
        return result;
    }

    /// <summary>The first <paramref name="sectors"/> of a linear table (the later segments dropped, the last one cut).</summary>
    public static List<LinearSegment> Prefix(IReadOnlyList<LinearSegment> table, ulong sectors)
    {
        var result = new List<LinearSegment>();
        foreach (var s in table)
        {
            if (s.StartSector >= sectors) break;
            result.Add(s.StartSector + s.LengthSectors <= sectors ? s : s with { LengthSectors = sectors - s.StartSector });
        }
        return result;
    }

    /// <summary>
    /// Reads the PV on block device <paramref name="pvDevice"/> (e.g. /dev/vda3), takes its major:minor from sysfs and
    /// activates every visible LV of its VG (single-PV VGs). What `vgchange -ay` does, for what NativeInit writes.
    /// </summary>
    public static (LvmVolumeGroup Vg, List<ActivatedVolume> Volumes) ActivateFromDevice(string pvDevice)
    {
        var vg = PhysicalVolumeLookup.VolumeGroup(pvDevice);
        var (major, minor) = DeviceNumber(pvDevice);
        return (vg, Activate(vg, major, minor));
    }

    /// <summary>MAJOR:MINOR of a block device from /sys/class/block/NAME/dev.</summary>
    public static (uint Major, uint Minor) DeviceNumber(string device)
    {
        string name = BlockDeviceInfo.KernelNameOf(device);
        string dev = BlockDeviceInfo.DevNumber(name) ?? throw new NativeInitException($"{device}: not a block device known to sysfs (/sys/class/block/{name}/dev)");
        var parts = dev.Split(':');
        if (parts.Length == 2 && uint.TryParse(parts[0], out uint ma) && uint.TryParse(parts[1], out uint mi)) return (ma, mi);
        throw new NativeInitException($"{device}: device number '{dev}' is not MAJOR:MINOR");
    }

    /// <summary>Activates every visible LV of a single-PV VG whose PV is device <paramref name="pvMajor"/>:<paramref name="pvMinor"/>.</summary>
    public static List<ActivatedVolume> Activate(LvmVolumeGroup vg, uint pvMajor, uint pvMinor)
    {
        if (vg.PhysicalVolumes.Count != 1)
            throw new NativeInitException($"VG {vg.Name} has {vg.PhysicalVolumes.Count} PVs; give a device for each (Activate with a map)");
        return Activate(vg, new Dictionary<string, (uint, uint)> { [vg.PhysicalVolumes[0].Name] = (pvMajor, pvMinor) });
    }

    /// <summary>Activates every visible LV (already active ones are reported, not reloaded), then makes /dev/VG/LV links.</summary>
    public static List<ActivatedVolume> Activate(LvmVolumeGroup vg, IReadOnlyDictionary<string, (uint Major, uint Minor)> pvDevices)
    {
        var done = new List<ActivatedVolume>();
        string dev = DeviceMapperControl.DevDirectory;
        foreach (var lv in vg.LogicalVolumes.Where(l => l.Visible))
        {
            var table = Table(vg, lv, pvDevices);
            string name = DmNames.DeviceName(vg.Name, lv.Name);
            string uuid = DmNames.Uuid(vg.Id, lv.Id);
            var existing = DeviceMapperControl.GetStatus(name);
            if (existing is { HasActiveTable: false }) DeviceMapperControl.Remove(name); // left half-made by an interrupted run
            var device = existing is { HasActiveTable: true }
                ? existing with { NodePath = DmNames.MapperPath(vg.Name, lv.Name, dev) }
                : DeviceMapperControl.ActivateLinear(name, uuid, table);
            string link = DmNames.LinkPath(vg.Name, lv.Name, dev);
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            var info = new FileInfo(link);
            if (info.Exists || info.LinkTarget is not null) File.Delete(link);
            File.CreateSymbolicLink(link, Path.Combine("..", "mapper", name));
            done.Add(new ActivatedVolume(vg.Name, lv.Name, device, DmNames.MapperPath(vg.Name, lv.Name, dev), link));
        }
        return done;
    }

    /// <summary>Removes the dm devices and /dev/VG/LV links of every LV of <paramref name="vg"/> that is active.</summary>
    public static void Deactivate(LvmVolumeGroup vg)
    {
        string dev = DeviceMapperControl.DevDirectory;
        foreach (var lv in vg.LogicalVolumes)
        {
            string name = DmNames.DeviceName(vg.Name, lv.Name);
            if (DeviceMapperControl.GetStatus(name) is null) continue;
            DeviceMapperControl.Remove(name);
            string link = DmNames.LinkPath(vg.Name, lv.Name, dev);
            var info = new FileInfo(link);
            if (info.LinkTarget is not null) File.Delete(link);
        }
        try { Directory.Delete(Path.Combine(dev, vg.Name)); } catch (IOException) { }
    }
}
