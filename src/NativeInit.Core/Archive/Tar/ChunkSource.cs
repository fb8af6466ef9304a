using System.Buffers;
using System.Diagnostics;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Archive.Tar;

/// <summary>
/// The decompressed archive as a sequence of large chunks. Every chunk but the last is a whole number of 512-byte
/// tar blocks (sources fill their buffers completely), so a tar header never straddles two chunks and file data can
/// be written straight from the chunk. A chunk stays valid until the next call to <see cref="Next"/>.
/// </summary>
public abstract class ChunkSource : IDisposable
{
    /// <summary>Default chunk size: large reads and writes (1 MiB).</summary>
    public const int DefaultChunkSize = 1 << 20;

    /// <summary>Returns the next chunk (<paramref name="buffer"/>[0..length]); length 0 at the end of the stream.
    /// Throws what the decoder threw (e.g. <see cref="InvalidDataFormatException"/>).</summary>
    public abstract int Next(out byte[] buffer);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    /// <summary>Fills <paramref name="buffer"/> completely from <paramref name="stream"/> unless it ends first; with
    /// <paramref name="wholeBlocksSuffice"/>, returns as soon as it holds a whole number of 512-byte blocks (a pipe
    /// that stays open after the end-of-archive marker must not block the reader).</summary>
    public static int Fill(Stream stream, byte[] buffer, bool wholeBlocksSuffice = false)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer, total, buffer.Length - total);
            if (n <= 0) break;
            total += n;
            if (wholeBlocksSuffice && total % 512 == 0) break;
        }
        return total;
    }
}

/// <summary>A synchronous source: one pooled buffer filled from a stream on the caller's thread.</summary>
public sealed class StreamChunkSource : ChunkSource
{
    private readonly Stream _stream;
    private byte[]? _buffer;

    public StreamChunkSource(Stream stream, int chunkSize = DefaultChunkSize)
    {
        if (chunkSize <= 0 || chunkSize % 512 != 0) throw new ArgumentOutOfRangeException(nameof(chunkSize));
        _stream = stream;
        _buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
        if (_buffer.Length != chunkSize) { ArrayPool<byte>.Shared.Return(_buffer); _buffer = new byte[chunkSize]; }
    }

    public override int Next(out byte[] buffer)
    {
        buffer = _buffer ?? throw new ObjectDisposedException(nameof(StreamChunkSource));
        return Fill(_stream, buffer);
    }

    public override void Dispose()
    {
        if (_buffer is { } b) { _buffer = null; ArrayPool<byte>.Shared.Return(b); }
        base.Dispose();
    }
}

/// <summary>
/// Decoding on its own thread: a decoder thread fills a bounded ring of a few pooled buffers (default 4 x 1 MiB) from
/// the decompressing stream while the consumer (the extractor) works on the previous one, so decompression and file
/// system writes overlap on two cores, as GNU tar's separate decompressor process does. Memory is the ring, fixed.
/// Also measures the decoder thread's busy time and the time the consumer waited for data.
/// </summary>
public sealed class PipelinedChunkSource : ChunkSource
{
    private readonly Stream _stream;
    private readonly byte[][] _slots;
    private readonly int[] _lengths;
    private readonly Gate _free;
    private readonly Gate _filled;
    private readonly Thread _thread;
    private Exception? _error;
    private volatile bool _stop;
    private int _read = -1;
    private bool _holding;
    private bool _ended;
    private long _decodeTicks;
    private long _waitTicks;

    /// <summary>
    /// The memory budget guard: a decoder that allocates per block (SharpCompress's xz decoder allocates a new
    /// dictionary for every xz block) leaves large garbage that a lazy GC lets pile up in RSS (115 MiB measured for
    /// 24 MiB blocks with an 8 MiB dictionary). After every <see cref="CollectAfterAllocating"/> bytes allocated, the
    /// decoder thread runs a full blocking collection (about a millisecond on this small heap), which keeps the peak at
    /// one dictionary plus the fixed buffers, independent of the archive's size. Decoders that do not allocate (zstd)
    /// never trigger it.
    /// </summary>
    public const long CollectAfterAllocating = 24L << 20;
    private long _allocatedAtCollect;

    private readonly bool _plainInput;

