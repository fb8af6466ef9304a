using System.Text.RegularExpressions;
using NativeInit.Tests.Bundle;
using NativeInit.Tests.Stage;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Cli;

/// <summary>
/// Issue 18: writing to standard output and error is best-effort for every command. With both on /dev/full (every
/// write fails with ENOSPC) each command exits with the code it has with working output, never with an abort
/// (134) or another signal, and a state-changing command does its whole work.
/// </summary>
[Trait("Category", "Integration")]
public class OutputLossTests
{
    /// <summary>Runs the binary with descriptors 1 and 2 on /dev/full (stdin from /dev/null).</summary>
    internal static ToolResult RunOnFull(string bin, params string[] args) =>
        Tool.Run("sh", ["-c", "exec \"$0\" \"$@\" </dev/null >/dev/full 2>/dev/full", bin, .. args]);

    private static void SameExitOnFull(string bin, int expected, params string[] args)
    {
        var normal = Tool.Run(bin, args);
        Assert.True(normal.ExitCode == expected, normal.ToString());
        var full = RunOnFull(bin, args);
        Assert.True(full.ExitCode == expected,
            $"with stdout and stderr on /dev/full: exit {full.ExitCode}, expected {expected}\n{full}");
    }

    [SkippableFact]
    public void Every_command_keeps_its_exit_code_when_its_output_is_lost()
    {
        string bin = Tool.RequireNativeInit();
        SameExitOnFull(bin, 0, "--version");
        SameExitOnFull(bin, 0, "--help");
        SameExitOnFull(bin, 2);
        SameExitOnFull(bin, 2, "frobnicate");

        // Every command the binary lists: its help (0), a usage error (2), and a run that fails (1) or is refused (3).
        var names = Regex.Matches(Tool.Run(bin, "--help").Stdout, @"^  ([a-z]+(?: [a-z]+)?)  ", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value.Trim()).ToList();
        Assert.Contains("stage", names);
        Assert.Contains("bundle verify", names);
        Assert.True(names.Count >= 15, string.Join(", ", names));
        foreach (var name in names)
        {
            var words = name.Split(' ');
            SameExitOnFull(bin, 0, [.. words, "--help"]);
            SameExitOnFull(bin, 2, [.. words, "--no-such-option"]);
        }
        using var tmp = new TempDir();
        string missing = tmp.Combine("missing");
        SameExitOnFull(bin, 3, "bundle", "show", missing);  // a missing input is a refusal (issue 16)
        SameExitOnFull(bin, 3, "gpt", "show", missing);
        SameExitOnFull(bin, 3, "extract", missing, "--to", tmp.Combine("out"));
    }

    [SkippableFact]
    public void Bundle_and_stage_do_their_work_with_their_output_lost()
    {
        using var fx = new BundleFixture();
        var bundle = fx.Create(fx.SmallRootfs(), fx.Tmp.Combine("bundle.tar"), "--single-file");
        var full = RunOnFull(fx.Binary, "bundle", "verify", bundle, "--key", fx.Public);
        Assert.True(full.ExitCode == 0, full.ToString());
        full = RunOnFull(fx.Binary, "bundle", "keygen", "--private", fx.Tmp.Combine("k2"), "--public", fx.Tmp.Combine("k2.pub"));
        Assert.True(full.ExitCode == 0, full.ToString());
        Assert.True(File.Exists(fx.Tmp.Combine("k2.pub")));

        var root = fx.Tmp.Combine("root");
        FakeSystem.Centos7(root);
        var before = FakeSystem.Snapshot(root);
        full = RunOnFull(fx.Binary, "stage", bundle, "--key", fx.Public, "--root", root, "--dry-run");
        Assert.True(full.ExitCode == 0, full.ToString());
        full = RunOnFull(fx.Binary, "stage", bundle, "--key", fx.Public, "--root", root);
        Assert.True(full.ExitCode == 0, full.ToString());
        fx.Check("bundle", "verify", Path.Combine(root, "boot/nativeinit/bundle.tar"), "--key", fx.Public);
        // What the terminal lost is in the log file.
        var log = File.ReadAllText(Path.Combine(root, "boot/nativeinit/stage.log"));
        Assert.Contains($"verifying bundle {bundle}", log);
        Assert.Contains("plan:", log);
        Assert.Contains("the next boot (only) starts the conversion", log);
        Assert.Contains("undo: nativeinit stage --undo", log);
        full = RunOnFull(fx.Binary, "stage", bundle, "--key", fx.Public, "--root", root);
        Assert.True(full.ExitCode == 3, full.ToString());
        full = RunOnFull(fx.Binary, "stage", "--undo", "--root", root);
        Assert.True(full.ExitCode == 0, full.ToString());
        Assert.Equal(before, FakeSystem.Snapshot(root));
    }

    [SkippableFact]
    public void Decompressed_data_on_a_full_stdout_is_an_error_not_an_abort()
    {
        // The data `decompress` writes to standard output is the product, not a message: losing it fails (exit 1).
        string bin = Tool.RequireNativeInit();
        Tool.Require("xz");
        using var tmp = new TempDir();
        var file = tmp.Combine("data");
        File.WriteAllBytes(file, new byte[100_000]);
        Tool.Check("xz", "-k", file);
        Assert.Equal(0, Tool.Run("sh", "-c", $"exec {Tool.Quote(bin)} decompress {Tool.Quote(file + ".xz")} >/dev/null").ExitCode);
        var full = RunOnFull(bin, "decompress", file + ".xz");
        Assert.True(full.ExitCode == 1, full.ToString());
    }
}
