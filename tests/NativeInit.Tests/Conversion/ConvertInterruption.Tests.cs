using System.Diagnostics;
using System.Text;
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
    /// <summary>Runs convert and sends <paramref name="signal"/> (by kill, from outside) when the line
    /// "convert: <paramref name="atStep"/> ..." appears.</summary>
    private ToolResult ConvertSignalledAt(string image, string atStep, string signal)
    {
        var psi = new ProcessStartInfo(fx.Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "convert", "--image", image, "--key", fx.Public, "--yes" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        bool sent = false;
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.AppendLine(e.Data);
            if (!sent && e.Data == $"convert: {atStep} ...")
            {
                sent = true;
                Tool.Check("kill", "-" + signal, p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException("convert did not end"); }
        p.WaitForExit();
        Assert.True(sent, $"the line 'convert: {atStep} ...' never came:\n{stdout}");
        return new ToolResult(p.ExitCode, stdout.ToString(), stderr.ToString(), $"convert --image {image} (kill -{signal} at {atStep})");
    }

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
        var r = ConvertSignalledAt(img, atStep, signal);
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
        var r = ConvertSignalledAt(img, "extract", "HUP");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("convert: finish: done", r.Stdout);
        using var doc = JsonDocument.Parse(Tool.Check(fx.Binary, "status", "--image", img, "--json"));
        Assert.Equal("done", doc.RootElement.GetProperty("state").GetString());
    }
}
