using NativeInit.Core.Disk;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Disk.Loop;
using NativeInit.Core.Layout;
using NativeInit.Core.Lvm;

namespace NativeInit.Core.Conversion;

/// <summary>A block device for one use of a new LV: a device-mapper node (nothing to release) or a loop device that
/// Dispose detaches.</summary>
internal sealed class VolumeDevice(string path, LoopDevice? loop) : IDisposable
{
    public string Path { get; } = path;
    public void Dispose() => loop?.Dispose();
}

/// <summary>
/// How stage two reaches the new layout's LVs.
/// On a disk (<c>--disk</c>): device-mapper, as lvm2's <c>vgchange -ay</c> would, through ioctls: one linear device
/// /dev/mapper/VG-LV per LV over the PV partition (<see cref="LayoutApplier.ActivationTarget"/>, the tables of
/// <see cref="LvmActivation"/>), loaded once the PV is written and removed at the end of the run.
/// On an image (<c>--image</c>; a developer machine or CI, where the kernel may have no device-mapper): a loop device at
/// the LV's offset for each use, as the image tests check.
/// Until the rootfs is extracted the root's device ends where the bundle's first extent inside the LV begins
/// (<see cref="ConvertPlan.RootInitialBytes"/>): its table is cut there, so nothing written to the root can reach the
/// bundle; <see cref="MapWholeRoot"/> loads the whole table before the root's file system is grown.
/// </summary>
internal sealed class NewVolumes : IDisposable
{
    private readonly ConvertPlan _plan;
    private readonly LvmVolumeGroup? _vg;
    private readonly IReadOnlyDictionary<string, (uint Major, uint Minor)>? _pv;
    private readonly Action<string> _log;
    private readonly List<string> _loaded = [];

    private NewVolumes(ConvertPlan plan, LvmVolumeGroup? vg, IReadOnlyDictionary<string, (uint, uint)>? pv, string via, Action<string> log) =>
        (_plan, _vg, _pv, Via, _log) = (plan, vg, pv, via, log);

    /// <summary>What the LVs are reached through, for the log.</summary>
    public string Via { get; }

    public bool UsesDeviceMapper => _vg is not null;

    public static NewVolumes ForImage(ConvertPlan plan) =>
        new(plan, null, null, "loop devices at the LVs' offsets in the image (no device-mapper)", _ => { });

    /// <summary>Loads a device-mapper table for every LV of the plan; the root's cut at
    /// <see cref="ConvertPlan.RootInitialBytes"/> when <paramref name="cutRoot"/>. A device of the same name left by an
    /// earlier run of this boot gets the new table.</summary>
    public static NewVolumes Activate(ConvertPlan plan, DiskDevice disk, bool cutRoot, Action<string> log)
    {
        var (vg, pv, via) = LayoutApplier.ActivationTarget(plan.Layout, disk, log);
        var v = new NewVolumes(plan, vg, pv, $"device-mapper over {via}", log);
        try
        {
            foreach (var lv in plan.Layout.Volumes)
                v.Load(lv, cutRoot && lv == plan.RootVolume ? plan.RootInitialBytes : null);
        }
        catch
        {
            v.Dispose();
            throw;
        }
        return v;
    }

    private void Load(PlannedVolume volume, long? bytes)
    {
        var lv = _vg!.LogicalVolumes.FirstOrDefault(l => l.Name == volume.Name)
            ?? throw new NativeInitException($"VG {_vg.Name}: no LV {volume.Name} in the metadata written");
        var table = LvmActivation.Table(_vg, lv, _pv!);
        if (bytes is { } b) table = LvmActivation.Prefix(table, (ulong)(b / LvmConstants.SectorSize));
        string name = DmNames.DeviceName(_vg.Name, lv.Name);
        switch (DeviceMapperControl.GetStatus(name))
        {
            case { HasActiveTable: true }: DeviceMapperControl.ReloadLinear(name, table); break;
            case { }: DeviceMapperControl.Remove(name); DeviceMapperControl.ActivateLinear(name, DmNames.Uuid(_vg.Id, lv.Id), table); break;
            default: DeviceMapperControl.ActivateLinear(name, DmNames.Uuid(_vg.Id, lv.Id), table); break;
        }
        if (!_loaded.Contains(name)) _loaded.Add(name);
    }

    private string MapperPath(PlannedVolume v) => DmNames.MapperPath(_vg!.Name, v.Name, DeviceMapperControl.DevDirectory);

    /// <summary>Names what each LV is reached through (for the step line).</summary>
    public string Describe(PlannedVolume v) => UsesDeviceMapper ? MapperPath(v) : $"a loop device at byte {v.DiskOffset}";

    /// <summary>A device for mkfs on <paramref name="v"/>: the dm node, or a loop device over its first
    /// <paramref name="bytes"/> (the whole LV when null).</summary>
    public VolumeDevice Device(PlannedVolume v, long? bytes = null) => UsesDeviceMapper
        ? new VolumeDevice(MapperPath(v), null)
        : Using(LoopDevice.Attach(_plan.Target, v.DiskOffset, bytes ?? v.SizeBytes));

    private static VolumeDevice Using(LoopDevice loop) => new(loop.DevicePath, loop);

    /// <summary>Mounts the file system of <paramref name="v"/> read-write at <paramref name="dir"/>.</summary>
    public VolumeMount Mount(PlannedVolume v, string dir) => UsesDeviceMapper
        ? VolumeMount.MountDevice(MapperPath(v), v.Spec.Filesystem!, dir)
        : VolumeMount.Mount(_plan.Target, v.DiskOffset, v.SizeBytes, v.Spec.Filesystem!, dir, readOnly: false);

    /// <summary>The root's whole table (the bundle is consumed); a loop device is attached whole at each use anyway.</summary>
    public void MapWholeRoot()
    {
        if (UsesDeviceMapper) Load(_plan.RootVolume, null);
    }

    /// <summary>Removes the device-mapper devices this run loaded (the file systems are unmounted by then). A device
    /// that cannot go is logged, not thrown: the journal and the disk are what matter, and a reboot drops it.</summary>
    public void Dispose()
    {
        for (int i = _loaded.Count - 1; i >= 0; i--)
        {
            try { DeviceMapperControl.Remove(_loaded[i]); }
            catch (NativeInitException e) { _log($"device-mapper {_loaded[i]} stays: {e.Message}"); }
        }
        _loaded.Clear();
    }
}
