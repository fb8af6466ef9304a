namespace NativeInit.Tests.TestSupport;

/// <summary>The signal tests' programs get SIGINT and SIGQUIT at their default disposition even when the test run
/// itself was started with them ignored (a background job of a shell without job control).</summary>
public class SignalRunTests
{
    /// <summary>The SigIgn mask (proc(5)) of a shell started under a parent that ignores SIGINT and SIGQUIT, as
    /// <c>cmd &amp;</c> in a script does; through <see cref="SignalRun.StartInfo"/> when <paramref name="helper"/>.</summary>
    private static ulong IgnoredUnderAnIgnoringParent(bool helper)
    {
        string[] probe = ["sh", "-c", "sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status"];
        var inner = helper ? SignalRun.StartInfo(probe[0], probe[1..]) : null;
        string[] child = inner is null ? probe : [inner.FileName, .. inner.ArgumentList];
        var r = Tool.Run("sh", ["-c", "trap '' INT QUIT; exec \"$@\"", "sh", .. child]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return Convert.ToUInt64(r.Stdout.Trim(), 16);
    }

    [Fact]
    public void A_program_started_for_a_signal_test_does_not_inherit_an_ignored_SIGINT()
    {
        const ulong IntAndQuit = (1UL << (2 - 1)) | (1UL << (3 - 1));
        // Without the helper the ignored dispositions pass through exec (what made the SIGINT tests fail)...
        Assert.Equal(IntAndQuit, IgnoredUnderAnIgnoringParent(helper: false) & IntAndQuit);
        // ...through it they are the default again.
        Assert.Equal(0UL, IgnoredUnderAnIgnoringParent(helper: true) & IntAndQuit);
    }
}
