using System.Text;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Tar;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive.Tar;

public class TarWriterTests
{
    private static byte[] WriteOne(TarWriterEntry e, byte[]? data = null)
    {
        var ms = new MemoryStream();
        using (var w = new TarWriter(ms, leaveOpen: true))
        {
            w.BeginEntry(e);
            if (data is not null) w.WriteData(data);
            w.EndEntry();
            w.Finish();
        }
        return ms.ToArray();
    }

    [Fact]
    public void Header_checksum_and_octal_fields_follow_ustar()
    {
        var bytes = WriteOne(new TarWriterEntry { Path = "./a"u8.ToArray(), TypeFlag = TarTypeFlag.Regular, Mode = 0x81ED, Uid = 7, Gid = 9, Size = 3, MtimeSeconds = 1000 }, "abc"u8.ToArray());
        Assert.Equal(512 * 4, bytes.Length); // header, one data block, two zero blocks
        var h = bytes.AsSpan(0, 512);
        Assert.Equal("0000755\0", Encoding.ASCII.GetString(h.Slice(TarHeaderFields.ModeOffset, 8)));
        Assert.Equal("0000007\0", Encoding.ASCII.GetString(h.Slice(TarHeaderFields.UidOffset, 8)));
        Assert.Equal("00000000003\0", Encoding.ASCII.GetString(h.Slice(TarHeaderFields.SizeOffset, 12)));
        Assert.Equal("ustar\0" + "00", Encoding.ASCII.GetString(h.Slice(TarHeaderFields.MagicOffset, 8)));
        int sum = 0;
        for (int i = 0; i < 512; i++) sum += i is >= TarHeaderFields.ChecksumOffset and < TarHeaderFields.ChecksumOffset + 8 ? ' ' : h[i];
        Assert.Equal(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ", Encoding.ASCII.GetString(h.Slice(TarHeaderFields.ChecksumOffset, 8)));
        Assert.Equal("abc", Encoding.ASCII.GetString(bytes, 512, 3));
        Assert.True(h.Slice(TarHeaderFields.UserNameOffset, 64).IndexOfAnyExcept((byte)0) < 0, "uname/gname not empty");
    }

    [Fact]
    public void Pax_records_carry_binary_xattrs_fraction_mtime_and_long_path()
    {
        byte[] cap = Convert.FromHexString(TreeFixture.CapabilityHex[2..]);
        var longPath = Encoding.ASCII.GetBytes("./" + new string('d', 150));
        var bytes = WriteOne(new TarWriterEntry
        {
            Path = longPath, TypeFlag = TarTypeFlag.Regular, Mode = 0x1A4, MtimeSeconds = 5, MtimeNanoseconds = 500_000_000,
            Xattrs = [new("security.capability", cap)],
        });
        Assert.Equal((byte)'x', bytes[TarHeaderFields.TypeFlagOffset]);
        Assert.StartsWith("./PaxHeaders/", Encoding.ASCII.GetString(bytes, 0, 13));
        int size = Convert.ToInt32(Encoding.ASCII.GetString(bytes, TarHeaderFields.SizeOffset, 11), 8);
        var records = bytes.AsSpan(512, size).ToArray();
        string text = Encoding.Latin1.GetString(records);
        Assert.Contains($"{10 + longPath.Length} path={Encoding.ASCII.GetString(longPath)}\n", text);
        Assert.Contains("13 mtime=5.5\n", text);
        byte[] expectedRecord = [.. Encoding.ASCII.GetBytes($"{4 + 33 + cap.Length} SCHILY.xattr.security.capability="), .. cap, (byte)'\n'];
        Assert.True(records.AsSpan().IndexOf(expectedRecord) >= 0, "binary xattr record not byte-exact");
        // Each record's length counts itself.
        int pos = 0;
        while (pos < records.Length)
        {
            int sp = Array.IndexOf(records, (byte)' ', pos);
            int len = int.Parse(Encoding.ASCII.GetString(records, pos, sp - pos));
            Assert.Equal((byte)'\n', records[pos + len - 1]);
            pos += len;
        }
        Assert.Equal(records.Length, pos);
    }

    [Theory]
    [InlineData(5, 0, "5")]
    [InlineData(5, 500_000_000, "5.5")]
    [InlineData(1700000000, 123456789, "1700000000.123456789")]
    [InlineData(-2, 750_000_000, "-1.25")]
    public void Pax_time_is_seconds_and_a_fraction_without_trailing_zeros(long s, int ns, string expected) =>
        Assert.Equal(expected, Encoding.ASCII.GetString(TarWriter.FormatTime(s, ns)));

    [Fact]
    public void Devices_and_links_fill_their_ustar_fields_and_big_numbers_go_to_pax()
    {
        var bytes = WriteOne(new TarWriterEntry
        {
            Path = "./dev/sda"u8.ToArray(), TypeFlag = TarTypeFlag.BlockDevice, Mode = 0x61B0, DevMajor = 8, DevMinor = 300,
            Uid = 3_000_000, Gid = 5, MtimeSeconds = 10,
        });
        // A pax header first: uid 3,000,000 does not fit 7 octal digits.
        Assert.Equal((byte)'x', bytes[TarHeaderFields.TypeFlagOffset]);
        int size = Convert.ToInt32(Encoding.ASCII.GetString(bytes, TarHeaderFields.SizeOffset, 11), 8);
        Assert.Contains("uid=3000000\n", Encoding.ASCII.GetString(bytes, 512, size));
        var h = bytes.AsSpan(1024, 512);
        Assert.Equal((byte)'4', h[TarHeaderFields.TypeFlagOffset]);
        Assert.Equal("0000010\0", Encoding.ASCII.GetString(h.Slice(TarHeaderFields.DevMajorOffset, 8)));
        Assert.Equal("0000454\0", Encoding.ASCII.GetString(h.Slice(TarHeaderFields.DevMinorOffset, 8)));
        Assert.Equal("0000660\0", Encoding.ASCII.GetString(h.Slice(TarHeaderFields.ModeOffset, 8)));
    }

    [Fact]
    public void Data_size_mismatch_is_refused()
    {
        using var w = new TarWriter(new MemoryStream());
        w.BeginEntry(new TarWriterEntry { Path = "./a"u8.ToArray(), TypeFlag = TarTypeFlag.Regular, Size = 4 });
        w.WriteData("ab"u8);
        Assert.Throws<InvalidOperationException>(() => w.EndEntry());
        Assert.Throws<InvalidOperationException>(() => w.WriteData("abc"u8));
    }

    [SkippableTheory]
    [Trait("Category", "Integration")]
    [InlineData("gnu")]
    [InlineData("bsdtar")]
    public void Archive_of_a_tree_extracts_identically_with_oracle(string oracle)
    {
        Tool.RequireRoot();
        Tool.Require("tar", "bsdtar", "setfattr", "mknod");
        using var tmp = XattrScratch.Create();
        var src = tmp.Combine("src");
        Directory.CreateDirectory(src);
        TreeFixture.Build(src);
        var archive = tmp.Combine("a.tar");
        ArchiveStats stats;
        using (var f = File.Create(archive)) stats = DirectoryArchiver.Write(src, f);
        Assert.Equal(2, stats.HardLinks);
        var dst = tmp.Combine("dst");
        Directory.CreateDirectory(dst);
        if (oracle == "gnu")
            Tool.Check("tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", archive, "-C", dst);
        else
            Tool.Check("bsdtar", "--xattrs", "--numeric-owner", "-xpf", archive, "-C", dst);
        // GNU tar and bsdtar do not restore symlink mtimes everywhere: compare those separately below.
        // bsdtar leaves the mtime of the extraction directory itself ("./") alone.
        TreeFixture.AssertSameTree(src, dst, symlinkMtimes: false, rootMtime: oracle == "gnu");
        var list = Tool.Check("tar", "-tvf", archive, "--numeric-owner");
        Assert.Contains("hrw-r--r-- 0/0 ", list.Split('\n').First(l => l.Contains("b/hl2")));
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Same_tree_gives_the_same_bytes_and_sorted_entries()
    {
        Tool.RequireRoot();
        Tool.Require("tar", "setfattr", "mknod", "zstd", "xz");
        using var tmp = XattrScratch.Create();
        var src = tmp.Combine("src");
        Directory.CreateDirectory(src);
        TreeFixture.Build(src);
        byte[] Make(CompressionFormat fmt)
        {
            var ms = new MemoryStream();
            using (var enc = ArchiveEncoder.Open(ms, fmt, new EncoderOptions { Level = fmt == CompressionFormat.Xz ? 1 : 3 }))
                DirectoryArchiver.Write(src, enc);
            return ms.ToArray();
        }
        foreach (var fmt in new[] { CompressionFormat.None, CompressionFormat.Zstd, CompressionFormat.Xz })
        {
            var a = Make(fmt);
            var b = Make(fmt);
            Assert.Equal(a, b);
            if (fmt != CompressionFormat.None) Assert.Equal(fmt, Compression.Detect(a));
        }
        var plain = tmp.Combine("p.tar");
        File.WriteAllBytes(plain, Make(CompressionFormat.None));
        var names = Tool.Check("tar", "-tf", plain).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(n => n.TrimEnd('/')).ToList();
        Assert.Equal(names.OrderBy(n => Encoding.UTF8.GetBytes(n), ByteComparer.Instance).ToList(), names);
        Assert.DoesNotContain(names, n => n.Contains("PaxHeaders"));
        var xz = tmp.Combine("p.tar.xz");
        File.WriteAllBytes(xz, Make(CompressionFormat.Xz));
        Tool.Check("xz", "-t", xz);
    }

    private sealed class ByteComparer : IComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
