using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>
/// Signal handling of a state-changing command (issue 18). SIGHUP (the terminal or SSH session went away) is
/// ignored: the work goes on, and the output, best-effort, is kept in the command's log file. SIGPIPE needs nothing:
/// the .NET runtime ignores it, so a write to a closed pipe returns EPIPE, which the best-effort output drops.
/// SIGINT and SIGTERM do not kill the process: they are recorded, and the command looks at <see cref="Received"/>
/// between its steps — before its point of no return it stops cleanly and undoes what it wrote; after it, the step in
/// progress finishes.
/// </summary>
public sealed class TerminationSignals : IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];
    private volatile string? _received;

    private static volatile TerminationSignals? _active;

    private TerminationSignals()
    {
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => c.Cancel = true));
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; _received ??= "SIGINT"; }));
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; _received ??= "SIGTERM"; }));
    }

    /// <summary>Ignores SIGHUP only, until disposed: for a state-changing command that does not (yet) look at
    /// <see cref="Received"/> between its steps, so that Ctrl-C still stops it as before.</summary>
    public static IDisposable IgnoreHangUp() => PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => c.Cancel = true);

    /// <summary>Ignores SIGHUP and records SIGINT/SIGTERM until disposed; the new instance is <see cref="Active"/>.</summary>
    public static TerminationSignals Install() => _active = new();

    /// <summary>The instance installed last and not yet disposed, else null: what a step runner deep inside a job
    /// looks at between its steps without the command passing it down.</summary>
    public static TerminationSignals? Active => _active;

    /// <summary>"SIGINT" or "SIGTERM" once one arrived, else null.</summary>
    public string? Received => _received;

    public void Dispose()
    {
        if (_active == this) _active = null;
        foreach (var r in _registrations) r.Dispose();
        _registrations.Clear();
    }
}
