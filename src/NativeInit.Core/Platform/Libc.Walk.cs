using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>
/// What the directory walker of the tar writer and stage one need: lstat, directory listing, symlink targets,
/// extended attributes, plain reads, statvfs. Paths are NUL-terminated byte strings (file names are bytes, not
/// necessarily UTF-8). All of these exist in kernel 3.10 / glibc 2.17 (fstatat rather than statx: statx is 4.11+).
/// Struct layouts are x86-64 glibc (bits/struct_stat.h, bits/statvfs.h, bits/dirent.h).
/// </summary>
internal static unsafe partial class Libc
{
    // O_* and AT_* flags are declared in Libc.File.cs.

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fstatat(int dirfd, byte* path, StatBuffer* buf, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial IntPtr opendir(byte* path);

    /// <summary>Returns a pointer to a struct dirent (see <see cref="DirentLayout"/>) or null at the end or on error
    /// (errno tells: set it to 0 before the call).</summary>
    [LibraryImport(Name, SetLastError = true)]
    internal static partial IntPtr readdir(IntPtr dir);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int closedir(IntPtr dir);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint readlink(byte* path, byte* buf, nuint size);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint llistxattr(byte* path, byte* list, nuint size);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint lgetxattr(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport(Name, EntryPoint = "open", SetLastError = true)]
    internal static partial int openBytes(byte* path, int flags, int mode);

    // read(2) is declared in Libc.File.cs.

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int statvfs(byte* path, StatVfsBuffer* buf);
}

/// <summary>struct stat on x86-64 glibc (bits/struct_stat.h): 144 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct StatBuffer
{
    public ulong Dev;        // 0
    public ulong Ino;        // 8
    public ulong Nlink;      // 16
    public uint Mode;        // 24
    public uint Uid;         // 28
    public uint Gid;         // 32
    public int Pad0;         // 36
    public ulong Rdev;       // 40
    public long Size;        // 48
    public long BlkSize;     // 56
    public long Blocks;      // 64
    public long AtimeSec, AtimeNsec;   // 72
    public long MtimeSec, MtimeNsec;   // 88
    public long CtimeSec, CtimeNsec;   // 104
    public long Reserved0, Reserved1, Reserved2; // 120..144

    public const uint S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFLNK = 0xA000, S_IFREG = 0x8000, S_IFBLK = 0x6000,
        S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFIFO = 0x1000;

    public readonly uint FileType => Mode & S_IFMT;

    /// <summary>glibc's gnu_dev_major / gnu_dev_minor encoding (sys/sysmacros.h).</summary>
    public static uint Major(ulong dev) => (uint)(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffUL));
    public static uint Minor(ulong dev) => (uint)((dev & 0xff) | ((dev >> 12) & ~0xffUL));
}

/// <summary>struct statvfs on x86-64 glibc (bits/statvfs.h): 112 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct StatVfsBuffer
{
    public ulong Bsize, Frsize, Blocks, Bfree, Bavail, Files, Ffree, Favail, Fsid, Flag, Namemax;
    public int Spare0, Spare1, Spare2, Spare3, Spare4, Spare5;
}

/// <summary>struct dirent on x86-64 glibc (bits/dirent.h): d_ino 8, d_off 8, d_reclen 2, d_type 1, then d_name.</summary>
internal static class DirentLayout
{
    public const int NameOffset = 19;
}
