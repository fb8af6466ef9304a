using ZstdSharp;
using ZstdSharp.Unsafe;

namespace NativeInit.Core.Archive.Zstd;

/// <summary>zstd through ZstdSharp (on par with the zstd CLI under Native AOT, see BRIEF.md). Checksums are verified
/// by ZstdSharp when the frame has one; errors and truncation become <see cref="InvalidDataFormatException"/>.</summary>
public sealed class ZstdDecoderStream : ReadOnlyStream
{
    private readonly DecompressionStream _inner;

    public ZstdDecoderStream(Stream input, DecoderOptions options)
    {
        _inner = new DecompressionStream(input, bufferSize: 1 << 20, checkEndOfStream: true, leaveOpen: false);
        // Refuse windows beyond the memory budget (log2 of the window size).
        int windowLog = (int)Math.Clamp(63 - long.LeadingZeroCount(Math.Max(options.MemoryLimit, 1 << 10)), 10, 31);
        _inner.SetParameter(ZSTD_dParameter.ZSTD_d_windowLogMax, windowLog);
    }


    public override int Read(Span<byte> buffer)
    {
        try { return _inner.Read(buffer); }
        catch (Exception e) when (e is not NativeInitException and not OutOfMemoryException)
        {
            throw new InvalidDataFormatException($"zstd: corrupt or truncated data ({e.Message})", e);
        }
    }

    protected override void Dispose(bool disposing) { if (disposing) _inner.Dispose(); base.Dispose(disposing); }
}
