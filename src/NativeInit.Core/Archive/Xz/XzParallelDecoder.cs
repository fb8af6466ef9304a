using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace NativeInit.Core.Archive.Xz;

/// <summary>
/// Decodes blocks whose headers record both sizes on worker threads, in bounded memory, and hands the output out
/// in file order while it is being decoded.
///
/// A dispatcher thread walks the container and copies each block's compressed bytes into memory chunks; a worker
/// decodes the block with its own <see cref="XzBlockDecoder"/> (a window of the dictionary size) into more chunks,
/// which the reader takes in order as soon as each is full. A chunk goes back to a shared pool when it has been
/// read (output) or decoded (input), so memory follows the reader instead of being held per block:
/// - the block the reader is on (the head, or blocks already decoded before it) holds its remaining input and the
///   chunks the reader has not taken yet: one or two when the reader keeps up;
/// - the next block, decoded ahead, holds its whole output (a worker cannot stop halfway for long without losing
///   its turn);
/// - a worker that finished a quick block starts on the one after with what is left (<c>workers + 1</c> blocks are
///   in flight), instead of waiting for its neighbour, and waits only when the pool runs dry.
///
/// Memory: per worker, its window (dictionary + 4 KiB, or the block when smaller) and a 256 KiB input buffer; the
/// pool is <see cref="PoolChunks"/> chunks of about a sixteenth of a block (64 KiB to 1 MiB); all reused, nothing
/// allocated per block after warm-up. The total is checked against the memory limit before anything is allocated;
/// fewer workers are used when it does not fit.
///
/// No deadlock: the blocks younger than the oldest block still being decoded (the head) together never hold more
/// than the pool minus <see cref="_reserve"/>, the most one block can hold while its reader keeps up (its input and
/// two output chunks). So the head always gets memory once the reader has taken what is in front of it.
///
/// A block without recorded sizes is decoded on the dispatcher thread, streaming, into chunks the same way.
/// </summary>
internal sealed class XzParallelDecoder : IDisposable
{
    /// <summary>A block in flight: its compressed bytes (until decoded), its decoded chunks (until read).</summary>
    private sealed class Slot
    {
        public long Seq;
        public XzBlockHeader Header;
        public XzCheckType CheckType;
        public readonly byte[] CheckField = new byte[64];
        public int InLen;
        public long OutLen;
        public readonly List<byte[]?> In = [];
        public readonly Queue<(byte[] Chunk, int Length)> Out = new();
        public int Held;         // chunks taken from the pool (under the gate)
        public bool Decoded;     // under the gate: the head moves past it
        public bool Done;        // under the gate: no more output; Error says whether it failed
        public Exception? Error;
        public bool IsEnd;
    }

    /// <summary>What a worker's <see cref="XzInput"/> reads: a block's compressed bytes, chunk after chunk; each
    /// chunk goes back to the pool once copied.</summary>
    private sealed class SlotInput(XzParallelDecoder owner) : ReadOnlyStream
    {
        private Slot? _slot;
        private int _index, _offset, _left;

        public void Begin(Slot slot)
        {
            _slot = slot;
            _index = _offset = 0;
            _left = slot.InLen;
        }

        public override int Read(Span<byte> buffer)
        {
            var s = _slot!;
            int total = 0;
            while (buffer.Length > 0 && _left > 0)
            {
                var chunk = s.In[_index]!;
                int n = Math.Min(Math.Min(buffer.Length, _left), chunk.Length - _offset);
                chunk.AsSpan(_offset, n).CopyTo(buffer);
                buffer = buffer[n..];
                _offset += n;
                _left -= n;
                total += n;
                if (_offset == chunk.Length || _left == 0)
                {
                    s.In[_index++] = null;
                    _offset = 0;
                    owner.Return(s, chunk);
                }
            }
            return total;
        }
    }

    /// <summary>One worker's decoder, input buffer and block input, reused across blocks.</summary>
    private sealed class Worker
    {
        public readonly SlotInput Stream;
        public readonly XzInput Input;
        public readonly XzBlockDecoder Decoder;

        public Worker(XzParallelDecoder owner)
        {
            Stream = new SlotInput(owner);
            Input = new XzInput(Stream);
            Decoder = new XzBlockDecoder(Input);
        }
    }

