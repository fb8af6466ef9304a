using System.Diagnostics;
using System.Globalization;

namespace NativeInit.Core;

/// <summary>
/// The one progress reporter (docs/architecture.md, Conventions): byte-based, on standard error. On a TTY it redraws one line with '\r'
/// (at most 5 times a second); otherwise (serial console, pipe, log file) it prints plain lines, one per 5% step but
/// not more often than every 2 seconds, or every 10 seconds when the total is unknown, so a serial console is not flooded.
/// <see cref="Tick"/> is cheap (one timestamp read) and may be called often.
/// </summary>
public sealed class ProgressReporter
{
    private const double TtyInterval = 0.2, LineInterval = 2, UnknownTotalInterval = 10;

    private readonly TextWriter _out;
    private readonly bool _tty;
    private readonly string _label;
    private readonly long _total;
    private readonly Func<long> _current;
    private readonly long _start = Stopwatch.GetTimestamp();
    private long _lastTick;
    private int _lastStep = -1;
    private bool _drawn;

    /// <param name="total">Expected total of <paramref name="current"/>, or a negative number when unknown.</param>
    public ProgressReporter(TextWriter output, bool isTty, string label, long total, Func<long> current)
    {
        _out = output;
        _tty = isTty;
        _label = label;
        _total = total;
        _current = current;
        _lastTick = _start;
    }

    public void Tick()
    {
        long now = Stopwatch.GetTimestamp();
        double since = Stopwatch.GetElapsedTime(_lastTick, now).TotalSeconds;
        if (_tty)
        {
            if (since < TtyInterval) return;
            _lastTick = now;
            _out.Write("\r" + Line(_current()) + "   ");
            _out.Flush();
            _drawn = true;
            return;
        }
        if (since < LineInterval) return;
        long cur = _current();
        if (_total > 0)
        {
            int step = (int)(cur * 20 / _total);
            if (step == _lastStep && since < UnknownTotalInterval) return;
            _lastStep = step;
        }
        else if (since < UnknownTotalInterval) return;
        _lastTick = now;
        _out.WriteLine(Line(cur));
        _out.Flush();
    }

    /// <summary>Prints the final state (and ends the redrawn line on a TTY).</summary>
    public void Done()
    {
        string line = Line(_current());
        if (_tty) _out.WriteLine("\r" + line + "   ");
        else _out.WriteLine(line);
        _out.Flush();
        _drawn = false;
    }

    /// <summary>Ends a redrawn line before an error message is printed.</summary>
    public void Abort()
    {
        if (_tty && _drawn) { _out.WriteLine(); _out.Flush(); }
    }

    private string Line(long cur)
    {
        double secs = Math.Max(Stopwatch.GetElapsedTime(_start).TotalSeconds, 1e-3);
        string rate = ByteSize.Format((long)(cur / secs)) + "/s";
        return _total > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{_label}: {Math.Min(100.0, cur * 100.0 / _total),5:0.0}% {ByteSize.Format(cur)} of {ByteSize.Format(_total)}, {rate}")
            : $"{_label}: {ByteSize.Format(cur)}, {rate}";
    }
}
