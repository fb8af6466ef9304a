using System.Diagnostics;

namespace NativeInit.Core;

/// <summary>Where a step runner keeps its write-ahead state (a journal): Pending is recorded before a step's body
/// runs, Done (with the step's output hash and a detail) after it.</summary>
public interface IStepJournal
{
    bool IsDone(string step);
    void MarkPending(string step);
    void MarkDone(string step, string detail, string? outputHash);
}

/// <summary>One event of a step runner (for a JSON-lines log): kind is "start", "done", "skipped" or "failed".</summary>
public sealed record StepEvent(string Step, string Kind, string Detail, long Milliseconds);

/// <summary>
/// Named steps with a write-ahead state per step (SelfTest's Step promoted; rauc's install.c marks a slot "pending"
/// before writing and "ok" after): prints "NAME ..." and "NAME: done (detail) [ms]", skips a step the journal has as
/// Done ("NAME: done earlier, skipped"), and prefixes a failure with the step's name. The test hook
/// (<see cref="TestHooks"/>) may kill the process at a step's start.
/// </summary>
public sealed class StepRunner(IStepJournal journal, TextWriter output, Action<StepEvent>? events = null, string prefix = "")
{
    /// <summary>Runs <paramref name="body"/> unless the journal has the step as Done. The body returns a detail for
    /// the log and an output hash (or null) for the journal.</summary>
    public void Run(string name, Func<(string Detail, string? OutputHash)> body)
    {
        if (journal.IsDone(name))
        {
            output.WriteLine($"{prefix}{name}: done earlier, skipped");
            output.Flush();
            events?.Invoke(new StepEvent(name, "skipped", "done earlier", 0));
            return;
        }
        TestHooks.KillAtStep(name);
        var clock = Stopwatch.StartNew();
        output.WriteLine($"{prefix}{name} ...");
        output.Flush();
        events?.Invoke(new StepEvent(name, "start", "", 0));
        journal.MarkPending(name);
        (string Detail, string? Hash) result;
        try
        {
            result = body();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            events?.Invoke(new StepEvent(name, "failed", e.Message, clock.ElapsedMilliseconds));
            if (e is NativeInitException n) throw new NativeInitException($"step {name}: {n.Message}", n.ExitCode, n);
            throw new NativeInitException($"step {name}: {e.Message}", ExitCodes.Failure, e);
        }
        journal.MarkDone(name, result.Detail, result.Hash);
        output.WriteLine($"{prefix}{name}: done ({result.Detail}) [{clock.ElapsedMilliseconds} ms]");
        output.Flush();
        events?.Invoke(new StepEvent(name, "done", result.Detail, clock.ElapsedMilliseconds));
    }
}

/// <summary>
/// Test hooks for interruption tests, read only when NATIVEINIT_TEST_HOOKS=1: NATIVEINIT_TEST_KILL_AT=STEP kills the
/// process (SIGKILL) at the start of step STEP; NATIVEINIT_TEST_KILL_AT=STEP:BYTES kills it inside STEP once
/// BYTES bytes were processed (<see cref="KillAfterBytes"/>).
/// </summary>
public static class TestHooks
{
    private static readonly (string Step, long Bytes)? Target = Read();

    private static (string, long)? Read()
    {
        if (Environment.GetEnvironmentVariable("NATIVEINIT_TEST_HOOKS") != "1") return null;
        var v = Environment.GetEnvironmentVariable("NATIVEINIT_TEST_KILL_AT");
        if (string.IsNullOrEmpty(v)) return null;
        int colon = v.LastIndexOf(':');
        if (colon > 0 && long.TryParse(v[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long b))
            return (v[..colon], b);
        return (v, -1);
    }

    public static void KillAtStep(string step)
    {
        if (Target is { } t && t.Step == step && t.Bytes < 0) Kill();
    }

    /// <summary>True when a kill inside <paramref name="step"/> is asked for (callers then call
    /// <see cref="KillAfterBytes"/> as bytes go by).</summary>
    public static bool WantsBytes(string step) => Target is { } t && t.Step == step && t.Bytes >= 0;

    public static void KillAfterBytes(string step, long bytes)
    {
        if (Target is { } t && t.Step == step && t.Bytes >= 0 && bytes >= t.Bytes) Kill();
    }

    private static void Kill()
    {
        Console.Out.Flush();
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill();
    }
}
