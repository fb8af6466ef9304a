using System.Diagnostics;
using System.Globalization;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Xz;
using NativeInit.Core.Platform;

namespace NativeInit;

/// <summary>`nativeinit decompress`: decodes an .xz or .zst file (told by its magic bytes) to a file or standard
/// output, verifying every check. Useful for benchmarks and for recovery by hand.</summary>
internal static class DecompressCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "decompress",
        JsonSchema = "decompress-stats",
        Summary = "decode an .xz or .zst file to a file or standard output, verifying its checks",
        Usage = "decompress FILE [-o OUT] [--threads N] [--memory-limit SIZE] [--stats[=json]]",
        MinArguments = 1,
        MaxArguments = 1,
        Options =
        [
            new("output", "o", "OUT", "write here ('-' or absent: standard output); removed again if decoding fails"),
            new("threads", "j", "N", "decoder threads for multi-block xz (default: number of cores)"),
            new("memory-limit", null, "SIZE", "refuse streams that need more memory than this (default 1GiB)"),
            new("stats", null, "json", "print to standard error where the time went (xz: per thread, busy and waiting, and for what); " +
                "--stats=json prints one JSON object", ValueIsOptional: true),
        ],
        Description = "FILE may be '-' for standard input. The format is told by the magic bytes, not the name.",
        Run = Run,
    };

    private static int Run(ParsedArgs args, CommandContext ctx)
    {
        string file = args.Arguments[0];
        string? stats = args.Has("stats") ? args.Get("stats") ?? "text" : null; // the parser allows only --stats=json
        var xzStats = stats is null ? null : new XzDecodeStatistics();
        var options = new DecoderOptions
        {
            Threads = args.GetInt("threads", 0, 0, 256),
            MemoryLimit = args.GetSize("memory-limit", new DecoderOptions().MemoryLimit),
            XzStatistics = xzStats,
        };
        var report = Decompression.Run(file, args.Get("output"), options);
        if (stats is not null) WriteStats(ctx.Error, stats == "json", file, report.Format, xzStats!, report.Wall);
        return ExitCodes.Success;
    }

    /// <summary>Wall and CPU time of the whole process (user + sys, as the kernel counts them), peak RSS, and for xz
    /// the decoder's threads.</summary>
    private static void WriteStats(TextWriter w, bool json, string file, CompressionFormat format, XzDecodeStatistics xz, TimeSpan wall)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        long rss = ProcessStatus.PeakRssBytes();
        if (json)
        {
            w.WriteJson(j =>
            {
                j.WriteStartObject();
                j.WriteNumber("schemaVersion", 1);
                j.WriteString("file", file);
                j.WriteString("compression", format.ToString().ToLowerInvariant());
                j.WriteNumber("wall_seconds", Math.Round(wall.TotalSeconds, 6));
                j.WriteNumber("cpu_seconds", Math.Round(cpu.TotalSeconds, 6));
                j.WriteNumber("peak_rss_bytes", rss);
                if (format == CompressionFormat.Xz) XzStatsOutput.WriteJson(j, xz);
                j.WriteEndObject();
            }, indented: false);
            return;
        }
        var inv = CultureInfo.InvariantCulture;
        w.WriteLine(string.Create(inv, $"wall time:     {wall.TotalSeconds:0.000} s"));
        w.WriteLine(string.Create(inv, $"CPU time:      {cpu.TotalSeconds:0.000} s (user + sys, whole process; {cpu.TotalSeconds / Math.Max(wall.TotalSeconds, 1e-9):0.00} cores busy)"));
        w.WriteLine($"peak RSS:      {ByteSize.Format(rss)}");
        if (format == CompressionFormat.Xz) XzStatsOutput.WriteText(w, xz);
    }
}
