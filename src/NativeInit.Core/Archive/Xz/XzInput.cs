using System.Runtime.CompilerServices;

namespace NativeInit.Core.Archive.Xz;

/// <summary>Buffered reader over the compressed input: a pinned buffer with readable padding after its data (the
/// LZMA decoder may look up to <see cref="LzmaDecoder.InputPadding"/> bytes past a chunk). Counts what it consumed.</summary>
internal sealed unsafe class XzInput
{
    public const int Capacity = 256 << 10;
    private readonly Stream _stream;
    private readonly byte[] _buf = GC.AllocateArray<byte>(Capacity + LzmaDecoder.InputPadding, pinned: true);
    private readonly byte* _base;
    private int _start, _end;
    private bool _eof;

    public XzInput(Stream stream)
    {
        _stream = stream;
        _base = (byte*)Unsafe.AsPointer(ref _buf[0]);
    }

    /// <summary>Total bytes consumed so far (offset in the input).</summary>
    public long Consumed { get; private set; }

    public int Available => _end - _start;
    public byte* Pointer => _base + _start;
    public ReadOnlySpan<byte> Span => new(_buf, _start, _end - _start);

    /// <summary>Makes at least <paramref name="n"/> (at most <see cref="Capacity"/>) bytes available; false at end of input.</summary>
    public bool Ensure(int n)
    {
        if (_end - _start >= n) return true;
        if (_eof) return false;
        if (_start > 0)
        {
            Buffer.BlockCopy(_buf, _start, _buf, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        while (_end - _start < n)
        {
            int r = _stream.Read(_buf, _end, Capacity - _end);
            if (r <= 0)
            {
                _eof = true;
                return false;
            }
            _end += r;
        }
        return true;
    }

    /// <summary>True when no byte is left (reads ahead to know).</summary>
    public bool AtEnd => !Ensure(1);

    public void Consume(int n)
    {
        _start += n;
        Consumed += n;
    }

    public byte ReadByte(string what)
    {
        if (!Ensure(1)) Truncated(what);
        byte b = _buf[_start];
        Consume(1);
        return b;
    }

    /// <summary>Fills <paramref name="dst"/> exactly, from the buffer then straight from the stream.</summary>
    public void ReadExactly(Span<byte> dst, string what)
    {
        int fromBuf = Math.Min(dst.Length, _end - _start);
        new ReadOnlySpan<byte>(_buf, _start, fromBuf).CopyTo(dst);
        Consume(fromBuf);
        dst = dst[fromBuf..];
        while (dst.Length > 0)
        {
            if (_eof) Truncated(what);
            int r = _stream.Read(dst);
            if (r <= 0)
            {
                _eof = true;
                Truncated(what);
            }
            dst = dst[r..];
            Consumed += r;
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Truncated(string what) => XzFormat.Fail($"truncated input ({what})");
}
