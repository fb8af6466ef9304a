using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace NativeInit.Core.Archive.Xz;

/// <summary>
/// A read-only stream of the decompressed bytes of an .xz file (one or more concatenated streams, with stream padding).
/// Every check (CRC32, CRC64, SHA-256) is verified, the index is compared with the blocks seen, and any malformed,
/// truncated or hostile input ends in <see cref="InvalidDataFormatException"/>.
///
/// With more than one thread and a first block whose header records both sizes (files from xz -T, xz --block-size,
/// pixz), blocks are decoded on worker threads into flat buffers (<see cref="XzParallelDecoder"/>); otherwise one
/// thread streams through a window of the dictionary size.
/// </summary>
public sealed class XzDecoderStream : ReadOnlyStream
{
    private enum State { Start, StreamStart, BlockStart, InBlock, Parallel, Done }

    private readonly Stream _source;
    private readonly XzInput _input;
    private readonly XzStreamParser _parser;
    private readonly DecoderOptions _options;
    private readonly byte[] _checkField = new byte[64];
    private XzBlockDecoder? _block;
    private XzParallelDecoder? _parallel;
    private XzBlockHeader _header;
    private long _blockDataStart;
    private State _state;
    private bool _leaveOpen;
    private ExceptionDispatchInfo? _failure;

    public XzDecoderStream(Stream input, DecoderOptions? options = null, bool leaveOpen = false)
    {
        _source = input;
        _options = options ?? new DecoderOptions();
        _input = new XzInput(input);
        _parser = new XzStreamParser(_input);
        _leaveOpen = leaveOpen;
    }

    /// <summary>True once the parallel block decoder was chosen (for tests and statistics).</summary>
    public bool IsParallel => _parallel is not null;


    public override int Read(Span<byte> buffer)
    {
        // After a failure every further read fails the same way: a caller must never see a quiet end of data.
        _failure?.Throw();
        if (buffer.Length == 0) return 0;
        try
        {
            return ReadCore(buffer);
        }
        catch (Exception e) when (e is not NativeInitException and not IOException and not OutOfMemoryException
                                      and not ObjectDisposedException and not OperationCanceledException)
        {
            // A safety net: no other exception type may escape for bad input.
            var wrapped = new InvalidDataFormatException($"xz: corrupt data ({e.GetType().Name}: {e.Message})", e);
            _failure = ExceptionDispatchInfo.Capture(wrapped);
            throw wrapped;
        }
        catch (Exception e)
        {
            _failure = ExceptionDispatchInfo.Capture(e);
            throw;
        }
    }

    private int ReadCore(Span<byte> buffer)
    {
        while (true)
        {
            switch (_state)
            {
                case State.Start:
                    _parser.NextStream();
                    if (!_parser.NextBlock(out _header))
                    {
                        _parser.EndStream();
                        _state = State.StreamStart;
                        continue;
                    }
                    if (XzParallelDecoder.Suits(_header, _options))
                    {
                        _parallel = new XzParallelDecoder(_parser, _header, _options);
                        _state = State.Parallel;
                        continue;
                    }
                    BeginBlock();
                    continue;
                case State.StreamStart:
                    if (!_parser.NextStream())
                    {
                        _state = State.Done;
                        return 0;
                    }
                    _state = State.BlockStart;
                    continue;
                case State.BlockStart:
                    if (_parser.NextBlock(out _header)) BeginBlock();
                    else
                    {
                        _parser.EndStream();
                        _state = State.StreamStart;
                    }
                    continue;
                case State.InBlock:
                    int n = _block!.Read(buffer);
                    if (n > 0) return n;
                    _parser.EndBlock(_header, _input.Consumed - _blockDataStart, _block.Produced, _checkField);
                    if (!_block.Check.Matches(_checkField))
                        XzFormat.Fail($"{_block.Check.Name} check mismatch: the data is corrupt");
                    _state = State.BlockStart;
                    continue;
                case State.Parallel:
                    int p = _parallel!.Read(buffer);
                    if (p == 0) _state = State.Done;
                    return p;
                default:
                    return 0;
            }
        }
    }

