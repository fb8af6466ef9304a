namespace NativeInit.Cli;

/// <summary>Where an unexpected exception's stack trace goes: a file, so the operator's console shows one line.</summary>
internal static class CrashReport
{
    /// <summary>Writes the trace to /run/nativeinit/crash-PID.log (or the temp directory); returns the path, or null
    /// when no file could be written (best-effort: a crash report never hides the error it reports).</summary>
    public static string? Write(string command, Exception e)
    {
        foreach (var dir in new[] { "/run/nativeinit", Path.GetTempPath() })
        {
            try
            {
                Directory.CreateDirectory(dir);
                string path = Path.Combine(dir, $"crash-{Environment.ProcessId}.log");
                File.WriteAllText(path, $"{DateTimeOffset.UtcNow:O} nativeinit {command}\n{e}\n");
                return path;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }
}
