using NativeInit.Core.Disk;
using NativeInit.Core.Disk.DeviceMapper;

namespace NativeInit.Core.Conversion;

/// <summary>
/// Old layout (c) on a disk: the old VG's LVs may be active in device-mapper (dracut activates VG centos when the
/// kernel command line names it, rd.lvm.lv=centos/root), and then they hold the PV partition, so the disk is "in use".
/// The conversion removes them from device-mapper just before its first write (issue 12: "the old VG is removed from
/// device-mapper before the disk is rewritten"); the plan only finds them, and refuses when one is open (mounted, an
/// active swap, or a device stacked on it) or when the partition has a holder that is not one of the old VG's LVs.
/// Removing a mapping writes nothing to the disk. The old root itself is read through a loop device at the LV's
/// offset, never through these mappings.
/// </summary>
public static class OldVolumeGroup
{
    /// <summary>The old VG's active LVs that hold its PV partition: kernel name (dm-0) → device-mapper name
    /// (centos-root). Empty on an image, for layouts (a) and (b), or when nothing is active.</summary>
    public static IReadOnlyDictionary<string, string> ActiveVolumes(DiskDevice disk, LegacyLayout legacy)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!disk.IsBlockDevice || disk.KernelName is null || legacy.OldVg is not { } old) return result;
        string part = BlockDeviceInfo.PartitionName(disk.KernelName, old.PvPartition);
        string holders = Path.Combine(BlockDeviceInfo.SysRoot, "block", disk.KernelName, part, "holders");
        if (!Directory.Exists(holders)) return result;
        string uuidPrefix = Lvm.DmNames.UuidPrefix + old.Vg.Id.Replace("-", "", StringComparison.Ordinal);
        foreach (var h in Directory.EnumerateFileSystemEntries(holders).Select(Path.GetFileName).Order(StringComparer.Ordinal))
        {
            string dm = Path.Combine(BlockDeviceInfo.SysRoot, "block", h!, "dm");
            string name = ReadLine(Path.Combine(dm, "name")), uuid = ReadLine(Path.Combine(dm, "uuid"));
            if (!uuid.StartsWith(uuidPrefix, StringComparison.Ordinal))
                throw new RefusedException($"{disk.Path}: {part} (the old PV) is held by {h} ({(name.Length > 0 ? name : "not a device-mapper device")}), " +
                    $"which is not an LV of the old VG {old.Vg.Name}; nothing was written");
            var status = DeviceMapperControl.GetStatus(name);
            if (status is { OpenCount: > 0 })
                throw new RefusedException($"{disk.Path}: LV {name} ({h}) of the old VG {old.Vg.Name} is in use (open {status.OpenCount} times: " +
                    "mounted, an active swap, or a device on top of it); unmount it (swapoff) and convert again; nothing was written");
            result[h!] = name;
        }
        return result;
    }

    /// <summary>Removes <paramref name="dmNames"/> from device-mapper (before the first write: a failure refuses, exit 3).</summary>
    public static void Release(IEnumerable<string> dmNames, string target, TextWriter log)
    {
        foreach (var name in dmNames)
        {
            try { DeviceMapperControl.Remove(name); }
            catch (NativeInitException e)
            {
                throw new RefusedException($"{target}: LV {name} of the old VG could not be removed from device-mapper: {e.Message}; nothing was written", e);
            }
            log.WriteLine($"old VG: {name} removed from device-mapper");
        }
    }

    private static string ReadLine(string file) => File.Exists(file) ? File.ReadAllText(file).Trim() : "";
}
