using System.Buffers.Binary;
using System.IO.Hashing;
using NativeInit.Core;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Xz;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive.Xz;

/// <summary>Helpers shared by the xz tests: decoding through the decoder under test, making inputs with the xz CLI,
/// and deterministic sample data.</summary>
internal static class XzTest
{
    /// <param name="inPlace">Read with <see cref="XzDecoderStream.ReadInPlace"/> (at most <paramref name="readSize"/>
    /// bytes a call), as `decompress` does, instead of copying reads.</param>
    public static byte[] Decode(byte[] xz, int threads = 1, long memoryLimit = 1L << 30, int readSize = 1 << 16, bool inPlace = false)
    {
        using var s = new XzDecoderStream(new MemoryStream(xz), new DecoderOptions { Threads = threads, MemoryLimit = memoryLimit });
        var output = new MemoryStream();
        if (inPlace)
        {
            while (s.ReadInPlace(readSize, out var data) > 0) output.Write(data);
            return output.ToArray();
        }
        var buf = new byte[readSize];
        int n;
        while ((n = s.Read(buf, 0, buf.Length)) > 0) output.Write(buf, 0, n);
        return output.ToArray();
    }

    /// <summary>Compresses with the xz CLI (the oracle); arguments as for xz.</summary>
    public static byte[] XzCli(byte[] data, params string[] args)
    {
        using var dir = new TempDir();
        string input = dir.Combine("in");
        File.WriteAllBytes(input, data);
        string output = dir.Combine("out.xz");
        Tool.Sh($"xz {string.Join(' ', args.Select(Tool.Quote))} -kc {Tool.Quote(input)} > {Tool.Quote(output)}");
        return File.ReadAllBytes(output);
    }

    /// <summary>Mixed sample data: text-like runs, structured binary, a little noise; deterministic per seed.</summary>
    public static byte[] Sample(int size, int seed = 1)
    {
        var rng = new Random(seed);
        var data = new byte[size];
        string[] words = ["gateway", "conversion", "partition", "volume", "kernel", "initramfs", "bundle", "\n", " ", "0x7f", "/usr/lib/"];
        int i = 0;
        while (i < size)
        {
            int kind = rng.Next(10);
            if (kind < 6)
            {
                var w = words[rng.Next(words.Length)];
                for (int k = 0; k < w.Length && i < size; k++) data[i++] = (byte)w[k];
            }
            else if (kind < 8)
            {
                // Repeat an earlier stretch (long matches).
                if (i > 64)
                {
                    int from = rng.Next(i - 32);
                    int len = rng.Next(4, 300);
                    for (int k = 0; k < len && i < size; k++) data[i++] = data[from + k];
                }
            }
            else if (kind < 9)
            {
                // x86-ish call instructions, exercise the BCJ filters.
                if (i + 5 <= size)
                {
                    data[i++] = 0xE8;
                    BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(i, 4), rng.Next(-100000, 100000));
                    i += 4;
                }
                else data[i++] = 0;
            }
            else
            {
                data[i++] = (byte)rng.Next(256);
            }
        }
        return data;
    }

    public static byte[] Random(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Where XZ Utils' test files are: shared/ beside the checkout (CI), or two levels up in a worktree.</summary>
    public static string? TestFilesDirectory()
    {
        foreach (var rel in new[] { "../shared/testdata/xz-utils", "../../shared/testdata/xz-utils" })
        {
            var d = Path.GetFullPath(Path.Combine(Tool.RepoRoot, rel));
            if (Directory.Exists(d)) return d;
        }
        return null;
    }
}

/// <summary>
/// Writes .xz files by hand (xz file format 1.2.1) with LZMA2 uncompressed chunks, so tests can build exactly the
/// lies a hostile file could tell: wrong sizes in block headers or the index, absurd dictionary sizes, missing or
/// extra index records. Honest by default.
/// </summary>
internal sealed class XzHandWriter
{
    public int BlockSize { get; init; } = 100_000;
    public int CheckId { get; init; } = 1; // CRC32
    public bool SizesInHeader { get; init; } = true;
    public byte DictProperty { get; init; } = 16; // 2 MiB... (2 | 0) << (16/2 + 11) = 1 MiB
    public long HeaderCompressedDelta { get; init; }
    public long HeaderUncompressedDelta { get; init; }
    public long IndexUnpaddedDelta { get; init; }
    public long IndexUncompressedDelta { get; init; }
    public int IndexExtraRecords { get; init; }
    public bool IndexDropLast { get; init; }
    /// <summary>Block index whose header carries the lies (the others are honest); -1 for all.</summary>
    public int LyingBlock { get; init; } = -1;
    /// <summary>Makes a block's LZMA2 data from its bytes; null: uncompressed chunks.</summary>
    public Func<byte[], byte[]>? Lzma2Encoder { get; init; }

