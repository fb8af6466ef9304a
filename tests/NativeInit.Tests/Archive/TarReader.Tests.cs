using System.Text;
using NativeInit.Core;
using NativeInit.Core.Archive.Tar;

namespace NativeInit.Tests.Archive;

public class TarReaderTests
{
    private sealed record Item(string Path, TarEntryType Type, string Link, uint Mode, long Uid, long Gid, long Mtime, int Nanos,
        byte[] Data, Dictionary<string, byte[]> Xattrs, long Offset, bool Sparse, long RealSize, SparseSegment[] Map);

    private static List<Item> ReadAll(byte[] archive, int chunk = 1 << 20)
    {
        var list = new List<Item>();
        using var reader = new TarReader(new StreamChunkSource(new MemoryStream(archive), chunk), ownsSource: true);
        while (reader.Next() is { } e)
        {
            var data = new MemoryStream();
            while (reader.TryReadData(out var d)) data.Write(d);
            var x = new Dictionary<string, byte[]>();
            for (int i = 0; i < e.XattrCount; i++) x[Encoding.UTF8.GetString(e.XattrName(i))] = e.XattrValue(i).ToArray();
            list.Add(new Item(Encoding.UTF8.GetString(e.Path), e.Type, Encoding.UTF8.GetString(e.LinkTarget), e.Mode, e.Uid, e.Gid,
                e.MtimeSeconds, e.MtimeNanoseconds, data.ToArray(), x, e.HeaderOffset, e.IsSparse, e.RealSize, [.. e.SparseMap]));
        }
        return list;
    }

    [Theory]
    [InlineData(512)]
    [InlineData(1024)]
    [InlineData(1 << 20)]
    public void Reads_ustar_prefix_types_and_data_across_chunk_sizes(int chunk)
    {
        var big = new byte[5000];
        new Random(1).NextBytes(big);
        var tar = new TarBuilder()
            .Entry(TarBuilder.Header("name.txt", (byte)'0', big.Length, prefix: "some/prefix", mode: 0x9ED /* 04755 */), big)
            .Entry(TarBuilder.Header("dir/", (byte)'5', mode: 0x3FF | 0x200 /* 01777 */))
            .Entry(TarBuilder.Header("link", (byte)'2', link: "target"))
            .Entry(TarBuilder.Header("hard", (byte)'1', link: "some/prefix/name.txt"))
            .Entry(TarBuilder.Header("fifo", (byte)'6'))
            .Entry(TarBuilder.Header("olddir/", 0))
            .End().ToArray();
        var items = ReadAll(tar, chunk);
        Assert.Equal(["some/prefix/name.txt", "dir/", "link", "hard", "fifo", "olddir/"], items.Select(i => i.Path));
        Assert.Equal(big, items[0].Data);
        Assert.Equal(0x9EDu, items[0].Mode);
        Assert.Equal(0x3FFu, items[1].Mode);
        Assert.Equal([TarEntryType.Regular, TarEntryType.Directory, TarEntryType.SymbolicLink, TarEntryType.HardLink, TarEntryType.Fifo, TarEntryType.Directory],
            items.Select(i => i.Type));
        Assert.Equal("target", items[2].Link);
    }

    [Fact]
    public void Reads_gnu_base256_numbers_including_negative_mtime()
    {
        var tar = new TarBuilder()
            .Entry(TarBuilder.Header("f", (byte)'0', uid: 3_000_000_000L, gid: 2_097_152, mtime: -315_619_200, gnu: true))
            .End().ToArray();
        var e = Assert.Single(ReadAll(tar));
        Assert.Equal(3_000_000_000L, e.Uid);
        Assert.Equal(2_097_152, e.Gid);
        Assert.Equal(-315_619_200, e.Mtime);
    }

