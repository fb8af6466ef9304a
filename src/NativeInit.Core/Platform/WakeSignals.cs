namespace NativeInit.Core.Platform;

/// <summary>
/// One wake-up latch per thread of a group, each a futex word (futex(2), FUTEX_WAIT/FUTEX_WAKE with
/// FUTEX_PRIVATE_FLAG: Linux 2.6.22). <see cref="Wait"/> sleeps in the kernel until <see cref="Set"/> is called for
/// the same index (or returns at once if it was called since the last wait), and never spins; <see cref="Set"/>
/// makes a system call only when the thread is asleep.
///
/// Why not Monitor.Wait/PulseAll or SemaphoreSlim (measured, issue 11): the parallel xz decoder's threads share one
/// gate, and a thread woken by PulseAll, which is called with the gate held, finds it still taken and spins for it
/// with sched_yield(2); SemaphoreSlim spins before it blocks. On two cores, with both workers busy, every such spin
/// runs in place of a worker: a two-thread decode of 266 MB made 1533 sched_yield and 3081 futex calls and 2322
/// involuntary context switches. With one latch per thread, set after the gate is left and only for the threads
/// whose condition holds, a woken thread finds the gate free: 159 sched_yield (thread start-up, the gate's own spin),
/// 1161 futex calls and about 750 involuntary switches for the same decode.
/// </summary>
internal sealed unsafe class WakeSignals
{
    // States of a word: clear, set (a wake-up not yet taken), or its thread asleep in FUTEX_WAIT.
    private const int Clear = 0, Raised = 1, Sleeping = 2;
    /// <summary>Words a cache line (64 bytes) apart: different threads' words share none.</summary>
    private const int Stride = 16;

    private readonly int[] _words; // pinned: the kernel keys a futex by its address

    public WakeSignals(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        _words = GC.AllocateArray<int>(count * Stride, pinned: true);
        Count = count;
    }

    public int Count { get; }

    /// <summary>Returns once <see cref="Set"/>(<paramref name="index"/>) was called after the previous return; the
    /// calling thread sleeps meanwhile. Only one thread may wait on an index.</summary>
    public void Wait(int index)
    {
        ref int word = ref _words[index * Stride];
        while (true)
        {
            int state = Volatile.Read(ref word);
            if (state == Raised)
            {
                if (Interlocked.CompareExchange(ref word, Clear, Raised) == Raised) return;
                continue;
            }
            if (state == Clear && Interlocked.CompareExchange(ref word, Sleeping, Clear) != Clear) continue;
            // Returns when woken, at once if the word is no longer Sleeping (EAGAIN), or on a signal (EINTR).
            fixed (int* p = &word) Libc.futex(p, Libc.FUTEX_WAIT_PRIVATE, Sleeping);
        }
    }

    /// <summary>Wakes the thread waiting on <paramref name="index"/>, or lets its next wait return at once.</summary>
    public void Set(int index)
    {
        ref int word = ref _words[index * Stride];
        if (Interlocked.Exchange(ref word, Raised) != Sleeping) return;
        fixed (int* p = &word) Libc.futex(p, Libc.FUTEX_WAKE_PRIVATE, 1);
    }
}
