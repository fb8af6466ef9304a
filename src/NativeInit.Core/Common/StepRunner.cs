using System.Diagnostics;
using NativeInit.Core.Platform;

namespace NativeInit.Core;

/// <summary>Where a step runner keeps its write-ahead state (a journal): Pending is recorded before a step's body
/// runs, Done (with the step's output hash and a detail) after it.</summary>
public interface IStepJournal
{
    bool IsDone(string step);
    void MarkPending(string step);
    void MarkDone(string step, string detail, string? outputHash);

    /// <summary>True once the journal is kept where a later run finds it (a journal still held in memory, before the
    /// place it is saved exists, is not): only then may a run stop between steps on SIGINT/SIGTERM.</summary>
    bool IsDurable => true;

    /// <summary>Records that the run stopped on <paramref name="signal"/> before <paramref name="step"/> (the steps
    /// before it are done).</summary>
    void MarkInterrupted(string step, string signal) { }
}

/// <summary>One event of a step runner (for a JSON-lines log): kind is "start", "done", "skipped", "failed" or
/// "interrupted".</summary>
public sealed record StepEvent(string Step, string Kind, string Detail, long Milliseconds);

/// <summary>
/// Named steps with a write-ahead state per step (SelfTest's Step promoted; rauc's install.c marks a slot "pending"
/// before writing and "ok" after): prints "NAME ..." and "NAME: done (detail) [ms]", skips a step the journal has as
/// Done ("NAME: done earlier, skipped"), and prefixes a failure with the step's name. The test hook
/// (<see cref="TestHooks"/>) may kill the process at a step's start.
/// SIGINT/SIGTERM (issue 18): the step in progress finishes; before the next one starts the runner records the
/// interruption in the journal and throws <see cref="RunInterruptedException"/> (exit 4 inside
/// <see cref="PointOfNoReturn"/>, whose message says how to resume). <paramref name="stopRequested"/> says whether a
/// stop was asked for (the signal's name, or null); by default it reads <see cref="TerminationSignals.Active"/>. While
/// the journal is not durable yet (<see cref="IStepJournal.IsDurable"/>) the run goes on to the step that makes it so.
/// </summary>
public sealed class StepRunner(IStepJournal journal, TextWriter output, Action<StepEvent>? events = null, string prefix = "",
    Func<string?>? stopRequested = null)
{
    private readonly Func<string?> _stopRequested = stopRequested ?? (() => TerminationSignals.Active?.Received);
    private bool _noted;

    /// <summary>Runs <paramref name="body"/> unless the journal has the step as Done. The body returns a detail for
    /// the log and an output hash (or null) for the journal.</summary>
    public void Run(string name, Func<(string Detail, string? OutputHash)> body)
    {
        StopIfAsked(name);
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
        TestHooks.WaitAt("step:" + name);
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

    private void StopIfAsked(string next)
    {
        if (_stopRequested() is not { } signal) return;
        if (!journal.IsDurable)
        {
            if (!_noted) output.WriteLine($"{prefix}{signal} received: going on until the journal is on disk, then stopping");
            _noted = true;
            output.Flush();
            return;
        }
        journal.MarkInterrupted(next, signal);
        output.WriteLine($"{prefix}{signal} received: stopped before step {next}; the steps before it are done");
        output.Flush();
        events?.Invoke(new StepEvent(next, "interrupted", signal, 0));
        throw new RunInterruptedException(next, signal);
    }
}

/// <summary>A run stopped between two steps on SIGINT/SIGTERM (exit 4: it is past its point of no return when it has
/// a journal to resume from).</summary>
public sealed class RunInterruptedException(string nextStep, string signal)
    : NativeInitException($"interrupted by {signal} before step {nextStep} (the steps before it are done)", ExitCodes.FailedAfterPointOfNoReturn)
{
    /// <summary>The step that was not started.</summary>
    public string NextStep { get; } = nextStep;
    /// <summary>"SIGINT" or "SIGTERM".</summary>
    public string Signal { get; } = signal;
}

/// <summary>
/// Test hooks for interruption tests, read only when NATIVEINIT_TEST_HOOKS=1: NATIVEINIT_TEST_KILL_AT=STEP kills the
/// process (SIGKILL) at the start of step STEP; NATIVEINIT_TEST_KILL_AT=STEP:BYTES kills it inside STEP once
/// BYTES bytes were processed (<see cref="KillAfterBytes"/>); NATIVEINIT_TEST_WAIT_AT=POINT with
/// NATIVEINIT_TEST_WAIT_FILE=PATH makes <see cref="WaitAt"/> create PATH at POINT and wait (at most a minute) until the
/// test removes it or a SIGINT/SIGTERM has been recorded, so a test can send a signal there and know it arrived where
/// it meant it to (a step runner's points are "step:NAME", after the step's start line and before its body; stage
/// one's own points are in Stage/StageTestHooks).
/// </summary>
public static class TestHooks
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("NATIVEINIT_TEST_HOOKS") == "1";

    /// <summary>Waits at <paramref name="point"/> when a test asks for it (see above); otherwise returns at once.</summary>
    public static void WaitAt(string point)
    {
        if (!Enabled || Environment.GetEnvironmentVariable("NATIVEINIT_TEST_WAIT_AT") != point ||
            Environment.GetEnvironmentVariable("NATIVEINIT_TEST_WAIT_FILE") is not { Length: > 0 } file) return;
        File.WriteAllText(file, point);
        var until = DateTime.UtcNow.AddMinutes(1);
        // Leaving on a recorded signal (not on a delay after the test's kill) is what makes a signal test exact on a
        // loaded machine: the run goes on only once the runtime's signal thread has recorded it.
        while (File.Exists(file) && DateTime.UtcNow < until && TerminationSignals.Active?.Received is null) Thread.Sleep(20);
        File.Delete(file);
    }

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
