namespace NativeInit.Core.Boot.Init;

/// <summary>What the field kernel (CentOS 7: Linux 3.10) lacks. See docs/syscalls.md for who calls what and the
/// fallback of each.</summary>
public static class KernelCompat
{
    /// <summary>x86-64 system calls added after Linux 3.10, with the version that added them in comments. A kernel 3.10
    /// answers each with ENOSYS; `rd.nativeinit.enosys=1` and the tests make strace answer them so on a new kernel.</summary>
    public static readonly string[] SyscallsNewerThan310 =
    [
        "renameat2", "seccomp", "getrandom", "memfd_create",                 // 3.15, 3.17
        "execveat", "userfaultfd", "membarrier", "mlock2",                    // 3.19, 4.3, 4.3, 4.4
        "copy_file_range", "preadv2", "pwritev2", "statx",                    // 4.5, 4.6, 4.6, 4.11
        "io_pgetevents", "rseq", "pidfd_send_signal",                         // 4.18, 4.18, 5.1
        "io_uring_setup", "io_uring_enter", "io_uring_register",              // 5.1
        "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", // 5.2
        "pidfd_open", "clone3", "close_range", "openat2", "pidfd_getfd",      // 5.3, 5.3, 5.9, 5.6, 5.6
        "faccessat2", "process_madvise", "epoll_pwait2", "mount_setattr",     // 5.8, 5.10, 5.11, 5.12
        "futex_waitv", "landlock_create_ruleset", "memfd_secret",             // 5.16, 5.13, 5.14
        "process_mrelease", "set_mempolicy_home_node",                        // 5.15, 5.17
    ];

    /// <summary>The strace arguments that answer every syscall of <see cref="SyscallsNewerThan310"/> with ENOSYS.</summary>
    public static string[] StraceInjectArguments(string logFile) =>
        ["-f", "-qq", "-o", logFile, "-e", "inject=" + string.Join(',', SyscallsNewerThan310) + ":error=ENOSYS"];
}
