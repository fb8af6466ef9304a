using System.Diagnostics;
using System.Runtime.InteropServices;
using NativeInit.Core.Boot;
using NativeInit.Tests.Bundle;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Stage;

/// <summary>
/// Issue 18: stage one survives losing its terminal and is crash-consistent. SIGKILL at each named point (the
/// test-only hook NATIVEINIT_TEST_HOOKS=1 + NATIVEINIT_TEST_KILL_AT) leaves the boot configuration either untouched or
/// complete (grub-editenv, the oracle, and custom.cfg), never an entry without its files, and `stage --undo` then
/// restores the original byte for byte; SIGHUP or a hung-up pseudo-terminal half-way does not stop it; SIGTERM
/// half-way stops it and undoes it.
/// </summary>
[Trait("Category", "Integration")]
public partial class StageInterruptionTests
{
    public static readonly TheoryData<string> StagePoints = new()
    {
        "undo-record", "kernel", "initramfs", "bundle-half", "bundle", "carry", "extents", "verified", "custom.cfg", "grubenv", "done",
    };

    private static Dictionary<string, string> Hooks(params (string Key, string Value)[] vars)
    {
        var env = new Dictionary<string, string> { ["NATIVEINIT_TEST_HOOKS"] = "1" };
        foreach (var (k, v) in vars) env[k] = v;
        return env;
    }

    private static (BundleFixture Fx, string Bundle, string Root, string Before) Setup()
    {
        Tool.Require("grub-editenv");
        var fx = new BundleFixture();
        var bundle = fx.Create(fx.SmallRootfs(), fx.Tmp.Combine("bundle.tar"), "--single-file");
        var root = fx.Tmp.Combine("root");
        FakeSystem.Centos7(root);
        return (fx, bundle, root, FakeSystem.Snapshot(root));
    }

    /// <summary>The invariant after a kill: grubenv and custom.cfg are the originals, or the entry is there with
    /// every staged file complete (and next_entry, when set, names the entry).</summary>
    private static void AssertUntouchedOrComplete(BundleFixture fx, string root, string point)
    {
        string grub = Path.Combine(root, "boot/grub2");
        var list = Tool.Check("grub-editenv", Path.Combine(grub, "grubenv"), "list");
        Assert.Contains($"saved_entry={FakeSystem.CentosSavedEntry}", list);
        bool oneShot = list.Contains($"next_entry={ConversionMenuEntry.Id}", StringComparison.Ordinal);
        bool entry = File.Exists(Path.Combine(grub, "custom.cfg")) &&
                     File.ReadAllText(Path.Combine(grub, "custom.cfg")).Contains(ConversionMenuEntry.BeginMarker, StringComparison.Ordinal);
        Assert.False(oneShot && !entry, $"killed at {point}: next_entry set but no entry in custom.cfg");
        if (!entry)
        {
            Assert.False(File.Exists(Path.Combine(grub, "custom.cfg")), $"killed at {point}: custom.cfg exists without the entry");
            return;
        }
        var stage = Path.Combine(root, "boot/nativeinit");
        Assert.Equal(File.ReadAllBytes(fx.Kernel), File.ReadAllBytes(Path.Combine(stage, "vmlinuz-convert")));
        Assert.Equal(File.ReadAllBytes(fx.Initramfs), File.ReadAllBytes(Path.Combine(stage, "initramfs-convert.img")));
        Assert.True(File.Exists(Path.Combine(stage, "carry.json")), point);
        Assert.True(File.Exists(Path.Combine(stage, "bundle.extents.json")), point);
        fx.Check("bundle", "verify", Path.Combine(stage, "bundle.tar"), "--key", fx.Public);
    }

    [SkippableTheory]
    [MemberData(nameof(StagePoints))]
    public void Killed_while_staging_the_boot_configuration_is_untouched_or_complete(string point)
    {
        var (fx, bundle, root, before) = Setup();
        using var _ = fx;
        var r = Tool.Run(fx.Binary, ["stage", bundle, "--key", fx.Public, "--root", root],
            environment: Hooks(("NATIVEINIT_TEST_KILL_AT", point)));
        Assert.True(r.ExitCode == 137, $"expected SIGKILL at {point}\n{r}");
        AssertUntouchedOrComplete(fx, root, point);

        if (Directory.Exists(Path.Combine(root, "boot/nativeinit")))
        {
            // A later stage either cleans the half-written directory and stages, or says it is staged.
            var again = Tool.Run(fx.Binary, "stage", bundle, "--key", fx.Public, "--root", root);
            Assert.True(again.ExitCode is 0 or 3, again.ToString());
            if (again.ExitCode == 0) Assert.Contains("half-written", again.Stdout);
            else Assert.Contains("already staged", again.Stderr);
            AssertUntouchedOrComplete(fx, root, point + " then stage");
        }
        var undo = Tool.Run(fx.Binary, "stage", "--undo", "--root", root);
        Assert.True(undo.ExitCode == 0 || undo.Stderr.Contains("nothing to undo", StringComparison.Ordinal), undo.ToString());
        Assert.Equal(before, FakeSystem.Snapshot(root));
        // And staging from there works as if nothing had happened.
        fx.Check("stage", bundle, "--key", fx.Public, "--root", root);
        AssertUntouchedOrComplete(fx, root, point + " then a clean stage");
    }