    [Fact]
    public void Reads_gnu_long_names_and_long_link_names()
    {
        string longName = string.Concat(Enumerable.Repeat("abcdefghij/", 30)) + "file";
        string longLink = string.Concat(Enumerable.Repeat("link-target-", 20));
        var ln = Encoding.UTF8.GetBytes(longName + "\0");
        var ll = Encoding.UTF8.GetBytes(longLink + "\0");
        var tar = new TarBuilder()
            .Entry(TarBuilder.Header("././@LongLink", (byte)'L', ln.Length, gnu: true), ln)
            .Entry(TarBuilder.Header("truncated", (byte)'0', gnu: true))
            .Entry(TarBuilder.Header("././@LongLink", (byte)'K', ll.Length, gnu: true), ll)
            .Entry(TarBuilder.Header("././@LongLink", (byte)'L', ln.Length, gnu: true), ln)
            .Entry(TarBuilder.Header("hl", (byte)'1', gnu: true))
            .Entry(TarBuilder.Header("short", (byte)'0', gnu: true))
            .End().ToArray();
        var items = ReadAll(tar);
        Assert.Equal(longName, items[0].Path);
        Assert.Equal(longName, items[1].Path);
        Assert.Equal(longLink, items[1].Link);
        Assert.Equal("short", items[2].Path); // long names apply to one entry only
    }

    [Fact]
    public void Reads_pax_values_binary_xattrs_and_fractional_mtime()
    {
        byte[] cap = [0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x0A, 0x3D, 0x20, 0xFF, 0x00];
        var tar = new TarBuilder()
            .Pax((byte)'x',
                ("path", Encoding.UTF8.GetBytes("päx/ünïcode-名前")),
                ("mtime", "1234567890.123456789123"u8.ToArray()),
                ("uid", "4000000000"u8.ToArray()),
                ("SCHILY.xattr.security.capability", cap),
                ("SCHILY.xattr.user.nl", "a\nb=c"u8.ToArray()),
                ("RHT.security.selinux", "system_u:object_r:bin_t:s0"u8.ToArray()),
                ("atime", "1.5"u8.ToArray()))
            .File("ignored-name", "data")
            .Pax((byte)'x', ("mtime", "-1.25"u8.ToArray()))
            .File("neg", "")
            .End().ToArray();
        var items = ReadAll(tar);
        Assert.Equal("päx/ünïcode-名前", items[0].Path);
        Assert.Equal(1234567890, items[0].Mtime);
        Assert.Equal(123456789, items[0].Nanos);
        Assert.Equal(4000000000, items[0].Uid);
        Assert.Equal(cap, items[0].Xattrs["security.capability"]);
        Assert.Equal("a\nb=c"u8.ToArray(), items[0].Xattrs["user.nl"]);
        Assert.Equal("system_u:object_r:bin_t:s0\0"u8.ToArray(), items[0].Xattrs["security.selinux"]);
        Assert.Equal("data"u8.ToArray(), items[0].Data);
        Assert.Equal(-2, items[1].Mtime);
        Assert.Equal(750_000_000, items[1].Nanos);
        Assert.Empty(items[1].Xattrs);
    }

    [Fact]
    public void Reads_libarchive_xattrs_url_encoded_names_and_unpadded_base64()
    {
        byte[] value = [0x00, 0xFF, 0x10, 0x0A];
        string b64 = Convert.ToBase64String(value).TrimEnd('=');
        var tar = new TarBuilder()
            .Pax((byte)'x', ("LIBARCHIVE.xattr.user.a%3Db%20c", Encoding.ASCII.GetBytes(b64)))
            .File("f", "")
            .End().ToArray();
        var e = Assert.Single(ReadAll(tar));
        Assert.Equal(value, e.Xattrs["user.a=b c"]);
    }

    [Fact]
    public void Global_pax_headers_apply_to_every_later_entry_and_local_ones_override()
    {
        var tar = new TarBuilder()
            .Pax((byte)'g', ("uid", "77"u8.ToArray()), ("SCHILY.xattr.user.g", "global"u8.ToArray()))
            .File("a", "")
            .Pax((byte)'x', ("uid", "88"u8.ToArray()))
            .File("b", "")
            .End().ToArray();
        var items = ReadAll(tar);
        Assert.Equal(77, items[0].Uid);
        Assert.Equal(88, items[1].Uid);
        Assert.Equal("global"u8.ToArray(), items[1].Xattrs["user.g"]);
    }

