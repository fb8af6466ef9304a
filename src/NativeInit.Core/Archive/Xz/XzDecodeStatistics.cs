using System.Diagnostics;

namespace NativeInit.Core.Archive.Xz;

/// <summary>
/// Where the time of an xz decode went, per thread: how long each was busy and how long it waited, and for what.
/// Pass one in <see cref="DecoderOptions.XzStatistics"/>; the decoder fills it while it runs (the figures are final
/// once the stream has ended or been disposed). With one thread only <see cref="Blocks"/> is counted.
///
/// What a wait means: a worker waiting for a block waits for the dispatcher (input); waiting for memory behind the
/// head block means the pool is held by blocks decoded ahead of the oldest unfinished block (the head) and the
/// worker cannot go further until the head is done; waiting for memory as the head means the reader has not taken
/// what lies behind it. The dispatcher waits for a free slot (all in flight) or for memory for a block's input. The
/// reader waits for the head block's next bytes (its worker is behind) or for the next block to be dispatched.
/// </summary>
public sealed class XzDecodeStatistics
{
    private long _start = Stopwatch.GetTimestamp(), _end;

    /// <summary>Worker threads (0: decoded on the caller's thread).</summary>
    public int Workers { get; internal set; }

    /// <summary>Blocks decoded (by workers, or streamed on one thread).</summary>
    public int Blocks => _blocks;
    private int _blocks;

    /// <summary>Counts a decoded block (from any thread).</summary>
    internal void CountBlock() => Interlocked.Increment(ref _blocks);

    /// <summary>Blocks without recorded sizes, streamed on the dispatcher thread.</summary>
    public int StreamedBlocks { get; internal set; }

    /// <summary>The memory pool (parallel decoding): its size and the most of it lent at once.</summary>
    public long PoolBytes { get; internal set; }
    public long PeakLentBytes { get; internal set; }

    /// <summary>Slots (blocks in flight at once).</summary>
    public int Slots { get; internal set; }

    /// <summary>From the decoder's start to the end of the stream.</summary>
    public TimeSpan Wall => Stopwatch.GetElapsedTime(_start, _end == 0 ? Stopwatch.GetTimestamp() : _end);

    /// <summary>The workers, then the dispatcher and the reader.</summary>
    public IReadOnlyList<XzThreadTimes> Threads => _threads;
    private XzThreadTimes[] _threads = [];

    internal void Start(int workers, int slots)
    {
        _start = Stopwatch.GetTimestamp();
        _end = 0;
        Workers = workers;
        Slots = slots;
        _threads = new XzThreadTimes[workers + 2];
        for (int i = 0; i < workers; i++) _threads[i] = new XzThreadTimes("worker " + i);
        _threads[workers] = new XzThreadTimes("dispatcher");
        _threads[workers + 1] = new XzThreadTimes("reader");
    }

    internal XzThreadTimes Worker(int i) => _threads[i];
    internal XzThreadTimes Dispatcher => _threads[Workers];
    internal XzThreadTimes Reader => _threads[Workers + 1];

    internal void Stop()
    {
        if (_end == 0) _end = Stopwatch.GetTimestamp();
    }

    private readonly List<(long Seq, long Ticks)> _blockTicks = [];

    /// <summary>Each block's decoding time on its worker (waits left out), in file order.</summary>
    public IReadOnlyList<TimeSpan> BlockTimes
    {
        get
        {
            lock (_blockTicks)
                return [.. _blockTicks.OrderBy(b => b.Seq).Select(b => Stopwatch.GetElapsedTime(0, b.Ticks))];
        }
    }

    internal void RecordBlock(long seq, long ticks)
    {
        lock (_blockTicks) _blockTicks.Add((seq, ticks));
    }

    /// <summary>The least wall time in which <see cref="Workers"/> workers could decode these blocks, each taking the
    /// next block in file order when it is free (as the decoder hands them out), if nothing else ever made them wait:
    /// a block is one LZMA2 dependency chain, so with few blocks, or one slow block at the end, the last block decodes
    /// alone however good the decoder is. The sum of the block times over this is the most the workers can gain over
    /// one of them (for 11 equal blocks and two workers 11/6 = 1.83x).</summary>
    public TimeSpan SchedulingLimit
    {
        get
        {
            var times = BlockTimes;
            if (Workers <= 0 || times.Count == 0) return TimeSpan.Zero;
            var free = new double[Workers];
            foreach (var t in times)
            {
                int w = 0;
                for (int i = 1; i < free.Length; i++) if (free[i] < free[w]) w = i;
                free[w] += t.TotalSeconds;
            }
            return TimeSpan.FromSeconds(free.Max());
        }
    }

    /// <summary>Workers' CPU time over the wall time: how many cores the decoding kept busy.</summary>
    public double WorkerCoresBusy
    {
        get
        {
            double cpu = 0;
            for (int i = 0; i < Workers; i++) cpu += _threads[i].Cpu.TotalSeconds;
            return cpu / Math.Max(Wall.TotalSeconds, 1e-9);
        }
    }
}

/// <summary>One thread of a parallel xz decode: busy time, CPU time, and time spent waiting, by reason.</summary>
public sealed class XzThreadTimes(string name)
{
    public string Name { get; } = name;
    internal long BusyTicks, WaitBlockTicks, WaitMemoryTicks, WaitReaderTicks, WaitSlotTicks, WaitDataTicks;
    internal int MemoryWaitCount, DataWaitCount;

    /// <summary>A worker's waits of every kind so far: what its block's decoding time leaves out.</summary>
    internal long WorkerWaitTicks => WaitBlockTicks + WaitMemoryTicks + WaitReaderTicks;

    /// <summary>How often the thread waited for pool memory, and (the reader) for the head block's bytes.</summary>
    public int MemoryWaits => MemoryWaitCount;
    public int DataWaits => DataWaitCount;

    /// <summary>Decoding (workers), reading input (dispatcher), copying out (reader).</summary>
    public TimeSpan Busy => Ticks(BusyTicks);
    /// <summary>CPU time of the thread (workers and dispatcher; sampled after each block).</summary>
    public TimeSpan Cpu { get; internal set; }
    /// <summary>A worker waiting for a dispatched block or for the part of its input not read yet; the reader waiting
    /// for the next block to be dispatched.</summary>
    public TimeSpan WaitBlock => Ticks(WaitBlockTicks);
    /// <summary>Waiting for pool memory while not the head block (blocks ahead of the head hold the pool).</summary>
    public TimeSpan WaitMemory => Ticks(WaitMemoryTicks);
    /// <summary>Waiting for pool memory as the head block (the reader has not taken what lies behind it).</summary>
    public TimeSpan WaitReader => Ticks(WaitReaderTicks);
    /// <summary>The dispatcher waiting for a free slot.</summary>
    public TimeSpan WaitSlot => Ticks(WaitSlotTicks);
    /// <summary>The reader waiting for the head block's next bytes.</summary>
    public TimeSpan WaitData => Ticks(WaitDataTicks);

    private static TimeSpan Ticks(long t) => Stopwatch.GetElapsedTime(0, t);
}
