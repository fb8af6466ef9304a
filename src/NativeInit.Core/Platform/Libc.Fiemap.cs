using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

// FS_IOC_FIEMAP: the physical extents of a file. Specification: linux include/uapi/linux/fiemap.h (struct fiemap,
// struct fiemap_extent, FIEMAP_* flags) and include/uapi/linux/fs.h (FS_IOC_FIEMAP = _IOWR('f', 11, struct fiemap)),
// Documentation/filesystems/fiemap.rst. The P/Invoke name carries a "fiemap_" prefix (EntryPoint names the libc
// symbol) so it cannot collide with another area's typed ioctl entry.
internal static partial class Libc
{
    /// <summary>_IOWR('f', 11, struct fiemap): 0xC0000000 | (32 &lt;&lt; 16) | ('f' &lt;&lt; 8) | 11.</summary>
    internal const uint FS_IOC_FIEMAP = 0xC020660B;

    /// <summary>struct fiemap: fm_start u64 @0, fm_length u64 @8, fm_flags u32 @16, fm_mapped_extents u32 @20,
    /// fm_extent_count u32 @24, fm_reserved u32 @28, fm_extents[] @32.</summary>
    internal const int FiemapStartOffset = 0, FiemapLengthOffset = FiemapStartOffset + 8, FiemapFlagsOffset = FiemapLengthOffset + 8,
        FiemapMappedExtentsOffset = FiemapFlagsOffset + 4, FiemapExtentCountOffset = FiemapMappedExtentsOffset + 4,
        FiemapReservedOffset = FiemapExtentCountOffset + 4, FiemapExtentsOffset = FiemapReservedOffset + 4;

    /// <summary>struct fiemap_extent: fe_logical u64 @0, fe_physical u64 @8, fe_length u64 @16, fe_reserved64[2] @24,
    /// fe_flags u32 @40, fe_reserved[3] @44; 56 bytes.</summary>
    internal const int FiemapExtentLogicalOffset = 0, FiemapExtentPhysicalOffset = FiemapExtentLogicalOffset + 8,
        FiemapExtentLengthOffset = FiemapExtentPhysicalOffset + 8, FiemapExtentReserved64Offset = FiemapExtentLengthOffset + 8,
        FiemapExtentFlagsOffset = FiemapExtentReserved64Offset + 16, FiemapExtentReservedOffset = FiemapExtentFlagsOffset + 4,
        FiemapExtentSize = FiemapExtentReservedOffset + 12;

    /// <summary>FIEMAP_FLAG_SYNC: write the file's dirty pages out first, so delayed allocations get their place.</summary>
    internal const uint FIEMAP_FLAG_SYNC = 0x1;

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int fiemap_ioctl(int fd, nuint request, byte* fiemap);
}
