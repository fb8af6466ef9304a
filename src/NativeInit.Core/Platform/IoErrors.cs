namespace NativeInit.Core.Platform;

/// <summary>
/// Readable text for the exceptions the base library throws when a file cannot be opened, read or written.
/// The binary is built with <c>UseSystemResourceKeys</c>, which replaces the runtime's own messages by resource
/// keys ("IO_FileNotFound_FileName, /x"); no such text may reach an operator. Every place where NativeInit hands a
/// path to the base library turns a failure into "PATH: No such file or directory (ENOENT)", the form every
/// syscall error of <see cref="PosixException"/> has.
/// </summary>
public static class IoErrors
{
    /// <summary>True for the exceptions this class describes (the base library's file errors).</summary>
    public static bool IsFileError(Exception e) => e is IOException or UnauthorizedAccessException;

    /// <summary>An input that cannot be read refuses before any write (exit 3): missing, a directory, unreadable.
    /// <paramref name="what"/> says what the file is for ("layout", "archive").</summary>
    public static void RequireReadableFile(string what, string path)
    {
        if (Directory.Exists(path))
            throw new RefusedException($"{what} {path}: {PosixError.Message(PosixError.EISDIR)} (EISDIR)");
        try
        {
            using var _ = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception e) when (IsFileError(e))
        {
            throw Refuse(what, path, e);
        }
    }

    /// <summary>A file to be created refuses before any write (exit 3) when its directory does not exist or the
    /// path is a directory.</summary>
    public static void RequireCreatable(string what, string path)
    {
        if (Directory.Exists(path))
            throw new RefusedException($"{what} {path}: {PosixError.Message(PosixError.EISDIR)} (EISDIR)");
        string dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/";
        if (File.Exists(dir))
            throw new RefusedException($"{what} {path}: {dir}: {PosixError.Message(PosixError.ENOTDIR)} (ENOTDIR)");
        if (!Directory.Exists(dir))
            throw new RefusedException($"{what} {path}: directory {dir}: {PosixError.Message(PosixError.ENOENT)} (ENOENT)");
    }

    /// <summary>The errno behind a base-library file error, when it can be told; <paramref name="path"/> (when
    /// known) tells a directory refused as a file (the runtime reports it as access denied) from a real EACCES.</summary>
    public static int? Errno(Exception e, string? path = null)
    {
        switch (e)
        {
            case FileNotFoundException or DirectoryNotFoundException:
                return PosixError.ENOENT;
            case System.ComponentModel.Win32Exception { NativeErrorCode: > 0 and < 4096 } w:
                return w.NativeErrorCode;
            case PathTooLongException:
                return PosixError.ENAMETOOLONG;
            case UnauthorizedAccessException:
                if (path is not null && Directory.Exists(path)) return PosixError.EISDIR;
                return PosixError.EACCES;
            case IOException io when io.HResult is > 0 and < 4096:
                return io.HResult; // the runtime's Unix IOException carries the raw errno as HResult
            case IOException io when (io.HResult & 0xFFFF0000) == 0x80070000 && path is not null && Directory.Exists(path):
                return PosixError.EISDIR;
            default:
                return null;
        }
    }

    /// <summary>The reason alone: "No such file or directory (ENOENT)".</summary>
    public static string Reason(Exception e, string? path = null)
    {
        path ??= PathOf(e);
        if (Errno(e, path) is { } errno) return $"{PosixError.Message(errno)} ({PosixError.Name(errno)})";
        return Readable(e.Message, path);
    }

    /// <summary>"PATH: reason", the path taken from the exception when not given.</summary>
    public static string Describe(Exception e, string? path = null)
    {
        path ??= PathOf(e);
        return path is null ? Reason(e) : $"{path}: {Reason(e, path)}";
    }

    /// <summary>A refusal (exit 3, nothing written): "WHAT PATH: reason".</summary>
    public static RefusedException Refuse(string what, string path, Exception e) =>
        new($"{what} {path}: {Reason(e, path)}", e);

    /// <summary>The path a base-library exception names, when it names one.</summary>
    public static string? PathOf(Exception e)
    {
        if (e is FileNotFoundException { FileName: { Length: > 0 } name }) return name;
        if (SplitResourceKey(e.Message) is { Key: var key, Args: var rest } && key.Contains('_', StringComparison.Ordinal)
            && rest.StartsWith('/'))
            return rest;
        int open = e.Message.IndexOf("'/", StringComparison.Ordinal);
        int close = open < 0 ? -1 : e.Message.IndexOf('\'', open + 1);
        return close > open ? e.Message[(open + 1)..close] : null;
    }

    /// <summary>A message with any resource key turned into words ("IO_SharingViolation_File, /x" →
    /// "sharing violation file"; "ExpectedStartOfValueNotFound, #" → "expected start of value not found: #").</summary>
    public static string Readable(string message, string? path = null)
    {
        if (SplitResourceKey(message) is not { Key: var key, Args: var rest }) return message;
        int underscore = key.IndexOf('_', StringComparison.Ordinal);
        if (underscore is > 0 and <= 4) key = key[(underscore + 1)..]; // the area prefix: IO_, Arg_, Net_
        var words = new System.Text.StringBuilder(key.Length + 8);
        for (int i = 0; i < key.Length; i++)
        {
            char c = key[i];
            if (c == '_') { if (words.Length > 0 && words[^1] != ' ') words.Append(' '); continue; }
            if (char.IsUpper(c) && i > 0 && words.Length > 0 && words[^1] != ' ') words.Append(' ');
            words.Append(char.ToLowerInvariant(c));
        }
        if (rest.Length == 0 || rest == path) return words.ToString();
        return $"{words}: {rest}";
    }

    /// <summary>True when <paramref name="message"/> starts with a resource key (what <c>UseSystemResourceKeys</c>
    /// leaves: "IO_FileNotFound_FileName, /x", "ExpectedStartOfValueNotFound, #"); tests use it too.</summary>
    public static bool HasResourceKey(string message) => SplitResourceKey(message) is not null;

    // A key has no spaces, starts upper-case, and has at least two capitalised parts; ", " and the format's
    // arguments may follow.
    private static (string Key, string Args)? SplitResourceKey(string message)
    {
        int comma = message.IndexOf(", ", StringComparison.Ordinal);
        string key = comma < 0 ? message : message[..comma];
        if (key.Length < 6 || !char.IsAsciiLetterUpper(key[0])) return null;
        int capitals = 0;
        foreach (char c in key)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_') return null;
            if (char.IsAsciiLetterUpper(c)) capitals++;
        }
        if (capitals < 2 || key.All(c => !char.IsAsciiLetterLower(c))) return null;
        return (key, comma < 0 ? "" : message[(comma + 2)..]);
    }
}
