using System.Buffers;
using System.Text;
using NativeInit.Core.Archive.Tar;

namespace NativeInit.Core.Bundle;

/// <summary>One member found by <see cref="TarScanner"/>.</summary>
public sealed record TarScanEntry(string Name, byte TypeFlag, long Size, long HeaderOffset, long DataOffset);

/// <summary>
/// A minimal tar header walker for the bundle: the single-file bundle container (plain ustar written by NativeInit)
/// and the check of a rootfs archive given to <c>bundle create</c> (count entries, measure the uncompressed size,
/// prove that every header and every data block is there). Reads ustar, pax ('x' path/size, 'g' skipped) and GNU
/// long names ('L'/'K'); checks header checksums; reports truncation with the offset. It does not interpret
/// metadata: the extractor's TarReader does that.
/// </summary>
public sealed class TarScanner
{
    private const int Block = TarHeaderFields.BlockSize;
    private readonly Stream _input;
    private readonly string _what;
    private readonly byte[] _header = new byte[Block];
    private long _position;
    private long _dataLeft;     // data bytes of the current entry not consumed yet
    private long _padLeft;      // padding after them
    private bool _ended;

    public TarScanner(Stream input, string what) => (_input, _what) = (input, what);

    /// <summary>Bytes consumed so far.</summary>
    public long Position => _position;

    /// <summary>The next member, or null after the end-of-archive marker.</summary>
    public TarScanEntry? Next()
    {
        if (_ended) return null;
        SkipRest();
        string? paxPath = null, longName = null;
        long? paxSize = null;
        while (true)
        {
            long headerOffset = _position;
            int n = ReadFull(_header);
            if (n == 0) throw Truncated($"no end-of-archive marker after offset {headerOffset}");
            if (n < Block) throw Truncated($"ends inside a header at offset {headerOffset}");
            _position += Block;
            if (_header.AsSpan().IndexOfAnyExcept((byte)0) < 0)
            {
                _ended = true;
                return null;
            }
            CheckChecksum(headerOffset);
            byte type = _header[TarHeaderFields.TypeFlagOffset];
            long size = ParseNumber(_header.AsSpan(TarHeaderFields.SizeOffset, TarHeaderFields.SizeLength), headerOffset);
            if (type is TarTypeFlag.PaxExtended or TarTypeFlag.PaxGlobal or TarTypeFlag.GnuLongName or TarTypeFlag.GnuLongLink)
            {
                if (size > 16 << 20) throw Bad($"meta header at offset {headerOffset} claims {size} bytes");
                var data = new byte[size];
                if (ReadFull(data) < size) throw Truncated($"ends inside the extended header at offset {headerOffset}");
                _position += size;
                SkipBytes(Pad(size), headerOffset);
                if (type == TarTypeFlag.PaxExtended) ParsePax(data, ref paxPath, ref paxSize, headerOffset);
                else if (type == TarTypeFlag.GnuLongName) longName = Encoding.UTF8.GetString(data).TrimEnd('\0');
                continue;
            }
            string name = paxPath ?? longName ?? HeaderName();
            if (paxSize is long ps) size = ps;
            bool hasData = type is TarTypeFlag.Regular or TarTypeFlag.RegularAlt or TarTypeFlag.Contiguous or TarTypeFlag.GnuSparse
                || (type is not (TarTypeFlag.HardLink or TarTypeFlag.SymLink or TarTypeFlag.CharDevice or TarTypeFlag.BlockDevice
                    or TarTypeFlag.Directory or TarTypeFlag.Fifo) && size > 0);
            if (!hasData) size = 0;
            _dataLeft = size;
            _padLeft = Pad(size);
            return new TarScanEntry(name, type, size, headerOffset, _position);
        }
    }

    /// <summary>Reads the current member's data; returns 0 at its end; throws when the archive ends early.</summary>
    public int ReadData(Span<byte> buffer)
    {
        if (_dataLeft == 0) return 0;
        int want = (int)Math.Min(buffer.Length, _dataLeft);
        int n = ReadFull(buffer[..want]);
        _position += n;
        _dataLeft -= n;
        if (n < want) throw Truncated($"ends inside member data at offset {_position}");
        return n;
    }

    /// <summary>After the end marker: reads to the end of the input (zero padding) and returns the total length.</summary>
    public long ReadToEnd()
    {
        var buf = ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            int n;
            while ((n = _input.Read(buf, 0, buf.Length)) > 0) _position += n;
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
        return _position;
    }