    private readonly XzStreamParser _parser;
    private readonly XzInput _input;
    private readonly DecoderOptions _options;
    private readonly XzBlockHeader _first;
    private readonly int _threads;
    private readonly int _chunk;
    private readonly Slot?[] _inFlight;
    private readonly object _gate = new();
    private readonly Stack<byte[]> _spare = new();
    private readonly BlockingCollection<Slot> _free = new(new ConcurrentQueue<Slot>());
    private readonly BlockingCollection<Slot> _work = new(new ConcurrentQueue<Slot>());
    private readonly BlockingCollection<Slot> _ordered = new(new ConcurrentQueue<Slot>());
    private readonly CancellationTokenSource _cts = new();
    private int _capacity, _inUse, _reserve;
    private long _nextSeq, _headSeq;
    private XzBlockDecoder? _sequential;

    // The reader's position.
    private Slot? _current;
    private byte[]? _chunkData;
    private int _chunkLength, _chunkPos;
    private bool _finished;

    public XzParallelDecoder(XzStreamParser parser, in XzBlockHeader first, DecoderOptions options)
    {
        _parser = parser;
        _input = parser.Input;
        _options = options;
        _first = first;
        _chunk = ChunkSizeFor(first);
        _threads = WorkersFor(first, options);
        _capacity = PoolChunks(_threads, first, _chunk);
        _inFlight = new Slot?[_threads + 1];
        for (int i = 0; i < _inFlight.Length; i++) _free.Add(new Slot());
        for (int i = 0; i < _threads; i++)
        {
            var worker = new Worker(this);
            new Thread(() => WorkLoop(worker)) { IsBackground = true, Name = "xz-worker-" + i }.Start();
        }
        new Thread(DispatchLoop) { IsBackground = true, Name = "xz-dispatch" }.Start();
    }

    /// <summary>Worker threads decoding blocks.</summary>
    public int Workers => _threads;

    /// <summary>Whether a file whose first block has this header goes parallel: several threads, both sizes
    /// recorded, and at least two workers fit the memory limit.</summary>
    public static bool Suits(in XzBlockHeader first, DecoderOptions options) =>
        options.EffectiveThreads > 1 && WorkersFor(first, options) > 1;