    [SkippableTheory]
    [InlineData("undo-grubenv")]
    [InlineData("undo-custom.cfg")]
    [InlineData("undo-renamed")]
    public void Killed_while_undoing_a_second_undo_finishes_it(string point)
    {
        var (fx, bundle, root, before) = Setup();
        using var _ = fx;
        fx.Check("stage", bundle, "--key", fx.Public, "--root", root);
        var r = Tool.Run(fx.Binary, ["stage", "--undo", "--root", root], environment: Hooks(("NATIVEINIT_TEST_KILL_AT", point)));
        Assert.True(r.ExitCode == 137, $"expected SIGKILL at {point}\n{r}");
        AssertUntouchedOrComplete(fx, root, point);
        fx.Check("stage", "--undo", "--root", root);
        Assert.Equal(before, FakeSystem.Snapshot(root));
    }

    [SkippableTheory]
    [InlineData("kernel")]
    [InlineData("custom.cfg")]
    public void An_unexpected_exception_prints_one_line_and_keeps_the_stack_trace_in_the_log(string point)
    {
        var (fx, bundle, root, before) = Setup();
        using var _ = fx;
        var r = Tool.Run(fx.Binary, ["stage", bundle, "--key", fx.Public, "--root", root], environment: Hooks(("NATIVEINIT_TEST_THROW_AT", point)));
        Assert.True(r.ExitCode == 1, r.ToString());
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains($"stage failed: InvalidOperationException: test hook: an unexpected failure at {point}", lines[0]);
        Assert.Contains("staging failed: undoing what was written", r.Stdout);
        Assert.Equal(before, FakeSystem.Snapshot(root));
        var kept = File.ReadAllText(Path.Combine(root, "var/log/nativeinit/stage-failed.log"));
        Assert.Contains("System.InvalidOperationException: test hook", kept);
        Assert.Contains("   at NativeInit.Core.Stage.", kept);
    }

