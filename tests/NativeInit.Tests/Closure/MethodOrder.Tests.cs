using System.Text.RegularExpressions;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Closure;

/// <summary>
/// The published artifact keeps the managed code its hot paths run together (src/NativeInit/method-order.txt, see
/// tools/method-order): the kernel maps code 64 KiB at a time, so scattered hot methods cost peak RSS (issue 11).
/// New hot methods the order file does not list land among the cold ones; this fails once they spread the hot code
/// over more than 1024 KiB of windows (2880 KiB without the order file, 576-768 KiB with it, by run).
/// </summary>
[Trait("Category", "Integration")]
public sealed class MethodOrderTests
{
    [SkippableFact]
    public void The_hot_paths_run_managed_code_that_lies_together()
    {
        Tool.Require("qemu-x86_64", "xz", "zstd", "readelf", "python3");
        Tool.RequireNativeInit();
        string symbols = Path.Combine(Tool.RepoRoot, "artifacts", "nativeinit.symbols");
        Assert.True(File.Exists(symbols), $"{symbols} is missing: tools/build writes it");

        var r = Tool.Run(Path.Combine(Tool.RepoRoot, "tools", "method-order"), ["--check"], timeout: TimeSpan.FromMinutes(10));
        Assert.True(r.ExitCode == 0, r.ToString());
        var m = Regex.Match(r.Stdout, @"managed code the hot paths run: (\d+) methods, (\d+) KiB of pages, across (\d+) KiB of 64 KiB windows");
        Assert.True(m.Success, r.ToString());
        int methods = int.Parse(m.Groups[1].Value), pages = int.Parse(m.Groups[2].Value), windows = int.Parse(m.Groups[3].Value);
        // The profile saw the hot paths at all (a decode runs several hundred methods), and they lie together.
        Assert.InRange(methods, 500, 100_000);
        Assert.InRange(windows, pages, 1024);
    }
}
