namespace NativeInit.Core;

/// <summary>Process exit codes shared by every command (see docs/architecture.md, Conventions).</summary>
public static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Success = 0;
    /// <summary>Failed.</summary>
    public const int Failure = 1;
    /// <summary>Usage error: bad arguments or options.</summary>
    public const int Usage = 2;
    /// <summary>Refused before any write: preflight, bad bundle, bad input.</summary>
    public const int Refused = 3;
    /// <summary>Failed after the point of no return; the journal says how to resume.</summary>
    public const int FailedAfterPointOfNoReturn = 4;
}

/// <summary>
/// An error whose message is meant for the user: it names the object and the reason.
/// The CLI prints the message (no stack trace) and exits with <see cref="ExitCode"/>.
/// </summary>
public class NativeInitException : Exception
{
    public NativeInitException(string message, int exitCode = ExitCodes.Failure, Exception? inner = null)
        : base(message, inner) => ExitCode = exitCode;

    public int ExitCode { get; }
}

/// <summary>Bad command-line usage (exit code 2).</summary>
public sealed class UsageException(string message) : NativeInitException(message, ExitCodes.Usage);

/// <summary>A check refused to go on; nothing has been written (exit code 3).</summary>
public class RefusedException(string message, Exception? inner = null)
    : NativeInitException(message, ExitCodes.Refused, inner);

/// <summary>Input data (an archive, a compressed stream, a table, metadata) is malformed or corrupt.</summary>
public class InvalidDataFormatException(string message, Exception? inner = null)
    : NativeInitException(message, ExitCodes.Failure, inner);