    /// <summary>Starts stage with the wait hook at <paramref name="point"/>; returns once the process waits there.</summary>
    private static (Process Process, string WaitFile) StartWaiting(string bin, IEnumerable<string> args, string point, string dir,
        bool redirect = true, Dictionary<string, string>? env = null)
    {
        string waitFile = Path.Combine(dir, "wait-" + point);
        var psi = SignalRun.StartInfo(args.First(), args.Skip(1));
        psi.RedirectStandardOutput = psi.RedirectStandardError = redirect;
        foreach (var (k, v) in Hooks(("NATIVEINIT_TEST_WAIT_AT", point), ("NATIVEINIT_TEST_WAIT_FILE", waitFile))) psi.Environment[k] = v;
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        var until = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(waitFile))
        {
            if (p.HasExited)
                Assert.Fail($"exited ({p.ExitCode}) before reaching {point}" +
                    (redirect ? $"\n{p.StandardOutput.ReadToEnd()}\n{p.StandardError.ReadToEnd()}" : ""));
            Assert.True(DateTime.UtcNow < until, $"did not reach {point} within 60 s");
            Thread.Sleep(20);
        }
        return (p, waitFile);
    }

    [SkippableFact]
    public void SIGHUP_half_way_does_not_stop_staging()
    {
        var (fx, bundle, root, _) = Setup();
        using var __ = fx;
        var (p, wait) = StartWaiting(fx.Binary, [fx.Binary, "stage", bundle, "--key", fx.Public, "--root", root], "bundle-half", fx.Tmp.Path);
        var stdout = p.StandardOutput.ReadToEndAsync();
        Assert.Equal(0, Kill(p.Id, SIGHUP));
        Thread.Sleep(200);
        File.Delete(wait);
        Assert.True(p.WaitForExit(60_000));
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}\n{stdout.Result}\n{p.StandardError.ReadToEnd()}");
        AssertUntouchedOrComplete(fx, root, "after SIGHUP");
        Assert.Contains(ConversionMenuEntry.Id, Tool.Check("grub-editenv", Path.Combine(root, "boot/grub2/grubenv"), "list"));
    }

    [SkippableTheory]
    [InlineData("SIGTERM")]
    [InlineData("SIGINT")]
    public void SIGTERM_or_SIGINT_before_the_boot_configuration_stops_and_undoes(string signal)
    {
        var (fx, bundle, root, before) = Setup();
        using var __ = fx;
        var (p, wait) = StartWaiting(fx.Binary, [fx.Binary, "stage", bundle, "--key", fx.Public, "--root", root], "bundle-half", fx.Tmp.Path);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.Equal(0, Kill(p.Id, signal == "SIGTERM" ? SIGTERM : SIGINT));
        // The hook lets the run go on (removing the file) once the signal is recorded: no guessed delay.
        var recorded = DateTime.UtcNow.AddSeconds(60);
        while (File.Exists(wait) && !p.HasExited && DateTime.UtcNow < recorded) Thread.Sleep(20);
        Assert.False(File.Exists(wait) && !p.HasExited, $"{signal} was not recorded within 60 s");
        Assert.True(p.WaitForExit(60_000));
        Assert.True(p.ExitCode == 1, $"exit {p.ExitCode}\n{stdout.Result}\n{stderr.Result}");
        Assert.Contains($"interrupted by {signal} before the boot configuration was changed", stderr.Result);
        Assert.Equal(before, FakeSystem.Snapshot(root));
    }

    [SkippableFact]
    public void A_terminal_hung_up_half_way_loses_the_output_not_the_run()
    {
        var (fx, bundle, root, _) = Setup();
        using var __ = fx;
        Tool.Require("setsid");
        // The reference: the same system staged with nothing interrupted.
        var refRoot = fx.Tmp.Combine("ref-root");
        FakeSystem.Centos7(refRoot);
        var reference = fx.Check("stage", bundle, "--key", fx.Public, "--root", refRoot);

        // O_CLOEXEC: the child must not inherit the master, or closing it here would not hang the terminal up.
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        Assert.True(master >= 0, "posix_openpt");
        Assert.Equal(0, grantpt(master));
        Assert.Equal(0, unlockpt(master));
        string slave = Marshal.PtrToStringUTF8(ptsname(master))!;
        // A new session whose controlling terminal is the pty (opened without O_NOCTTY by the shell's redirection).
        var (p, wait) = StartWaiting("setsid", ["setsid", "-w", "sh", "-c", "exec \"$0\" \"$@\" <\"$PTS\" >\"$PTS\" 2>&1", fx.Binary,
            "stage", bundle, "--key", fx.Public, "--root", root], "bundle-half", fx.Tmp.Path, redirect: false,
            env: new() { ["PTS"] = slave });
        var buffer = new byte[65536];
        var seen = new System.Text.StringBuilder();
        // Until the run waits at its hook having printed its first line (on a loaded machine the start alone can take
        // longer than one poll), then until the terminal is quiet.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !seen.ToString().Contains("verifying bundle", StringComparison.Ordinal))
            if (Poll(master) && read(master, buffer, buffer.Length) is var n && n > 0) seen.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, (int)n));
        while (Poll(master) && read(master, buffer, buffer.Length) is var m && m > 0) seen.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, (int)m));
        Assert.Contains("verifying bundle", seen.ToString());
        Assert.Equal(0, close(master)); // hang-up: SIGHUP to the session, EIO on every later write
        File.Delete(wait);
        Assert.True(p.WaitForExit(60_000));
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}; the terminal showed:\n{seen}");
        AssertUntouchedOrComplete(fx, root, "after the hang-up");
        Assert.DoesNotContain("undo: nativeinit stage --undo", seen.ToString());

        // The staged result equals the uninterrupted run's (the extents and the log name places, not content).
        static string Comparable(string root) => string.Join('\n', FakeSystem.Snapshot(root).Split('\n')
            .Where(l => !l.StartsWith("boot/nativeinit/stage.log ", StringComparison.Ordinal) &&
                        !l.StartsWith("boot/nativeinit/bundle.extents.json ", StringComparison.Ordinal)));
        Assert.Equal(Comparable(refRoot), Comparable(root));
        // The log file holds the whole output, also what the terminal never showed.
        var log = File.ReadAllText(Path.Combine(root, "boot/nativeinit/stage.log"));
        // (The free space of /boot is the host's /tmp, which other processes fill and empty between the two runs.)
        foreach (var line in reference.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                     .Where(l => !l.Contains("bundle extents", StringComparison.Ordinal) && !l.StartsWith("boot: ", StringComparison.Ordinal)))
            Assert.Contains(line.Replace(refRoot, root, StringComparison.Ordinal), log);
        Assert.Matches(@"(?m)^boot: [0-9.]+ [KMGT]?i?B free in " + System.Text.RegularExpressions.Regex.Escape(root), log);
    }

    private const int SIGHUP = 1, SIGINT = 2, SIGTERM = 15, O_RDWR = 2, O_NOCTTY = 0x100, O_CLOEXEC = 0x80000;

    private static int Kill(int pid, int signal) => kill(pid, signal);

    private static bool Poll(int fd)
    {
        var fds = new PollFd { Fd = fd, Events = 1 /* POLLIN */ };
        return poll(ref fds, 1, 500) > 0 && (fds.Revents & 1) != 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd { public int Fd; public short Events; public short Revents; }

    [LibraryImport("libc", SetLastError = true)] private static partial int kill(int pid, int sig);
    [LibraryImport("libc", SetLastError = true)] private static partial int posix_openpt(int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int grantpt(int fd);
    [LibraryImport("libc", SetLastError = true)] private static partial int unlockpt(int fd);
    [LibraryImport("libc", SetLastError = true)] private static partial nint ptsname(int fd);
    [LibraryImport("libc", SetLastError = true)] private static partial nint read(int fd, byte[] buf, nint count);
    [LibraryImport("libc", SetLastError = true)] private static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] private static partial int poll(ref PollFd fds, nuint n, int timeout);
}
