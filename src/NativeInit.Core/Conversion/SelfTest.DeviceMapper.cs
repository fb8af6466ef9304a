using NativeInit.Core.Disk.DeviceMapper;

namespace NativeInit.Core.Conversion;

public sealed partial class SelfTest
{
    /// <summary>Opens /dev/mapper/control (made from its fixed number when devtmpfs has not) and asks the driver its
    /// interface version with DM_VERSION, through the device-mapper code stage two uses.</summary>
    private static string DeviceMapperProbe()
    {
        if (!Directory.Exists("/sys/module/dm_mod") && !File.Exists("/sys/class/misc/device-mapper/dev"))
            throw new NativeInitException("device-mapper is not in this kernel (dm-mod not loaded)");
        var v = DeviceMapperControl.GetVersion();
        return $"DM_VERSION: interface {v}";
    }
}
