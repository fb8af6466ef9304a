using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Hashing;

namespace NativeInit.Core.Archive.Xz;

// The .xz file format, version 1.2.1 (tukaani.org/xz/xz-file-format.txt): stream header and footer (section 2.1),
// block header (3.1), index (4), variable-length integers (1.2). Only parsing here; decoding is in XzDecoderStream.

/// <summary>Filter IDs (section 5.3 and 5.4).</summary>
internal static class XzFilterId
{
    public const ulong Delta = 0x03;
    public const ulong X86 = 0x04;
    public const ulong PowerPc = 0x05;
    public const ulong Ia64 = 0x06;
    public const ulong Arm = 0x07;
    public const ulong ArmThumb = 0x08;
    public const ulong Sparc = 0x09;
    public const ulong Arm64 = 0x0A;
    public const ulong RiscV = 0x0B;
    public const ulong Lzma2 = 0x21;

    public static string Name(ulong id) => id switch
    {
        Delta => "delta",
        X86 => "x86 BCJ",
        PowerPc => "PowerPC BCJ",
        Ia64 => "IA-64 BCJ",
        Arm => "ARM BCJ",
        ArmThumb => "ARM-Thumb BCJ",
        Sparc => "SPARC BCJ",
        Arm64 => "ARM64 BCJ",
        RiscV => "RISC-V BCJ",
        Lzma2 => "LZMA2",
        _ => $"0x{id:X}",
    };
}

/// <summary>One filter of a block's chain: ID and the property this decoder uses.</summary>
internal struct XzFilter
{
    public ulong Id;
    /// <summary>LZMA2: dictionary size; delta: distance; BCJ: start offset.</summary>
    public uint Property;
}

/// <summary>A parsed block header.</summary>
internal struct XzBlockHeader
{
    public int HeaderSize;
    /// <summary>-1 when absent.</summary>
    public long CompressedSize;
    /// <summary>-1 when absent.</summary>
    public long UncompressedSize;
    public int FilterCount;
    public XzFilter F0, F1, F2, F3;

    public readonly XzFilter Filter(int i) => i switch { 0 => F0, 1 => F1, 2 => F2, _ => F3 };

    /// <summary>The LZMA2 dictionary size (the last filter is always LZMA2 after parsing).</summary>
    public readonly uint DictionarySize => Filter(FilterCount - 1).Property;

    public readonly bool HasSizes => CompressedSize >= 0 && UncompressedSize >= 0;
}

