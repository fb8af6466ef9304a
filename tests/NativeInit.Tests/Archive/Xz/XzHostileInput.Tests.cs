using System.Diagnostics;
using NativeInit.Core;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive.Xz;

/// <summary>Bad files XZ Utils' set does not cover, made by a checked-in generator (<see cref="XzHandWriter"/>):
/// lying sizes in block headers and in the index, absurd dictionary sizes, index/block count mismatches.</summary>
[Collection("xz allocation")] // one test counts the whole process's allocations
public class XzHostileInputTests
{
    private static readonly byte[] Data = XzTest.Sample(350_000, seed: 21);

    private static void Refused(XzHandWriter w, string? messagePart = null)
    {
        var file = w.Write(Data);
        foreach (var threads in new[] { 1, 2 })
        {
            var e = Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(file, threads));
            if (messagePart is not null) Assert.Contains(messagePart, e.Message);
        }
    }

    [Fact]
    public void Honest_hand_written_files_decode()
    {
        foreach (var sizes in new[] { true, false })
            foreach (var check in new[] { 0, 1, 4 })
            {
                var file = new XzHandWriter { SizesInHeader = sizes, CheckId = check }.Write(Data);
                Assert.Equal(Data, XzTest.Decode(file, 1));
                Assert.Equal(Data, XzTest.Decode(file, 2));
            }
    }

    [Theory]
    [InlineData(4, 0)]
    [InlineData(-4, 0)]
    [InlineData(0, 1)]
    [InlineData(0, -1)]
    [InlineData(0, 1L << 40)]
    public void Lying_index_sizes(long unpaddedDelta, long uncompressedDelta) =>
        Refused(new XzHandWriter { IndexUnpaddedDelta = unpaddedDelta, IndexUncompressedDelta = uncompressedDelta }, "index");

    [Theory]
    [InlineData(1, 0)]
    [InlineData(-1, 0)]
    [InlineData(100, 0)]
    [InlineData(0, 1)]
    [InlineData(0, -1)]
    [InlineData(0, 1L << 31)]
    [InlineData(0, 1L << 50)]
    public void Lying_block_header_sizes(long compressedDelta, long uncompressedDelta)
    {
        Refused(new XzHandWriter { HeaderCompressedDelta = compressedDelta, HeaderUncompressedDelta = uncompressedDelta });
        Refused(new XzHandWriter { HeaderCompressedDelta = compressedDelta, HeaderUncompressedDelta = uncompressedDelta, LyingBlock = 2 });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public void Index_with_more_records_than_blocks(int extra) =>
        Refused(new XzHandWriter { IndexExtraRecords = extra }, "index");

    [Fact]
    public void Index_with_fewer_records_than_blocks() => Refused(new XzHandWriter { IndexDropLast = true }, "index");

    [Theory]
    [InlineData(40, true)]  // 4 GiB - 1
    [InlineData(39, false)] // 3 GiB
    [InlineData(36, true)]  // 1 GiB
    public void Absurd_dictionary_is_refused_before_allocating(byte dictProperty, bool sizesInHeader)
    {
        // Without sizes in the header the window would be the dictionary: refused against the memory limit
        // before anything is allocated. With honest small sizes the flat block buffer is used instead.
        var file = new XzHandWriter { DictProperty = dictProperty, SizesInHeader = sizesInHeader }.Write(Data);
        if (sizesInHeader)
        {
            Assert.Equal(Data, XzTest.Decode(file, 1));
            // A lying uncompressed size of 2 GiB pushes the block out of the flat path: the dictionary is refused.
            file = new XzHandWriter { DictProperty = dictProperty, HeaderUncompressedDelta = 2L << 30 }.Write(Data);
        }
        foreach (var threads in new[] { 1, 2 })
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            var e = Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(file, threads, memoryLimit: 256L << 20));
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Assert.Contains("memory limit", e.Message);
            Assert.True(allocated < 64L << 20, $"allocated {allocated} bytes before refusing");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Reads_after_a_failure_fail_again(int threads)
    {
        var file = new XzHandWriter { IndexUncompressedDelta = 1 }.Write(Data);
        using var s = new NativeInit.Core.Archive.Xz.XzDecoderStream(new MemoryStream(file),
            new NativeInit.Core.Archive.DecoderOptions { Threads = threads });
        var buf = new byte[1 << 16];
        Assert.Throws<InvalidDataFormatException>(() => { while (s.Read(buf, 0, buf.Length) > 0) { } });
        Assert.Throws<InvalidDataFormatException>(() => s.Read(buf, 0, buf.Length));
    }

    [Fact]
    public void Every_truncation_of_a_hand_written_file_is_refused()
    {
        var file = new XzHandWriter { BlockSize = 3000 }.Write(Data.AsSpan(0, 10_000));
        for (int len = 0; len < file.Length; len++)
        {
            var cut = file.AsSpan(0, len).ToArray();
            if (len == 0) continue; // no magic: the caller never opens an xz decoder on it
            Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(cut, 1));
            if (len % 7 == 0) Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(cut, 2));
        }
    }
}

/// <summary>Random corruption: seeded bit flips and truncations of valid files; each must end in
/// <see cref="InvalidDataFormatException"/> (a format error or a check mismatch) within a time bound.</summary>
[Trait("Category", "Integration")]
public class XzCorruptionTests
{
    [SkippableTheory]
    [InlineData("-6")]
    [InlineData("-6 -T2 --block-size=40000")]
    [InlineData("-1 --check=sha256")]
    [InlineData("--x86 --lzma2=preset=6 --check=crc32")]
    public void Bit_flips_and_truncations_are_refused(string args)
    {
        Tool.Require("xz");
        var data = XzTest.Sample(120_000, seed: 5);
        var good = XzTest.XzCli(data, args.Split(' '));
        Assert.Equal(data, XzTest.Decode(good));
        var rng = new Random(args.GetHashCode(StringComparison.Ordinal) & 0xFFFF);
        var failures = new List<string>();
        for (int i = 0; i < 150; i++)
        {
            var bad = (byte[])good.Clone();
            int flips = 1 + rng.Next(3);
            for (int f = 0; f < flips; f++)
            {
                // The first 6 bytes are the magic: a wrong magic never reaches the decoder.
                int at = 6 + rng.Next(bad.Length - 6);
                bad[at] ^= (byte)(1 << rng.Next(8));
            }
            Expect(bad, 1 + i % 2, $"flip #{i}", failures);
        }
        for (int i = 0; i < 60; i++)
        {
            int len = 6 + rng.Next(good.Length - 6);
            Expect(good.AsSpan(0, len).ToArray(), 1 + i % 2, $"truncate to {len}", failures);
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static void Expect(byte[] file, int threads, string what, List<string> failures)
    {
        var sw = Stopwatch.StartNew();
        var task = Task.Run(() =>
        {
            try
            {
                XzTest.Decode(file, threads);
                return "decoded without error";
            }
            catch (InvalidDataFormatException)
            {
                return null;
            }
            catch (Exception e)
            {
                return $"{e.GetType().Name}: {e.Message}";
            }
        });
        if (!task.Wait(TimeSpan.FromSeconds(10))) failures.Add($"{what}: no result within 10 s");
        else if (task.Result is { } r) failures.Add($"{what} ({threads} threads): {r}");
        else if (sw.Elapsed > TimeSpan.FromSeconds(5)) failures.Add($"{what}: took {sw.Elapsed}");
    }
}
