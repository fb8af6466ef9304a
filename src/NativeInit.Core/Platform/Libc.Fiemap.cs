using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

// FS_IOC_FIEMAP: the physical extents of a file. Specification: linux include/uapi/linux/fiemap.h (struct fiemap,
// struct fiemap_extent) and include/uapi/linux/fs.h (FS_IOC_FIEMAP = _IOWR('f', 11, struct fiemap)).
internal static partial class Libc
{
    /// <summary>_IOWR('f', 11, struct fiemap): 0xC0000000 | (32 &lt;&lt; 16) | ('f' &lt;&lt; 8) | 11 (fs.h).</summary>
    internal const uint FS_IOC_FIEMAP = 0xC020660B;

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int fiemap_ioctl(int fd, nuint request, void* arg);
}