    [Fact]
    public void Reads_pax_sparse_1_0_map_at_the_start_of_the_data()
    {
        var map = "2\n0\n3\n10000\n2\n"u8.ToArray();
        var data = new byte[512 + 5];
        map.CopyTo(data, 0);
        "abcde"u8.CopyTo(data.AsSpan(512));
        var tar = new TarBuilder()
            .Pax((byte)'x', ("GNU.sparse.major", "1"u8.ToArray()), ("GNU.sparse.minor", "0"u8.ToArray()),
                ("GNU.sparse.name", "real/name"u8.ToArray()), ("GNU.sparse.realsize", "20000"u8.ToArray()))
            .Entry(TarBuilder.Header("GNUSparseFile.0/name", (byte)'0', data.Length), data)
            .End().ToArray();
        var e = Assert.Single(ReadAll(tar));
        Assert.Equal("real/name", e.Path);
        Assert.True(e.Sparse);
        Assert.Equal(20000, e.RealSize);
        Assert.Equal([new SparseSegment(0, 3), new SparseSegment(10000, 2)], e.Map);
        Assert.Equal("abcde"u8.ToArray(), e.Data);
    }

    [Fact]
    public void Accepts_the_historic_signed_checksum()
    {
        var name = Encoding.UTF8.GetBytes("ÿÿÿÿ-signed");
        var tar = new TarBuilder().Entry(TarBuilder.Header(name, (byte)'0', signedChecksum: true)).End().ToArray();
        Assert.Equal("ÿÿÿÿ-signed", Assert.Single(ReadAll(tar)).Path);
    }

    [Fact]
    public void A_checksum_error_names_the_entry_and_the_offset()
    {
        var tar = new TarBuilder().File("first", "x").File("second-entry", "y").End().ToArray();
        tar[1024 + 101] ^= 0x01; // the mode field of the second header
        var ex = Assert.Throws<InvalidDataFormatException>(() => ReadAll(tar));
        Assert.Contains("second-entry", ex.Message);
        Assert.Contains("offset 1024", ex.Message);
        Assert.Contains("checksum", ex.Message);
    }

    [Fact]
    public void Not_a_tar_archive_is_an_error()
    {
        var junk = Encoding.ASCII.GetBytes(new string('x', 2048));
        Assert.Throws<InvalidDataFormatException>(() => ReadAll(junk));
    }

    [Fact]
    public void Truncation_at_every_byte_is_an_error_unless_at_an_entry_boundary()
    {
        var tar = new TarBuilder()
            .File("one", new string('1', 700))
            .Pax((byte)'x', ("path", "two-from-pax"u8.ToArray()))
            .File("two", new string('2', 100))
            .End().ToArray();
        // Entry boundaries: after one's padding (1536), after two's padding, after the first zero block, the end.
        long afterTwo = 1536 + 1024 + 512 + 512; // pax header + record block, header, data
        var accepted = new HashSet<int> { 0, 1536, (int)afterTwo, (int)afterTwo + 512, tar.Length };
        for (int cut = 0; cut <= tar.Length; cut++)
        {
            var part = tar.AsSpan(0, cut).ToArray();
            foreach (int chunk in new[] { 512, 1 << 20 })
            {
                bool ok;
                try { ReadAll(part, chunk); ok = true; }
                catch (InvalidDataFormatException) { ok = false; }
                Assert.True(ok == accepted.Contains(cut), $"cut at {cut} (chunk {chunk}): {(ok ? "accepted" : "rejected")}");
            }
        }
    }

