namespace NativeInit.Core.Platform;

/// <summary>
/// The few device-mapper ioctl constants the self-test's DM_VERSION probe needs (linux include/uapi/linux/dm-ioctl.h,
/// struct dm_ioctl; interface 4, present in kernel 3.10). The full interface lives with the device-mapper code.
/// </summary>
internal static class DmProbe
{
    public const string ControlPath = "/dev/mapper/control";
    public const uint InterfaceMajor = 4;
    public const int OffVersion = 0, OffDataSize = 12, OffDataStart = 16;
    public const int SizeOfDmIoctl = 312;
    /// <summary>_IOWR(0xfd, DM_VERSION_CMD = 0, struct dm_ioctl): direction 3 in bits 30-31, size in bits 16-29.</summary>
    public const uint DM_VERSION = (3u << 30) | ((uint)SizeOfDmIoctl << 16) | (0xfdu << 8) | 0;
}
