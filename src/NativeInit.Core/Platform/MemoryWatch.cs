using System.Globalization;

namespace NativeInit.Core.Platform;

/// <summary>
/// The memory a run takes, for the operator and the performance engineer (issue 12, step 5; issue 13, scenario e):
/// the process's peak RSS (VmHWM, kept by the kernel) and, sampled on a background thread, the machine's peak memory
/// in use (MemTotal − MemAvailable from /proc/meminfo), which also counts the page cache the run dirties and what an
/// initramfs keeps in tmpfs. Dispose stops the sampling.
/// </summary>
public sealed class MemoryWatch : IDisposable
{
    private readonly Timer _timer;
    private long _peakUsed;

    public MemoryWatch(TimeSpan? interval = null)
    {
        MemTotalBytes = Meminfo("MemTotal:") ?? 0;
        Sample();
        var every = interval ?? TimeSpan.FromMilliseconds(250);
        _timer = new Timer(_ => Sample(), null, every, every);
    }

    /// <summary>MemTotal, bytes (0 without /proc).</summary>
    public long MemTotalBytes { get; }

    /// <summary>The highest MemTotal − MemAvailable seen so far, bytes.</summary>
    public long PeakUsedBytes => Interlocked.Read(ref _peakUsed);

    /// <summary>One line: peak RSS of this process and the machine's peak memory in use.</summary>
    public string Describe()
    {
        Sample();
        return $"peak RSS {Format(ProcessStatus.PeakRssBytes())} (VmHWM); machine: peak in use {Format(PeakUsedBytes)} of {Format(MemTotalBytes)} " +
            "(MemTotal - MemAvailable, sampled every 250 ms)";
    }

    private void Sample()
    {
        long total = MemTotalBytes, avail = Meminfo("MemAvailable:") ?? 0;
        if (total <= 0 || avail <= 0) return;
        long used = total - avail, seen;
        while (used > (seen = Interlocked.Read(ref _peakUsed)) && Interlocked.CompareExchange(ref _peakUsed, used, seen) != seen) { }
    }

    private static string Format(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB");

    /// <summary>A line of /proc/meminfo (<paramref name="key"/> such as "MemAvailable:"), in bytes; null when /proc is
    /// not there or has no such line.</summary>
    public static long? Meminfo(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith(key, StringComparison.Ordinal) &&
                    long.TryParse(line[key.Length..].Trim().Split(' ')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb))
                    return kb * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    public void Dispose() => _timer.Dispose();
}
