using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

// kill(2), for the test-only crash hooks (a process SIGKILLs itself at a named point). Specification: kill(2).
internal static partial class Libc
{
    internal const int SIGKILL = 9;

    [LibraryImport(Name, EntryPoint = "kill", SetLastError = true)]
    internal static partial int sig_kill(int pid, int signal);
}