    private void BeginBlock()
    {
        _block ??= new XzBlockDecoder(_input);
        _block.Begin(_header, _parser.Check, _options.MemoryLimit);
        _blockDataStart = _input.Consumed;
        _state = State.InBlock;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _parallel?.Dispose();
            if (!_leaveOpen) _source.Dispose();
            _leaveOpen = true;
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// Decodes blocks whose headers record both sizes on worker threads. A dispatcher thread walks the container and
/// reads each block's compressed bytes into a free slot; a worker decodes it into the slot's flat output buffer (the
/// buffer is the dictionary), runs the filters and verifies the check; the reader hands slots out in file order and
/// returns them to the free list. Memory: <c>threads + 1</c> slots of one block (the compressed bytes are decoded in
/// place at the end of the slot's output buffer) plus 256 KiB, reused across blocks. A block without recorded sizes is decoded on the dispatcher thread, streaming, in 1 MiB pieces.
/// </summary>
internal sealed unsafe class XzParallelDecoder : IDisposable
{
    private const int PieceSize = 1 << 20;
    /// <summary>Bytes between the end of the uncompressed data and the end of the compressed data in a slot: four
    /// stored chunks' worth, so only unusual files need the spill copy (stored chunks grow by 3 bytes per 64 KiB, so a
    /// whole incompressible 24 MiB block needs about 65 KiB + 1 KiB).</summary>
    private const int InPlaceMargin = 256 << 10;

    private sealed class Slot
    {
        public readonly PinnedBuffer Output = new();
        public readonly PinnedBuffer Spill = new();
        public readonly byte[] CheckField = new byte[64];
        public readonly ManualResetEventSlim Done = new(false);
        public LzmaDecoder? Lz;
        public XzFilterChain? Filters;
        public XzCheck? Check;
        public XzBlockHeader Header;
        public XzCheckType CheckType;
        public int InLen, InOffset, OutLen, ReadPos;
        public Exception? Error;
        public bool IsEnd;
    }

    private readonly XzStreamParser _parser;
    private readonly XzInput _input;
    private readonly DecoderOptions _options;
    private readonly XzBlockHeader _first;
    private readonly int _threads;
    private readonly BlockingCollection<Slot> _free = new(new ConcurrentQueue<Slot>());
    private readonly BlockingCollection<Slot> _work = new(new ConcurrentQueue<Slot>());
    private readonly BlockingCollection<Slot> _ordered = new(new ConcurrentQueue<Slot>());
    private readonly CancellationTokenSource _cts = new();
    private readonly Thread _dispatcher;
    private readonly Thread[] _workers;
    private XzBlockDecoder? _sequential;
    private Slot? _current;
    private bool _finished;

    public XzParallelDecoder(XzStreamParser parser, in XzBlockHeader first, DecoderOptions options)
    {
        _parser = parser;
        _input = parser.Input;
        _options = options;
        _first = first;
        _threads = WorkersFor(first, options);
        // One slot more than workers: while the reader drains the oldest block (slowly, when it is a tar extractor
        // writing files), every worker still has a block to decode, and a worker that finishes a quick block does
        // not wait for a slow neighbour (with one slot per worker, blocks are decoded in lockstep pairs).
        int slots = _threads + 1;
        for (int i = 0; i < slots; i++) _free.Add(new Slot());
        _workers = new Thread[_threads];
        for (int i = 0; i < _threads; i++)
        {
            _workers[i] = new Thread(WorkLoop) { IsBackground = true, Name = "xz-worker-" + i };
            _workers[i].Start();
        }
        _dispatcher = new Thread(DispatchLoop) { IsBackground = true, Name = "xz-dispatch" };
        _dispatcher.Start();
    }

    /// <summary>Whether a file whose first block has this header goes parallel: several threads, both sizes
    /// recorded, and at least two workers' slots fit the memory limit.</summary>
    public static bool Suits(in XzBlockHeader first, DecoderOptions options) =>
        options.EffectiveThreads > 1 && WorkersFor(first, options) > 1;

    /// <summary>Workers for blocks like <paramref name="first"/>: the threads asked for, fewer when their slots
    /// (one more than workers) would not fit the memory limit; 0 when the block records no sizes.</summary>
    private static int WorkersFor(in XzBlockHeader first, DecoderOptions options)
    {
        long slot = SlotBytes(first);
        if (slot < 0) return 0;
        long fit = options.MemoryLimit / slot - 1;
        return (int)Math.Clamp(fit, 0, options.EffectiveThreads);
    }

    /// <summary>Bytes of one slot for a block, -1 when the block cannot go to a slot.</summary>
    private static long SlotBytes(in XzBlockHeader h) =>
        h.HasSizes && h.UncompressedSize <= int.MaxValue / 2 && h.CompressedSize <= int.MaxValue / 2
            ? Math.Max(h.UncompressedSize, h.CompressedSize) + InPlaceMargin + 1024
            : -1;

    private bool FitsSlot(in XzBlockHeader h)
    {
        long slot = SlotBytes(h);
        return slot >= 0 && slot * (_threads + 1) <= _options.MemoryLimit;
    }

    public int Read(Span<byte> dst)
    {
        while (true)
        {
            if (_finished) return 0;
            if (_current is null)
            {
                var s = _ordered.Take(_cts.Token);
                s.Done.Wait(_cts.Token);
                if (s.Error is not null)
                {
                    _finished = true;
                    ExceptionDispatchInfo.Capture(s.Error).Throw();
                }
                if (s.IsEnd)
                {
                    _finished = true;
                    return 0;
                }
                _current = s;
            }
            var c = _current;
            if (c.ReadPos < c.OutLen)
            {
                int n = Math.Min(dst.Length, c.OutLen - c.ReadPos);
                new ReadOnlySpan<byte>(c.Output.Pointer + c.ReadPos, n).CopyTo(dst);
                c.ReadPos += n;
                return n;
            }
            c.Done.Reset();
            _current = null;
            _free.Add(c);
        }
    }

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
            var end = new Slot { IsEnd = true };
            end.Done.Set();
            _ordered.Add(end);
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            var err = new Slot { Error = Wrap(e) };
            err.Done.Set();
            try { _ordered.Add(err); } catch (InvalidOperationException) { }
        }
    }