    public byte[] Write(ReadOnlySpan<byte> data)
    {
        var o = new MemoryStream();
        byte[] flags = [0, (byte)CheckId];
        o.Write(XzFormat.HeaderMagic);
        o.Write(flags);
        WriteU32(o, Crc32.HashToUInt32(flags));
        var records = new List<(long Unpadded, long Uncompressed)>();
        int blocks = Math.Max(1, (data.Length + BlockSize - 1) / BlockSize);
        for (int b = 0; b < blocks; b++)
        {
            var part = data.Slice(b * BlockSize, Math.Min(BlockSize, data.Length - b * BlockSize));
            bool lie = LyingBlock < 0 || LyingBlock == b;
            var lzma2 = Lzma2Encoder?.Invoke(part.ToArray()) ?? Lzma2Uncompressed(part);
            var header = BlockHeader(lzma2.Length + (lie ? HeaderCompressedDelta : 0), part.Length + (lie ? HeaderUncompressedDelta : 0));
            o.Write(header);
            o.Write(lzma2);
            for (int p = lzma2.Length; p % 4 != 0; p++) o.WriteByte(0);
            var check = Check(part);
            o.Write(check);
            records.Add((header.Length + lzma2.Length + check.Length, part.Length));
        }
        if (IndexDropLast) records.RemoveAt(records.Count - 1);
        for (int i = 0; i < IndexExtraRecords; i++) records.Add(records[^1]);
        var index = new MemoryStream();
        index.WriteByte(0);
        WriteVli(index, (ulong)records.Count);
        foreach (var (unpadded, uncompressed) in records)
        {
            WriteVli(index, (ulong)(unpadded + IndexUnpaddedDelta));
            WriteVli(index, (ulong)(uncompressed + IndexUncompressedDelta));
        }
        while (index.Length % 4 != 0) index.WriteByte(0);
        var indexBytes = index.ToArray();
        o.Write(indexBytes);
        WriteU32(o, Crc32.HashToUInt32(indexBytes));
        var footer = new byte[6];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, (uint)((indexBytes.Length + 4) / 4 - 1));
        footer[4] = flags[0];
        footer[5] = flags[1];
        WriteU32(o, Crc32.HashToUInt32(footer));
        o.Write(footer);
        o.Write("YZ"u8);
        return o.ToArray();
    }

    private byte[] BlockHeader(long compressed, long uncompressed)
    {
        var h = new MemoryStream();
        h.WriteByte(0); // size, patched below
        h.WriteByte((byte)(SizesInHeader ? 0xC0 : 0x00));
        if (SizesInHeader)
        {
            WriteVli(h, (ulong)compressed);
            WriteVli(h, (ulong)uncompressed);
        }
        h.WriteByte(0x21);
        h.WriteByte(1);
        h.WriteByte(DictProperty);
        while ((h.Length + 4) % 4 != 0) h.WriteByte(0);
        var bytes = h.ToArray();
        bytes[0] = (byte)((bytes.Length + 4) / 4 - 1);
        var all = new byte[bytes.Length + 4];
        bytes.CopyTo(all, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(all.AsSpan(bytes.Length), Crc32.HashToUInt32(bytes));
        return all;
    }

    internal static byte[] Lzma2Uncompressed(ReadOnlySpan<byte> data)
    {
        var o = new MemoryStream();
        for (int i = 0; i < data.Length; i += 65536)
        {
            int n = Math.Min(65536, data.Length - i);
            o.WriteByte((byte)(i == 0 ? 1 : 2));
            o.WriteByte((byte)((n - 1) >> 8));
            o.WriteByte((byte)(n - 1));
            o.Write(data.Slice(i, n));
        }
        o.WriteByte(0);
        return o.ToArray();
    }

    private byte[] Check(ReadOnlySpan<byte> data)
    {
        switch (CheckId)
        {
            case 0: return [];
            case 1: { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, Crc32.HashToUInt32(data)); return b; }
            case 4: { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, Crc64Xz.Update(0, data)); return b; }
            default: throw new NotSupportedException("hand writer: check " + CheckId);
        }
    }

    private static void WriteU32(Stream s, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        s.Write(b);
    }

    private static void WriteVli(Stream s, ulong v)
    {
        while (v >= 0x80)
        {
            s.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        s.WriteByte((byte)v);
    }
}
