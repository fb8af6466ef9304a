using SharpCompress.Compressors.Xz;

namespace NativeInit.Core.Archive.Xz;

/// <summary>The one place that picks the xz decoder. For now SharpCompress's XZStream (0.57x liblzma, allocates a
/// dictionary per block: see BRIEF.md); the span-based decoder of this folder replaces it.</summary>
internal static class XzDecoderFactory
{
    public static Stream Open(Stream input, DecoderOptions options) => new SharpCompressXzStream(input);

    /// <summary>Translates SharpCompress's exceptions into <see cref="InvalidDataFormatException"/>.</summary>
    private sealed class SharpCompressXzStream(Stream input) : Stream
    {
        private readonly XZStream _inner = new(input);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            try { return _inner.Read(buffer); }
            catch (Exception e) when (e is not NativeInitException and not OutOfMemoryException)
            {
                throw new InvalidDataFormatException($"xz: corrupt or truncated data ({e.Message})", e);
            }
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) _inner.Dispose(); base.Dispose(disposing); }
    }
}
