using System.Diagnostics;
using System.Runtime.ExceptionServices;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Archive.Xz;

/// <summary>
/// Decodes blocks whose headers record both sizes on worker threads, in bounded memory, and hands the output out
/// in file order while it is being decoded.
///
/// A dispatcher thread walks the container and reads each block's compressed bytes into a slot (handing the block to
/// a worker once the first piece is read: the worker waits only if it catches up with the reading); a worker decodes
/// the block in place into the slot's flat buffer (the buffer is the dictionary: the compressed bytes sit at its
/// end, <see cref="Lzma2.DecodeFlat"/> never overwrites unread input) and verifies the check; the reader takes the
/// blocks in file order.
///
/// Memory: a slot is only address space. The memory is a <see cref="PageChunkPool"/> of <c>workers × one block</c>
/// plus, within the memory limit, an eighth of a block (at most a dictionary) per worker, lent to slots a chunk
/// (1 MiB, or a sixteenth of a small block) at a time as the dispatcher and the workers write, and taken back as soon
/// as nothing will read it again. The oldest block is handed out while it is still being decoded (when LZMA2 is its
/// only filter: its output is final as soon as it is written), so its memory circulates: what lies both behind the
/// reader and more than the dictionary size behind the decoder goes back to the pool; and every block gives back its
/// input chunks once read to their end (until its output gets there). The head's worker thus holds about a
/// dictionary and its unread input, and a worker whose blocks decode faster than its neighbour's (text against
/// binaries) finishes the block after the head and goes on into the next (<c>workers + 2</c> slots) instead of
/// waiting for the head. Pages move between slots by mremap(2): none is copied or zeroed again after warm-up.
///
/// Memory goes to blocks in file order, and no deadlock: a block younger than the oldest block still being decoded
/// (the head) may take a chunk only if the younger blocks then hold, plus what each older one of them still needs to
/// finish, at most the pool minus what the head may hold from now on (<see cref="HeadHolds"/>: its dictionary, the
/// LZMA2 chunk being written and its unread input; a whole block when its output cannot be handed out early). So the
/// head always gets memory once the reader has taken what is in front of it, a younger block that becomes the head
/// finds its whole need kept for it, and the input read ahead for the next block never takes what a block being
/// decoded needs to finish (the earlier rule let it: a worker then waited for most of every slow head block).
///
/// Threads share one gate and wait for one another under it: each sleeps on its own latch (<see cref="WakeSignals"/>)
/// and is woken, once the gate is left, only when what it waits for has come (<see cref="LeaveGate"/>).
///
/// A block without recorded sizes is decoded on the dispatcher thread, streaming, in 1 MiB pieces, each one slot.
/// Without an <see cref="AddressArena"/> (no low address space free) the caller decodes on one thread instead.
/// </summary>
internal sealed unsafe class XzParallelDecoder : IDisposable
{
    /// <summary>Pieces of a block without recorded sizes.</summary>
    private const int PieceSize = PageChunkPool.MaxChunkSize;
    /// <summary>A block goes to a worker once this much of its input is read; the rest follows in pieces of
    /// <see cref="InputPiece"/> while it decodes (a worker reads the input far slower than the dispatcher).</summary>
    private const int FirstInputPiece = 128 << 10, InputPiece = 1 << 20;
    /// <summary>Bytes between the end of the uncompressed data and the end of the compressed data in a slot: four
    /// stored chunks' worth, so only unusual files need the spill copy (stored chunks grow by 3 bytes per 64 KiB, so a
    /// whole incompressible 24 MiB block needs about 65 KiB + 1 KiB).</summary>
    private const int InPlaceMargin = 256 << 10;

    private sealed class Slot(XzParallelDecoder owner) : IFlatProgress
    {
        // The slot's range and which of its chunks hold memory (changed under the gate).
        public byte* Base;
        public bool[] Backed = [];
        public int Chunks => Backed.Length;
        public int Held;
        public int Need;        // chunks the block backs in all (its output and its input)
        public int HeadBase;    // as the head it holds at most this many chunks besides its unread input
        public int InFirst, InLast;
        public int NextChunk;   // output chunks below this one were backed (some since taken back)
        public int ReleasedTo;  // chunks below this one were taken back
        public int InputFreedTo; // input chunks below this one that no output had reached were taken back

        public readonly PinnedBuffer Spill = new();
        public readonly byte[] CheckField = new byte[64];
        public LzmaDecoder? Lz;
        public XzFilterChain? Filters;
        public XzCheck? Check;
        public XzBlockHeader Header;
        public XzCheckType CheckType;
        public long Seq;
        public int InLen, InOffset, OutLen;
        public volatile int InReady;    // input bytes read so far (changed under the gate)
        public volatile bool InComplete; // all the input read, and the check field after it
        public Exception? InError;      // the input failed after the block went to a worker (under the gate)
        public int InWanted;            // what its worker waits for (HasInput)

