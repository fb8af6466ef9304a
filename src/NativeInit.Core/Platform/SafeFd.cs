using Microsoft.Win32.SafeHandles;

namespace NativeInit.Core.Platform;

/// <summary>An owned file descriptor. Closed once, on Dispose or by the finalizer.</summary>
public sealed class SafeFd : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>The special value for "relative to the current directory" in *at() calls.</summary>
    public const int AtFdCwd = -100;

    public SafeFd() : base(ownsHandle: true) { }

    public SafeFd(int fd, bool ownsHandle = true) : base(ownsHandle) => SetHandle(fd);

    /// <summary>The raw descriptor, for P/Invokes. Valid while this object is alive and not disposed.</summary>
    public int Fd => (int)handle;

    // fd 0 is a valid descriptor (standard input); only -1 is invalid.
    public override bool IsInvalid => handle == -1;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
