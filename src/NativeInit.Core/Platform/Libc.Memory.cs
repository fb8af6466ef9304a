using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>
/// Anonymous memory mappings: mmap(2), munmap(2), mremap(2). All exist in kernel 3.10 (mremap's MREMAP_FIXED since
/// 2.4); values from include/uapi/asm-generic/mman-common.h, mman.h and linux/mman.h (x86-64).
/// MAP_FIXED_NOREPLACE (4.17) is only ever passed as a hint: a kernel that does not know it ignores it and treats
/// the address as a hint, so the caller compares the address it got with the one it asked for.
/// </summary>
internal static unsafe partial class Libc
{
    internal const int PROT_NONE = 0x0, PROT_READ = 0x1, PROT_WRITE = 0x2;
    internal const int MAP_PRIVATE = 0x02, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000,
        MAP_FIXED_NOREPLACE = 0x100000;
    internal const int MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2;
    internal static readonly void* MAP_FAILED = (void*)-1;

    [LibraryImport(Name, SetLastError = true)]
    internal static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int munmap(void* addr, nuint length);

    /// <summary>glibc declares mremap variadic (the fifth argument only with MREMAP_FIXED); on x86-64 and arm64
    /// Linux a variadic call passes integer arguments exactly like a fixed one.</summary>
    [LibraryImport(Name, SetLastError = true)]
    internal static partial void* mremap(void* oldAddress, nuint oldSize, nuint newSize, int flags, void* newAddress);
}
