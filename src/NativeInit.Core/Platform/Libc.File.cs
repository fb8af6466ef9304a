using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>
/// File-system system calls used by the tar extractor: the *at() family relative to a directory descriptor,
/// ownership, modes, xattrs, times, reads and writes. Everything here exists on Linux 3.10 / glibc 2.17
/// (openat2 and RESOLVE_BENEATH do not: path safety is done component by component with O_NOFOLLOW, see
/// <see cref="DirectoryHandle"/>). Constants are the x86-64 values of the kernel's uapi headers
/// (include/uapi/asm-generic/fcntl.h, include/uapi/linux/fcntl.h, include/uapi/linux/stat.h).
/// </summary>
internal static unsafe partial class Libc
{
    // include/uapi/asm-generic/fcntl.h (x86-64)
    internal const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2;
    internal const int O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_TRUNC = 0x200, O_NONBLOCK = 0x800;
    internal const int O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000;
    // include/uapi/linux/fcntl.h
    internal const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200;
    // include/uapi/linux/stat.h
    internal const uint S_IFMT = 0xF000, S_IFIFO = 0x1000, S_IFCHR = 0x2000, S_IFDIR = 0x4000, S_IFBLK = 0x6000,
        S_IFREG = 0x8000, S_IFLNK = 0xA000;
    // include/uapi/linux/stat.h: UTIME_NOW / UTIME_OMIT for utimensat/futimens
    internal const long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;

    /// <summary>struct timespec (x86-64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    // openat is variadic in C; on x86-64 the mode is passed like a fixed argument.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int openat(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int mkdirat(int dirfd, byte* path, uint mode);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int symlinkat(byte* target, int newdirfd, byte* linkpath);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int unlinkat(int dirfd, byte* path, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fchown(int fd, uint uid, uint gid);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fchownat(int dirfd, byte* path, uint uid, uint gid, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fchmod(int fd, uint mode);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fchmodat(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int futimens(int fd, Timespec* times);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int utimensat(int dirfd, byte* path, Timespec* times, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int ftruncate(int fd, long length);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint write(int fd, byte* buf, nuint count);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint pwrite(int fd, byte* buf, nuint count, long offset);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial uint geteuid();

    // include/uapi/linux/time.h
    internal const int CLOCK_THREAD_CPUTIME_ID = 3;

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int clock_gettime(int clockId, Timespec* ts);
}
