using NativeInit.Core;
using NativeInit.Core.Platform;

namespace NativeInit.Cli;

/// <summary>
/// Signals and the log file of a state-changing command that writes a disk or an image (`layout apply`, `layout grow`,
/// `gpt apply`, `grow`; issue 18). <see cref="Out"/> and <see cref="Error"/> print best-effort to standard output and
/// error and keep every line for the log file (a <see cref="RunLog"/>, the primitive stage one uses). SIGHUP is
/// ignored; SIGINT/SIGTERM are recorded. <see cref="BeginWrites"/>, called just before the first write, refuses when
/// one arrived (exit 3, nothing written) and opens the log: --log FILE, else IMAGE.nativeinit.log beside an image
/// file, else <see cref="DiskLogFile"/> for a block device. From there on a signal lets the write complete. A failure
/// is written to the file too (with the stack trace when it is unexpected). A run that writes nothing (plan, dry
/// run, refusal) leaves no file.
/// </summary>
internal sealed class CommandLog : IDisposable
{
    /// <summary>The log of the write commands run on a block device.</summary>
    public const string DiskLogFile = "/var/log/nativeinit.log";

    /// <summary>The --log option of the commands that keep this log.</summary>
    public static readonly OptionSpec Option =
        new("log", null, "FILE", $"append the log to FILE when writing (default: IMAGE.nativeinit.log beside an image, {DiskLogFile} for a disk)");

    private readonly TerminationSignals _signals = TerminationSignals.Install();
    private readonly RunLog _log;
    private readonly string _command;
    private readonly string? _logOption;

    public CommandLog(ParsedArgs args, CommandContext ctx)
    {
        _command = args.Command;
        _logOption = args.Get("log");
        _log = new RunLog(ctx.Out);
        Out = _log;
        Error = _log.Also(ctx.Error);
        _log.FileOnly($"--- {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} nativeinit {_command} (pid {Environment.ProcessId})");
    }

    /// <summary>Standard output, also kept in the log file.</summary>
    public TextWriter Out { get; }
    /// <summary>Standard error, also kept in the log file.</summary>
    public TextWriter Error { get; }
    /// <summary>The log file once open.</summary>
    public string? FilePath => _log.FilePath;

    /// <summary>The default log of <paramref name="target"/>: beside an image file, or the system's for a disk.</summary>
    public static string DefaultPath(string target, bool isBlockDevice) =>
        isBlockDevice ? DiskLogFile : Path.GetFullPath(target) + ".nativeinit.log";

    /// <summary>Just before the first write to <paramref name="target"/>: refuses (nothing written) when SIGINT or
    /// SIGTERM arrived, then opens the log file with every line so far.</summary>
    public void BeginWrites(string target, bool isBlockDevice)
    {
        TestHooks.WaitAt("first-write");
        if (_signals.Received is { } signal)
            throw new RefusedException($"{target}: interrupted by {signal} before the first write; nothing was written");
        string path = _logOption ?? DefaultPath(target, isBlockDevice);
        try { Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // OpenFile reports it
        _log.OpenFile(path);
    }

    /// <summary>Runs the command's body; a failure is also written to the log file (its stack trace too when it is
    /// not one of the product's own errors).</summary>
    public int Run(Func<int> body)
    {
        try
        {
            int code = body();
            if (_signals.Received is { } s && _log.FilePath is not null)
                _log.FileOnly($"{s} was received during the write; the write was completed");
            return code;
        }
        catch (Exception e)
        {
            _log.FileOnly($"nativeinit {_command}: error: {e.Message}");
            if (e is not (NativeInitException or IOException or UnauthorizedAccessException)) _log.FileOnly(e.ToString());
            throw;
        }
    }

    public void Dispose()
    {
        _log.Dispose();
        _signals.Dispose();
    }
}
