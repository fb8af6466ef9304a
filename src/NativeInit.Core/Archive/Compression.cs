using NativeInit.Core.Archive.Zstd;

namespace NativeInit.Core.Archive;

/// <summary>What wraps a tar stream, told by its first bytes, never by a file name.</summary>
public enum CompressionFormat
{
    None,
    Xz,
    Zstd,
}

/// <summary>Options shared by every decoder.</summary>
public sealed record DecoderOptions
{
    /// <summary>Worker threads a decoder may use (xz multi-block). 0 means the number of cores.</summary>
    public int Threads { get; init; }

    /// <summary>Upper bound of memory a decoder may allocate (dictionaries, windows, block buffers).
    /// A stream that would need more is refused before allocating.</summary>
    public long MemoryLimit { get; init; } = 1L << 30;

    public int EffectiveThreads => Threads > 0 ? Threads : Environment.ProcessorCount;

    /// <summary>Filled by the xz decoder while it runs: per-thread busy and waiting time (for --stats).</summary>
    public Xz.XzDecodeStatistics? XzStatistics { get; init; }
}

/// <summary>Detects the compression of a stream and opens the matching decoder behind one interface: a read-only
/// <see cref="Stream"/> of the decompressed bytes that throws <see cref="InvalidDataFormatException"/> on corrupt
/// input or a failed integrity check, never returns a short stream quietly.</summary>
public static class Compression
{
    /// <summary>xz stream header magic (xz file format 1.2.1, section 2.1.1.1): FD 37 7A 58 5A 00.</summary>
    public static ReadOnlySpan<byte> XzMagic => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];

    /// <summary>zstd frame magic 0xFD2FB528, little endian (RFC 8878, section 3.1.1).</summary>
    public static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xB5, 0x2F, 0xFD];

    /// <summary>Bytes needed by <see cref="Detect"/>.</summary>
    public const int MagicLength = 6;

    /// <summary>zstd skippable frame magic 0x184D2A5?, little endian (RFC 8878, section 3.1.2): pzstd's output and the
    /// seekable format start with one. The decoder skips such frames wherever they are.</summary>
    public static bool IsZstdSkippableMagic(ReadOnlySpan<byte> head) =>
        head.Length >= 4 && (head[0] & 0xF0) == 0x50 && head[1] == 0x2A && head[2] == 0x4D && head[3] == 0x18;

    public static CompressionFormat Detect(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith(XzMagic)) return CompressionFormat.Xz;
        if (head.StartsWith(ZstdMagic) || IsZstdSkippableMagic(head)) return CompressionFormat.Zstd;
        return CompressionFormat.None;
    }

    /// <summary>Reads the first bytes of <paramref name="input"/>, tells the format from them and returns the matching
    /// decoder over the whole stream (those bytes included); for an uncompressed stream, the stream itself.</summary>
    public static Stream OpenDetected(Stream input, DecoderOptions options, out CompressionFormat format)
    {
        var head = new byte[MagicLength];
        int got = 0;
        while (got < head.Length)
        {
            int n = input.Read(head, got, head.Length - got);
            if (n <= 0) break;
            got += n;
        }
        format = Detect(head.AsSpan(0, got));
        return OpenDecoder(new PrefixedStream(head.AsMemory(0, got), input), format, options);
    }

    /// <summary>Wraps <paramref name="input"/> in the decoder for <paramref name="format"/> (None returns it as is).</summary>
    public static Stream OpenDecoder(Stream input, CompressionFormat format, DecoderOptions options) => format switch
    {
        CompressionFormat.None => input,
        CompressionFormat.Zstd => new ZstdDecoderStream(input, options),
        CompressionFormat.Xz => Xz.XzDecoderFactory.Open(input, options),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };
}

/// <summary>The bytes already read to detect the format, then the rest of the input. Disposing it disposes the input.</summary>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : ReadOnlyStream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override int Read(Span<byte> buffer)
    {
        if (_prefix.IsEmpty) return rest.Read(buffer);
        int n = Math.Min(buffer.Length, _prefix.Length);
        _prefix.Span[..n].CopyTo(buffer);
        _prefix = _prefix[n..];
        return n;
    }

    protected override void Dispose(bool disposing) { if (disposing) rest.Dispose(); base.Dispose(disposing); }
}