        /// <summary>Input read up to <paramref name="end"/>; <c>int.MaxValue</c>: all of it and the check field.</summary>
        public bool HasInput(int end) => end == int.MaxValue ? InComplete : InReady >= end;
        public uint DistanceLimit;
        public bool Progressive;   // output is final as it is decoded: handed out early, memory given back early
        public int Checked;        // bytes appended to the check (progressive blocks)
        public bool Decoded;       // under the gate: no more writes
        public int ReadPos;        // the reader's; read by the others with Volatile
        public volatile int Ready; // bytes the reader may take
        public volatile bool Done; // decoded or failed; Ready is final
        public Exception? Error;
        public bool IsEnd;
        public XzThreadTimes? Clock; // the thread writing the slot (for the statistics)
        public int Role;             // the thread writing the slot (for waiting)

        void IFlatProgress.WillRead(int end) => owner.AwaitInput(this, end);
        void IFlatProgress.WillWrite(int end) => owner.Back(this, end);
        void IFlatProgress.Decoded(int position, int inputDone) => owner.Publish(this, position, inputDone);
    }

    private readonly XzStreamParser _parser;
    private readonly XzInput _input;
    private readonly DecoderOptions _options;
    private readonly XzBlockHeader _first;
    private readonly int _threads;
    private readonly int _chunk;
    private readonly PageChunkPool _pool;
    private readonly Slot[] _slots;
    private readonly Slot?[] _inFlight;
    private readonly object _gate = new();
    // Under the gate: slots for the dispatcher, blocks for the workers, blocks in file order for the reader.
    private readonly Queue<Slot> _free = new(), _work = new(), _ordered = new();
    // Under the gate: what each thread (ReaderRole, DispatcherRole, then the workers) is asleep for, and on which
    // slot; LeaveGate wakes those whose condition now holds.
    private const int ReaderRole = 0, DispatcherRole = 1, FirstWorkerRole = 2;
    private enum Awaiting : byte { Nothing, Data, NextBlock, FreeSlot, Work, Memory, Input }
    private readonly Awaiting[] _awaiting;
    private readonly Slot?[] _awaitingSlot;
    private readonly WakeSignals _signals;
    private readonly CancellationTokenSource _cts = new();
    private readonly Thread _dispatcher;
    private readonly Thread[] _workers;
    private long _nextSeq, _headSeq;
    private XzBlockDecoder? _sequential;
    private Slot? _current;
    private int _lent; // bytes of _current the reader was given and has not consumed yet
    private bool _finished, _disposed;
    private readonly XzDecodeStatistics _stats;

    public XzParallelDecoder(XzStreamParser parser, in XzBlockHeader first, DecoderOptions options)
    {
        _parser = parser;
        _input = parser.Input;
        _options = options;
        _first = first;
        _threads = WorkersFor(first, options);
        _chunk = ChunkSizeFor(first);
        int chunks = SlotChunks(first, _chunk);
        _pool = new PageChunkPool(AddressArena.Shared!, _chunk, PoolChunks(_threads, first, _chunk, options.MemoryLimit));
        _stats = options.XzStatistics ?? new XzDecodeStatistics();
        _slots = new Slot[_threads + 2];
        _stats.Start(_threads, _slots.Length);
        _stats.PoolBytes = (long)_pool.Capacity * _chunk;
        _inFlight = new Slot?[_slots.Length];
        _awaiting = new Awaiting[FirstWorkerRole + _threads];
        _awaitingSlot = new Slot?[_awaiting.Length];
        _signals = new WakeSignals(_awaiting.Length);
        for (int i = 0; i < _slots.Length; i++)
        {
            var s = new Slot(this);
            Reserve(s, chunks);
            _slots[i] = s;
            _free.Enqueue(s);
        }
        _workers = new Thread[_threads];
        for (int i = 0; i < _threads; i++)
        {
            var clock = _stats.Worker(i);
            int role = FirstWorkerRole + i;
            _workers[i] = new Thread(() => WorkLoop(clock, role)) { IsBackground = true, Name = "xz-worker-" + i };
            _workers[i].Start();
        }
        _dispatcher = new Thread(DispatchLoop) { IsBackground = true, Name = "xz-dispatch" };
        _dispatcher.Start();
    }

    /// <summary>Worker threads decoding blocks.</summary>
    public int Workers => _threads;

