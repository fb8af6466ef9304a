using System.Text;

namespace NativeInit.Core.Platform;

/// <summary>
/// An open directory and the *at() operations relative to it, on one path component (a name without '/').
/// Nothing here follows a symbolic link in the name: directories are opened with O_NOFOLLOW|O_DIRECTORY (a symlink
/// gives ELOOP, another non-directory ENOTDIR), files are created with O_CREAT|O_EXCL|O_NOFOLLOW, metadata calls use
/// AT_SYMLINK_NOFOLLOW. This is how paths stay beneath a root on Linux 3.10, where openat2(RESOLVE_BENEATH) does not
/// exist: the caller walks a path one component at a time from a root descriptor.
/// The Try* methods return 0 or an errno, so callers can decide (replace, refuse); the others throw
/// <see cref="PosixException"/>.
/// </summary>
internal sealed unsafe class DirectoryHandle : IDisposable
{
    private readonly SafeFd _fd;

    private DirectoryHandle(SafeFd fd) => _fd = fd;

    public int Fd => _fd.Fd;

    /// <summary>Opens <paramref name="path"/> as a directory (following symlinks: this is the user's chosen root).</summary>
    public static int TryOpenRoot(string path, out DirectoryHandle? handle)
    {
        handle = null;
        byte[] z = ToZ(Encoding.UTF8.GetBytes(path));
        int fd;
        fixed (byte* p = z) fd = Libc.openat(Libc.AT_FDCWD, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0) return PosixError.Last;
        handle = new DirectoryHandle(new SafeFd(fd));
        return 0;
    }

    /// <summary>Opens the child directory <paramref name="name"/> without following a symlink: a symlink gives ENOTDIR
    /// (O_DIRECTORY is checked on the link itself; ELOOP on some kernels), another non-directory ENOTDIR.</summary>
    public int TryOpenDirectory(ReadOnlySpan<byte> name, out DirectoryHandle? handle)
    {
        handle = null;
        Span<byte> z = stackalloc byte[ZLength(name)];
        int fd;
        fixed (byte* p = Z(name, z)) fd = Libc.openat(Fd, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd < 0) return PosixError.Last;
        handle = new DirectoryHandle(new SafeFd(fd));
        return 0;
    }

    /// <summary>Reads the regular file <paramref name="name"/> (at most <paramref name="max"/> bytes) without following a
    /// symlink (ELOOP) and without blocking on a fifo (O_NONBLOCK).</summary>
    public int TryReadSmallFile(ReadOnlySpan<byte> name, int max, out byte[] content)
    {
        content = [];
        Span<byte> z = stackalloc byte[ZLength(name)];
        int fd;
        fixed (byte* p = Z(name, z))
            fd = Libc.openat(Fd, p, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_NONBLOCK | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0);
        if (fd < 0) return PosixError.Last;
        using var file = new SafeFd(fd);
        var buffer = new byte[max];
        int total = 0;
        fixed (byte* b = buffer)
        {
            while (total < max)
            {
                nint n = Libc.read(fd, b + total, (nuint)(max - total));
                if (n < 0)
                {
                    int e = PosixError.Last;
                    if (e == PosixError.EINTR) continue;
                    return e;
                }
                if (n == 0) break;
                total += (int)n;
            }
        }
        content = buffer.AsSpan(0, total).ToArray();
        return 0;
    }

    public int TryMakeDirectory(ReadOnlySpan<byte> name, uint mode)
    {
        Span<byte> z = stackalloc byte[ZLength(name)];
        fixed (byte* p = Z(name, z)) return Libc.mkdirat(Fd, p, mode) < 0 ? PosixError.Last : 0;
    }

    /// <summary>Creates a new regular file for writing (O_EXCL|O_NOFOLLOW: never opens what is already there).</summary>
    public int TryCreateFile(ReadOnlySpan<byte> name, uint mode, out FileHandle file)
    {
        file = default;
        Span<byte> z = stackalloc byte[ZLength(name)];
        int fd;
        fixed (byte* p = Z(name, z))
            fd = Libc.openat(Fd, p, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC | Libc.O_NOCTTY, mode);
        if (fd < 0) return PosixError.Last;
        file = new FileHandle(fd, owns: true);
        return 0;
    }

    public int TrySymlink(ReadOnlySpan<byte> target, ReadOnlySpan<byte> name)
    {
        byte[] t = ToZ(target);
        Span<byte> z = stackalloc byte[ZLength(name)];
        fixed (byte* pt = t)
        fixed (byte* p = Z(name, z))
            return Libc.symlinkat(pt, Fd, p) < 0 ? PosixError.Last : 0;
    }

