using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>
/// Every P/Invoke of NativeInit lives in this partial class (one file per area: Libc.File.cs, Libc.Block.cs, ...),
/// all of them into "libc". The published binary is fully static, so "libc" is resolved at link time
/// (DirectPInvoke in src/NativeInit/NativeInit.csproj); under the JIT (tests) the runtime loads the system libc.
/// Wrappers that return -1 and set errno are declared with SetLastError = true and are checked by the
/// caller through <see cref="PosixError"/>.
/// </summary>
internal static partial class Libc
{
    internal const string Name = "libc";

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int getpid();

    [LibraryImport(Name, SetLastError = true)]
    internal static partial IntPtr strerror(int errnum);
}
