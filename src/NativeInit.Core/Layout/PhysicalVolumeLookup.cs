using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Lvm;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Layout;

/// <summary>
/// Finds and reads the LVM physical volume on a device or image, the one look-up of <c>lvm show</c>,
/// <c>lvm activate</c> and <c>lvm deactivate</c>. Reading writes nothing, so every failure here is a refusal (exit 3):
/// the device missing, a directory, unreadable, or holding no PV.
/// </summary>
public static class PhysicalVolumeLookup
{
    /// <summary>The PV at byte <paramref name="offset"/> of <paramref name="device"/>, or in its GPT partition
    /// <paramref name="partition"/>; returns the PV and the offset it was read at.</summary>
    public static (LvmPvOnDisk Pv, long Offset) Read(string device, long offset = 0, int? partition = null)
    {
        IoErrors.RequireReadableFile("device", device);
        if (partition is { } n)
        {
            using var disk = GptJob.OpenBeforeWriting(device, writable: false, ImageSectorSize.Choose(device));
            GptTable table;
            try { table = GptReader.Read(disk).Table ?? throw new RefusedException($"device {device}: no valid GPT to find partition {n} in"); }
            catch (InvalidDataFormatException e) { throw new RefusedException($"device {device}: {e.Message}", e); }
            offset = (table.Find(n) ?? throw new RefusedException($"device {device}: the GPT has no partition {n}")).ByteOffset(disk.LogicalSectorSize);
        }
        try
        {
            using var h = File.OpenHandle(device, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return (LvmDiskFormat.Read(h, offset, device), offset);
        }
        catch (Exception e) when (IoErrors.IsFileError(e)) { throw IoErrors.Refuse("device", device, e); }
        catch (NativeInitException e) when (e is not RefusedException) { throw new RefusedException(e.Message, e); }
    }

    /// <summary>The volume group of the PV at the start of <paramref name="device"/>.</summary>
    public static LvmVolumeGroup VolumeGroup(string device) =>
        Read(device).Pv.VolumeGroup ?? throw new RefusedException($"device {device}: the PV belongs to no volume group");
}
