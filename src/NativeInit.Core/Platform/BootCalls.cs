using System.Runtime.InteropServices;
using System.Text;

namespace NativeInit.Core.Platform;

/// <summary>How PID 1 ends: power off, reboot, or (never from PID 1) halt.</summary>
public enum RebootAction { PowerOff, Reboot }

/// <summary>Ownership and type of a file as lstat(2) reports it.</summary>
public readonly record struct FileOwner(int Uid, int Gid, uint Mode, ulong Rdev, long Size);

/// <summary>
/// Checked wrappers over the system calls of <see cref="Libc"/> (Libc.Boot.cs) that PID 1 and the self-test use.
/// Each failure is a <see cref="PosixException"/> naming the call and the object.
/// </summary>
public static unsafe class BootCalls
{
    public static int ProcessId => Libc.getpid();

    /// <summary>mount(2). Returns false (instead of throwing) when <paramref name="toleratedErrno"/> is the error,
    /// e.g. EBUSY for a file system the kernel mounted already; -1 tolerates every error (probing).</summary>
    public static bool Mount(string? source, string target, string? fsType, ulong flags = 0, string? data = null, int toleratedErrno = 0)
    {
        if (Libc.mount(source, target, fsType, flags, data) == 0) return true;
        int e = PosixError.Last;
        if (toleratedErrno != 0 && (e == toleratedErrno || toleratedErrno == -1)) return false;
        PosixError.Throw($"mount -t {fsType ?? "(none)"} {source ?? "(none)"}", target, e);
        return false;
    }

    public static void Unmount(string target, bool detach = false) =>
        PosixError.Check(Libc.umount2(target, detach ? Libc.MNT_DETACH : 0), "umount", target);

    /// <summary>Flushes every file system, then reboots or powers off. Returns only on failure (EPERM outside PID 1
    /// without CAP_SYS_BOOT), by throwing.</summary>
    public static void Reboot(RebootAction action)
    {
        Libc.sync();
        int how = action == RebootAction.PowerOff ? Libc.RB_POWER_OFF : Libc.RB_AUTOBOOT;
        PosixError.Check(Libc.reboot(how), "reboot", action.ToString());
    }

    public static void Sync() => Libc.sync();

    /// <summary>
    /// Loads a kernel module from an uncompressed .ko file: finit_module(2) (kernel 3.8+; it lets the kernel check
    /// the module's signature from the file), falling back to init_module(2) with the image read into memory when
    /// finit_module answers ENOSYS (an older kernel) or is refused by a security policy (EPERM from a seccomp filter
    /// that does not know it). Returns false when the module is loaded already (EEXIST).
    /// </summary>
    public static bool LoadModule(string path, string parameters = "")
    {
        int fd = PosixError.Check(Libc.BootOpen(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0), "open", path);
        int errno;
        try
        {
            byte[] p = Encoding.UTF8.GetBytes(parameters + "\0");
            fixed (byte* pp = p)
            {
                long rc = Libc.syscall3(Libc.SYS_finit_module, fd, (long)pp, 0);
                if (rc == 0) return true;
                errno = PosixError.Last;
            }
        }
        finally { Libc.close(fd); }
        if (errno == PosixError.EEXIST) return false;
        if (errno != PosixError.ENOSYS) PosixError.Throw("finit_module", path, errno);
        return LoadModuleImage(File.ReadAllBytes(path), path, parameters);
    }

    /// <summary>init_module(2) with the module's ELF image in memory (used for compressed modules, and as the
    /// fallback of <see cref="LoadModule"/>). Returns false when the module is loaded already.</summary>
    public static bool LoadModuleImage(byte[] image, string name, string parameters = "")
    {
        fixed (byte* ip = image)
        {
            if (Libc.init_module(ip, (nuint)image.Length, parameters) == 0) return true;
        }
        int errno = PosixError.Last;
        if (errno == PosixError.EEXIST) return false;
        PosixError.Throw("init_module", name, errno);
        return false;
    }

