using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>
/// The dracut module's pre-mount hook run by dash (POSIX sh, as dracut sources it) with dracut's functions stubbed:
/// what it runs, and that a failure ends in emergency_shell — never in a reboot.
/// </summary>
[Trait("Category", "Integration")]
public class DracutHooksTests
{
    /// <param name="statusExits">what the fake's `status --disk` answers, call by call (the last one repeats); by
    /// default the disk is there (0).</param>
    private static string Run(string mode, int exitCode, string? bundle = null, string? done = null, string? onfail = null, bool systemd = true,
        int[]? statusExits = null, int diskTimeout = 5)
    {
        Tool.Require("dash");
        using var t = new TempDir();
        string log = t.Combine("log");
        string fake = t.Combine("nativeinit");
        var answers = statusExits ?? [0];
        File.WriteAllText(fake, $$"""
            #!/bin/sh
            echo "nativeinit $*" >> {{log}}
            if [ "$1" = status ]; then
                n=$(cat {{t.Combine("status-calls")}} 2>/dev/null || echo 0)
                echo $((n + 1)) > {{t.Combine("status-calls")}}
                set -- {{string.Join(' ', answers)}}
                i=0
                for a in "$@"; do last=$a; [ $i -eq $n ] && exit $a; i=$((i + 1)); done
                exit $last
            fi
            exit {{exitCode}}

            """);
        File.SetUnixFileMode(fake, (UnixFileMode)0x1ED);
        string hook = Path.Combine(Tool.RepoRoot, "dracut-module", "90nativeinit", "nativeinit-run.sh");
        string harness = $$"""
            getarg() { return 1; }
            info() { :; }
            warn() { echo "warn $*" >> {{log}}; }
            emergency_shell() { echo "emergency_shell $*" >> {{log}}; }
            systemctl() { echo "systemctl $*" >> {{log}}; }
            reboot() { echo "reboot $*" >> {{log}}; }
            poweroff() { echo "poweroff $*" >> {{log}}; }
            sleep() { echo "end (waiting for shutdown)" >> {{log}}; exit 0; }
            modprobe() { echo "modprobe $*" >> {{log}}; }
            udevadm() { echo "udevadm $*" >> {{log}}; }
            mount() { return 1; }
            umount() { :; }
            sync() { :; }
            . {{hook}}
            echo "end" >> {{log}}
            """;
        File.WriteAllText(t.Combine("harness.sh"), harness);
        var env = new Dictionary<string, string>
        {
            ["NATIVEINIT_EXE"] = fake, ["NATIVEINIT_CONSOLE"] = t.Combine("console"), ["NATIVEINIT_BUNDLE_MNT"] = t.Combine("mnt"),
            ["NATIVEINIT_MODE"] = mode, ["NATIVEINIT_DISK"] = "serial:x", ["DRACUT_SYSTEMD"] = systemd ? "1" : "",
            ["NATIVEINIT_BUNDLE"] = bundle ?? "", ["NATIVEINIT_DONE"] = done ?? "", ["NATIVEINIT_ONFAIL"] = onfail ?? "",
            ["NATIVEINIT_DISK_TIMEOUT"] = diskTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var r = Tool.Run("dash", [t.Combine("harness.sh")], environment: env);
        Assert.True(r.ExitCode == 0, r.ToString());
        return File.ReadAllText(log) + (File.Exists(t.Combine("console")) ? "--- console\n" + File.ReadAllText(t.Combine("console")) : "");
    }

    [SkippableFact]
    public void A_failed_conversion_ends_in_the_emergency_shell_with_recovery_text_never_a_reboot()
    {
        string log = Run("convert", exitCode: 4);
        Assert.Contains("nativeinit convert --yes --disk serial:x", log);
        Assert.Contains("emergency_shell -n nativeinit", log);
        Assert.Contains("nativeinit: FAILED: 'nativeinit convert --yes --disk serial:x' exited with code 4", log);
        Assert.Contains("'nativeinit convert --yes --disk serial:x' continues from the journal", log);
        Assert.DoesNotContain("reboot", log.Split("--- console")[0]);
        Assert.DoesNotContain("poweroff", log);
    }

    [SkippableFact]
    public void A_successful_selftest_powers_off_and_a_conversion_reboots_through_systemd()
    {
        Assert.Contains("systemctl --no-block poweroff", Run("selftest", 0));
        Assert.Contains("systemctl --no-block reboot", Run("convert", 0));
        Assert.Contains("reboot -f", Run("convert", 0, systemd: false));
        var shell = Run("selftest", 0, done: "shell");
        Assert.Contains("emergency_shell", shell);
        Assert.DoesNotContain("poweroff", shell);
    }

    [SkippableFact]
    public void Resume_runs_convert_resume_and_an_unknown_mode_or_a_missing_bundle_runs_nothing()
    {
        Assert.Contains("nativeinit convert --yes --resume --disk serial:x", Run("resume", 0));
        var bad = Run("wipe-all", 0);
        Assert.DoesNotContain("nativeinit wipe-all", bad);
        Assert.DoesNotContain("\nnativeinit ", "\n" + bad.Split("--- console")[0]);
        Assert.Contains("emergency_shell", bad);
        // convert gets the bundle's path inside the old root, unmounted; the self-test must find the file.
        Assert.Contains("nativeinit convert --yes --bundle /nativeinit/bundle.tar --disk serial:x", Run("convert", 0, bundle: "/nativeinit/bundle.tar"));
        var noBundle = Run("selftest", 0, bundle: "/nativeinit/bundle.tar");
        Assert.DoesNotContain("\nnativeinit selftest", "\n" + noBundle.Split("--- console")[0]);
        Assert.Contains("bundle /nativeinit/bundle.tar (rd.nativeinit.bundle=) is on no block device", noBundle);
        Assert.Contains("emergency_shell", noBundle);
    }

    [SkippableFact]
    public void Convert_waits_for_udev_and_for_the_disk_stage_one_named()
    {
        // The disk shows up at the third look (status --disk exits 3 while it is absent): then convert runs.
        var late = Run("convert", 0, statusExits: [3, 3, 0]);
        var lines = late.Split('\n');
        Assert.Contains("udevadm settle --timeout=5", late);
        Assert.Equal(3, lines.Count(l => l == "nativeinit status --disk serial:x"));
        Assert.True(Array.IndexOf(lines, "nativeinit convert --yes --disk serial:x") > Array.LastIndexOf(lines, "nativeinit status --disk serial:x"), late);
        Assert.Contains("nativeinit: waiting for disk serial:x (rd.nativeinit.disk=)", late);
        Assert.Contains("systemctl --no-block reboot", late);
        // Never there: after the timeout it says so, and convert still runs and gives its own refusal (here exit 3),
        // which ends in the emergency shell.
        var never = Run("convert", 3, statusExits: [3], diskTimeout: 2);
        Assert.Contains("nativeinit: disk serial:x (rd.nativeinit.disk=) did not appear within 2 s", never);
        Assert.Contains("nativeinit convert --yes --disk serial:x", never);
        Assert.Contains("emergency_shell -n nativeinit", never);
        // A disk that is there at once: one look, no waiting line; the self-test waits by itself (no status call).
        var present = Run("resume", 0);
        Assert.Single(present.Split('\n'), l => l == "nativeinit status --disk serial:x");
        Assert.DoesNotContain("waiting for disk", present);
        Assert.DoesNotContain("nativeinit status", Run("selftest", 0));
    }

    [SkippableFact]
    public void Onfail_poweroff_is_honoured_for_tests()
    {
        var log = Run("selftest", 1, onfail: "poweroff");
        Assert.Contains("systemctl --no-block poweroff", log);
        Assert.DoesNotContain("emergency_shell", log);
    }
}