    [Fact]
    public void Pax_time_parsing()
    {
        Assert.True(TarReader.TryParseTime("0.000000001"u8, out var s, out var ns));
        Assert.Equal((0L, 1), (s, ns));
        Assert.True(TarReader.TryParseTime("-0.5"u8, out s, out ns));
        Assert.Equal((-1L, 500_000_000), (s, ns));
        Assert.True(TarReader.TryParseTime("42"u8, out s, out ns));
        Assert.Equal((42L, 0), (s, ns));
        // Trailing garbage after the number: GNU tar and bsdtar both read the number.
        Assert.True(TarReader.TryParseTime("4x2"u8, out s, out ns));
        Assert.Equal((4L, 0), (s, ns));
        Assert.True(TarReader.TryParseTime("1600000000.5abc"u8, out s, out ns));
        Assert.Equal((1600000000L, 500_000_000), (s, ns));
        Assert.True(TarReader.TryParseTime("1600000000 "u8, out s, out ns));
        Assert.Equal((1600000000L, 0), (s, ns));
        Assert.False(TarReader.TryParseTime(""u8, out _, out _));
        Assert.False(TarReader.TryParseTime("x1"u8, out _, out _));
        Assert.False(TarReader.TryParseTime("-"u8, out _, out _));
    }

    [Fact]
    public void Malformed_pax_records_are_errors()
    {
        var tar = new TarBuilder()
            .Entry(TarBuilder.Header("PaxHeaders/x", (byte)'x', 12), "99 path=abc\n"u8.ToArray())
            .File("f", "")
            .End().ToArray();
        var ex = Assert.Throws<InvalidDataFormatException>(() => ReadAll(tar));
        Assert.Contains("pax", ex.Message);
    }
}