    /// <summary>Whether a file whose first block has this header goes parallel: several threads, both sizes
    /// recorded, at least two workers' blocks fit the memory limit, and the process has an address arena.</summary>
    public static bool Suits(in XzBlockHeader first, DecoderOptions options) =>
        options.EffectiveThreads > 1 && WorkersFor(first, options) > 1 && AddressArena.Shared is not null;

    /// <summary>Workers for blocks like <paramref name="first"/>: the threads asked for, fewer when their blocks
    /// would not fit the memory limit; 0 when the block records no sizes.</summary>
    private static int WorkersFor(in XzBlockHeader first, DecoderOptions options)
    {
        int chunk = ChunkSizeFor(first);
        int chunks = SlotChunks(first, chunk);
        if (chunks < 0) return 0;
        int workers = options.EffectiveThreads;
        while (workers > 0 && (long)workers * chunks * chunk > options.MemoryLimit) workers--;
        return workers;
    }

    /// <summary>The pool for blocks like <paramref name="h"/>: one block per worker, and as far as the memory limit
    /// allows, an eighth of a block more per worker (at most the dictionary's reach), so that a worker whose blocks
    /// decode faster than its neighbour's can finish one and go on with the next while the oldest block is still
    /// being decoded: <c>workers × (block + dictionary)</c> at most. The head block holds only about a dictionary,
    /// so most of its block's share is free for the next block.
    ///
    /// Measured (2 workers, 24 MiB blocks, medians of 3–5 runs; peak RSS is the pool plus about 8 MiB): a sixteenth
    /// (52 MiB) kept the peak RSS under half of xz -T2's on the four corpora of tools/bench-corpus at the same speed,
    /// but on blocks of text and of zeros alternating (XzParallelOverlapTests) the workers waited 20–24% of their
    /// decoding time for memory and the decode took 15% longer (0.52 s against 0.46 s); an eighth (56 MiB) waits
    /// 1–13% there, a third 0 on every corpus at 0.51–0.56x xz's RSS.</summary>
    private static int PoolChunks(int workers, in XzBlockHeader h, int chunk, long memoryLimit)
    {
        int slot = SlotChunks(h, chunk);
        long dict = (LzmaDecoder.DistanceLimit(h.DictionarySize) + (long)chunk - 1) / chunk;
        long extra = Math.Min(dict, Math.Max(1, slot / 8));
        long most = Math.Max((long)workers * slot, Math.Min((long)workers * (slot + extra), memoryLimit / chunk));
        return (int)most;
    }

    /// <summary>Bytes of a slot for a block: its data, the in-place margin, the input padding; -1 when the block
    /// cannot go to a slot.</summary>
    private static long SlotBytes(in XzBlockHeader h) =>
        h.HasSizes && h.UncompressedSize <= int.MaxValue / 2 && h.CompressedSize <= int.MaxValue / 2
            ? Math.Max(h.UncompressedSize, h.CompressedSize) + InPlaceMargin + LzmaDecoder.InputPadding
            : -1;

