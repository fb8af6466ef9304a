using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>
/// futex(2) without a timeout: FUTEX_WAIT and FUTEX_WAKE with FUTEX_PRIVATE_FLAG (Linux 2.6.22; values from
/// include/uapi/linux/futex.h, the syscall number from arch/x86/entry/syscalls/syscall_64.tbl). glibc has no wrapper;
/// syscall(3) is variadic, and on x86-64 Linux a variadic call passes integer arguments like a fixed one.
/// </summary>
internal static unsafe partial class Libc
{
    internal const long SYS_futex = 202;
    internal const int FUTEX_WAIT_PRIVATE = 0 | 128, FUTEX_WAKE_PRIVATE = 1 | 128;

    [LibraryImport(Name, EntryPoint = "syscall")]
    private static partial long syscall_futex(long number, int* address, int op, int value, void* timeout);

    /// <summary>FUTEX_WAIT: sleeps while *<paramref name="address"/> is <paramref name="value"/> (returns at once, or
    /// on a signal, otherwise). FUTEX_WAKE: wakes up to <paramref name="value"/> sleepers.</summary>
    internal static long futex(int* address, int op, int value) => syscall_futex(SYS_futex, address, op, value, null);
}
