using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>
/// The system calls of PID 1 and of the self-test: mount, module loading, reboot, process spawning and reaping,
/// device nodes. Every one of them exists in kernel 3.10 (finit_module since 3.8, with init_module as the fallback
/// for older kernels or when finit_module is refused with ENOSYS).
/// P/Invokes that other areas are likely to declare too (open, read, write, ioctl, mknod, lstat, xattrs) carry a
/// Boot prefix (EntryPoint names the libc function) so the partial Libc files merge without a name clash.
/// </summary>
internal static unsafe partial class Libc
{
    // ---- mount(2), umount2(2): include/uapi/linux/mount.h
    internal const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_RELATIME = 1 << 21;
    internal const int MNT_DETACH = 2;

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int umount2(string target, int flags);

    // ---- reboot(2): include/uapi/linux/reboot.h (LINUX_REBOOT_CMD_*), glibc's RB_* are the same values.
    internal const int RB_AUTOBOOT = 0x01234567, RB_POWER_OFF = 0x4321fedc, RB_HALT_SYSTEM = unchecked((int)0xcdef0123);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int reboot(int howto);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial void sync();

    // ---- modules: finit_module has no glibc wrapper; syscall(2) with the x86-64 number (arch/x86/entry/syscalls/
    // syscall_64.tbl: 313 finit_module, 175 init_module). init_module has a glibc wrapper.
    internal const long SYS_finit_module = 313;

    [LibraryImport(Name, SetLastError = true, EntryPoint = "syscall")]
    internal static partial long syscall3(long number, long a1, long a2, long a3);

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int init_module(byte* image, nuint length, string paramValues);

    // ---- processes
    internal const int WNOHANG = 1;

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int waitpid(int pid, int* status, int options);

    /// <summary>posix_spawn returns the error number (0 on success) rather than setting errno.</summary>
    [LibraryImport(Name, SetLastError = false, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int posix_spawn(int* pid, string path, void* fileActions, void* attributes, byte** argv, byte** envp);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int getppid();

    // ---- files and nodes
    // O_RDONLY, O_RDWR, O_CLOEXEC, S_IFCHR and S_IFBLK are declared once, in Libc.File.cs.

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8, EntryPoint = "open")]
    internal static partial int BootOpen(string path, int flags, int mode);

    [LibraryImport(Name, SetLastError = true, EntryPoint = "fsync")]
    internal static partial int BootFsync(int fd);

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8, EntryPoint = "mknod")]
    internal static partial int BootMknod(string path, uint mode, ulong dev);

    /// <summary>struct stat for x86-64 (arch/x86/include/uapi/asm/stat.h): 144 bytes; only the fields read are named.</summary>
    internal const int StatSize = 144, StatOffMode = 24, StatOffUid = 28, StatOffGid = 32, StatOffRdev = 40, StatOffSize = 48;

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8, EntryPoint = "lstat")]
    internal static partial int BootLstat(string path, byte* statBuffer);

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8, EntryPoint = "lchown")]
    internal static partial int BootLchown(string path, int uid, int gid);

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8, EntryPoint = "lsetxattr")]
    internal static partial int BootLsetxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8, EntryPoint = "lgetxattr")]
    internal static partial nint BootLgetxattr(string path, string name, byte* value, nuint size);
}