    /// <summary>The memory chunk for blocks like <paramref name="first"/>: about a sixteenth of a slot, a power of
    /// two from 64 KiB (or the page size) to 1 MiB, so small blocks are not rounded up to whole megabytes.</summary>
    private static int ChunkSizeFor(in XzBlockHeader first)
    {
        long want = Math.Max(SlotBytes(first) / 16, Math.Max(64 << 10, Environment.SystemPageSize));
        return (int)Math.Min(PageChunkPool.MaxChunkSize, System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)want));
    }

    /// <summary>Chunks of <paramref name="chunk"/> bytes in a slot for a block, -1 when it cannot go to a slot.</summary>
    private static int SlotChunks(in XzBlockHeader h, int chunk)
    {
        long bytes = SlotBytes(h);
        return bytes < 0 ? -1 : (int)((bytes + chunk - 1) / chunk);
    }

    /// <summary>Whether a later block goes to a worker: its slot, once per worker, fits the memory limit.</summary>
    private bool FitsSlot(in XzBlockHeader h)
    {
        long chunks = SlotChunks(h, _chunk);
        return chunks >= 0 && _threads * chunks * _chunk <= _options.MemoryLimit;
    }

    /// <summary>Gives a free slot (holding no chunk) a range of <paramref name="chunks"/> chunks.</summary>
    private void Reserve(Slot s, int chunks)
    {
        // (Under the gate: the free chunks taken back in the old range move to parking places.)
        if (s.Base is not null)
        {
            EnterGate();
            try { _pool.GiveRange(s.Base, (long)s.Chunks * _chunk); }
            finally { LeaveGate(); }
        }
        s.Base = null;
        s.Backed = [];
        s.Base = _pool.TakeRange((long)chunks * _chunk);
        s.Backed = new bool[chunks];
    }

    // ---- the reader

    /// <summary>Copies decoded bytes into <paramref name="dst"/>; 0 at the end.</summary>
    public int Read(Span<byte> dst)
    {
        int n = ReadInPlace(dst.Length, out byte* data);
        new ReadOnlySpan<byte>(data, n).CopyTo(dst);
        Consume();
        return n;
    }

    /// <summary>
    /// Decoded bytes where they lie, in the head block's slot (at most <paramref name="max"/>; 0 at the end). They stay
    /// valid, and their memory lent, until the next call to <see cref="Read"/> or <see cref="ReadInPlace"/>: the
    /// caller writes them out without copying them first.
    /// </summary>
    public int ReadInPlace(int max, out byte* data)
    {
        Consume();
        while (true)
        {
            data = null;
            if (_finished) return 0;
            var c = _current;
            if (c is null)
            {
                long t0 = Stopwatch.GetTimestamp();
                if (Take(_ordered, ReaderRole, Awaiting.NextBlock, out c))
                    _stats.Reader.WaitBlockTicks += Stopwatch.GetTimestamp() - t0;
                _current = c;
            }
            int pos = c.ReadPos;
            int ready = c.Ready;
            if (pos < ready)
            {
                int n = Math.Min(max, ready - pos);
                data = c.Base + pos;
                _lent = n;
                return n;
            }
            if (c.Done)
            {
                if (c.Error is not null)
                {
                    _finished = true;
                    ExceptionDispatchInfo.Capture(c.Error).Throw();
                }
                if (c.IsEnd)
                {
                    _finished = true;
                    _stats.Stop();
                    return 0;
                }
                if (pos < c.Ready) continue;
                EnterGate();
                try
                {
                    TakeBackAll(c);
                    int i = (int)(c.Seq % _inFlight.Length);
                    if (_inFlight[i] == c) _inFlight[i] = null;
                    _free.Enqueue(c);
                }
                finally
                {
                    LeaveGate();
                }
                _current = null;
                continue;
            }
            long w0 = Stopwatch.GetTimestamp();
            EnterGate();
            try
            {
                while (c.ReadPos == c.Ready && !c.Done) SleepFor(ReaderRole, Awaiting.Data, c);
            }
            finally
            {
                LeaveGate();
            }
            _stats.Reader.WaitDataTicks += Stopwatch.GetTimestamp() - w0;
            _stats.Reader.DataWaitCount++;
        }
    }

    /// <summary>The reader is done with the bytes it was last given: moves its position past them, and gives back
    /// the chunks of a progressive block that nothing will read again.</summary>
    private void Consume()
    {
        int n = _lent;
        if (n == 0) return;
        _lent = 0;
        var c = _current!;
        int pos = c.ReadPos;
        Volatile.Write(ref c.ReadPos, pos + n);
        if (c.Progressive && (pos + n) / _chunk != pos / _chunk)
        {
            EnterGate();
            try { TakeBackBehind(c); }
            finally { LeaveGate(); }
        }
    }

    // ---- the gate and waiting

    private void EnterGate() => Monitor.Enter(_gate);

    /// <summary>Leaves the gate, then wakes the threads asleep for a condition that now holds. Every change of what
    /// a thread may wait for (data of a block, a block in a queue, memory) is made under the gate, so checking the
    /// sleepers here, on the way out, misses none; and a thread is woken only once the gate is free and only when
    /// it can go on (with Monitor.PulseAll every sleeper woke at every change, inside the gate, and spun for it).</summary>
    private void LeaveGate()
    {
        Span<int> wake = stackalloc int[_awaiting.Length];
        int n = 0, work = _work.Count;
        for (int role = 0; role < _awaiting.Length; role++)
        {
            var s = _awaitingSlot[role];
            bool go = _awaiting[role] switch
            {
                Awaiting.Data => s!.Ready != s.ReadPos || s.Done,
                Awaiting.NextBlock => _ordered.Count > 0,
                Awaiting.FreeSlot => _free.Count > 0,
                Awaiting.Work => work-- > 0,
                Awaiting.Memory => MayTake(s!),
                Awaiting.Input => s!.InError is not null || s.HasInput(s.InWanted),
                _ => false,
            };
            if (!go) continue;
            _awaiting[role] = Awaiting.Nothing;
            _awaitingSlot[role] = null;
            wake[n++] = role;
        }
        Monitor.Exit(_gate);
        foreach (int role in wake[..n]) _signals.Set(role);
    }

    /// <summary>Under the gate: leaves it, sleeps until woken (by <see cref="LeaveGate"/> when the condition may
    /// hold, or by <see cref="Dispose"/>) and enters it again; the caller checks its condition again. Throws once the
    /// decoder is disposed.</summary>
    private void SleepFor(int role, Awaiting what, Slot? slot)
    {
        _cts.Token.ThrowIfCancellationRequested();
        _awaiting[role] = what;
        _awaitingSlot[role] = slot;
        LeaveGate();
        _signals.Wait(role);
        EnterGate();
        _awaiting[role] = Awaiting.Nothing;
        _awaitingSlot[role] = null;
        _cts.Token.ThrowIfCancellationRequested();
    }

    /// <summary>Takes the first slot of <paramref name="queue"/>, sleeping until there is one; true if it slept.</summary>
    private bool Take(Queue<Slot> queue, int role, Awaiting what, out Slot slot)
    {
        bool slept = false;
        EnterGate();
        try
        {
            while (!queue.TryDequeue(out slot!))
            {
                SleepFor(role, what, null);
                slept = true;
            }
            return slept;
        }
        finally
        {
            LeaveGate();
        }
    }

    // ---- memory (the methods below run under the gate, except Back and Publish, which take it)

    /// <summary>Whether <paramref name="s"/> may take one more chunk now: the head always (while the pool has one);
    /// a younger block only if the blocks younger than the head then hold at most the pool minus the head's reserve,
    /// counting for every younger block older than <paramref name="s"/> what it still needs to finish. So memory goes
    /// to blocks in file order: the input read ahead for the next block never takes what a block being decoded
    /// needs to finish (which would stall its worker until the head is done), and the oldest younger block can
    /// always finish.</summary>
    private bool MayTake(Slot s)
    {
        if (_pool.Available == 0) return false;
        if (s.Seq == _headSeq) return true;
        int younger = 0;
        foreach (var o in _inFlight)
        {
            if (o is null || o.Seq <= _headSeq) continue;
            younger += o.Held;
            if (o.Seq < s.Seq && !o.Decoded) younger += Math.Max(0, o.Need - o.Held);
        }
        return younger + 1 <= _pool.Capacity - HeadHolds();
    }

    /// <summary>What the head block may hold from now on (once the reader has caught up): at most the dictionary
    /// behind its position, the LZMA2 chunk ahead of it and its input not yet read (a block with other filters: all
    /// of it), or what it holds now if that is more. Its unread input only shrinks, so the bound holds until it is
    /// done; a younger block that becomes the head had its whole remaining need counted by the blocks after it.</summary>
    private int HeadHolds()
    {
        var h = _inFlight[_headSeq % _inFlight.Length];
        if (h is null || h.Seq != _headSeq || h.Decoded) return 0;
        int bound = h.Need;
        if (h.Progressive)
        {
            int unread = h.InLast - Math.Max(h.InFirst, Math.Max(h.InputFreedTo, h.NextChunk)) + 1;
            bound = Math.Min(bound, h.HeadBase + Math.Max(0, unread));
        }
        return Math.Max(bound, h.Held);
    }

    /// <summary>Backs chunks [<paramref name="first"/>, <paramref name="last"/>] of a slot, waiting for memory.</summary>
    private void Acquire(Slot s, int first, int last)
    {
        for (int i = first; i <= last; i++)
        {
            if (s.Backed[i]) continue;
            if (!MayTake(s))
            {
                long t0 = Stopwatch.GetTimestamp();
                bool head = true;
                while (!MayTake(s))
                {
                    head &= s.Seq == _headSeq;
                    SleepFor(s.Role, Awaiting.Memory, s);
                }
                var clock = s.Clock ?? _stats.Dispatcher;
                if (head) clock.WaitReaderTicks += Stopwatch.GetTimestamp() - t0;
                else clock.WaitMemoryTicks += Stopwatch.GetTimestamp() - t0;
                clock.MemoryWaitCount++;
            }
            _pool.Lend(s.Base + (long)i * _chunk);
            s.Backed[i] = true;
            s.Held++;
        }
        long lent = (long)(_pool.Capacity - _pool.Available) * _chunk;
        if (lent > _stats.PeakLentBytes) _stats.PeakLentBytes = lent;
    }

    /// <summary>Takes back the chunks of a progressive block that nothing will read again: behind the reader, and
    /// (while it is being decoded) more than the match distance limit behind the decoder.</summary>
    private bool TakeBackBehind(Slot s)
    {
        long limit = Volatile.Read(ref s.ReadPos);
        if (!s.Decoded) limit = Math.Min(limit, (long)s.Ready - s.DistanceLimit);
        int to = limit <= 0 ? 0 : (int)(limit / _chunk);
        bool any = false;
        for (int i = s.ReleasedTo; i < to; i++)
        {
            if (!s.Backed[i]) continue;
            _pool.TakeBack(s.Base + (long)i * _chunk);
            s.Backed[i] = false;
            s.Held--;
            any = true;
        }
        if (to > s.ReleasedTo) s.ReleasedTo = to;
        return any;
    }

    private void TakeBackAll(Slot s)
    {
        for (int i = 0; i < s.Chunks; i++)
        {
            if (!s.Backed[i]) continue;
            _pool.TakeBack(s.Base + (long)i * _chunk);
            s.Backed[i] = false;
            s.Held--;
        }
    }

    /// <summary>Registers a free slot as the next block in file order.</summary>
    private void Enter(Slot s)
    {
        s.Seq = _nextSeq++;
        _inFlight[s.Seq % _inFlight.Length] = s;
        s.Decoded = false;
        s.Done = false;
        s.Ready = 0;
        s.ReadPos = 0;
        s.NextChunk = 0;
        s.ReleasedTo = 0;
        s.InputFreedTo = 0;
        s.Checked = 0;
        s.Error = null;
    }

    /// <summary>A block is decoded (or failed): the head moves past every decoded block.</summary>
    private void Finish(Slot s, int ready, Exception? error)
    {
        EnterGate();
        try
        {
            s.Error = error;
            if (error is null) s.Ready = ready;
            s.Done = true;
            s.Decoded = true;
            while (_inFlight[_headSeq % _inFlight.Length] is { } h && h.Seq == _headSeq && h.Decoded) _headSeq++;
        }
        finally
        {
            LeaveGate();
        }
    }

    // ---- worker callbacks (IFlatProgress)

    private void Back(Slot s, int end)
    {
        _cts.Token.ThrowIfCancellationRequested();
        int last = (end - 1) / _chunk;
        if (last < s.NextChunk) return;
        if (last >= s.Chunks) XzFormat.Fail("LZMA2 data is longer than the block's uncompressed size");
        EnterGate();
        try
        {
            Acquire(s, s.NextChunk, last);
            s.NextChunk = last + 1;
        }
        finally
        {
            LeaveGate();
        }
    }

    private void Publish(Slot s, int position, int inputDone)
    {
        // Input chunks read to their end that the output has not reached yet go back to the pool (the output takes
        // fresh ones when it gets there): a block holds its output and the input still to read, not all its input.
        int freeTo = (s.InOffset + inputDone) / _chunk;
        bool freeInput = freeTo > Math.Max(s.InputFreedTo, s.NextChunk);
        if (!s.Progressive && !freeInput) return;
        if (s.Progressive)
        {
            s.Check!.Append(new ReadOnlySpan<byte>(s.Base + s.Checked, position - s.Checked));
            s.Checked = position;
        }
        EnterGate();
        try
        {
            if (freeInput)
            {
                for (int i = Math.Max(s.InputFreedTo, s.NextChunk); i < freeTo; i++)
                {
                    if (!s.Backed[i]) continue;
                    _pool.TakeBack(s.Base + (long)i * _chunk);
                    s.Backed[i] = false;
                    s.Held--;
                }
                s.InputFreedTo = freeTo;
            }
            if (s.Progressive)
            {
                s.Ready = position;
                TakeBackBehind(s);
            }
        }
        finally
        {
            LeaveGate();
        }
    }

    // ---- the dispatcher

    private void DispatchLoop()
    {
        try
        {
            var header = _first;
            bool haveBlock = true;
            while (true)
            {
                if (haveBlock)
                {
                    if (FitsSlot(header)) Dispatch(header);
                    else DecodeInline(header);
                }
                else
                {
                    _parser.EndStream();
                    if (!_parser.NextStream()) break;
                }
                haveBlock = _parser.NextBlock(out header);
            }
            _stats.Dispatcher.Cpu = ProcessStatus.ThreadCpuTime();
            Hand(new Slot(this) { IsEnd = true, Done = true }, toWorker: false);
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Hand(new Slot(this) { Error = Wrap(e), Done = true }, toWorker: false);
        }
    }

    /// <summary>Queues a slot for the reader (in file order) and, when it is to be decoded, for the workers.</summary>
    private void Hand(Slot slot, bool toWorker)
    {
        EnterGate();
        try
        {
            _ordered.Enqueue(slot);
            if (toWorker) _work.Enqueue(slot);
        }
        finally
        {
            LeaveGate();
        }
    }

    private static Exception Wrap(Exception e) =>
        e is NativeInitException or IOException or OutOfMemoryException ? e
            : new InvalidDataFormatException($"xz: corrupt data ({e.GetType().Name}: {e.Message})", e);

    private void Dispatch(in XzBlockHeader h)
    {
        var slot = TakeFree();
        slot.Clock = null;
        slot.Role = DispatcherRole;
        int comp = (int)h.CompressedSize, unc = (int)h.UncompressedSize;
        int chunks = SlotChunks(h, _chunk);
        // A free slot holds no memory, so a bigger block just gets a bigger range; the pool grows to workers × the
        // biggest block (FitsSlot kept that within the memory limit).
        if (chunks > slot.Chunks) Reserve(slot, chunks);
        slot.Header = h;
        slot.CheckType = _parser.Check;
        slot.Progressive = h.FilterCount == 1;
        slot.DistanceLimit = LzmaDecoder.DistanceLimit(h.DictionarySize);
        // In-place decoding: the compressed bytes go at the end of the output buffer, ending InPlaceMargin past the
        // uncompressed size, so the output (which grows faster than the input is consumed) does not reach unread
        // input; DecodeFlat checks before every chunk and moves the rest aside if it would.
        int placement = Math.Max(unc, comp) + InPlaceMargin;
        slot.InOffset = placement - comp;
        slot.InLen = comp;
        slot.OutLen = unc;
        int inFirst = slot.InOffset / _chunk, inLast = (placement + LzmaDecoder.InputPadding - 1) / _chunk;
        // What the block holds at most as the head: its input, the dictionary behind the position, and the LZMA2
        // chunk being decoded ahead of it (2 MiB and the copy overshoot, one more chunk for a position inside a
        // chunk); a block with other filters holds all of it until read.
        int dictChunks = (int)Math.Min(int.MaxValue / 4, (slot.DistanceLimit + (long)_chunk - 1) / _chunk + 1);
        int ahead = (Lzma2.MaxChunkUncompressed + LzmaDecoder.WindowTail + _chunk - 1) / _chunk + 1;
        int outLast = (unc + LzmaDecoder.WindowTail - 1) / _chunk;
        slot.Need = outLast + 1 + Math.Max(0, inLast - Math.Max(inFirst - 1, outLast));
        slot.HeadBase = dictChunks + ahead;
        slot.InFirst = inFirst;
        slot.InLast = inLast;
        EnterGate();
        try
        {
            int capacity = PoolChunks(_threads, h, _chunk, _options.MemoryLimit);
            if (capacity > _pool.Capacity)
            {
                _pool.Grow(capacity - _pool.Capacity);
                _stats.PoolBytes = (long)_pool.Capacity * _chunk;
            }
            Enter(slot);
            Acquire(slot, inFirst, inLast);
        }
        finally
        {
            LeaveGate();
        }
        // The block goes to a worker once the first piece of its input is read, so a worker does not wait for the
        // whole input of a block (tens of MB for xz -9's 192 MiB blocks; from a cold disk at start-up, for each of the
        // first blocks); the worker waits only if it catches up with the reading (AwaitInput).
        long t1 = Stopwatch.GetTimestamp();
        var input = new Span<byte>(slot.Base + slot.InOffset, comp);
        int read = Math.Min(comp, FirstInputPiece);
        slot.InReady = 0;
        slot.InError = null;
        slot.InComplete = false;
        _input.ReadExactly(input[..read], "block data");
        slot.InReady = read;
        Hand(slot, toWorker: true);
        try
        {
            while (read < comp)
            {
                int n = Math.Min(comp - read, InputPiece);
                _input.ReadExactly(input.Slice(read, n), "block data");
                read += n;
                EnterGate();
                slot.InReady = read;
                LeaveGate();
            }
            _parser.EndBlock(h, comp, unc, slot.CheckField);
            EnterGate();
            slot.InComplete = true;
            LeaveGate();
        }
        catch (Exception e)
        {
            // The block is the worker's and the reader's already: it fails with this error, in file order.
            EnterGate();
            slot.InError = Wrap(e);
            LeaveGate();
            throw;
        }
        finally
        {
            _stats.Dispatcher.BusyTicks += Stopwatch.GetTimestamp() - t1;
        }
    }

    /// <summary>A worker's wait for its block's input up to <paramref name="end"/> (<c>int.MaxValue</c>: all of it and
    /// the check field after it).</summary>
    private void AwaitInput(Slot s, int end)
    {
        if (s.HasInput(end)) return;
        long t0 = Stopwatch.GetTimestamp();
        EnterGate();
        try
        {
            s.InWanted = end;
            while (!s.HasInput(end))
            {
                if (s.InError is not null) throw new InputFailedException();
                SleepFor(s.Role, Awaiting.Input, s);
            }
        }
        finally
        {
            LeaveGate();
        }
        s.Clock!.WaitBlockTicks += Stopwatch.GetTimestamp() - t0;
    }

    /// <summary>Thrown on a worker whose block's input failed; the block fails with the input's error.</summary>
    private sealed class InputFailedException : Exception;

    /// <summary>A free slot, waiting for one (all in flight: the reader is behind).</summary>
    private Slot TakeFree()
    {
        long t0 = Stopwatch.GetTimestamp();
        if (Take(_free, DispatcherRole, Awaiting.FreeSlot, out var slot))
            _stats.Dispatcher.WaitSlotTicks += Stopwatch.GetTimestamp() - t0;
        return slot;
    }

    private void DecodeInline(in XzBlockHeader h)
    {
        _sequential ??= new XzBlockDecoder(_input);
        _sequential.Begin(h, _parser.Check, _options.MemoryLimit);
        _stats.StreamedBlocks++;
        long start = _input.Consumed;
        while (true)
        {
            var slot = TakeFree();
            slot.Clock = null;
            slot.Role = DispatcherRole;
            slot.Progressive = false;
            int pieceChunks = Math.Min(slot.Chunks, PieceSize / _chunk);
            slot.Need = pieceChunks;
            slot.HeadBase = pieceChunks;
            slot.InFirst = 0;
            slot.InLast = -1;
            int piece = pieceChunks * _chunk;
            EnterGate();
            try
            {
                Enter(slot);
                Acquire(slot, 0, pieceChunks - 1);
            }
            finally
            {
                LeaveGate();
            }
            Hand(slot, toWorker: false);
            int len = 0;
            try
            {
                while (len < piece)
                {
                    int r = _sequential.Read(new Span<byte>(slot.Base + len, piece - len));
                    if (r == 0) break;
                    len += r;
                }
            }
            catch (Exception e)
            {
                Finish(slot, 0, Wrap(e));
                throw;
            }
            Finish(slot, len, null);
            if (len == 0) break;
        }
        Span<byte> check = stackalloc byte[64];
        _parser.EndBlock(h, _input.Consumed - start, _sequential.Produced, check);
        if (!_sequential.Check.Matches(check)) XzFormat.Fail($"{_sequential.Check.Name} check mismatch: the data is corrupt");
    }

    // ---- the workers

    private void WorkLoop(XzThreadTimes clock, int role)
    {
        try
        {
            while (true)
            {
                clock.Cpu = ProcessStatus.ThreadCpuTime();
                long t0 = Stopwatch.GetTimestamp();
                if (Take(_work, role, Awaiting.Work, out var slot))
                    clock.WaitBlockTicks += Stopwatch.GetTimestamp() - t0;
                long t1 = Stopwatch.GetTimestamp(), waited = clock.WorkerWaitTicks;
                slot.Clock = clock;
                slot.Role = role;
                Exception? error = null;
                try
                {
                    Decode(slot);
                }
                catch (InputFailedException)
                {
                    error = slot.InError;
                }
                catch (Exception e)
                {
                    error = Wrap(e);
                }
                long busy = Stopwatch.GetTimestamp() - t1 - (clock.WorkerWaitTicks - waited);
                clock.BusyTicks += busy;
                _stats.RecordBlock(slot.Seq, busy);
                _stats.CountBlock();
                Finish(slot, slot.OutLen, error);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void Decode(Slot s)
    {
        s.Lz ??= new LzmaDecoder();
        s.Filters ??= new XzFilterChain();
        s.Check ??= new XzCheck();
        ref readonly var h = ref s.Header;
        s.Check.Reset(s.CheckType);
        Lzma2.DecodeFlat(s.Lz, s.Base + s.InOffset, s.InLen, s.Base, s.OutLen, h.DictionarySize, s.Spill, s);
        if (!s.Progressive)
        {
            var output = new Span<byte>(s.Base, s.OutLen);
            s.Filters.Reset(h);
            if (s.Filters.Count > 0) s.Filters.Process(output, output.Length, final: true);
            s.Check.Append(output);
        }
        ((IFlatProgress)s).WillRead(int.MaxValue); // the check field is read after the block's data
        if (!s.Check.Matches(s.CheckField)) XzFormat.Fail($"{s.Check.Name} check mismatch: the data is corrupt");
    }

    /// <summary>Stops the threads and gives the memory back. The slots' ranges are given back only once every
    /// thread has stopped (a thread still writing would fault); a dispatcher stuck for more than a few seconds in a
    /// read of its input leaves them reserved.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stats.Stop();
        _finished = true;
        _cts.Cancel();
        for (int role = 0; role < _signals.Count; role++) _signals.Set(role);
        var deadline = Environment.TickCount64 + 5000;
        bool stopped = _dispatcher.Join(TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64)));
        foreach (var w in _workers)
            stopped &= w.Join(TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64)));
        if (!stopped) return;
        foreach (var s in _slots)
        {
            if (s.Base is null) continue;
            _pool.GiveRange(s.Base, (long)s.Chunks * _chunk);
            s.Base = null;
        }
        _pool.Dispose();
    }
}