    /// <summary>Starts <paramref name="path"/> with <paramref name="argv"/> (argv[0] included) and the given
    /// environment; the child inherits descriptors 0-2. Returns its pid. posix_spawn: no fork of a managed runtime.</summary>
    public static int Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> environment)
    {
        var allocations = new List<IntPtr>();
        try
        {
            byte** av = StringArray(argv, allocations);
            byte** ev = StringArray(environment, allocations);
            int pid;
            int rc = Libc.posix_spawn(&pid, path, null, null, av, ev);
            if (rc != 0) PosixError.Throw("posix_spawn", path, rc);
            return pid;
        }
        finally
        {
            foreach (var a in allocations) Marshal.FreeCoTaskMem(a);
        }
    }

    private static byte** StringArray(IReadOnlyList<string> items, List<IntPtr> allocations)
    {
        var array = (byte**)Marshal.AllocCoTaskMem((items.Count + 1) * sizeof(IntPtr));
        allocations.Add((IntPtr)array);
        for (int i = 0; i < items.Count; i++)
        {
            var s = Marshal.StringToCoTaskMemUTF8(items[i]);
            allocations.Add(s);
            array[i] = (byte*)s;
        }
        array[items.Count] = null;
        return array;
    }

    /// <summary>waitpid(pid or -1). Returns (0, 0) with <paramref name="noHang"/> when nothing exited, (-1, 0) when
    /// there is no child left (ECHILD); retries on EINTR.</summary>
    public static (int Pid, int Status) Wait(int pid = -1, bool noHang = false)
    {
        while (true)
        {
            int status;
            int rc = Libc.waitpid(pid, &status, noHang ? Libc.WNOHANG : 0);
            if (rc >= 0) return (rc, status);
            int e = PosixError.Last;
            if (e == PosixError.EINTR) continue;
            if (e == 10 /* ECHILD */) return (-1, 0);
            PosixError.Throw("waitpid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), e);
        }
    }

    /// <summary>Decodes a wait status: the exit code, or 128 + signal number for a killed process (as shells do).</summary>
    public static int ExitCodeOf(int status) => (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);

    public static string DescribeStatus(int status) =>
        (status & 0x7f) == 0 ? $"exit code {(status >> 8) & 0xff}" : $"killed by signal {status & 0x7f}";

    /// <summary>Creates a character or block device node (major/minor encoded as glibc's makedev does).</summary>
    public static void MakeNode(string path, bool block, uint major, uint minor, uint permissions = 0x180 /* 0600 */)
    {
        ulong dev = ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) |
                    ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
        uint mode = (block ? Libc.S_IFBLK : Libc.S_IFCHR) | permissions;
        PosixError.Check(Libc.BootMknod(path, mode, dev), "mknod", path);
    }

    /// <summary>Opens a file or block device as a <see cref="Microsoft.Win32.SafeHandles.SafeFileHandle"/> for
    /// <see cref="RandomAccess"/>, without the advisory flock(2) .NET's FileStream takes: udev holds such a lock on a
    /// disk while it probes it after every write, and FileStream would fail with a sharing violation.</summary>
    public static Microsoft.Win32.SafeHandles.SafeFileHandle OpenForRandomAccess(string path, bool write)
    {
        int fd = Libc.BootOpen(path, (write ? Libc.O_RDWR : Libc.O_RDONLY) | Libc.O_CLOEXEC, 0);
        if (fd < 0) PosixError.Throw("open", path);
        return new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>flock(2) without waiting: true when the lock is taken (held while the handle's file stays open), false
    /// when another open file holds a conflicting one (EWOULDBLOCK); other errors throw.</summary>
    public static bool TryLock(Microsoft.Win32.SafeHandles.SafeFileHandle handle, bool exclusive)
    {
        while (true)
        {
            if (Libc.blk_flock((int)handle.DangerousGetHandle(), (exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) | Libc.LOCK_NB) == 0) return true;
            int errno = PosixError.Last;
            if (errno == PosixError.EAGAIN) return false;
            if (errno != PosixError.EINTR) PosixError.Throw("flock", null, errno);
        }
    }

    /// <summary>Opens a directory read-only (O_DIRECTORY), e.g. to fsync(2) it after a rename.</summary>
    public static Microsoft.Win32.SafeHandles.SafeFileHandle OpenDirectory(string path)
    {
        int fd = Libc.BootOpen(path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0) PosixError.Throw("open", path);
        return new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>fsync(2): the data reached the device.</summary>
    public static void Fsync(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string target) =>
        PosixError.Check(Libc.BootFsync((int)handle.DangerousGetHandle()), "fsync", target);

    public static FileOwner Lstat(string path)
    {
        byte* st = stackalloc byte[Libc.StatSize];
        PosixError.Check(Libc.BootLstat(path, st), "lstat", path);
        return new FileOwner(*(int*)(st + Libc.StatOffUid), *(int*)(st + Libc.StatOffGid), *(uint*)(st + Libc.StatOffMode),
            *(ulong*)(st + Libc.StatOffRdev), *(long*)(st + Libc.StatOffSize));
    }

    public static void Lchown(string path, int uid, int gid) => PosixError.Check(Libc.BootLchown(path, uid, gid), "lchown", path);

    public static void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
            PosixError.Check(Libc.BootLsetxattr(path, name, p, (nuint)value.Length, 0), $"lsetxattr {name}", path);
    }

    /// <summary>The value of an extended attribute, or null when the file has none of that name (ENODATA).</summary>
    public static byte[]? GetXattr(string path, string name)
    {
        var buffer = new byte[65536];
        fixed (byte* p = buffer)
        {
            nint n = Libc.BootLgetxattr(path, name, p, (nuint)buffer.Length);
            if (n < 0)
            {
                if (PosixError.Last == PosixError.ENODATA) return null;
                PosixError.Throw($"lgetxattr {name}", path);
            }
            return buffer.AsSpan(0, (int)n).ToArray();
        }
    }
}
