using System.Text.Json;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Conversion;

/// <summary>
/// Issue 18: SIGINT sent to a real `convert --image` run after its point of no return. The step in progress finishes,
/// the run stops before the next step with exit 4 and the resume command, the journal (read by `status`) says where it
/// stopped, and the same command resumes to a converted disk. SIGHUP during the run changes nothing.
/// </summary>
[Trait("Category", "Integration")]
public class ConvertInterruptionTests(LegacyImageFixture fx) : IClassFixture<LegacyImageFixture>
{
    /// <summary>Runs convert and sends SIG<paramref name="signal"/> (by kill, from outside) while step
    /// <paramref name="atStep"/> runs: at the step runner's test point "step:NAME", after "convert: NAME ..." is printed
    /// (not on the output line itself: a short step could end before a signal sent from a line arrived).</summary>
    private ToolResult ConvertSignalledAt(string image, string atStep, string signal, string dir) =>
        SignalRun.AtPoint(fx.Binary, ["convert", "--image", image, "--key", fx.Public, "--yes"], "step:" + atStep, signal, dir);

    private void Require()
    {
        Tool.RequireRoot();
        Tool.RequireNativeInit();
        Tool.Require("sgdisk", "mkfs.xfs", "xfs_growfs", "mkswap", "blkid", "sfdisk", "setfattr", "fallocate");
    }

    [SkippableTheory]
    [InlineData("extract", "INT")]
    [InlineData("carry", "TERM")]
    public void A_signal_after_the_point_of_no_return_finishes_the_step_and_stops_before_the_next(string atStep, string signal)
    {
        Require();
        using var dir = new TempDir();
        string img = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", fx.Image, img);
        var r = ConvertSignalledAt(img, atStep, signal, dir.Path);
        Assert.True(r.ExitCode == 4, $"expected exit 4: {r}");
        Assert.Contains($"convert: {atStep}: done", r.Stdout);
        var stopped = System.Text.RegularExpressions.Regex.Match(r.Stdout, $@"convert: SIG{signal} received: stopped before step ([a-z-]+)");
        Assert.True(stopped.Success, r.ToString());
        string next = stopped.Groups[1].Value;
        Assert.DoesNotContain($"convert: {next} ...", r.Stdout);
        Assert.Contains($"interrupted by SIG{signal} before step {next}", r.Stderr);
        Assert.Contains($"convert --image {img} --yes` again", r.Stderr);
        // Nothing is left mounted or attached: the run ended cleanly.
        Assert.Equal("", Tool.Check("losetup", "-j", img).Trim());

        var status = Tool.Run(fx.Binary, "status", "--image", img, "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        using (var doc = JsonDocument.Parse(status.Stdout))
        {
            var s = doc.RootElement;
            Assert.Equal("in progress", s.GetProperty("state").GetString());
            Assert.Equal(next, s.GetProperty("step").GetString());
            var steps = s.GetProperty("steps").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e.GetProperty("state").GetString());
            Assert.Equal("done", steps[atStep]);
            Assert.False(steps.ContainsKey(next), $"step {next} must not have started");
            Assert.Contains($"interrupted by SIG{signal} before step {next}", s.GetProperty("lastError").GetString());
        }
        Assert.Contains("(not started)", Tool.Check(fx.Binary, "status", "--image", img));

        var resumed = Tool.Run(fx.Binary, ["convert", "--image", img, "--key", fx.Public, "--yes"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"convert: {atStep}: done earlier, skipped", resumed.Stdout);
        Assert.Contains($"convert: {next} ...", resumed.Stdout);
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
        using (var doc = JsonDocument.Parse(Tool.Check(fx.Binary, "status", "--image", img, "--json")))
            Assert.Equal("done", doc.RootElement.GetProperty("state").GetString());
    }

    [SkippableFact]
    public void A_hang_up_during_the_run_changes_nothing()
    {
        Require();
        using var dir = new TempDir();
        string img = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", fx.Image, img);
        // At a point where the run waits for the test (not on an output line: a short run could end before the signal
        // arrived, as it once did under load).
        var r = SignalRun.AtPoint(fx.Binary, ["convert", "--image", img, "--key", fx.Public, "--yes"], "first-write", "HUP", dir.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("convert: finish: done", r.Stdout);
        using var doc = JsonDocument.Parse(Tool.Check(fx.Binary, "status", "--image", img, "--json"));
        Assert.Equal("done", doc.RootElement.GetProperty("state").GetString());
    }

    [SkippableFact]
    public void Grow_with_its_output_lost_grows_and_keeps_the_whole_output_beside_the_image()
    {
        Require();
        using var dir = new TempDir();
        string img = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", fx.Image, img);
        var c = Tool.Run(fx.Binary, ["convert", "--image", img, "--key", fx.Public, "--yes"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(c.ExitCode == 0, c.ToString());
        using (var f = new FileStream(img, FileMode.Open)) f.SetLength(LegacyImageFixture.DiskBytes + (512L << 20));
        string log = img + ".nativeinit.log";
        // The plan alone (no --yes, --dry-run) writes no log file.
        Assert.Equal(3, Tool.Run(fx.Binary, "grow", "--image", img).ExitCode);
        Assert.Equal(0, Tool.Run(fx.Binary, "grow", "--image", img, "--dry-run").ExitCode);
        Assert.False(File.Exists(log), "a run that writes nothing left a log file");
        var full = NativeInit.Tests.Cli.OutputLossTests.RunOnFull(fx.Binary, "grow", "--image", img, "--yes");
        Assert.True(full.ExitCode == 0, full.ToString());
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
        string text = File.ReadAllText(log);
        Assert.Contains("nativeinit grow (pid", text);
        Assert.Contains("LV VA/data", text);             // the plan (standard output)
        Assert.Contains("on LV data grown to", text);   // the progress (standard error)
        // A second run finds nothing to grow; its log is appended, the first one kept.
        var again = Tool.Run(fx.Binary, "grow", "--image", img, "--yes", "--log", dir.Combine("second.log"));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(text, File.ReadAllText(log));
        foreach (var line in (again.Stdout + again.Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.Contains(line, File.ReadAllText(dir.Combine("second.log")));
    }

    [SkippableFact]
    public void A_signal_before_the_first_write_stops_convert_with_the_image_untouched()
    {
        Require();
        using var dir = new TempDir();
        string img = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", fx.Image, img);
        string before = Tool.Check("b2sum", img);
        var r = SignalRun.AtPoint(fx.Binary, ["convert", "--image", img, "--key", fx.Public, "--yes"], "first-write", "INT", dir.Path);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("interrupted by SIGINT before the first write; nothing was written", r.Stderr);
        Assert.Equal(before, Tool.Check("b2sum", img));
        Assert.Contains("not converted", Tool.Check(fx.Binary, "status", "--image", img));
    }
}