internal static class XzFormat
{
    public const int StreamHeaderSize = 12;
    public const int StreamFooterSize = 12;
    public const int MagicSize = 6;
    public static ReadOnlySpan<byte> HeaderMagic => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];
    public static ReadOnlySpan<byte> FooterMagic => [0x59, 0x5A];
    /// <summary>Largest value of a variable-length integer (section 1.2): 2^63 - 1.</summary>
    public const ulong VliMax = long.MaxValue;
    /// <summary>Unpadded Size is at most VliMax rounded down to a multiple of four (section 4.3.2).</summary>
    public const ulong UnpaddedSizeMax = VliMax & ~3UL;
    public const int BlockHeaderMaxSize = 1024;
    /// <summary>LZMA2 dictionary size property values above 40 are invalid (section 5.3.1).</summary>
    public const int Lzma2MaxDictProperty = 40;

    [DoesNotReturn]
    public static void Fail(string reason) => throw new InvalidDataFormatException("xz: " + reason);

    [DoesNotReturn]
    public static T Fail<T>(string reason) => throw new InvalidDataFormatException("xz: " + reason);

    /// <summary>Decodes a variable-length integer at <paramref name="pos"/>; false if the buffer ends first.</summary>
    public static bool TryReadVli(ReadOnlySpan<byte> buf, ref int pos, out ulong value)
    {
        value = 0;
        for (int i = 0; i < 9; i++)
        {
            if (pos >= buf.Length) return false;
            byte b = buf[pos++];
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                // The encoding must be the shortest one: no trailing zero byte.
                if (b == 0 && i != 0) Fail("non-minimal variable-length integer");
                return true;
            }
        }
        Fail("variable-length integer longer than nine bytes");
        return false;
    }

    public static ulong ReadVli(ReadOnlySpan<byte> buf, ref int pos, string what) =>
        TryReadVli(buf, ref pos, out var v) ? v : Fail<ulong>($"{what} runs past its field");

    /// <summary>Parses the stream flags (2 bytes) and returns the check ID.</summary>
    public static int ParseStreamFlags(ReadOnlySpan<byte> flags)
    {
        if (flags[0] != 0 || (flags[1] & 0xF0) != 0) Fail("unsupported stream flags (reserved bits set)");
        int check = flags[1] & 0x0F;
        if (!XzCheck.IsSupported(check)) Fail($"unsupported check type 0x{check:X2}");
        return check;
    }

    /// <summary>Validates a 12-byte stream header, returns the check ID.</summary>
    public static int ParseStreamHeader(ReadOnlySpan<byte> h)
    {
        if (!h[..MagicSize].SequenceEqual(HeaderMagic)) Fail("bad stream header magic (not an xz stream)");
        if (Crc32.HashToUInt32(h.Slice(6, 2)) != BinaryPrimitives.ReadUInt32LittleEndian(h.Slice(8, 4)))
            Fail("stream header CRC32 mismatch");
        return ParseStreamFlags(h.Slice(6, 2));
    }

    /// <summary>Validates a 12-byte stream footer; returns the index size in bytes (Backward Size).</summary>
    public static long ParseStreamFooter(ReadOnlySpan<byte> f, ReadOnlySpan<byte> headerFlags)
    {
        if (!f.Slice(10, 2).SequenceEqual(FooterMagic)) Fail("bad stream footer magic");
        if (Crc32.HashToUInt32(f.Slice(4, 6)) != BinaryPrimitives.ReadUInt32LittleEndian(f))
            Fail("stream footer CRC32 mismatch");
        if (!f.Slice(8, 2).SequenceEqual(headerFlags)) Fail("stream flags in header and footer differ");
        return ((long)BinaryPrimitives.ReadUInt32LittleEndian(f.Slice(4, 4)) + 1) * 4;
    }

    /// <summary>Parses a whole block header (size byte through CRC32).</summary>
    public static XzBlockHeader ParseBlockHeader(ReadOnlySpan<byte> h, int checkSize)
    {
        var bh = new XzBlockHeader { HeaderSize = h.Length, CompressedSize = -1, UncompressedSize = -1 };
        if (Crc32.HashToUInt32(h[..^4]) != BinaryPrimitives.ReadUInt32LittleEndian(h[^4..]))
            Fail("block header CRC32 mismatch");
        var body = h[..^4];
        byte flags = body[1];
        if ((flags & 0x3C) != 0) Fail("unsupported block header flags (reserved bits set)");
        int pos = 2;
        if ((flags & 0x40) != 0)
        {
            ulong c = ReadVli(body, ref pos, "block compressed size");
            // The whole block (header + data + check) must stay within the Unpadded Size limit.
            if (c == 0 || c > UnpaddedSizeMax - (ulong)h.Length - (ulong)checkSize) Fail("invalid block compressed size");
            bh.CompressedSize = (long)c;
        }
        if ((flags & 0x80) != 0)
        {
            ulong u = ReadVli(body, ref pos, "block uncompressed size");
            if (u > VliMax) Fail("invalid block uncompressed size");
            bh.UncompressedSize = (long)u;
        }
        int count = (flags & 3) + 1;
        for (int i = 0; i < count; i++)
        {
            ulong id = ReadVli(body, ref pos, "filter ID");
            ulong propSize = ReadVli(body, ref pos, "filter properties size");
            if (propSize > (ulong)(body.Length - pos)) Fail("filter properties run past the block header");
            var props = body.Slice(pos, (int)propSize);
            pos += (int)propSize;
            bool last = i == count - 1;
            var f = new XzFilter { Id = id };
            switch (id)
            {
                case XzFilterId.Lzma2:
                    if (!last) Fail("unsupported filter chain: LZMA2 is not the last filter");
                    if (props.Length != 1 || (props[0] & 0xC0) != 0 || props[0] > Lzma2MaxDictProperty)
                        Fail("invalid LZMA2 properties");
                    f.Property = props[0] == Lzma2MaxDictProperty ? uint.MaxValue : (2u | (props[0] & 1u)) << (props[0] / 2 + 11);
                    break;
                case XzFilterId.Delta:
                    if (last) Fail("unsupported filter chain: delta as the last filter");
                    if (props.Length != 1) Fail("invalid delta filter properties");
                    f.Property = props[0] + 1u;
                    break;
                case XzFilterId.X86:
                case XzFilterId.Arm64:
                    if (last) Fail($"unsupported filter chain: {XzFilterId.Name(id)} as the last filter");
                    if (props.Length == 4) f.Property = BinaryPrimitives.ReadUInt32LittleEndian(props);
                    else if (props.Length != 0) Fail($"invalid {XzFilterId.Name(id)} filter properties");
                    if (id == XzFilterId.Arm64 && (f.Property & 3) != 0) Fail("invalid ARM64 BCJ start offset");
                    break;
                default:
                    Fail($"unsupported filter {XzFilterId.Name(id)} (supported: LZMA2, delta, x86 BCJ, ARM64 BCJ)");
                    break;
            }
            switch (i) { case 0: bh.F0 = f; break; case 1: bh.F1 = f; break; case 2: bh.F2 = f; break; default: bh.F3 = f; break; }
        }
        bh.FilterCount = count;
        for (; pos < body.Length; pos++)
            if (body[pos] != 0) Fail("unsupported block header (non-zero header padding)");
        return bh;
    }
}

/// <summary>What the blocks of a stream were, for checking the index against them without storing every record:
/// count, sums and a CRC-64 over the (unpadded size, uncompressed size) pairs (the same idea as liblzma's index hash).</summary>
internal struct XzIndexTally
{
    public long Count;
    public ulong UnpaddedSum;
    public ulong UncompressedSum;
    public ulong Hash;

    public void Add(ulong unpadded, ulong uncompressed)
    {
        Count++;
        UnpaddedSum += unpadded;
        UncompressedSum += uncompressed;
        if (UncompressedSum > XzFormat.VliMax || UnpaddedSum > XzFormat.VliMax) XzFormat.Fail("stream is too large");
        Span<byte> pair = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(pair, unpadded);
        BinaryPrimitives.WriteUInt64LittleEndian(pair[8..], uncompressed);
        Hash = Crc64Xz.Update(Hash, pair);
    }

    public readonly bool SameAs(in XzIndexTally o) =>
        Count == o.Count && UnpaddedSum == o.UnpaddedSum && UncompressedSum == o.UncompressedSum && Hash == o.Hash;
}
