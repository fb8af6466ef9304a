using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;

namespace NativeInit.Core.Platform;

/// <summary>Safe wrappers over the walking calls of <see cref="Libc"/> (Libc.Walk.cs). A path is given as bytes
/// (no trailing NUL needed); messages show it as UTF-8.</summary>
internal static unsafe class PosixPath
{
    /// <summary>Copies <paramref name="path"/> into a NUL-terminated buffer.</summary>
    public static byte[] Z(ReadOnlySpan<byte> path)
    {
        var z = new byte[path.Length + 1];
        path.CopyTo(z);
        return z;
    }

    public static byte[] Z(string path) => Z(Encoding.UTF8.GetBytes(path));

    public static string Show(ReadOnlySpan<byte> pathZ) =>
        Encoding.UTF8.GetString(pathZ.IndexOf((byte)0) is var n and >= 0 ? pathZ[..n] : pathZ);

    public static StatBuffer LStat(byte[] pathZ)
    {
        StatBuffer st;
        fixed (byte* p = pathZ)
            if (Libc.fstatat(SafeFd.AtFdCwd, p, &st, Libc.AT_SYMLINK_NOFOLLOW) != 0) PosixError.Throw("lstat", Show(pathZ));
        return st;
    }

    public static bool TryStat(string path, out StatBuffer st)
    {
        var z = Z(path);
        fixed (byte* p = z)
        fixed (StatBuffer* s = &st)
            return Libc.fstatat(SafeFd.AtFdCwd, p, s, 0) == 0;
    }

    /// <summary>The path (symlinks followed) is a regular file, not a device, pipe or directory.</summary>
    public static bool IsRegularFile(string path) => TryStat(path, out var st) && (st.Mode & Libc.S_IFMT) == Libc.S_IFREG;