    /// <param name="plainInput">The stream is the archive's own input, not a decoder (a plain tar): chunks are handed
    /// out as soon as they hold whole blocks, and <see cref="Dispose"/> does not wait for a read that blocks (a pipe
    /// left open after the end-of-archive marker). A decoder is always waited for, so it is never disposed while in
    /// use.</param>
    public PipelinedChunkSource(Stream stream, int slots = 4, int chunkSize = DefaultChunkSize, bool plainInput = false)
    {
        if (chunkSize <= 0 || chunkSize % 512 != 0) throw new ArgumentOutOfRangeException(nameof(chunkSize));
        if (slots < 2) throw new ArgumentOutOfRangeException(nameof(slots));
        _plainInput = plainInput;
        _stream = stream;
        _slots = new byte[slots][];
        for (int i = 0; i < slots; i++) _slots[i] = GC.AllocateUninitializedArray<byte>(chunkSize);
        _lengths = new int[slots];
        _free = new Gate(slots);
        _filled = new Gate(0);
        _thread = new Thread(DecodeLoop) { IsBackground = true, Name = "decoder" };
        _thread.Start();
    }

    /// <summary>Time the decoder thread spent reading and decompressing.</summary>
    public TimeSpan DecodeTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _decodeTicks));

    /// <summary>CPU time of the decoder thread (known once the stream has ended).</summary>
    public TimeSpan DecodeCpuTime { get; private set; }

    /// <summary>Time the consumer spent waiting for a decoded chunk.</summary>
    public TimeSpan WaitTime => Stopwatch.GetElapsedTime(0, _waitTicks);

    private void DecodeLoop()
    {
        int w = 0;
        try
        {
            while (true)
            {
                _free.Wait();
                if (_stop) return;
                long t0 = Stopwatch.GetTimestamp();
                int n = Fill(_stream, _slots[w], _plainInput);
                long allocated = GC.GetAllocatedBytesForCurrentThread();
                if (allocated - _allocatedAtCollect > CollectAfterAllocating)
                {
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                    _allocatedAtCollect = allocated;
                }
                Interlocked.Add(ref _decodeTicks, Stopwatch.GetTimestamp() - t0);
                _lengths[w] = n;
                if (n == 0) DecodeCpuTime = Platform.ProcessStatus.ThreadCpuTime();
                _filled.Release();
                if (n == 0) return;
                w = (w + 1) % _slots.Length;
            }
        }
        catch (Exception e)
        {
            DecodeCpuTime = Platform.ProcessStatus.ThreadCpuTime();
            _error = e;
            _lengths[w] = -1;
            _filled.Release();
        }
    }

    public override int Next(out byte[] buffer)
    {
        if (_ended) { buffer = _slots[Math.Max(_read, 0)]; return 0; }
        if (_holding) { _free.Release(); _holding = false; }
        long t0 = Stopwatch.GetTimestamp();
        _filled.Wait();
        _waitTicks += Stopwatch.GetTimestamp() - t0;
        _read = (_read + 1) % _slots.Length;
        _holding = true;
        buffer = _slots[_read];
        int n = _lengths[_read];
        if (n < 0)
        {
            _ended = true;
            var e = _error!;
            if (e is NativeInitException) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
            throw new InvalidDataFormatException($"reading the archive: {IoErrors.Reason(e)}", e);
        }
        if (n == 0) _ended = true;
        return n;
    }

    public override void Dispose()
    {
        _stop = true;
        _free.Release();
        // A plain input's read may block forever (a pipe nobody closes): the background thread is left to it; the
        // descriptor stays valid until that read returns (SafeHandle reference counting).
        _thread.Join(_plainInput ? TimeSpan.FromMilliseconds(50) : TimeSpan.FromSeconds(5));
        base.Dispose();
    }

    /// <summary>A counting gate that blocks without spinning: on a busy two-core machine a spinning wait (SemaphoreSlim
    /// spins and calls sched_yield: 11,700 times for 600 hand-offs, measured) steals the core the other side needs.</summary>
    private sealed class Gate(int initial)
    {
        private readonly object _lock = new();
        private int _count = initial;

        public void Wait()
        {
            lock (_lock)
            {
                while (_count == 0) Monitor.Wait(_lock);
                _count--;
            }
        }

        public void Release()
        {
            lock (_lock)
            {
                _count++;
                Monitor.Pulse(_lock);
            }
        }
    }
}
