using System.Text;

namespace NativeInit.Core;

/// <summary>
/// The log of a state-changing command (issue 18): every line the command reports goes to the terminal (best-effort:
/// a hung-up terminal or a full disk drops it) and to a log file the command owns, so what was not printed is kept.
/// Lines written before the file exists (the checks run before the first write) are held and written when
/// <see cref="OpenFile"/> is called. A failing log file is dropped too: the log never stops the work.
/// Use it as the <see cref="TextWriter"/> a command reports to; <see cref="FileOnly"/> adds what belongs only in the
/// file (a stack trace). Stage one (`stage`) uses it for BOOT/nativeinit/stage.log; `layout apply`, `gpt apply`,
/// `convert` and `grow` can use it for theirs.
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
                SafeConsole($"(log file {path} cannot be written: {e.Message}; the log goes to the terminal only)\n");
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

    public override void Write(string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        lock (_lock)
        {
            SafeConsole(value);
            if (_file is null) { if (_holding) _held.Append(value); }
            else ToFile(value);
        }
    }

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void WriteLine(string? value) => Write((value ?? "") + "\n");

    public override void WriteLine() => Write("\n");

    public override void Flush()
    {
        lock (_lock)
        {
            SafeConsoleFlush();
            try { _file?.Flush(); }
            catch (IOException) { DropFile(); }
        }
    }

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

    private void SafeConsole(string text)
    {
        try { console.Write(text); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }

    private void SafeConsoleFlush()
    {
        try { console.Flush(); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }
}
