using System.Globalization;
using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Extraction;
using NativeInit.Core.Archive.Xz;

namespace NativeInit;

/// <summary>`nativeinit extract`: streams a tar, tar.xz or tar.zst onto a directory.</summary>
internal static class ExtractCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "extract",
        JsonSchema = "extract-stats",
        Summary = "stream a tar, .tar.xz or .tar.zst archive onto a directory, with owners, modes and xattrs",
        Usage = "extract ARCHIVE --to DIR [--threads N] [--progress] [--stats[=json]] [--dry-run]",
        MinArguments = 1,
        MaxArguments = 1,
        Options =
        [
            new("to", "C", "DIR", "directory to extract into (must exist)"),
            new("threads", "j", "N", "decoder threads (default: number of cores)"),
            new("progress", null, null, "print a byte-based progress line on standard error"),
            new("stats", null, "json", "print statistics at the end; --stats=json prints one JSON object", ValueIsOptional: true),
            new("dry-run", "n", null, "read and check the whole archive (checksums, names) and count, without writing"),
        ],
        Description = "ARCHIVE may be '-' for standard input. The compression is told by the magic bytes, not the name.\n" +
            "Nothing is created, changed or followed outside DIR: absolute paths, '..' components, hard links to\n" +
            "outside and paths through symbolic links are refused (exit 1, naming the entry). A missing DIR or an\n" +
            "unreadable ARCHIVE is refused before anything is written (exit 3).",
        Run = Run,
    };

    private static int Run(ParsedArgs args, CommandContext ctx)
    {
        string archive = args.Arguments[0];
        string dir = args.Require("to");
        int threads = args.GetInt("threads", 0, 0, 256);
        string? stats = args.Has("stats") ? args.Get("stats") ?? "text" : null; // the parser allows only --stats=json

        var xzStats = stats is null ? null : new XzDecodeStatistics();
        bool dryRun = args.Has("dry-run");
        using var extractor = TarExtractor.Open(dir, dryRun: dryRun);
        using var input = ArchiveExtraction.Input.Open(archive);
        ProgressReporter? progress = null;
        if (args.Has("progress"))
            progress = new ProgressReporter(ctx.Error, !Console.IsErrorRedirected, "extract", input.Length, () => input.BytesRead);

        ExtractionReport report;
        try
        {
            report = ArchiveExtraction.Run(input, extractor, new DecoderOptions { Threads = threads, XzStatistics = xzStats }, progress is null ? null : progress.Tick);
        }
        catch (InvalidDataFormatException e)
        {
            progress?.Abort();
            throw new InvalidDataFormatException($"archive {archive}: {e.Message}", e);
        }
        catch
        {
            progress?.Abort();
            throw;
        }
        progress?.Done();
        if (report.Stats.LoneZeroBlocks > 0)
            ctx.Error.WriteLine($"nativeinit extract: warning: a lone zero block at offset {report.Stats.FirstLoneZeroBlockOffset} " +
                $"({report.Stats.LoneZeroBlocks} in all) is followed by more entries; they were extracted too " +
                "(GNU tar stops at it unless --ignore-zeros, bsdtar stops silently)");

        if (stats == "json") WriteJson(ctx.Out, archive, dir, report, dryRun, xzStats!);
        else if (stats == "text")
        {
            WriteText(ctx.Out, report, dryRun);
            if (report.Compression == CompressionFormat.Xz) XzStatsOutput.WriteText(ctx.Out, xzStats!);
        }
        else if (dryRun) ctx.Out.WriteLine($"dry run: {archive} holds {report.Stats.Entries} entries, {ByteSize.Format(report.Stats.BytesWritten)} of file data; nothing written to {dir}");
        return ExitCodes.Success;
    }

    private static void WriteText(TextWriter w, ExtractionReport r, bool dryRun)
    {
        var s = r.Stats;
        var inv = CultureInfo.InvariantCulture;
        if (dryRun) w.WriteLine("dry run:       nothing written; the figures are what the archive holds");
        w.WriteLine($"entries:       {s.Entries} ({s.Regular} files, {s.Directories} directories, {s.Symlinks} symlinks, " +
                    $"{s.HardLinks} hard links, {s.CharDevices} char devices, {s.BlockDevices} block devices, {s.Fifos} fifos; {s.Sparse} sparse)");
        w.WriteLine($"xattrs:        {s.XattrsSet} set" + (s.XattrsSkipped > 0 ? $", {s.XattrsSkipped} user.* on symlinks skipped" : "") +
                    (s.AclsFromText > 0 ? $"; {s.AclsFromText} of them POSIX ACLs from pax text records" : ""));
        if (s.LoneZeroBlocks > 0)
            w.WriteLine($"zero blocks:   {s.LoneZeroBlocks} lone zero block(s) inside the archive read past (first at offset {s.FirstLoneZeroBlockOffset})");
        w.WriteLine($"data written:  {ByteSize.Format(s.BytesWritten)} ({s.BytesWritten} bytes)");
        w.WriteLine($"archive:       {ByteSize.Format(r.InputBytes)} read, {r.Compression.ToString().ToLowerInvariant()}, {ByteSize.Format(r.TarBytes)} of tar");
        w.WriteLine(string.Create(inv, $"wall time:     {r.Wall.TotalSeconds:0.000} s ({r.TarBytes / 1048576.0 / Math.Max(r.Wall.TotalSeconds, 1e-6):0.0} MiB/s of tar)"));
        w.WriteLine(string.Create(inv, $"decompressing: {r.DecodeTime.TotalSeconds:0.000} s (decoder thread busy; {r.DecodeCpuTime.TotalSeconds:0.000} s CPU)"));
        w.WriteLine(string.Create(inv, $"writing:       {r.WriteTime.TotalSeconds:0.000} s (extraction thread busy; {r.WriteCpuTime.TotalSeconds:0.000} s CPU)"));
        w.WriteLine($"peak RSS:      {ByteSize.Format(r.PeakRssBytes)}");
    }

    private static void WriteJson(TextWriter w, string archive, string dir, ExtractionReport r, bool dryRun, XzDecodeStatistics xz)
    {
        var s = r.Stats;
        w.WriteJson(j =>
        {
            j.WriteStartObject();
            j.WriteNumber("schemaVersion", 1);
            j.WriteString("archive", archive);
            j.WriteString("to", dir);
            j.WriteString("compression", r.Compression.ToString().ToLowerInvariant());
            j.WriteBoolean("dry_run", dryRun);
            j.WriteStartObject("entries");
            j.WriteNumber("total", s.Entries);
            j.WriteNumber("regular", s.Regular);
            j.WriteNumber("directory", s.Directories);
            j.WriteNumber("symlink", s.Symlinks);
            j.WriteNumber("hardlink", s.HardLinks);
            j.WriteNumber("char_device", s.CharDevices);
            j.WriteNumber("block_device", s.BlockDevices);
            j.WriteNumber("fifo", s.Fifos);
            j.WriteNumber("sparse", s.Sparse);
            j.WriteEndObject();
            j.WriteNumber("xattrs_set", s.XattrsSet);
            j.WriteNumber("xattrs_skipped", s.XattrsSkipped);
            j.WriteNumber("acls_from_text", s.AclsFromText);
            j.WriteNumber("lone_zero_blocks", s.LoneZeroBlocks);
            j.WriteNumber("bytes_written", s.BytesWritten);
            j.WriteNumber("input_bytes", r.InputBytes);
            j.WriteNumber("tar_bytes", r.TarBytes);
            j.WriteNumber("wall_seconds", Math.Round(r.Wall.TotalSeconds, 6));
            j.WriteNumber("decompress_seconds", Math.Round(r.DecodeTime.TotalSeconds, 6));
            j.WriteNumber("write_seconds", Math.Round(r.WriteTime.TotalSeconds, 6));
            j.WriteNumber("decompress_cpu_seconds", Math.Round(r.DecodeCpuTime.TotalSeconds, 6));
            j.WriteNumber("write_cpu_seconds", Math.Round(r.WriteCpuTime.TotalSeconds, 6));
            j.WriteNumber("peak_rss_bytes", r.PeakRssBytes);
            if (r.Compression == CompressionFormat.Xz) XzStatsOutput.WriteJson(j, xz);
            j.WriteEndObject();
        }, indented: false);
    }
}
