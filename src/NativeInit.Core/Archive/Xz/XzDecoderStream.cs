using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;

namespace NativeInit.Core.Archive.Xz;

/// <summary>
/// A read-only stream of the decompressed bytes of an .xz file (one or more concatenated streams, with stream padding).
/// Every check (CRC32, CRC64, SHA-256) is verified, the index is compared with the blocks seen, and any malformed,
/// truncated or hostile input ends in <see cref="InvalidDataFormatException"/>.
///
/// With more than one thread and a first block whose header records both sizes (files from xz -T, xz --block-size,
/// pixz), blocks are decoded on worker threads into a shared pool of memory chunks and handed out in order while
/// they are decoded (<see cref="XzParallelDecoder"/>); otherwise one thread streams through a window of the
/// dictionary size.
/// </summary>
public sealed class XzDecoderStream : ReadOnlyStream
{
    private enum State { Start, StreamStart, BlockStart, InBlock, Parallel, Done }

    private readonly Stream _source;
    private readonly XzInput _input;
    private readonly XzStreamParser _parser;
    private readonly DecoderOptions _options;
    private const int CopyBufferSize = 256 << 10;
    private readonly byte[] _checkField = new byte[64];
    private byte[]? _copy;
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
        _options.XzStatistics?.Start(0, 0);
    }

    /// <summary>True once the parallel block decoder was chosen (for tests and statistics).</summary>
    public bool IsParallel => _parallel is not null;

    /// <summary>Worker threads of the parallel decoder; 0 when decoding on the caller's thread.</summary>
    internal int ParallelWorkers => _parallel?.Workers ?? 0;


    public override int Read(Span<byte> buffer)
    {
        // After a failure every further read fails the same way: a caller must never see a quiet end of data.
        _failure?.Throw();
        if (buffer.Length == 0) return 0;
        try
        {
            return ReadCore(buffer);
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
    }

    /// <summary>
    /// Decoded bytes without copying them where the decoder holds them whole (the parallel decoder's blocks), else
    /// through a buffer of its own: at most <paramref name="max"/> bytes, none at the end. They stay valid until the
    /// next read of any kind. `decompress` writes its output this way: no copy of every byte on the reader's
    /// thread, and no buffer for it (256 KiB of the peak RSS of a two-thread decode, issue 11).
    /// </summary>
    public unsafe int ReadInPlace(int max, out ReadOnlySpan<byte> data)
    {
        _failure?.Throw();
        data = default;
        if (max <= 0 || _state == State.Done) return 0;
        try
        {
            if (_state == State.Start) Start();
            if (_state == State.Parallel)
            {
                int p = _parallel!.ReadInPlace(max, out byte* at);
                if (p == 0) _state = State.Done;
                data = new ReadOnlySpan<byte>(at, p);
                return p;
            }
            _copy ??= GC.AllocateUninitializedArray<byte>(CopyBufferSize);
            int n = ReadCore(_copy.AsSpan(0, Math.Min(max, _copy.Length)));
            data = _copy.AsSpan(0, n);
            return n;
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
    }

    /// <summary>Remembers a failure so that every further read fails the same way, and throws it: as it came for the
    /// product's and the runtime's own errors, else (a safety net: no other exception type may escape for bad input)
    /// as <see cref="InvalidDataFormatException"/>.</summary>
    [DoesNotReturn]
    private void Fail(Exception e)
    {
        if (e is not NativeInitException and not IOException and not OutOfMemoryException
                and not ObjectDisposedException and not OperationCanceledException)
            e = new InvalidDataFormatException($"xz: corrupt data ({e.GetType().Name}: {e.Message})", e);
        _failure = ExceptionDispatchInfo.Capture(e);
        _failure.Throw();
    }

    /// <summary>The first block decides: the parallel decoder when it suits, else one thread.</summary>
    private void Start()
    {
        _parser.NextStream();
        if (!_parser.NextBlock(out _header))
        {
            _parser.EndStream();
            _state = State.StreamStart;
        }
        else if (XzParallelDecoder.Suits(_header, _options))
        {
            _parallel = new XzParallelDecoder(_parser, _header, _options);
            _state = State.Parallel;
        }
        else BeginBlock();
    }

    private int ReadCore(Span<byte> buffer)
    {
        while (true)
        {
            switch (_state)
            {
                case State.Start:
                    Start();
                    continue;
                case State.StreamStart:
                    if (!_parser.NextStream())
                    {
                        _state = State.Done;
                        _options.XzStatistics?.Stop();
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
        if (_options.XzStatistics is { } stats) stats.CountBlock();
        _blockDataStart = _input.Consumed;
        _state = State.InBlock;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _options.XzStatistics?.Stop();
            _parallel?.Dispose();
            if (!_leaveOpen) _source.Dispose();
            _leaveOpen = true;
        }
        base.Dispose(disposing);
    }
}
