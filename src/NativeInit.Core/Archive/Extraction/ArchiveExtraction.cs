using System.Diagnostics;
using Microsoft.Win32.SafeHandles;
using NativeInit.Core.Archive.Tar;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Archive.Extraction;

/// <summary>What <see cref="ArchiveExtraction.Run"/> reports.</summary>
public sealed class ExtractionReport
{
    public required CompressionFormat Compression { get; init; }
    public required ExtractionStats Stats { get; init; }
    /// <summary>Bytes read from the archive file (compressed).</summary>
    public long InputBytes { get; init; }
    /// <summary>Bytes of tar stream (uncompressed) consumed.</summary>
    public long TarBytes { get; init; }
    public TimeSpan Wall { get; init; }
    /// <summary>Busy time of the decoder thread (reading + decompressing).</summary>
    public TimeSpan DecodeTime { get; init; }
    /// <summary>Busy time of the extraction thread (parsing + file system calls), i.e. wall minus waiting for data.</summary>
    public TimeSpan WriteTime { get; init; }
    /// <summary>CPU time of the decoder thread and of the extraction thread (busy time minus preemption on a loaded
    /// machine).</summary>
    public TimeSpan DecodeCpuTime { get; init; }
    public TimeSpan WriteCpuTime { get; init; }
    public long PeakRssBytes { get; init; }
}

/// <summary>
/// `nativeinit extract` without the CLI: opens the archive (a file or "-" for standard input) with large reads,
/// detects the compression from the magic bytes, runs the decoder on its own thread into a ring of 4 x 1 MiB buffers
/// (<see cref="PipelinedChunkSource"/>) and extracts on the calling thread. Memory is fixed: the ring, one 1 MiB read
/// buffer, and the decoder's window; nothing grows with the archive but the deferred directory list.
/// </summary>
public static class ArchiveExtraction
{
    public const int ReadBufferSize = 1 << 20;

    /// <summary>Progress: compressed bytes read so far, and the archive size when known (else -1).</summary>
    public sealed class Input : IDisposable
    {
        internal CountingStream Stream { get; }
        public long Length { get; }
        public long BytesRead => Stream.BytesRead;
        private Input(CountingStream s, long length) => (Stream, Length) = (s, length);

        /// <summary>Opens the archive; <see cref="RefusedException"/> when it cannot be read (nothing written yet).</summary>
        public static Input Open(string path)
        {
            if (path == "-")
            {
                var stdin = new FileStream(new SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);
                return new Input(new CountingStream(stdin), -1);
            }
            try
            {
                var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
                long length = -1;
                try { length = fs.Length; } catch (NotSupportedException) { } catch (IOException) { }
                return new Input(new CountingStream(fs), length);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new RefusedException($"archive {path}: {e.Message}", e);
            }
        }

        /// <summary>An archive read from an open stream (e.g. a bundle part read from the raw disk);
        /// <paramref name="length"/> is its size for progress, or -1.</summary>
        public static Input FromStream(Stream stream, long length) => new(new CountingStream(stream), length);

        public void Dispose() => Stream.Dispose();
    }

    /// <summary>Extracts <paramref name="input"/> beneath <paramref name="extractor"/>'s directory.</summary>
    public static ExtractionReport Run(Input input, TarExtractor extractor, DecoderOptions options, Action? tick = null)
    {
        long start = Stopwatch.GetTimestamp();
        var cpu0 = ProcessStatus.ThreadCpuTime();
        using var decoded = Compression.OpenDetected(new ReadAheadStream(input.Stream, ReadBufferSize), options, out var format);
        bool plain = format == CompressionFormat.None;
        using var source = new PipelinedChunkSource(decoded, plainInput: plain);
        // A compressed stream is read to its end so its checks run; a plain tar stops at the end-of-archive marker
        // (its input may never end: /dev/zero, a pipe left open).
        using var reader = new TarReader(source) { DrainAfterEnd = !plain };
        extractor.Tick = tick;
        extractor.ExtractAll(reader);
        var wall = Stopwatch.GetElapsedTime(start);
        return new ExtractionReport
        {
            Compression = format,
            Stats = extractor.Stats,
            InputBytes = input.BytesRead,
            TarBytes = reader.Position,
            Wall = wall,
            DecodeTime = source.DecodeTime,
            WriteTime = wall - source.WaitTime,
            DecodeCpuTime = source.DecodeCpuTime,
            WriteCpuTime = ProcessStatus.ThreadCpuTime() - cpu0,
            PeakRssBytes = ProcessStatus.PeakRssBytes(),
        };
    }
}

/// <summary>A read-only stream that counts bytes read (for progress, read from another thread).</summary>
internal sealed class CountingStream(Stream inner) : ReadOnlyStream
{
    private long _bytesRead;

    public long BytesRead => Interlocked.Read(ref _bytesRead);

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        Interlocked.Add(ref _bytesRead, n);
        return n;
    }

    protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
}

/// <summary>Large reads from the archive (small reads are served from one buffer; reads at least as large as the
/// buffer bypass it).</summary>
internal sealed class ReadAheadStream(Stream inner, int bufferSize) : ReadOnlyStream
{
    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(bufferSize);
    private int _pos, _len;

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        int n;
        if (_pos < _len)
        {
            n = Math.Min(buffer.Length, _len - _pos);
            _buffer.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
        }
        else if (buffer.Length >= _buffer.Length)
        {
            n = inner.Read(buffer);
        }
        else
        {
            _len = inner.Read(_buffer);
            _pos = 0;
            n = Math.Min(buffer.Length, _len);
            _buffer.AsSpan(0, n).CopyTo(buffer);
            _pos = n;
        }
        return n;
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
}