    private static Exception Wrap(Exception e) =>
        e is NativeInitException or IOException or OutOfMemoryException ? e
            : new InvalidDataFormatException($"xz: corrupt data ({e.GetType().Name}: {e.Message})", e);

    private void Dispatch(in XzBlockHeader h)
    {
        var slot = _free.Take(_cts.Token);
        int comp = (int)h.CompressedSize, unc = (int)h.UncompressedSize;
        slot.Header = h;
        slot.CheckType = _parser.Check;
        // In-place decoding: the compressed bytes go at the end of the output buffer, ending InPlaceMargin past the
        // uncompressed size, so the output (which grows faster than the input is consumed) does not reach unread
        // input; DecodeFlat checks before every chunk and moves the rest aside if it would. One buffer per slot
        // instead of two saves about the compressed size in memory. The buffer is sized for the largest block seen.
        long placement = Math.Max(unc, comp) + InPlaceMargin;
        slot.Output.Ensure((int)(placement + LzmaDecoder.InputPadding));
        slot.InOffset = (int)(placement - comp);
        _input.ReadExactly(new Span<byte>(slot.Output.Pointer + slot.InOffset, comp), "block data");
        _parser.EndBlock(h, comp, unc, slot.CheckField);
        slot.InLen = comp;
        slot.OutLen = unc;
        slot.ReadPos = 0;
        slot.Error = null;
        _ordered.Add(slot);
        _work.Add(slot);
    }

    private void DecodeInline(in XzBlockHeader h)
    {
        _sequential ??= new XzBlockDecoder(_input);
        _sequential.Begin(h, _parser.Check, _options.MemoryLimit);
        long start = _input.Consumed;
        while (true)
        {
            var slot = _free.Take(_cts.Token);
            slot.Output.Ensure(PieceSize);
            int len = 0;
            while (len < PieceSize)
            {
                int r = _sequential.Read(new Span<byte>(slot.Output.Pointer + len, PieceSize - len));
                if (r == 0) break;
                len += r;
            }
            if (len == 0)
            {
                _free.Add(slot);
                break;
            }
            slot.OutLen = len;
            slot.ReadPos = 0;
            slot.Error = null;
            slot.Done.Set();
            _ordered.Add(slot);
        }
        Span<byte> check = stackalloc byte[64];
        _parser.EndBlock(h, _input.Consumed - start, _sequential.Produced, check);
        if (!_sequential.Check.Matches(check)) XzFormat.Fail($"{_sequential.Check.Name} check mismatch: the data is corrupt");
    }

    private void WorkLoop()
    {
        try
        {
            while (true)
            {
                var slot = _work.Take(_cts.Token);
                try
                {
                    Decode(slot);
                }
                catch (Exception e)
                {
                    slot.Error = Wrap(e);
                }
                slot.Done.Set();
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
        Lzma2.DecodeFlat(s.Lz, s.Output.Pointer + s.InOffset, s.InLen, s.Output.Pointer, s.OutLen, h.DictionarySize, s.Spill);
        var output = new Span<byte>(s.Output.Pointer, s.OutLen);
        s.Filters.Reset(h);
        if (s.Filters.Count > 0) s.Filters.Process(output, output.Length, final: true);
        s.Check.Reset(s.CheckType);
        s.Check.Append(output);
        if (!s.Check.Matches(s.CheckField)) XzFormat.Fail($"{s.Check.Name} check mismatch: the data is corrupt");
    }

    public void Dispose()
    {
        _cts.Cancel();
        _finished = true;
    }
}
