using NativeInit.Cli;
using NativeInit.Core;

namespace NativeInit;

/// <summary>`nativeinit extract`: streams a tar, tar.xz or tar.zst onto a directory.</summary>
internal static class ExtractCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "extract",
        Summary = "stream a tar, .tar.xz or .tar.zst archive onto a directory, with owners, modes and xattrs",
        Usage = "extract ARCHIVE --to DIR [--threads N] [--progress] [--stats[=json]]",
        MinArguments = 1,
        MaxArguments = 1,
        Options =
        [
            new("to", "C", "DIR", "directory to extract into (must exist)"),
            new("threads", "j", "N", "decoder threads (default: number of cores)"),
            new("progress", null, null, "print a byte-based progress line on standard error"),
            new("stats", null, "json", "print statistics at the end; --stats=json prints one JSON object", ValueIsOptional: true),
        ],
        Description = "ARCHIVE may be '-' for standard input. The compression is told by the magic bytes, not the name.",
        Run = Run,
    };

    private static int Run(ParsedArgs args, CommandContext ctx) =>
        throw new NativeInitException("extract: not built yet");
}
