using System.Text;

namespace NativeInit.Core;

/// <summary>
/// The log of a state-changing command (issue 18): every line the command reports goes to the terminal (best-effort:
/// a hung-up terminal or a full disk drops it) and to a log file the command owns, so what was not printed is kept.
/// Lines written before the file exists (the checks run before the first write) are held and written when
/// <see cref="OpenFile"/> is called. A failing log file is dropped too: the log never stops the work.
/// Use it as the <see cref="TextWriter"/> a command reports to; <see cref="FileOnly"/> adds what belongs only in the
/// file (a stack trace), <see cref="Also"/> a second stream into the same file. Stage one (`stage`) uses it for
/// BOOT/nativeinit/stage.log; `layout apply`, `layout grow`, `gpt apply` and `grow` for IMAGE.nativeinit.log (beside an
/// image), /var/log/nativeinit.log (a disk) or --log FILE.
/// </summary>
public sealed class RunLog(TextWriter console) : TextWriter
{
    private readonly object _lock = new();
    private readonly StringBuilder _held = new();
    private FileStream? _file;
    private bool _holding = true;

    public override Encoding Encoding => Encoding.UTF8;

    /// <summary>The log file's path once open, else null.</summary>
    public string? FilePath { get; private set; }

    /// <summary>Opens (appending to) <paramref name="path"/> and writes the lines held so far into it.</summary>
    public void OpenFile(string path)
    {
        lock (_lock)
        {
            CloseFile();
            try
            {
                _file = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
                FilePath = path;
                ToFile(_held.ToString());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _file = null;
                FilePath = null;
                SafeConsole(console, $"(log file {path} cannot be written: {e.Message}; the log goes to the terminal only)\n");
            }
        }
    }

    /// <summary>Flushes the file to the disk (fsync); a failure only drops the file.</summary>
    public void Sync()
    {
        lock (_lock)
        {
            try { _file?.Flush(flushToDisk: true); }
            catch (IOException) { DropFile(); }
        }
    }

    /// <summary>Closes the file (synced); later lines are held again until <see cref="OpenFile"/>.</summary>
    public void CloseFile()
    {
        lock (_lock)
        {
            if (_file is null) return;
            Sync();
            _file?.Dispose();
            _file = null;
            FilePath = null;
            _held.Clear();
            _holding = false;
        }
    }

    /// <summary>Writes <paramref name="text"/> (a stack trace, a detail) to the file only (held until it is open).</summary>
    public void FileOnly(string text)
    {
        lock (_lock)
        {
            var t = text.EndsWith('\n') ? text : text + "\n";
            if (_file is null) { if (_holding) _held.Append(t); }
            else ToFile(t);
        }
    }

    public override void Write(char value) => Write(value.ToString());

    public override void Write(string? value) => WriteVia(console, value);

    /// <summary>A second writer into the same log: it prints to <paramref name="otherConsole"/> (best-effort, e.g.
    /// standard error when this log prints to standard output) and writes to this log's file, in order with the
    /// lines of this writer. For a command whose plan goes to one stream and its progress to the other.</summary>
    public TextWriter Also(TextWriter otherConsole) => new Tee(this, otherConsole);

    private void WriteVia(TextWriter to, string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        lock (_lock)
        {
            SafeConsole(to, value);
            if (_file is null) { if (_holding) _held.Append(value); }
            else ToFile(value);
        }
    }

    private void FlushVia(TextWriter to)
    {
        lock (_lock)
        {
            SafeConsoleFlush(to);
            try { _file?.Flush(); }
            catch (IOException) { DropFile(); }
        }
    }

    private sealed class Tee(RunLog log, TextWriter to) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value) => log.WriteVia(to, value.ToString());
        public override void Write(string? value) => log.WriteVia(to, value);
        public override void Write(char[] buffer, int index, int count) => log.WriteVia(to, new string(buffer, index, count));
        public override void WriteLine(string? value) => log.WriteVia(to, (value ?? "") + "\n");
        public override void WriteLine() => log.WriteVia(to, "\n");
        public override void Flush() => log.FlushVia(to);
    }

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void WriteLine(string? value) => Write((value ?? "") + "\n");

    public override void WriteLine() => Write("\n");

    public override void Flush() => FlushVia(console);

    protected override void Dispose(bool disposing)
    {
        if (disposing) CloseFile();
        base.Dispose(disposing);
    }

    private void ToFile(string text)
    {
        try
        {
            _file!.Write(Encoding.UTF8.GetBytes(text));
            _file.Flush();
        }
        catch (IOException) { DropFile(); }
    }

    private void DropFile()
    {
        try { _file?.Dispose(); } catch (IOException) { }
        _file = null;
        FilePath = null;
    }

    private static void SafeConsole(TextWriter to, string text)
    {
        try { to.Write(text); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }

    private static void SafeConsoleFlush(TextWriter to)
    {
        try { to.Flush(); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }
}