    /// <summary>The memory chunk for blocks like <paramref name="first"/>: about a sixteenth of a block, a power of
    /// two from 64 KiB to 1 MiB (finer for small blocks, so memory is not counted in whole megabytes).</summary>
    private static int ChunkSizeFor(in XzBlockHeader first)
    {
        long want = Math.Clamp(Math.Max(first.UncompressedSize, first.CompressedSize) / 16, 64 << 10, 1 << 20);
        return (int)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)want);
    }

    private static bool HasUsableSizes(in XzBlockHeader h) =>
        h.HasSizes && h.UncompressedSize <= int.MaxValue / 2 && h.CompressedSize <= int.MaxValue / 2;

    private static int ChunksOf(long bytes, int chunk) => (int)((bytes + chunk - 1) / chunk);

    /// <summary>The most chunks a block holds while its reader keeps up: its input and two output chunks (the one
    /// being filled, the one being read).</summary>
    private static int NeedOf(in XzBlockHeader h, int chunk) => ChunksOf(h.CompressedSize, chunk) + 2;

    /// <summary>Pool size for <paramref name="workers"/> workers: one block decoded ahead per worker but one, and
    /// what every block in progress needs (what is left over lets a worker start early).</summary>
    private static int PoolChunks(int workers, in XzBlockHeader h, int chunk)
    {
        int block = ChunksOf(h.UncompressedSize, chunk);
        return (workers - 1) * block + workers * NeedOf(h, chunk);
    }

    /// <summary>Memory of one worker: its window, its input buffer, the filters' staging buffer.</summary>
    private static long WorkerBytes(in XzBlockHeader h) =>
        XzBlockDecoder.WindowBytes(h, out _) + LzmaDecoder.WindowTail + XzInput.Capacity + LzmaDecoder.InputPadding +
        (h.FilterCount > 1 ? XzBlockDecoder.StagingSize : 0);

    /// <summary>Memory of <paramref name="workers"/> workers and their pool.</summary>
    private static long MemoryFor(int workers, in XzBlockHeader h, int chunk) =>
        workers * WorkerBytes(h) + (long)PoolChunks(workers, h, chunk) * chunk;

    /// <summary>Workers for blocks like <paramref name="first"/>: the threads asked for, fewer when they and their
    /// pool would not fit the memory limit; 0 when the block records no sizes.</summary>
    private static int WorkersFor(in XzBlockHeader first, DecoderOptions options)
    {
        if (!HasUsableSizes(first)) return 0;
        int chunk = ChunkSizeFor(first);
        int workers = options.EffectiveThreads;
        while (workers > 0 && MemoryFor(workers, first, chunk) > options.MemoryLimit) workers--;
        return workers;
    }

    // ---- the reader

    public int Read(Span<byte> dst)
    {
        while (true)
        {
            if (_finished) return 0;
            if (_chunkData is { } data)
            {
                int n = Math.Min(dst.Length, _chunkLength - _chunkPos);
                data.AsSpan(_chunkPos, n).CopyTo(dst);
                _chunkPos += n;
                if (_chunkPos == _chunkLength)
                {
                    _chunkData = null;
                    Return(_current!, data);
                }
                return n;
            }
            var c = _current ??= _ordered.Take(_cts.Token);
            lock (_gate)
            {
                while (c.Out.Count == 0 && !c.Done) Wait();
                if (c.Out.Count > 0)
                {
                    (_chunkData, _chunkLength) = c.Out.Dequeue();
                    _chunkPos = 0;
                    continue;
                }
            }
            if (c.Error is not null)
            {
                _finished = true;
                ExceptionDispatchInfo.Capture(c.Error).Throw();
            }
            if (c.IsEnd)
            {
                _finished = true;
                return 0;
            }
            lock (_gate)
            {
                int i = (int)(c.Seq % _inFlight.Length);
                if (_inFlight[i] == c) _inFlight[i] = null;
            }
            _current = null;
            _free.Add(c);
        }
    }

    // ---- the pool (the methods named ...Locked, and Wait, run under the gate)

    /// <summary>Waits for a change under the gate; throws once the decoder is disposed.</summary>
    private void Wait()
    {
        _cts.Token.ThrowIfCancellationRequested();
        Monitor.Wait(_gate);
        _cts.Token.ThrowIfCancellationRequested();
    }

    /// <summary>Whether <paramref name="s"/> may take one more chunk now.</summary>
    private bool MayTakeLocked(Slot s)
    {
        if (_inUse >= _capacity) return false;
        if (s.Seq == _headSeq) return true;
        int younger = 0;
        foreach (var o in _inFlight)
            if (o is not null && o.Seq > _headSeq) younger += o.Held;
        return younger + 1 <= _capacity - _reserve;
    }

    /// <summary>A chunk for <paramref name="s"/>, once the pool and the head's reserve allow.</summary>
    private byte[] Take(Slot s)
    {
        lock (_gate)
        {
            while (!MayTakeLocked(s)) Wait();
            _inUse++;
            s.Held++;
            return _spare.Count > 0 ? _spare.Pop() : GC.AllocateUninitializedArray<byte>(_chunk);
        }
    }

    /// <summary>A chunk of <paramref name="s"/> is read or decoded: back to the pool.</summary>
    private void Return(Slot s, byte[] chunk)
    {
        lock (_gate)
        {
            _inUse--;
            s.Held--;
            if (chunk.Length == _chunk) _spare.Push(chunk);
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Registers a free slot as the next block in file order.</summary>
    private void Enter(Slot s, int need)
    {
        lock (_gate)
        {
            s.Seq = _nextSeq++;
            _inFlight[s.Seq % _inFlight.Length] = s;
            s.In.Clear();
            s.Out.Clear();
            s.Held = 0;
            s.Decoded = false;
            s.Done = false;
            s.Error = null;
            _reserve = Math.Max(_reserve, need);
        }
    }

    private void Publish(Slot s, byte[] chunk, int length)
    {
        lock (_gate)
        {
            s.Out.Enqueue((chunk, length));
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>A block is decoded (or failed): the head moves past every decoded block.</summary>
    private void Finish(Slot s, Exception? error)
    {
        lock (_gate)
        {
            s.Error = error;
            s.Done = true;
            s.Decoded = true;
            while (_inFlight[_headSeq % _inFlight.Length] is { } h && h.Seq == _headSeq && h.Decoded) _headSeq++;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Decodes a block into chunks, publishing each as it fills.</summary>
    private void Fill(Slot s, XzBlockDecoder decoder)
    {
        while (true)
        {
            var chunk = Take(s);
            int len = 0;
            while (len < chunk.Length)
            {
                int r = decoder.Read(chunk.AsSpan(len));
                if (r == 0) break;
                len += r;
            }
            if (len == 0)
            {
                Return(s, chunk);
                return;
            }
            Publish(s, chunk, len);
            if (len < chunk.Length) return;
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
                    if (FitsPool(header)) Dispatch(header);
                    else DecodeInline(header);
                }
                else
                {
                    _parser.EndStream();
                    if (!_parser.NextStream()) break;
                }
                haveBlock = _parser.NextBlock(out header);
            }
            _ordered.Add(new Slot { IsEnd = true, Done = true });
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            try { _ordered.Add(new Slot { Error = Wrap(e), Done = true }); } catch (InvalidOperationException) { }
        }
    }

    private static Exception Wrap(Exception e) =>
        e is NativeInitException or IOException or OutOfMemoryException ? e
            : new InvalidDataFormatException($"xz: corrupt data ({e.GetType().Name}: {e.Message})", e);

    /// <summary>Whether a block goes to a worker: both sizes recorded, and the workers and a pool for blocks of
    /// its size fit the memory limit (the pool grows to it). Otherwise it is decoded inline.</summary>
    private bool FitsPool(in XzBlockHeader h)
    {
        if (!HasUsableSizes(h) || MemoryFor(_threads, h, _chunk) > _options.MemoryLimit) return false;
        int want = PoolChunks(_threads, h, _chunk);
        lock (_gate)
        {
            if (want > _capacity) _capacity = want;
        }
        return true;
    }

    private void Dispatch(in XzBlockHeader h)
    {
        var slot = _free.Take(_cts.Token);
        Enter(slot, NeedOf(h, _chunk));
        int comp = (int)h.CompressedSize;
        slot.Header = h;
        slot.CheckType = _parser.Check;
        slot.InLen = comp;
        slot.OutLen = h.UncompressedSize;
        for (int left = comp; left > 0;)
        {
            var chunk = Take(slot);
            int n = Math.Min(left, chunk.Length);
            _input.ReadExactly(chunk.AsSpan(0, n), "block data");
            slot.In.Add(chunk);
            left -= n;
        }
        _parser.EndBlock(h, comp, h.UncompressedSize, slot.CheckField);
        _ordered.Add(slot);
        _work.Add(slot);
    }

    private void DecodeInline(in XzBlockHeader h)
    {
        var slot = _free.Take(_cts.Token);
        Enter(slot, 2);
        _ordered.Add(slot);
        try
        {
            _sequential ??= new XzBlockDecoder(_input);
            _sequential.Begin(h, _parser.Check, _options.MemoryLimit);
            long start = _input.Consumed;
            Fill(slot, _sequential);
            Span<byte> check = stackalloc byte[64];
            _parser.EndBlock(h, _input.Consumed - start, _sequential.Produced, check);
            if (!_sequential.Check.Matches(check)) XzFormat.Fail($"{_sequential.Check.Name} check mismatch: the data is corrupt");
        }
        catch (Exception e)
        {
            Finish(slot, Wrap(e));
            throw;
        }
        Finish(slot, null);
    }

    // ---- the workers

    private void WorkLoop(Worker w)
    {
        try
        {
            while (true)
            {
                var slot = _work.Take(_cts.Token);
                Exception? error = null;
                try
                {
                    Decode(w, slot);
                }
                catch (Exception e)
                {
                    error = Wrap(e);
                }
                Finish(slot, error);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Decode(Worker w, Slot s)
    {
        w.Stream.Begin(s);
        w.Input.Reset(w.Stream);
        w.Decoder.Begin(s.Header, s.CheckType, _options.MemoryLimit);
        Fill(s, w.Decoder);
        if (w.Decoder.Produced != s.OutLen) XzFormat.Fail("block is shorter than its recorded uncompressed size");
        if (w.Input.Consumed != s.InLen || !w.Input.AtEnd) XzFormat.Fail("block's compressed size does not match its LZMA2 data");
        if (!w.Decoder.Check.Matches(s.CheckField)) XzFormat.Fail($"{w.Decoder.Check.Name} check mismatch: the data is corrupt");
    }

    /// <summary>Stops the threads (they hold nothing but managed memory, so nothing waits for them).</summary>
    public void Dispose()
    {
        _finished = true;
        _cts.Cancel();
        lock (_gate) Monitor.PulseAll(_gate);
    }
}
