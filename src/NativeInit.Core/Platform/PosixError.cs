using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>A failed system call: what was attempted, on which object, and errno.</summary>
public sealed class PosixException : NativeInitException
{
    public PosixException(string operation, string? target, int errno)
        : base(Describe(operation, target, errno)) => (Operation, Target, Errno) = (operation, target, errno);

    public string Operation { get; }
    public string? Target { get; }
    public int Errno { get; }

    private static string Describe(string operation, string? target, int errno) =>
        target is null
            ? $"{operation}: {PosixError.Message(errno)} ({PosixError.Name(errno)})"
            : $"{operation} {target}: {PosixError.Message(errno)} ({PosixError.Name(errno)})";
}

/// <summary>errno values and the helpers that turn a -1 return into a <see cref="PosixException"/>.</summary>
public static class PosixError
{
    public const int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9, EAGAIN = 11, ENOMEM = 12,
        EACCES = 13, EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENOSPC = 28,
        EROFS = 30, EMLINK = 31, EPIPE = 32, ERANGE = 34, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40, ENODATA = 61, EOPNOTSUPP = 95;
    public const int EFBIG = 27, ENAMETOOLONG = 36;

    /// <summary>errno of the last P/Invoke declared with SetLastError = true.</summary>
    public static int Last => Marshal.GetLastPInvokeError();

    public static string Name(int errno) => errno switch
    {
        EPERM => "EPERM", ENOENT => "ENOENT", EINTR => "EINTR", EIO => "EIO", ENXIO => "ENXIO", E2BIG => "E2BIG",
        EBADF => "EBADF", EAGAIN => "EAGAIN", ENOMEM => "ENOMEM", EACCES => "EACCES", EBUSY => "EBUSY",
        EEXIST => "EEXIST", EXDEV => "EXDEV", ENODEV => "ENODEV", ENOTDIR => "ENOTDIR", EISDIR => "EISDIR",
        EINVAL => "EINVAL", ENOSPC => "ENOSPC", EROFS => "EROFS", EMLINK => "EMLINK", EPIPE => "EPIPE", ERANGE => "ERANGE",
        ENOSYS => "ENOSYS", ENOTEMPTY => "ENOTEMPTY", ELOOP => "ELOOP", ENODATA => "ENODATA", EOPNOTSUPP => "EOPNOTSUPP",
        EFBIG => "EFBIG", ENAMETOOLONG => "ENAMETOOLONG",
        _ => $"errno {errno}",
    };

    public static string Message(int errno) => Marshal.PtrToStringUTF8(Libc.strerror(errno)) ?? Name(errno);

    /// <summary>Throws for the last errno: <c>if (rc &lt; 0) PosixError.Throw("open", path);</c></summary>
    [DoesNotReturn]
    public static void Throw(string operation, string? target = null) => throw new PosixException(operation, target, Last);

    [DoesNotReturn]
    public static void Throw(string operation, string? target, int errno) => throw new PosixException(operation, target, errno);

    /// <summary>Returns <paramref name="rc"/> when it is not negative, throws otherwise.</summary>
    public static int Check(int rc, string operation, string? target = null)
    {
        if (rc < 0) Throw(operation, target);
        return rc;
    }

    public static long Check(long rc, string operation, string? target = null)
    {
        if (rc < 0) Throw(operation, target);
        return rc;
    }
}