    /// <summary>Hard link <paramref name="name"/> here to <paramref name="targetName"/> in <paramref name="targetDir"/>.
    /// Flags 0: a symlink target is linked itself, never followed.</summary>
    public int TryLink(DirectoryHandle targetDir, ReadOnlySpan<byte> targetName, ReadOnlySpan<byte> name)
    {
        Span<byte> zt = stackalloc byte[ZLength(targetName)];
        Span<byte> z = stackalloc byte[ZLength(name)];
        fixed (byte* pt = Z(targetName, zt))
        fixed (byte* p = Z(name, z))
            return Libc.linkat(targetDir.Fd, pt, Fd, p, 0) < 0 ? PosixError.Last : 0;
    }

    /// <summary>mknodat: <paramref name="mode"/> includes the file type (S_IFCHR, S_IFBLK, S_IFIFO).</summary>
    public int TryMakeNode(ReadOnlySpan<byte> name, uint mode, uint major, uint minor)
    {
        Span<byte> z = stackalloc byte[ZLength(name)];
        fixed (byte* p = Z(name, z)) return Libc.mknodat(Fd, p, mode, MakeDev(major, minor)) < 0 ? PosixError.Last : 0;
    }

    /// <summary>Removes a non-directory (or, with <paramref name="directory"/>, an empty directory).</summary>
    public int TryUnlink(ReadOnlySpan<byte> name, bool directory)
    {
        Span<byte> z = stackalloc byte[ZLength(name)];
        fixed (byte* p = Z(name, z)) return Libc.unlinkat(Fd, p, directory ? Libc.AT_REMOVEDIR : 0) < 0 ? PosixError.Last : 0;
    }

    /// <summary>fchownat(AT_SYMLINK_NOFOLLOW): numeric ids, never a name lookup.</summary>
    public int TryChown(ReadOnlySpan<byte> name, uint uid, uint gid)
    {
        Span<byte> z = stackalloc byte[ZLength(name)];
        fixed (byte* p = Z(name, z)) return Libc.fchownat(Fd, p, uid, gid, Libc.AT_SYMLINK_NOFOLLOW) < 0 ? PosixError.Last : 0;
    }

    /// <summary>fchmodat without AT_SYMLINK_NOFOLLOW (Linux does not support that flag): only for a node the caller has
    /// just created with mknodat in this directory (devices and fifos, which must not be opened).</summary>
    public int TryChmodNode(ReadOnlySpan<byte> name, uint mode)
    {
        Span<byte> z = stackalloc byte[ZLength(name)];
        fixed (byte* p = Z(name, z)) return Libc.fchmodat(Fd, p, mode, 0) < 0 ? PosixError.Last : 0;
    }

    /// <summary>
    /// Sets an xattr on <paramref name="name"/> itself, a symlink or device node that cannot be opened: lsetxattr on
    /// "/proc/self/fd/DIRFD/NAME". The kernel resolves the magic link /proc/self/fd/DIRFD to this very directory and
    /// lsetxattr does not follow the final component, so the call cannot land outside the directory. Needs /proc
    /// (mounted in every initramfs and system NativeInit runs in).
    /// </summary>
    public int TrySetXattrNoFollow(ReadOnlySpan<byte> name, ReadOnlySpan<byte> xattrName, ReadOnlySpan<byte> value)
    {
        Span<byte> path = stackalloc byte[32 + name.Length + 1];
        "/proc/self/fd/"u8.CopyTo(path);
        int n = "/proc/self/fd/"u8.Length;
        System.Buffers.Text.Utf8Formatter.TryFormat(Fd, path[n..], out int digits);
        n += digits;
        path[n++] = (byte)'/';
        name.CopyTo(path[n..]);
        path[n + name.Length] = 0;
        Span<byte> zn = stackalloc byte[ZLength(xattrName)];
        fixed (byte* pp = path)
        fixed (byte* pn = Z(xattrName, zn))
        fixed (byte* pv = value)
            return Libc.lsetxattr(pp, pn, pv, (nuint)value.Length, 0) < 0 ? PosixError.Last : 0;
    }

    /// <summary>utimensat(AT_SYMLINK_NOFOLLOW): atime left as is, mtime in nanoseconds.</summary>
    public int TrySetMtime(ReadOnlySpan<byte> name, long seconds, int nanoseconds)
    {
        Span<byte> z = stackalloc byte[ZLength(name)];
        Libc.Timespec* ts = stackalloc Libc.Timespec[2];
        ts[0] = new Libc.Timespec { Seconds = 0, Nanoseconds = Libc.UTIME_OMIT };
        ts[1] = new Libc.Timespec { Seconds = seconds, Nanoseconds = nanoseconds };
        fixed (byte* p = Z(name, z)) return Libc.utimensat(Fd, p, ts, Libc.AT_SYMLINK_NOFOLLOW) < 0 ? PosixError.Last : 0;
    }