    /// <summary>Names in a directory (without "." and ".."), as raw bytes.</summary>
    public static List<byte[]> ListDirectory(byte[] pathZ)
    {
        IntPtr dir;
        fixed (byte* p = pathZ) dir = Libc.opendir(p);
        if (dir == IntPtr.Zero) PosixError.Throw("opendir", Show(pathZ));
        var names = new List<byte[]>();
        try
        {
            while (true)
            {
                Marshal.SetLastPInvokeError(0);
                IntPtr ent = Libc.readdir(dir);
                if (ent == IntPtr.Zero)
                {
                    int e = Marshal.GetLastPInvokeError();
                    if (e != 0) PosixError.Throw("readdir", Show(pathZ), e);
                    break;
                }
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)ent + DirentLayout.NameOffset);
                if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8)) continue;
                names.Add(name.ToArray());
            }
        }
        finally
        {
            Libc.closedir(dir);
        }
        return names;
    }

    public static byte[] ReadLink(byte[] pathZ, long sizeHint)
    {
        int size = (int)Math.Clamp(sizeHint + 1, 64, 1 << 16);
        while (true)
        {
            var buf = new byte[size];
            nint n;
            fixed (byte* p = pathZ)
            fixed (byte* b = buf)
                n = Libc.readlink(p, b, (nuint)buf.Length);
            if (n < 0) PosixError.Throw("readlink", Show(pathZ));
            if (n < buf.Length) return buf.AsSpan(0, (int)n).ToArray();
            size *= 2;
        }
    }

    /// <summary>Every extended attribute of the path itself (not following a symlink), sorted by name (ordinal),
    /// values byte-exact. A filesystem without xattr support gives an empty list.</summary>
    public static List<KeyValuePair<string, byte[]>> ListXattrs(byte[] pathZ)
    {
        var result = new List<KeyValuePair<string, byte[]>>();
        byte[] list;
        while (true)
        {
            nint need;
            fixed (byte* p = pathZ) need = Libc.llistxattr(p, null, 0);
            if (need < 0)
            {
                if (PosixError.Last is PosixError.EOPNOTSUPP or PosixError.ENOSYS) return result;
                PosixError.Throw("llistxattr", Show(pathZ));
            }
            if (need == 0) return result;
            list = new byte[need];
            nint got;
            fixed (byte* p = pathZ)
            fixed (byte* l = list)
                got = Libc.llistxattr(p, l, (nuint)list.Length);
            if (got >= 0) { list = list.AsSpan(0, (int)got).ToArray(); break; }
            if (PosixError.Last != PosixError.ERANGE) PosixError.Throw("llistxattr", Show(pathZ));
        }
        var span = list.AsSpan();
        while (span.Length > 0)
        {
            int end = span.IndexOf((byte)0);
            if (end < 0) end = span.Length;
            if (end > 0)
            {
                var nameZ = Z(span[..end]);
                var value = GetXattr(pathZ, nameZ);
                if (value is not null) result.Add(new(Encoding.UTF8.GetString(span[..end]), value));
            }
            span = end < span.Length ? span[(end + 1)..] : default;
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return result;
    }

    private static byte[]? GetXattr(byte[] pathZ, byte[] nameZ)
    {
        while (true)
        {
            nint need;
            fixed (byte* p = pathZ)
            fixed (byte* n = nameZ)
                need = Libc.lgetxattr(p, n, null, 0);
            if (need < 0)
            {
                if (PosixError.Last == PosixError.ENODATA) return null; // removed meanwhile
                PosixError.Throw("lgetxattr " + PosixPath.Show(nameZ), Show(pathZ));
            }
            var value = new byte[need];
            if (need == 0) return value;
            nint got;
            fixed (byte* p = pathZ)
            fixed (byte* n = nameZ)
            fixed (byte* v = value)
                got = Libc.lgetxattr(p, n, v, (nuint)value.Length);
            if (got >= 0) return got == value.Length ? value : value.AsSpan(0, (int)got).ToArray();
            if (PosixError.Last != PosixError.ERANGE) PosixError.Throw("lgetxattr " + PosixPath.Show(nameZ), Show(pathZ));
        }
    }

    /// <summary>One extended attribute of the path itself, or null when it has none by that name.</summary>
    public static byte[]? GetXattr(string path, string name) => GetXattr(Z(path), Z(name));

    /// <summary>Sets an extended attribute on the path itself (lsetxattr: a symlink is not followed).</summary>
    public static void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        var p = Z(path);
        var n = Z(name);
        fixed (byte* pp = p)
        fixed (byte* np = n)
        fixed (byte* v = value)
            if (Libc.lsetxattr(pp, np, v, (nuint)value.Length, 0) != 0) PosixError.Throw("lsetxattr " + name, path);
    }

    /// <summary>lchown: owner and group of the path itself.</summary>
    public static void Chown(string path, uint uid, uint gid)
    {
        var p = Z(path);
        fixed (byte* pp = p)
            if (Libc.fchownat(Libc.AT_FDCWD, pp, uid, gid, Libc.AT_SYMLINK_NOFOLLOW) != 0) PosixError.Throw("chown", path);
    }

    /// <summary>Opens a regular file for reading without following a symlink in the last component.</summary>
    public static SafeFd OpenRead(byte[] pathZ)
    {
        int fd;
        fixed (byte* p = pathZ) fd = Libc.openBytes(p, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd < 0) PosixError.Throw("open", Show(pathZ));
        return new SafeFd(fd);
    }

    /// <summary>read(2), retried on EINTR. Returns 0 at the end of the file.</summary>
    public static int Read(SafeFd fd, Span<byte> buffer, byte[] pathZ)
    {
        while (true)
        {
            nint n;
            fixed (byte* b = buffer) n = Libc.read(fd.Fd, b, (nuint)buffer.Length);
            if (n >= 0) return (int)n;
            if (PosixError.Last != PosixError.EINTR) PosixError.Throw("read", Show(pathZ));
        }
    }

    /// <summary>Free bytes for an unprivileged user (f_bavail * f_frsize) and total bytes of the filesystem holding <paramref name="path"/>.</summary>
    public static (long Available, long Total) StatVfs(string path)
    {
        var z = Z(path);
        StatVfsBuffer b;
        fixed (byte* p = z)
            if (Libc.statvfs(p, &b) != 0) PosixError.Throw("statvfs", path);
        ulong unit = b.Frsize != 0 ? b.Frsize : b.Bsize;
        return ((long)(b.Bavail * unit), (long)(b.Blocks * unit));
    }
}
