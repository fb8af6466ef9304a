using System.Buffers.Binary;
using System.IO.Hashing;

namespace NativeInit.Core.Archive.Xz;

/// <summary>Walks the container structure of one or more concatenated xz streams (section 2): stream header, block
/// headers, block padding and check, index, footer, stream padding. It does not decode block data; the caller does,
/// either streaming (<see cref="XzBlockDecoder"/>) or from memory (parallel workers).</summary>
internal sealed class XzStreamParser(XzInput input)
{
    private readonly byte[] _flags = new byte[2];
    private readonly byte[] _scratch = new byte[XzFormat.BlockHeaderMaxSize];
    private XzIndexTally _blocks;
    private int _streams;

    public XzInput Input { get; } = input;
    public XzCheckType Check { get; private set; }
    public int CheckSize => XzCheck.SizeOf((int)Check);

    /// <summary>Reads the next stream header; false at a clean end of input after at least one stream.
    /// Stream padding (multiples of four zero bytes) before a further stream is skipped.</summary>
    public bool NextStream()
    {
        if (_streams > 0)
        {
            // Stream padding: zero bytes in groups of four, then end of input or another stream.
            while (true)
            {
                if (!Input.Ensure(4))
                {
                    if (Input.Available == 0) return false;
                    XzFormat.Fail("stream padding is not a multiple of four bytes");
                }
                if (BinaryPrimitives.ReadUInt32LittleEndian(Input.Span) != 0) break;
                Input.Consume(4);
            }
        }
        if (!Input.Ensure(XzFormat.StreamHeaderSize))
            XzInput.Truncated(_streams == 0 ? "stream header" : "stream header after stream padding");
        Check = (XzCheckType)XzFormat.ParseStreamHeader(Input.Span[..XzFormat.StreamHeaderSize]);
        Input.Span.Slice(6, 2).CopyTo(_flags);
        Input.Consume(XzFormat.StreamHeaderSize);
        _blocks = default;
        _streams++;
        return true;
    }

    /// <summary>Reads the next block header; false when the index follows instead (its indicator is not consumed).</summary>
    public bool NextBlock(out XzBlockHeader header)
    {
        header = default;
        byte first = Input.ReadByte("block header or index");
        if (first == 0)
        {
            IndexStart = Input.Consumed - 1;
            return false;
        }
        int size = (first + 1) * 4;
        var h = _scratch.AsSpan(0, size);
        h[0] = first;
        Input.ReadExactly(h[1..], "block header");
        header = XzFormat.ParseBlockHeader(h, CheckSize);
        return true;
    }

    private long IndexStart { get; set; }

    /// <summary>After a block's compressed data: reads the block padding and the check field into
    /// <paramref name="check"/>, and records the block for the index comparison.</summary>
    public void EndBlock(in XzBlockHeader header, long compressedSize, long uncompressedSize, Span<byte> check)
    {
        if (header.CompressedSize >= 0 && header.CompressedSize != compressedSize)
            XzFormat.Fail("block's compressed size does not match its block header");
        if (header.UncompressedSize >= 0 && header.UncompressedSize != uncompressedSize)
            XzFormat.Fail("block's uncompressed size does not match its block header");
        int pad = (int)(-compressedSize & 3);
        for (int i = 0; i < pad; i++)
            if (Input.ReadByte("block padding") != 0) XzFormat.Fail("non-zero block padding");
        Input.ReadExactly(check[..CheckSize], "block check");
        RecordBlock(header.HeaderSize + compressedSize + CheckSize, uncompressedSize);
    }

    /// <summary>Records a block (unpadded size, uncompressed size) for the index comparison.</summary>
    public void RecordBlock(long unpadded, long uncompressed)
    {
        if ((ulong)unpadded > XzFormat.UnpaddedSizeMax) XzFormat.Fail("block is too large");
        _blocks.Add((ulong)unpadded, (ulong)uncompressed);
    }

    /// <summary>Reads the index (its indicator was seen by <see cref="NextBlock"/>) and the stream footer, and
    /// checks them against the blocks seen (section 4 and 2.1.2).</summary>
    public void EndStream()
    {
        // The indicator byte was consumed; the CRC32 covers it.
        var crc = new Crc32();
        crc.Append([0]);
        long start = IndexStart;
        ulong count = ReadIndexVli(crc, "index record count");
        var index = default(XzIndexTally);
        for (ulong i = 0; i < count; i++)
        {
            ulong unpadded = ReadIndexVli(crc, "index unpadded size");
            ulong uncompressed = ReadIndexVli(crc, "index uncompressed size");
            if (unpadded == 0 || unpadded > XzFormat.UnpaddedSizeMax) XzFormat.Fail("invalid unpadded size in the index");
            index.Add(unpadded, uncompressed);
            // Stop early on an index longer than the blocks seen (a huge record count must not spin).
            if (index.Count > _blocks.Count) XzFormat.Fail("index has more records than the stream has blocks");
        }
        int pad = (int)(-(Input.Consumed - start) & 3);
        Span<byte> b = stackalloc byte[4];
        for (int i = 0; i < pad; i++)
        {
            b[0] = Input.ReadByte("index padding");
            if (b[0] != 0) XzFormat.Fail("non-zero index padding");
            crc.Append(b[..1]);
        }
        long indexSize = Input.Consumed - start + 4;
        Input.ReadExactly(b, "index CRC32");
        if (BinaryPrimitives.ReadUInt32LittleEndian(b) != crc.GetCurrentHashAsUInt32()) XzFormat.Fail("index CRC32 mismatch");
        if (!index.SameAs(_blocks)) XzFormat.Fail("index does not match the blocks of the stream");
        Span<byte> footer = stackalloc byte[XzFormat.StreamFooterSize];
        Input.ReadExactly(footer, "stream footer");
        long backward = XzFormat.ParseStreamFooter(footer, _flags);
        if (backward != indexSize) XzFormat.Fail("stream footer's backward size does not match the index");
    }

    private ulong ReadIndexVli(Crc32 crc, string what)
    {
        ulong value = 0;
        Span<byte> one = stackalloc byte[1];
        for (int i = 0; i < 9; i++)
        {
            byte b = Input.ReadByte(what);
            one[0] = b;
            crc.Append(one);
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i != 0) XzFormat.Fail("non-minimal variable-length integer in the index");
                return value;
            }
        }
        return XzFormat.Fail<ulong>("variable-length integer longer than nine bytes in the index");
    }
}
