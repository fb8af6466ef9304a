using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>contrib/systemd/nativeinit-mark-good.service, judged by systemd's own verifier in a root that holds
/// systemd's units and the binary at the path the unit runs.</summary>
[Trait("Category", "Integration")]
public class MarkGoodUnitTests
{
    private static readonly string Unit = Path.Combine(Tool.RepoRoot, "contrib", "systemd", "nativeinit-mark-good.service");

    [SkippableFact]
    public void The_unit_passes_systemd_analyze_verify_and_runs_mark_good_only_on_a_slot_boot()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("systemd-analyze");
        Skip.IfNot(Directory.Exists("/usr/lib/systemd/system"), "no systemd units in /usr/lib/systemd/system (tools/setup installs systemd)");
        string text = File.ReadAllText(Unit);
        Assert.Contains("\nExecStart=/usr/sbin/nativeinit mark-good\n", text);
        Assert.Contains("\nConditionKernelCommandLine=nativeinit.slot\n", text);
        Assert.Contains("\nAfter=multi-user.target\n", text);
        Assert.Contains("\nWantedBy=multi-user.target\n", text);
        using var dir = new TempDir();
        string root = dir.Path;
        Tool.Sh($"""
            set -e
            r={Tool.Quote(root)}
            mkdir -p $r/usr/sbin $r/etc/systemd/system $r/usr/lib/systemd
            cp -r /usr/lib/systemd/system $r/usr/lib/systemd/
            cp {Tool.Quote(ni)} $r/usr/sbin/nativeinit
            cp {Tool.Quote(Unit)} $r/etc/systemd/system/
            """);
        string placed = Path.Combine(root, "etc/systemd/system/nativeinit-mark-good.service");
        var r = Tool.Run("systemd-analyze", "verify", "--root=" + root, "--man=no", placed);
        Assert.True(r.ExitCode == 0 && r.Stderr.Trim().Length == 0, r.ToString());
        // Not vacuous: a misspelt key is reported.
        File.WriteAllText(placed, text.Replace("After=multi-user.target", "Aftr=multi-user.target", StringComparison.Ordinal));
        var bad = Tool.Run("systemd-analyze", "verify", "--root=" + root, "--man=no", placed);
        Assert.Contains("Unknown key", bad.Stderr);
    }
}
