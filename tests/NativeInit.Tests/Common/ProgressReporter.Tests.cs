using NativeInit.Core;

namespace NativeInit.Tests.Common;

public class ProgressReporterTests
{
    [Fact]
    public void Serial_console_gets_plain_lines_without_carriage_returns()
    {
        var w = new StringWriter();
        long cur = 0;
        var p = new ProgressReporter(w, isTty: false, "extract", 1000, () => cur);
        for (int i = 0; i < 1000; i++) { cur = i; p.Tick(); }
        cur = 1000;
        p.Done();
        string s = w.ToString();
        Assert.DoesNotContain("\r", s);
        // Ticks within the first 2 seconds print nothing: one line at the end only.
        Assert.Equal(["extract: 100.0% 1000 B of 1000 B"], s.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[..l.LastIndexOf(',')]));
    }

    [Fact]
    public void Tty_gets_one_redrawn_line()
    {
        var w = new StringWriter();
        long cur = 512;
        var p = new ProgressReporter(w, isTty: true, "extract", -1, () => cur);
        p.Done();
        string s = w.ToString();
        Assert.StartsWith("\rextract: 512 B", s);
        Assert.EndsWith("\n", s.Replace("\r\n", "\n"));
    }
}
