namespace NativeInit.Core.Platform;

/// <summary>
/// A write-only stream over an inherited descriptor (standard output or error) that calls write(2) and nothing else.
/// Unlike System.Console it sends no terminal initialisation (ESC[?1h ESC=) to a TTY or serial console, and unlike a
/// FileStream it keeps no file position of its own: two such streams on descriptors that share one open file (as
/// <c>&gt;log 2&gt;&amp;1</c> makes) append in the order written instead of overwriting each other through pwrite.
/// <para>
/// A <em>best-effort</em> stream carries messages (a command's log and report): when a write fails — EIO from a
/// terminal that was hung up, EPIPE from a reader that went away, ENOSPC from a full disk, EBADF from a closed
/// descriptor, or any other error — it stops printing and drops the rest, so losing the terminal never stops the
/// work (issue 18). <see cref="LostErrno"/> says why. A strict stream (data, as `decompress -o -` writes) throws
/// instead, except on EPIPE: a reader that went away (`... | head`) is not an error of ours.
/// </para>
/// </summary>
public sealed class DescriptorWriteStream(int fd, bool bestEffort = false) : Stream
{
    private int _lostErrno;

    /// <summary>The errno of the write that failed on a best-effort stream (0 while printing works).</summary>
    public int LostErrno => Volatile.Read(ref _lostErrno);

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
        if (buffer.IsEmpty || LostErrno != 0) return;
        int errno = new FileHandle(fd, owns: false).TryWriteAll(buffer);
        if (errno == 0) return;
        if (bestEffort || errno == PosixError.EPIPE)
        {
            Interlocked.CompareExchange(ref _lostErrno, errno, 0);
            return;
        }
        PosixError.Throw("write", $"descriptor {fd}", errno);
    }
}
