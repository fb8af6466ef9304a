using NativeInit.Core;

namespace NativeInit.Tests.Common;

/// <summary>SIGINT/SIGTERM after the point of no return (issue 18): the step in progress finishes, the next one does
/// not start, the journal records where the run stopped, and the failure is exit 4 with the way to resume.</summary>
public class StepRunnerInterruptionTests
{
    private sealed class Journal : IStepJournal
    {
        public readonly List<string> Log = [];
        public readonly HashSet<string> Done = [];
        public bool Durable = true;
        public bool IsDone(string step) => Done.Contains(step);
        public void MarkPending(string step) => Log.Add("pending " + step);
        public void MarkDone(string step, string detail, string? outputHash) { Log.Add("done " + step); Done.Add(step); }
        public bool IsDurable => Durable;
        public void MarkInterrupted(string step, string signal) => Log.Add($"interrupted {signal} before {step}");
    }

    [Fact]
    public void A_signal_during_a_step_lets_it_finish_and_stops_before_the_next()
    {
        var j = new Journal();
        string? signal = null;
        var events = new List<StepEvent>();
        var output = new StringWriter();
        var r = new StepRunner(j, output, events.Add, "convert: ", () => signal);
        r.Run("one", () => ("d", null));
        r.Run("two", () => { signal = "SIGINT"; j.Log.Add("body two finished"); return ("d", null); });
        var e = Assert.Throws<RunInterruptedException>(() => r.Run("three", () => throw new InvalidOperationException("must not start")));
        Assert.Equal(["pending one", "done one", "pending two", "body two finished", "done two", "interrupted SIGINT before three"], j.Log);
        Assert.Equal(ExitCodes.FailedAfterPointOfNoReturn, e.ExitCode);
        Assert.Equal("three", e.NextStep);
        Assert.Equal("SIGINT", e.Signal);
        Assert.Contains("interrupted by SIGINT before step three", e.Message);
        Assert.Equal("interrupted", events[^1].Kind);
        Assert.Contains("convert: SIGINT received: stopped before step three", output.ToString());
    }

    [Fact]
    public void While_the_journal_is_not_durable_the_run_goes_on_to_the_step_that_makes_it_so()
    {
        var j = new Journal { Durable = false };
        var r = new StepRunner(j, TextWriter.Null, stopRequested: () => "SIGTERM");
        r.Run("partition-table", () => ("d", null));
        r.Run("boot-files", () => { j.Durable = true; return ("d", null); });
        Assert.Throws<RunInterruptedException>(() => r.Run("lvm", () => ("d", null)));
        Assert.Equal(["pending partition-table", "done partition-table", "pending boot-files", "done boot-files", "interrupted SIGTERM before lvm"], j.Log);
    }

    [Fact]
    public void Without_a_signal_nothing_stops_and_inside_the_point_of_no_return_a_stop_is_exit_4_with_the_resume_hint()
    {
        var j = new Journal();
        string? signal = null;
        var r = new StepRunner(j, TextWriter.Null, stopRequested: () => signal);
        var e = Assert.Throws<FailedAfterPointOfNoReturnException>(() => PointOfNoReturn.Run("disk.img", "run convert again to resume", () =>
        {
            r.Run("a", () => ("d", null));
            r.Run("b", () => ("d", null));
            signal = "SIGTERM";
            r.Run("c", () => ("d", null));
        }));
        Assert.Equal(["pending a", "done a", "pending b", "done b", "interrupted SIGTERM before c"], j.Log);
        Assert.Equal(ExitCodes.FailedAfterPointOfNoReturn, e.ExitCode);
        Assert.Contains("disk.img: interrupted by SIGTERM before step c", e.Message);
        Assert.Contains("run convert again to resume", e.Message);
    }

    [Fact]
    public void By_default_the_runner_reads_the_installed_signal_handlers()
    {
        // No handlers installed: nothing is asked, every step runs.
        Assert.Null(NativeInit.Core.Platform.TerminationSignals.Active);
        var j = new Journal();
        var r = new StepRunner(j, TextWriter.Null);
        r.Run("a", () => ("d", null));
        using (var s = NativeInit.Core.Platform.TerminationSignals.Install())
        {
            Assert.Same(s, NativeInit.Core.Platform.TerminationSignals.Active);
            r.Run("b", () => ("d", null)); // installed, nothing received
        }
        Assert.Null(NativeInit.Core.Platform.TerminationSignals.Active);
        Assert.Equal(["pending a", "done a", "pending b", "done b"], j.Log);
    }
}
