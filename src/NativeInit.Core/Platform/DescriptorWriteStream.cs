namespace NativeInit.Core.Platform;

/// <summary>
/// A write-only stream over an inherited descriptor (standard output or error) that calls write(2) and nothing else.
/// Unlike System.Console it sends no terminal initialisation (ESC[?1h ESC=) to a TTY or serial console, and unlike a
/// FileStream it keeps no file position of its own: two such streams on descriptors that share one open file (as
/// <c>&gt;log 2&gt;&amp;1</c> makes) append in the order written instead of overwriting each other through pwrite.
/// </summary>
public sealed class DescriptorWriteStream(int fd) : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int errno = new FileHandle(fd, owns: false).TryWriteAll(buffer);
        // A reader that went away (`nativeinit ... | head`) is not an error of ours: the rest is dropped, as
        // System.Console does (the runtime ignores SIGPIPE, so write returns EPIPE).
        if (errno != 0 && errno != PosixError.EPIPE) PosixError.Throw("write", $"descriptor {fd}", errno);
    }
}
