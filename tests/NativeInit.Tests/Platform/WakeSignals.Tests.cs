using System.Diagnostics;
using NativeInit.Core.Platform;

namespace NativeInit.Tests.Platform;

/// <summary>The per-thread wake-up latches under the parallel xz decoder's gate: a wake-up is never lost (set before
/// the wait, or while the thread is falling asleep), a wait without one sleeps, and each index is its own.</summary>
public class WakeSignalsTests
{
    [Fact]
    public void A_set_before_the_wait_lets_it_return_at_once_and_only_once()
    {
        var signals = new WakeSignals(2);
        signals.Set(1);
        var sw = Stopwatch.StartNew();
        signals.Wait(1);
        Assert.True(sw.ElapsedMilliseconds < 1000, $"the wait took {sw.ElapsedMilliseconds} ms");
        // The wake-up was taken: a second wait sleeps until the next set.
        var waiter = new Thread(() => signals.Wait(1));
        waiter.Start();
        Assert.False(waiter.Join(200), "a second wait returned without a second set");
        signals.Set(1);
        Assert.True(waiter.Join(5000), "the set did not wake the sleeping thread");
    }

    [Fact]
    public void A_set_of_another_index_does_not_wake_the_thread()
    {
        var signals = new WakeSignals(3);
        var waiter = new Thread(() => signals.Wait(2));
        waiter.Start();
        signals.Set(0);
        signals.Set(1);
        Assert.False(waiter.Join(200), "a set of another index woke the thread");
        signals.Set(2);
        Assert.True(waiter.Join(5000));
    }

    /// <summary>Two threads hand a turn back and forth 20000 times: every set lands in some state of the other
    /// thread's wait (before it, while it checks the word, while it sleeps), and a lost one hangs the test.</summary>
    [Fact]
    public void No_wake_up_is_lost_in_a_long_ping_pong()
    {
        const int Rounds = 20000;
        var signals = new WakeSignals(2);
        int turns = 0;
        var pong = new Thread(() =>
        {
            for (int i = 0; i < Rounds; i++)
            {
                signals.Wait(1);
                Interlocked.Increment(ref turns);
                signals.Set(0);
            }
        });
        pong.Start();
        var ping = new Thread(() =>
        {
            for (int i = 0; i < Rounds; i++)
            {
                signals.Set(1);
                signals.Wait(0);
            }
        });
        ping.Start();
        Assert.True(ping.Join(TimeSpan.FromSeconds(60)), $"stuck after {Volatile.Read(ref turns)} of {Rounds} turns");
        Assert.True(pong.Join(5000));
        Assert.Equal(Rounds, turns);
    }

    [Fact]
    public void An_index_outside_the_group_is_refused()
    {
        var signals = new WakeSignals(1);
        Assert.Throws<IndexOutOfRangeException>(() => signals.Set(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WakeSignals(0));
    }
}