public class TarReaderFuzzTests
{
    /// <summary>Random byte mutations of a valid archive with every header kind: the reader either reads it or throws
    /// <see cref="InvalidDataFormatException"/>, never another exception (index out of range, overflow, hang).</summary>
    [Fact]
    public void Mutated_archives_fail_only_with_format_errors()
    {
        string longName = string.Concat(Enumerable.Repeat("long-name/", 15)) + "f";
        var ln = System.Text.Encoding.UTF8.GetBytes(longName + "\0");
        var map = "2\n0\n3\n10000\n2\n"u8.ToArray();
        var sparse = new byte[512 + 5];
        map.CopyTo(sparse, 0);
        var good = new TarBuilder()
            .Pax((byte)'g', ("uid", "5"u8.ToArray()))
            .Pax((byte)'x', ("path", "p/x"u8.ToArray()), ("mtime", "12.5"u8.ToArray()),
                ("SCHILY.xattr.user.a", [0, 1, 2]), ("LIBARCHIVE.xattr.user.b", "AAEC"u8.ToArray()))
            .File("f", new string('z', 1500))
            .Entry(TarBuilder.Header("././@LongLink", (byte)'L', ln.Length, gnu: true), ln)
            .Entry(TarBuilder.Header("x", (byte)'0', 10, gnu: true, uid: 5_000_000), new byte[10])
            .Pax((byte)'x', ("GNU.sparse.major", "1"u8.ToArray()), ("GNU.sparse.minor", "0"u8.ToArray()),
                ("GNU.sparse.name", "s"u8.ToArray()), ("GNU.sparse.realsize", "20000"u8.ToArray()))
            .Entry(TarBuilder.Header("GNUSparseFile.0/s", (byte)'0', sparse.Length), sparse)
            .Pax((byte)'x', ("GNU.sparse.size", "9000"u8.ToArray()), ("GNU.sparse.map", "0,4,8000,4"u8.ToArray()))
            .Entry(TarBuilder.Header("s01", (byte)'0', 8), new byte[8])
            .Entry(TarBuilder.Header("dev", (byte)'3', tweak: h => { h[329] = (byte)'1'; }))
            .End().ToArray();
        var rnd = new Random(12345);
        for (int iteration = 0; iteration < 4000; iteration++)
        {
            var bad = (byte[])good.Clone();
            int mutations = rnd.Next(1, 4);
            for (int m = 0; m < mutations; m++)
            {
                int at = rnd.Next(bad.Length);
                bad[at] = rnd.Next(3) switch { 0 => (byte)rnd.Next(256), 1 => (byte)(bad[at] ^ (1 << rnd.Next(8))), _ => (byte)"0123456789 =\n\0"[rnd.Next(14)] };
            }
            // Keep the checksums right half of the time, so the mutation reaches the field parsers.
            if (rnd.Next(2) == 0)
                for (int h = 0; h + 512 <= bad.Length; h += 512)
                    if (bad.AsSpan(257, 5).SequenceEqual("ustar"u8) || bad.AsSpan(h + 257, 5).SequenceEqual("ustar"u8))
                    {
                        var block = bad.AsSpan(h, 512).ToArray();
                        if (!block.AsSpan(257, 5).SequenceEqual("ustar"u8)) continue;
                        TarBuilder.SetChecksum(block);
                        block.CopyTo(bad, h);
                    }
            try
            {
                using var reader = new TarReader(new StreamChunkSource(new MemoryStream(bad), 512), ownsSource: true);
                while (reader.Next() is { } e)
                    while (reader.TryReadData(out _)) { }
            }
            catch (InvalidDataFormatException) { }
            catch (Exception e)
            {
                Assert.Fail($"iteration {iteration}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }
    }
}

public class TarReaderEndTests
{
    private static int Count(byte[] tar)
    {
        int n = 0;
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.Next() is not null) n++;
        return n;
    }

    [Fact]
    public void Two_zero_blocks_end_the_archive_and_what_follows_is_ignored()
    {
        var tar = new TarBuilder().File("a", "1").End().File("after-the-end", "2").ToArray();
        Assert.Equal(1, Count(tar));
    }

    [Fact]
    public void A_lone_trailing_zero_block_or_no_end_marker_is_accepted()
    {
        Assert.Equal(1, Count(new TarBuilder().File("a", "1").Raw(new byte[512]).ToArray()));
        Assert.Equal(1, Count(new TarBuilder().File("a", "1").ToArray()));
    }

    [Fact]
    public void A_lone_zero_block_inside_the_archive_is_read_past_and_counted()
    {
        var tar = new TarBuilder().File("a", "1").Raw(new byte[512]).File("b", "2").Raw(new byte[512]).File("c", "3").End().ToArray();
        using var reader = new TarReader(new MemoryStream(tar));
        var names = new List<string>();
        while (reader.Next() is { } e) names.Add(Encoding.UTF8.GetString(e.Path));
        Assert.Equal(["a", "b", "c"], names);
        Assert.Equal(2, reader.LoneZeroBlocks);
        Assert.Equal(1024, reader.FirstLoneZeroBlockOffset);
        // Garbage after a lone zero block is still an error (it is read as a header).
        var bad = new TarBuilder().File("a", "1").Raw(new byte[512]).Raw(Encoding.ASCII.GetBytes(new string('x', 512))).End().ToArray();
        var ex = Assert.Throws<InvalidDataFormatException>(() => Count(bad));
        Assert.Contains("offset 1536", ex.Message);
    }

    /// <summary>A plain tar from a stream that never ends (/dev/zero, a pipe left open): with DrainAfterEnd off the reader
    /// stops at the end-of-archive marker instead of reading forever.</summary>
    [Fact]
    public void Without_draining_the_reader_stops_at_the_end_marker_of_an_endless_stream()
    {
        var tar = new TarBuilder().File("a", "1").End().ToArray();
        using var reader = new TarReader(new StreamChunkSource(new EndlessStream(tar), 1 << 16), ownsSource: true) { DrainAfterEnd = false };
        Assert.NotNull(reader.Next());
        Assert.Null(reader.Next());
        using var zeros = new TarReader(new StreamChunkSource(new EndlessStream([]), 1 << 16), ownsSource: true) { DrainAfterEnd = false };
        Assert.Null(zeros.Next());
    }

    /// <summary>The given bytes, then zeros forever.</summary>
    private sealed class EndlessStream(byte[] head) : ReadOnlyStream
    {
        private long _pos;
        public override int Read(Span<byte> buffer)
        {
            for (int i = 0; i < buffer.Length; i++, _pos++) buffer[i] = _pos < head.Length ? head[_pos] : (byte)0;
            return buffer.Length;
        }
    }
}

/// <summary>Archives from writers other than GNU tar (older tars, Java and Perl archivers, star, Red Hat's tar) that GNU
/// tar and bsdtar both read; each case was checked against both (tests/NativeInit.Tests/Archive/TarCompat.Tests.cs
/// extracts the same shapes with both and compares the trees).</summary>
public class TarReaderCompatibilityTests
{
    private static List<(string Path, TarEntryType Type, long Size, string Data, TarEntry Copy)> Read(byte[] tar)
    {
        var list = new List<(string, TarEntryType, long, string, TarEntry)>();
        using var reader = new TarReader(new StreamChunkSource(new MemoryStream(tar), 512), ownsSource: true);
        while (reader.Next() is { } e)
        {
            var data = new MemoryStream();
            while (reader.TryReadData(out var d)) data.Write(d);
            list.Add((Encoding.UTF8.GetString(e.Path), e.Type, e.Size, Encoding.UTF8.GetString(data.ToArray()), Snapshot(e)));
        }
        return list;
    }

    private static TarEntry Snapshot(TarEntry e)
    {
        // The reader reuses its entry: keep what the tests look at.
        var c = new TarEntry { Uid = e.Uid, Gid = e.Gid, MtimeSeconds = e.MtimeSeconds, MtimeNanoseconds = e.MtimeNanoseconds, Mode = e.Mode };
        c.PathBuffer.Set(e.Path);
        c.LinkBuffer.Set(e.LinkTarget);
        c.AclAccessBuffer.Set(e.AclAccessText);
        c.AclDefaultBuffer.Set(e.AclDefaultText);
        c.AclNfs4Buffer.Set(e.AclNfs4Text);
        for (int i = 0; i < e.XattrCount; i++) c.SetXattr(e.XattrName(i), e.XattrValue(i));
        return c;
    }

    [Theory]
    [InlineData((byte)'5', "d/", true)]
    [InlineData((byte)'0', "d/", false)]
    [InlineData((byte)0, "d/", false)]
    public void A_directory_with_a_size_has_no_data_blocks(byte type, string name, bool ustar)
    {
        var h = TarBuilder.Header(name, type, size: 1024, mode: 0x1ED, tweak: ustar ? null : b => b.AsSpan(257, 8).Clear());
        var tar = new TarBuilder().Entry(h).File("d/after", "x").End().ToArray();
        var items = Read(tar);
        Assert.Equal(["d/", "d/after"], items.Select(i => i.Path));
        Assert.Equal(TarEntryType.Directory, items[0].Type);
        Assert.Equal(0, items[0].Size);
        Assert.Equal("x", items[1].Data);
    }

    [Fact]
    public void A_hard_link_with_a_size_reads_data_only_when_data_follows()
    {
        var noData = new TarBuilder().File("a", "hello")
            .Entry(TarBuilder.Header("b", (byte)'1', size: 5, link: "a"))
            .File("c", "after").End().ToArray();
        var items = Read(noData);
        Assert.Equal(["a", "b", "c"], items.Select(i => i.Path));
        Assert.Equal("after", items[2].Data);
        Assert.Equal(0, items[1].Size);

        var withData = new TarBuilder().File("a", "hello")
            .Entry(TarBuilder.Header("b", (byte)'1', size: 5, link: "a"), "XXXXX"u8.ToArray())
            .File("c", "after").End().ToArray();
        items = Read(withData);
        Assert.Equal(["a", "b", "c"], items.Select(i => i.Path));
        Assert.Equal("after", items[2].Data);

        // A hard link with a size as the last entry, before the end marker or the end of data.
        Assert.Equal(2, Read(new TarBuilder().File("a", "x").Entry(TarBuilder.Header("b", (byte)'1', size: 700, link: "a")).End().ToArray()).Count);
        Assert.Equal(2, Read(new TarBuilder().File("a", "x").Entry(TarBuilder.Header("b", (byte)'1', size: 700, link: "a")).ToArray()).Count);
    }

    [Theory]
    [InlineData("    0000005\0")]      // leading spaces (older tars)
    [InlineData("\0 0000005 \0\0")]   // one leading NUL (the previous field overflowed), then spaces
    [InlineData("\0          5")]
    [InlineData("0000005\0\0\0\0\0")]
    public void Numeric_fields_with_a_leading_nul_or_spaces_are_read(string field)
    {
        var raw = Encoding.ASCII.GetBytes(field);
        Assert.Equal(12, raw.Length);
        var h = TarBuilder.Header("n", (byte)'0', tweak: b => raw.CopyTo(b, 124));
        var tar = new TarBuilder().Entry(h, "12345"u8.ToArray()).File("after", "x").End().ToArray();
        var items = Read(tar);
        Assert.Equal("12345", items[0].Data);
        Assert.Equal("after", items[1].Path);
        // More than one leading NUL: GNU tar and bsdtar both fail on it too.
        var bad = Encoding.ASCII.GetBytes("\0\0\0\0\0\0\0\0\0\05\0");
        Assert.Equal(12, bad.Length);
        var ex = Assert.Throws<InvalidDataFormatException>(() => Read(new TarBuilder().Entry(TarBuilder.Header("n", (byte)'0', tweak: b => bad.CopyTo(b, 124))).End().ToArray()));
        Assert.Contains("size", ex.Message);
    }

    [Fact]
    public void An_empty_pax_value_falls_back_to_the_header_field()
    {
        var tar = new TarBuilder()
            .Pax((byte)'g', ("uid", "77"u8.ToArray()), ("path", "global-name"u8.ToArray()))
            .Pax((byte)'x', ("path", []), ("uid", []), ("size", []), ("mtime", []), ("SCHILY.xattr.user.empty", []))
            .Entry(TarBuilder.Header("hdrname", (byte)'0', size: 5, uid: 5, mtime: 1600000000), "hello"u8.ToArray())
            .File("second", "x")
            .End().ToArray();
        var items = Read(tar);
        Assert.Equal("hdrname", items[0].Path);
        Assert.Equal(5, items[0].Copy.Uid);
        Assert.Equal(1600000000, items[0].Copy.MtimeSeconds);
        Assert.Equal("hello", items[0].Data);
        Assert.Equal(1, items[0].Copy.XattrCount); // an empty xattr value is an empty xattr (as GNU tar restores it)
        Assert.Equal(0, items[0].Copy.XattrValue(0).Length);
        Assert.Equal("global-name", items[1].Path); // the global header still applies to the next entry
        Assert.Equal(77, items[1].Copy.Uid);
    }

    [Fact]
    public void Red_hat_selinux_context_gets_its_nul_and_acl_text_records_are_kept()
    {
        var tar = new TarBuilder()
            .Pax((byte)'x', ("RHT.security.selinux", "system_u:object_r:etc_t:s0"u8.ToArray()),
                ("SCHILY.acl.access", "user::rw-,group::r--,group:adm:r--:4,mask::r--,other::r--"u8.ToArray()))
            .File("a", "")
            .Pax((byte)'x', ("RHT.security.selinux", "system_u:object_r:bin_t:s0\0"u8.ToArray()),
                ("SCHILY.acl.default", "user::rwx\ngroup::r-x\nother::r-x\n"u8.ToArray()), ("SCHILY.acl.ace", "owner@:rw-p--aARWcCos:-------:allow"u8.ToArray()))
            .Entry(TarBuilder.Header("d/", (byte)'5'))
            .End().ToArray();
        var items = Read(tar);
        Assert.Equal("system_u:object_r:etc_t:s0\0"u8.ToArray(), items[0].Copy.XattrValue(0).ToArray());
        Assert.Equal("user::rw-,group::r--,group:adm:r--:4,mask::r--,other::r--", Encoding.UTF8.GetString(items[0].Copy.AclAccessText));
        Assert.Equal("system_u:object_r:bin_t:s0\0"u8.ToArray(), items[1].Copy.XattrValue(0).ToArray());
        Assert.Equal("user::rwx\ngroup::r-x\nother::r-x\n", Encoding.UTF8.GetString(items[1].Copy.AclDefaultText));
        Assert.False(items[1].Copy.AclNfs4Text.IsEmpty);
        Assert.True(items[0].Copy.AclNfs4Text.IsEmpty);
    }
}