    /// <summary>The current member's data as a stream (consumed from the scanner).</summary>
    public Stream OpenData() => new DataStream(this);

    private void SkipRest()
    {
        var buf = ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            while (_dataLeft > 0) ReadData(buf.AsSpan(0, (int)Math.Min(buf.Length, _dataLeft)));
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
        SkipBytes(_padLeft, _position);
        _padLeft = 0;
    }

    private void SkipBytes(long count, long at)
    {
        Span<byte> tmp = stackalloc byte[Block];
        while (count > 0)
        {
            int want = (int)Math.Min(Block, count);
            int n = ReadFull(tmp[..want]);
            _position += n;
            if (n < want) throw Truncated($"ends inside padding at offset {_position} (member at {at})");
            count -= n;
        }
    }

    private static long Pad(long size) => (Block - size % Block) % Block;

    private string HeaderName()
    {
        var name = Field(_header.AsSpan(TarHeaderFields.NameOffset, TarHeaderFields.NameLength));
        if (_header.AsSpan(TarHeaderFields.MagicOffset, 6).SequenceEqual(TarHeaderFields.UstarMagic))
        {
            var prefix = Field(_header.AsSpan(TarHeaderFields.PrefixOffset, TarHeaderFields.PrefixLength));
            if (prefix.Length > 0) return prefix + "/" + name;
        }
        return name;
    }

    private static string Field(ReadOnlySpan<byte> f)
    {
        int end = f.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? f : f[..end]);
    }

    private void CheckChecksum(long offset)
    {
        var h = _header.AsSpan();
        long stored = ParseNumber(h.Slice(TarHeaderFields.ChecksumOffset, TarHeaderFields.ChecksumLength), offset);
        long unsignedSum = 0, signedSum = 0;
        for (int i = 0; i < Block; i++)
        {
            byte b = i is >= TarHeaderFields.ChecksumOffset and < TarHeaderFields.ChecksumOffset + TarHeaderFields.ChecksumLength ? (byte)' ' : h[i];
            unsignedSum += b;
            signedSum += (sbyte)b;
        }
        if (stored != unsignedSum && stored != signedSum) throw Bad($"header checksum mismatch at offset {offset}");
    }

    /// <summary>Octal (space or NUL terminated) or GNU base-256 (first byte 0x80).</summary>
    private long ParseNumber(ReadOnlySpan<byte> f, long offset)
    {
        if (f.Length > 0 && (f[0] & 0x80) != 0)
        {
            long v = f[0] & 0x3F;
            for (int i = 1; i < f.Length; i++) v = checked((v << 8) | f[i]);
            return v;
        }
        long r = 0;
        int k = 0;
        while (k < f.Length && f[k] == (byte)' ') k++;
        for (; k < f.Length && f[k] is >= (byte)'0' and <= (byte)'7'; k++) r = checked((r << 3) + (f[k] - '0'));
        if (k < f.Length && f[k] is not (0 or (byte)' ')) throw Bad($"bad number field at offset {offset}");
        return r;
    }

    private void ParsePax(byte[] data, ref string? path, ref long? size, long offset)
    {
        int pos = 0;
        while (pos < data.Length)
        {
            int sp = Array.IndexOf(data, (byte)' ', pos);
            if (sp < 0 || !int.TryParse(Encoding.ASCII.GetString(data, pos, sp - pos), out int len) || len <= 0 || pos + len > data.Length)
                throw Bad($"malformed pax record in the header at offset {offset}");
            var rec = data.AsSpan(sp + 1, pos + len - sp - 2);
            int eq = rec.IndexOf((byte)'=');
            if (eq > 0)
            {
                var key = rec[..eq];
                if (key.SequenceEqual("path"u8)) path = Encoding.UTF8.GetString(rec[(eq + 1)..]);
                else if (key.SequenceEqual("size"u8)) size = long.Parse(Encoding.ASCII.GetString(rec[(eq + 1)..]), System.Globalization.CultureInfo.InvariantCulture);
            }
            pos += len;
        }
    }

    private int ReadFull(Span<byte> buffer)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = _input.Read(buffer[got..]);
            if (n == 0) break;
            got += n;
        }
        return got;
    }

    private InvalidDataFormatException Truncated(string detail) => new($"{_what} is truncated: {detail}");
    private InvalidDataFormatException Bad(string detail) => new($"{_what}: {detail}");

    private sealed class DataStream(TarScanner scanner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => scanner.ReadData(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer) => scanner.ReadData(buffer);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
