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
        Assert.Equal("system_u:object_r:bin_t:s0"u8.ToArray(), items[0].Xattrs["security.selinux"]);
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
        Assert.False(TarReader.TryParseTime("4x2"u8, out _, out _));
        Assert.False(TarReader.TryParseTime(""u8, out _, out _));
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
    public void A_zeroed_block_inside_the_archive_is_an_error_not_a_quiet_end()
    {
        var tar = new TarBuilder().File("a", "1").Raw(new byte[512]).File("b", "2").End().ToArray();
        var ex = Assert.Throws<InvalidDataFormatException>(() => Count(tar));
        Assert.Contains("lone zero block at offset 1024", ex.Message);
    }
}