    /// <summary>The metadata calls on the directory itself (fchown, fchmod, fsetxattr, futimens).</summary>
    public FileHandle AsFile() => new(Fd, owns: false);

    /// <summary>glibc's makedev (sys/sysmacros.h): 12+20 bit major, 8+24 bit minor.</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000u) << 32) | ((ulong)(major & 0xfffu) << 8) |
        ((ulong)(minor & 0xffffff00u) << 12) | (minor & 0xffu);

    public void Dispose() => _fd.Dispose();

    private static int ZLength(ReadOnlySpan<byte> name) => name.Length + 1 <= 1024 ? name.Length + 1 : 0;

    /// <summary>NUL-terminated copy of <paramref name="name"/> in <paramref name="scratch"/> (or a new array when too long).</summary>
    private static ReadOnlySpan<byte> Z(ReadOnlySpan<byte> name, Span<byte> scratch)
    {
        if (scratch.Length < name.Length + 1) return ToZ(name);
        name.CopyTo(scratch);
        scratch[name.Length] = 0;
        return scratch[..(name.Length + 1)];
    }

    private static byte[] ToZ(ReadOnlySpan<byte> s)
    {
        var z = new byte[s.Length + 1];
        s.CopyTo(z);
        return z;
    }
}

/// <summary>An open file (or a directory used as one) and the calls on its descriptor. A struct over the raw
/// descriptor, so creating a file allocates nothing; the owner disposes it exactly once (<c>using</c>).</summary>
internal readonly unsafe struct FileHandle : IDisposable
{
    private readonly bool _owns;

    internal FileHandle(int fd, bool owns) => (Fd, _owns) = (fd, owns);

    public int Fd { get; }

    public int TryChown(uint uid, uint gid) => Libc.fchown(Fd, uid, gid) < 0 ? PosixError.Last : 0;

    public int TryChmod(uint mode) => Libc.fchmod(Fd, mode) < 0 ? PosixError.Last : 0;

    public int TrySetXattr(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Span<byte> zn = stackalloc byte[name.Length + 1];
        name.CopyTo(zn);
        zn[^1] = 0;
        fixed (byte* pn = zn)
        fixed (byte* pv = value)
            return Libc.fsetxattr(Fd, pn, pv, (nuint)value.Length, 0) < 0 ? PosixError.Last : 0;
    }

    /// <summary>futimens: atime left as is, mtime in nanoseconds.</summary>
    public int TrySetMtime(long seconds, int nanoseconds)
    {
        Libc.Timespec* ts = stackalloc Libc.Timespec[2];
        ts[0] = new Libc.Timespec { Seconds = 0, Nanoseconds = Libc.UTIME_OMIT };
        ts[1] = new Libc.Timespec { Seconds = seconds, Nanoseconds = nanoseconds };
        return Libc.futimens(Fd, ts) < 0 ? PosixError.Last : 0;
    }

    public int TryTruncate(long length) => Libc.ftruncate(Fd, length) < 0 ? PosixError.Last : 0;

    /// <summary>Writes all of <paramref name="data"/> at the current position (loops on short writes and EINTR).</summary>
    public int TryWriteAll(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = Libc.write(Fd, p + done, (nuint)(data.Length - done));
                if (n < 0)
                {
                    int e = PosixError.Last;
                    if (e == PosixError.EINTR) continue;
                    return e;
                }
                if (n == 0) return PosixError.EIO;
                done += (int)n;
            }
        }
        return 0;
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> (pwrite; sparse files).</summary>
    public int TryWriteAllAt(ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = Libc.pwrite(Fd, p + done, (nuint)(data.Length - done), offset + done);
                if (n < 0)
                {
                    int e = PosixError.Last;
                    if (e == PosixError.EINTR) continue;
                    return e;
                }
                if (n == 0) return PosixError.EIO;
                done += (int)n;
            }
        }
        return 0;
    }

    /// <summary>Closes the descriptor (when owned). A close error is reported: on NFS and some file systems, write
    /// errors surface only at close.</summary>
    public int TryClose() => _owns && Libc.close(Fd) < 0 ? PosixError.Last : 0;

    public void Dispose()
    {
        if (_owns) Libc.close(Fd);
    }
}

/// <summary>Process identity, for deciding whether ownership can be restored.</summary>
internal static class ProcessIdentity
{
    public static bool IsRoot => Libc.geteuid() == 0;
}
