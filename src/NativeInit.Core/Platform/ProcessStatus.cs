namespace NativeInit.Core.Platform;

/// <summary>Facts about this process from /proc/self/status (proc(5)).</summary>
public static class ProcessStatus
{
    /// <summary>Peak resident set size (VmHWM), in bytes; 0 when /proc is not mounted.</summary>
    public static long PeakRssBytes() => ReadKb("VmHWM:") * 1024;

    /// <summary>Current resident set size (VmRSS), in bytes.</summary>
    public static long RssBytes() => ReadKb("VmRSS:") * 1024;

    /// <summary>CPU time consumed by the calling thread (clock_gettime(CLOCK_THREAD_CPUTIME_ID)).</summary>
    public static unsafe TimeSpan ThreadCpuTime()
    {
        Libc.Timespec ts;
        if (Libc.clock_gettime(Libc.CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return TimeSpan.Zero;
        return TimeSpan.FromTicks(ts.Seconds * TimeSpan.TicksPerSecond + ts.Nanoseconds / 100);
    }

    private static long ReadKb(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
                var v = line[key.Length..].Trim();
                if (v.EndsWith(" kB", StringComparison.Ordinal)) v = v[..^3];
                return long.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var kb) ? kb : 0;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}
