using System.Buffers.Binary;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Conversion;

public sealed partial class SelfTest
{
    /// <summary>Opens /dev/mapper/control (making the node from /sys/class/misc/device-mapper/dev when devtmpfs
    /// has not) and asks the driver its interface version with DM_VERSION.</summary>
    private static string DeviceMapperProbe()
    {
        if (!File.Exists(DmProbe.ControlPath))
        {
            const string sysDev = "/sys/class/misc/device-mapper/dev";
            if (!File.Exists(sysDev)) throw new NativeInitException("device-mapper is not in this kernel (dm-mod not loaded): no " + sysDev);
            var p = File.ReadAllText(sysDev).Trim().Split(':');
            Directory.CreateDirectory("/dev/mapper");
            BootCalls.MakeNode(DmProbe.ControlPath, block: false, uint.Parse(p[0]), uint.Parse(p[1]));
        }
        using var fd = BootCalls.Open(DmProbe.ControlPath, write: true);
        Span<byte> io = stackalloc byte[DmProbe.SizeOfDmIoctl];
        io.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(io[DmProbe.OffVersion..], DmProbe.InterfaceMajor);
        BinaryPrimitives.WriteUInt32LittleEndian(io[DmProbe.OffDataSize..], DmProbe.SizeOfDmIoctl);
        BinaryPrimitives.WriteUInt32LittleEndian(io[DmProbe.OffDataStart..], DmProbe.SizeOfDmIoctl);
        BootCalls.Ioctl(fd, DmProbe.DM_VERSION, io, DmProbe.ControlPath);
        uint a = BinaryPrimitives.ReadUInt32LittleEndian(io), b = BinaryPrimitives.ReadUInt32LittleEndian(io[4..]),
            c = BinaryPrimitives.ReadUInt32LittleEndian(io[8..]);
        return $"DM_VERSION on {DmProbe.ControlPath}: interface {a}.{b}.{c}";
    }
}
