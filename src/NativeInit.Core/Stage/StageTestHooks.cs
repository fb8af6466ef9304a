using NativeInit.Core.Platform;

namespace NativeInit.Core.Stage;

/// <summary>
/// Points where the interruption tests stop stage one, read only when the environment has NATIVEINIT_TEST_HOOKS=1
/// (the convention `convert` uses too): NATIVEINIT_TEST_KILL_AT=POINT makes the process SIGKILL itself there (a power
/// cut as far as the files are concerned); NATIVEINIT_TEST_WAIT_AT=POINT with NATIVEINIT_TEST_WAIT_FILE=PATH creates
/// PATH there and waits (at most a minute) until the test removes it, so a test can hang up the terminal or send a
/// signal half-way; NATIVEINIT_TEST_THROW_AT=POINT throws an unexpected exception (InvalidOperationException) there,
/// as a bug would. Without NATIVEINIT_TEST_HOOKS=1 a point costs one cached lookup.
/// </summary>
internal static class StageTestHooks
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("NATIVEINIT_TEST_HOOKS") == "1";

    public static void Point(string name)
    {
        if (!Enabled) return;
        TestHooks.WaitAt(name);
        if (Environment.GetEnvironmentVariable("NATIVEINIT_TEST_THROW_AT") == name)
            throw new InvalidOperationException($"test hook: an unexpected failure at {name}");
        if (Environment.GetEnvironmentVariable("NATIVEINIT_TEST_KILL_AT") == name)
        {
            Libc.sig_kill(BootCalls.ProcessId, Libc.SIGKILL);
            Thread.Sleep(Timeout.Infinite);
        }
    }
}
