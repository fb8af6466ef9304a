using NativeInit.Core;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Xz;
using NativeInit.Tests.TestSupport;
using SharpCompress.Compressors.Xz;

namespace NativeInit.Tests.Archive.Xz;

/// <summary>Differential tests against files made here by the xz CLI (the oracle): the decoded bytes must equal the input.</summary>
[Trait("Category", "Integration")]
public class XzDecoderDifferentialTests
{
    private static readonly byte[] Data = XzTest.Sample(300_000, seed: 7);

    private static void RoundTrip(byte[] data, string[] args, params int[] threads)
    {
        Tool.Require("xz");
        var xz = XzTest.XzCli(data, args);
        foreach (var t in threads.Length == 0 ? [1, 2] : threads)
        {
            var decoded = XzTest.Decode(xz, t);
            Assert.True(data.AsSpan().SequenceEqual(decoded), $"xz {string.Join(' ', args)}: output differs with {t} thread(s) ({decoded.Length} vs {data.Length} bytes)");
        }
    }

    [SkippableTheory]
    [InlineData("-0")] [InlineData("-1")] [InlineData("-2")] [InlineData("-3")] [InlineData("-4")]
    [InlineData("-5")] [InlineData("-6")] [InlineData("-7")] [InlineData("-8")] [InlineData("-9")]
    [InlineData("-0e")] [InlineData("-6e")] [InlineData("-9e")]
    public void Presets(string preset) => RoundTrip(Data, [preset]);

    [SkippableTheory]
    [InlineData("--x86", "--lzma2=preset=6")]
    [InlineData("--x86=start=4096", "--lzma2=preset=1")]
    [InlineData("--arm64", "--lzma2=preset=6")]
    [InlineData("--delta=dist=1", "--lzma2=preset=6")]
    [InlineData("--delta=dist=4", "--lzma2=preset=6")]
    [InlineData("--delta=dist=256", "--lzma2=preset=2")]
    [InlineData("--delta=dist=2", "--x86", "--lzma2=preset=6")]
    [InlineData("--x86", "--lzma2=preset=6", "--block-size=70000", "-T2")]
    [InlineData("--delta=dist=3", "--lzma2=preset=6", "--block-size=70000", "-T2")]
    public void Filters(params string[] args) => RoundTrip(Data, args);

    [SkippableTheory]
    [InlineData("none")] [InlineData("crc32")] [InlineData("crc64")] [InlineData("sha256")]
    public void Checks_single_and_multi_block(string check)
    {
        RoundTrip(Data, ["-6", "--check=" + check]);
        RoundTrip(Data, ["-6", "--check=" + check, "-T2", "--block-size=64KiB"], 1, 2, 4);
    }

    [SkippableFact]
    public void Small_dictionary_wraps_the_circular_window()
    {
        var data = XzTest.Sample(1_500_000, seed: 3);
        RoundTrip(data, ["--lzma2=preset=6,dict=64KiB"], 1);
        RoundTrip(data, ["--lzma2=preset=6,dict=4KiB,lc=4,lp=0,pb=0"], 1);
        RoundTrip(data, ["--lzma2=preset=6,dict=64KiB,lc=0,lp=2,pb=2", "--block-size=300000", "-T2"], 1, 2);
    }

    [SkippableFact]
    public void Blocks_larger_than_the_in_place_margin_decode_in_place()
    {
        // Compressed blocks beyond 256 KiB overlap their slot's output region (in-place decoding).
        RoundTrip(XzTest.Random(1_300_000, 12), ["-6", "-T2", "--block-size=600000"], 2);
        RoundTrip(XzTest.Sample(4_000_000, 13), ["-0", "-T2", "--block-size=1500000"], 2, 3);
    }

    [SkippableFact]
    public void Threads_1_2_4_give_identical_output()
    {
        Tool.Require("xz");
        var data = XzTest.Sample(1_000_000, seed: 11);
        var xz = XzTest.XzCli(data, "-6", "-T2", "--block-size=100000");
        var one = XzTest.Decode(xz, 1);
        Assert.Equal(data, one);
        Assert.Equal(one, XzTest.Decode(xz, 2));
        Assert.Equal(one, XzTest.Decode(xz, 4));
        // Odd read sizes through the parallel path.
        Assert.Equal(one, XzTest.Decode(xz, 3, readSize: 777));
    }

    [SkippableFact]
    public void Parallel_path_is_taken_for_multi_block_files_only()
    {
        Tool.Require("xz");
        var multi = XzTest.XzCli(Data, "-6", "-T2", "--block-size=100000");
        using (var s = new XzDecoderStream(new MemoryStream(multi), new DecoderOptions { Threads = 2 }))
        {
            s.ReadByte();
            Assert.True(s.IsParallel);
        }
        var single = XzTest.XzCli(Data, "-6");
        using (var s = new XzDecoderStream(new MemoryStream(single), new DecoderOptions { Threads = 2 }))
        {
            s.ReadByte();
            Assert.False(s.IsParallel);
        }
    }

    [SkippableFact]
    public void Memory_limit_reduces_the_workers_before_giving_up_parallel_decoding()
    {
        Tool.Require("xz");
        // Blocks of 100,000 bytes: each worker needs its window (the block, smaller than the dictionary) and a
        // 256 KiB input buffer, the pool a few 64 KiB chunks per worker: about 0.6-0.7 MB per worker.
        var xz = XzTest.XzCli(Data, "-6", "-T2", "--block-size=100000");
        int previous = int.MaxValue;
        var seen = new List<int>();
        foreach (long limit in new[] { 64L << 20, 3_000_000L, 1_600_000L, 600_000L })
        {
            using var s = new XzDecoderStream(new MemoryStream(xz), new DecoderOptions { Threads = 8, MemoryLimit = limit });
            var o = new MemoryStream();
            s.CopyTo(o);
            Assert.Equal(Data, o.ToArray());
            Assert.Equal(s.ParallelWorkers > 1, s.IsParallel);
            Assert.True(s.ParallelWorkers <= previous, $"more workers with less memory ({limit} bytes)");
            previous = s.ParallelWorkers;
            seen.Add(s.ParallelWorkers);
        }
        Assert.Equal(8, seen[0]);
        Assert.InRange(seen[1], 2, 7);
        Assert.Equal(0, seen[^1]);
    }

    [SkippableFact]
    public void Concatenated_streams_with_stream_padding()
    {
        Tool.Require("xz");
        var a = XzTest.Sample(50_000, 1);
        var b = XzTest.Sample(70_000, 2);
        var c = XzTest.Sample(90_000, 3);
        var xa = XzTest.XzCli(a, "-6");
        var xb = XzTest.XzCli(b, "-1", "--check=sha256");
        var xc = XzTest.XzCli(c, "-6", "-T2", "--block-size=20000");
        var file = xa.Concat(new byte[4]).Concat(xb).Concat(xc).Concat(new byte[8]).ToArray();
        var expected = a.Concat(b).Concat(c).ToArray();
        foreach (var t in new[] { 1, 2 }) Assert.Equal(expected, XzTest.Decode(file, t));
        // Parallel first (sizes recorded), then streams whose blocks have no sizes: decoded inline by the dispatcher.
        var mixed = xc.Concat(xa).Concat(new byte[4]).Concat(xb).ToArray();
        var mixedExpected = c.Concat(a).Concat(b).ToArray();
        using (var s = new XzDecoderStream(new MemoryStream(mixed), new DecoderOptions { Threads = 2 }))
        {
            var o = new MemoryStream();
            s.CopyTo(o);
            Assert.True(s.IsParallel);
            Assert.Equal(mixedExpected, o.ToArray());
        }
        Assert.Equal(mixedExpected, XzTest.Decode(mixed, 3, readSize: 4095));
        // Stream padding that is not a multiple of four is refused.
        var bad = xa.Concat(new byte[3]).ToArray();
        Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(bad));
    }

    [SkippableFact]
    public void Empty_one_byte_and_incompressible_inputs()
    {
        RoundTrip([], ["-6"]);
        RoundTrip([0x42], ["-6"]);
        RoundTrip([0x42], ["-6", "-T2"]);
        RoundTrip(XzTest.Random(200_000, 5), ["-6"]);
        RoundTrip(XzTest.Random(200_000, 6), ["-6", "-T2", "--block-size=50000"]);
    }

    [SkippableFact]
    public void Byte_by_byte_reads()
    {
        Tool.Require("xz");
        var data = XzTest.Sample(20_000, 9);
        foreach (var args in new[] { new[] { "-6" }, ["--x86", "--lzma2"], ["-6", "-T2", "--block-size=5000"] })
        {
            var xz = XzTest.XzCli(data, args);
            Assert.Equal(data, XzTest.Decode(xz, 1, readSize: 1));
            Assert.Equal(data, XzTest.Decode(xz, 2, readSize: 3));
            Assert.Equal(data, XzTest.Decode(xz, 1, readSize: 1, inPlace: true));
            Assert.Equal(data, XzTest.Decode(xz, 2, readSize: 3, inPlace: true));
        }
    }

    [SkippableFact]
    public void In_place_reads_mix_with_copying_reads_and_a_failure_stays()
    {
        Tool.Require("xz");
        var data = XzTest.Sample(300_000, 12);
        var xz = XzTest.XzCli(data, "-6", "-T2", "--block-size=40000");
        foreach (int threads in new[] { 1, 2 })
        {
            using var s = new XzDecoderStream(new MemoryStream(xz), new DecoderOptions { Threads = threads });
            var output = new MemoryStream();
            var buf = new byte[7000];
            for (int i = 0; ; i++)
            {
                // Alternate: bytes lent in place (up to 5000), then a copying read into a buffer of 7000.
                ReadOnlySpan<byte> lent = default;
                int n = i % 2 == 0 ? s.ReadInPlace(5000, out lent) : s.Read(buf, 0, buf.Length);
                if (n == 0) break;
                if (i % 2 == 0)
                {
                    Assert.InRange(lent.Length, 1, 5000);
                    Assert.Equal(n, lent.Length);
                    output.Write(lent);
                }
                else output.Write(buf, 0, n);
            }
            Assert.Equal(threads == 2, s.IsParallel);
            Assert.True(data.AsSpan().SequenceEqual(output.ToArray()), $"{threads} thread(s): output differs");
            Assert.Equal(0, s.ReadInPlace(5000, out var after));
            Assert.True(after.IsEmpty);
        }

        // A corrupt block (a flipped byte in the middle of the file): the in-place read fails with the product's error,
        // and every later read, in place or not, fails the same way instead of ending quietly.
        var bad = (byte[])xz.Clone();
        bad[bad.Length / 2] ^= 0x55;
        foreach (int threads in new[] { 1, 2 })
        {
            using var s = new XzDecoderStream(new MemoryStream(bad), new DecoderOptions { Threads = threads });
            var first = Assert.Throws<InvalidDataFormatException>(() => { while (s.ReadInPlace(1 << 16, out _) > 0) { } });
            var again = Assert.Throws<InvalidDataFormatException>(() => s.ReadInPlace(1 << 16, out _));
            Assert.Equal(first.Message, again.Message);
            Assert.Equal(first.Message, Assert.Throws<InvalidDataFormatException>(() => s.Read(new byte[100], 0, 100)).Message);
        }
    }

    [SkippableFact]
    public void Agrees_with_SharpCompress_reference_decoder()
    {
        Tool.Require("xz");
        foreach (var args in new[] { new[] { "-6" }, ["-6", "-T2", "--block-size=100000"], ["-3", "--check=crc32"] })
        {
            var xz = XzTest.XzCli(Data, args);
            using var reference = new XZStream(new MemoryStream(xz));
            var expected = new MemoryStream();
            reference.CopyTo(expected);
            Assert.Equal(expected.ToArray(), XzTest.Decode(xz, 2));
        }
    }

    [SkippableFact]
    public void Dictionary_beyond_the_memory_limit_is_refused()
    {
        Tool.Require("xz");
        var xz = XzTest.XzCli(XzTest.Sample(10_000, 1), "-6"); // 8 MiB dictionary, no sizes in the header
        var e = Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(xz, 1, memoryLimit: 4 << 20));
        Assert.Contains("memory limit", e.Message);
        // The same file decodes within a sufficient limit.
        Assert.Equal(10_000, XzTest.Decode(xz, 1, memoryLimit: 9 << 20).Length);
    }

    [SkippableFact]
    public void Compression_seam_opens_this_decoder()
    {
        Tool.Require("xz");
        var xz = XzTest.XzCli(Data, "-6");
        Assert.Equal(CompressionFormat.Xz, Compression.Detect(xz));
        using var s = Compression.OpenDecoder(new MemoryStream(xz), CompressionFormat.Xz, new DecoderOptions { Threads = 1 });
        Assert.IsType<XzDecoderStream>(s);
        var o = new MemoryStream();
        s.CopyTo(o);
        Assert.Equal(Data, o.ToArray());
    }
}

/// <summary>XZ Utils' own decoder test files (0BSD, ../shared/testdata/xz-utils): good files decode (to what xz
/// decodes them to), bad and unsupported files are refused with <see cref="InvalidDataFormatException"/>.</summary>
public class XzTestFilesTests
{
    public static IEnumerable<object[]> Files()
    {
        var dir = XzTest.TestFilesDirectory();
        if (dir is null) return [["(missing)"]];
        return Directory.GetFiles(dir, "*.xz").Select(f => new object[] { Path.GetFileName(f) }).OrderBy(x => (string)x[0]);
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void Decodes_or_refuses(string name)
    {
        var dir = XzTest.TestFilesDirectory();
        Skip.If(dir is null, "shared/testdata/xz-utils not found beside the checkout");
        var bytes = File.ReadAllBytes(Path.Combine(dir!, name));
        foreach (var threads in new[] { 1, 2 })
        {
            if (name.StartsWith("good-", StringComparison.Ordinal))
            {
                if (name == "good-1-empty-bcj-lzma2.xz")
                {
                    // PowerPC BCJ: allowed to be refused, but only as an unsupported filter.
                    var e = Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(bytes, threads));
                    Assert.Contains("unsupported filter", e.Message);
                    continue;
                }
                var decoded = XzTest.Decode(bytes, threads);
                Assert.Equal(decoded, XzTest.Decode(bytes, threads, inPlace: true));
                if (Tool.Required("xz"))
                {
                    var expected = XzDecode(Path.Combine(dir!, name));
                    Assert.Equal(expected, decoded);
                }
            }
            else
            {
                Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(bytes, threads));
                Assert.Throws<InvalidDataFormatException>(() => XzTest.Decode(bytes, threads, inPlace: true));
            }
        }
    }

    private static byte[] XzDecode(string path)
    {
        using var t = new TempDir();
        Tool.Sh($"xz -dc {Tool.Quote(path)} > {Tool.Quote(t.Combine("out"))}");
        return File.ReadAllBytes(t.Combine("out"));
    }
}

/// <summary>The parallel decoder's memory: a pool of one block per worker that the blocks share.</summary>
[Trait("Category", "Integration")]
public class XzParallelMemoryTests
{
    private static readonly byte[] Data = XzTest.Sample(400_000, seed: 11);

    [SkippableFact]
    public void Decoders_running_at_once_in_one_process_each_give_exact_output()
    {
        Tool.Require("xz");
        var good = XzTest.XzCli(Data, "-6", "-T2", "--block-size=30000");
        var bad = (byte[])good.Clone();
        bad[good.Length / 2] ^= 0x10;
        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 48, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            try
            {
                if (i % 3 == 2)
                {
                    try
                    {
                        XzTest.Decode(bad, 2);
                        errors.Add($"#{i}: corrupt file decoded");
                    }
                    catch (InvalidDataFormatException)
                    {
                    }
                }
                else if (!Data.AsSpan().SequenceEqual(XzTest.Decode(good, 2, readSize: 1000 + i * 997)))
                {
                    errors.Add($"#{i}: output differs");
                }
            }
            catch (Exception e)
            {
                errors.Add($"#{i}: {e.GetType().Name}: {e.Message}");
            }
        });
        Assert.True(errors.IsEmpty, string.Join("\n", errors));
    }

    /// <summary>Disposing in the middle wakes every thread of the decoder wherever it sleeps (for a block, a free
    /// slot, memory, the head's data) and each stops: Dispose waits up to 5 s for them and gives up silently, so a
    /// wake-up lost on the way shows as a slow Dispose.</summary>
    [SkippableTheory]
    [InlineData(2)]
    [InlineData(4)]
    public void Disposing_mid_stream_stops_every_thread_at_once(int threads)
    {
        Tool.Require("xz");
        var xz = XzTest.XzCli(Data, "-6", "-T2", "--block-size=30000");
        var buffer = new byte[7000];
        foreach (int read in new[] { 0, 1, 29_000, 61_000, 200_000, 399_000 })
        {
            // A pool of about one slot per worker (each 5 chunks of 64 KiB) keeps threads asleep for memory.
            var s = new XzDecoderStream(new MemoryStream(xz), new DecoderOptions { Threads = threads, MemoryLimit = 1_500_000 });
            int got = 0;
            while (got < read)
            {
                int n = s.Read(buffer, 0, Math.Min(buffer.Length, read - got));
                Assert.True(n > 0);
                got += n;
            }
            if (read > 0) Assert.True(s.IsParallel, "the parallel decoder was not used");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            s.Dispose();
            Assert.True(sw.ElapsedMilliseconds < 3000, $"Dispose after {read} bytes took {sw.ElapsedMilliseconds} ms");
        }
    }

    [SkippableFact]
    public void A_dictionary_smaller_than_a_memory_chunk_does_not_stall_the_smallest_pool()
    {
        Tool.Require("xz");
        // 16 KiB dictionary, 64 KiB chunks: the oldest block's memory is freed by the reader alone (not by the
        // decoder moving a dictionary ahead), through a pool of exactly two blocks, read 4 KiB at a time.
        var data = XzTest.Sample(1_500_000, seed: 3);
        var xz = XzTest.XzCli(data, "--lzma2=preset=6,dict=16KiB", "-T2", "--block-size=300000");
        var task = Task.Run(() =>
        {
            using var s = new XzDecoderStream(new MemoryStream(xz), new DecoderOptions { Threads = 2, MemoryLimit = 2 * 9 * (64 << 10) });
            var o = new MemoryStream();
            s.CopyTo(o, 4096);
            return (s.ParallelWorkers, o.ToArray());
        });
        Assert.True(task.Wait(TimeSpan.FromSeconds(60)), "decoding stalled");
        Assert.Equal(2, task.Result.ParallelWorkers);
        Assert.True(data.AsSpan().SequenceEqual(task.Result.Item2));
    }

    [SkippableTheory]
    [InlineData(1)]       // a reader that takes a byte at a time: blocks wait for memory behind it
    [InlineData(1 << 20)]
    public void Many_blocks_through_the_smallest_pool_decode_exactly(int readSize)
    {
        Tool.Require("xz");
        // 27 blocks of 15,000 bytes; the memory limit allows exactly two workers' blocks.
        var xz = XzTest.XzCli(Data, "-6", "-T2", "--block-size=15000");
        using var s = new XzDecoderStream(new MemoryStream(xz), new DecoderOptions { Threads = 2, MemoryLimit = 2 * 5 * (64 << 10) });
        var o = new MemoryStream();
        var buf = new byte[readSize];
        int n;
        while ((n = s.Read(buf, 0, buf.Length)) > 0) o.Write(buf, 0, n);
        Assert.Equal(2, s.ParallelWorkers);
        Assert.True(Data.AsSpan().SequenceEqual(o.ToArray()));
    }
}

/// <summary>Runs alone: it counts what the whole process allocates.</summary>
[CollectionDefinition("xz allocation", DisableParallelization = true)]
public class XzAllocationCollection;

[Collection("xz allocation")]
[Trait("Category", "Integration")]
public class XzParallelAllocationTests
{
    [SkippableFact]
    public void Blocks_after_warm_up_allocate_nothing_per_block()
    {
        Tool.Require("xz");
        var small = XzTest.XzCli(XzTest.Sample(2_000_000, seed: 5), "-6", "-T2", "--block-size=32768");   // 62 blocks
        var large = XzTest.XzCli(XzTest.Sample(4_000_000, seed: 5), "-6", "-T2", "--block-size=32768");   // 123 blocks
        long Allocated(byte[] xz)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            using (var s = new XzDecoderStream(new MemoryStream(xz), new DecoderOptions { Threads = 2 }))
            {
                s.CopyTo(Stream.Null, 1 << 16);
                Assert.True(s.IsParallel);
            }
            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }
        Allocated(small);
        long a = long.MaxValue, b = long.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            a = Math.Min(a, Allocated(small));
            b = Math.Min(b, Allocated(large));
        }
        // A decoder allocates its slots' coder state and buffers once (a few hundred KB); 61 more blocks may
        // add at most a few bytes each (the index's running hash), nothing of a block's size.
        Assert.True(b - a < 61 * 1024, $"{b - a} more bytes allocated for 61 more blocks ({a} for 62 blocks)");
    }
}


/// <summary>A block goes to its worker once the first piece of its input is read: the worker decodes while the rest
/// is still being read (from a slow disk at start-up, or the tens of MB of one 192 MiB block), waits where it catches
/// up with the reading, and a block whose input ends early fails in file order.</summary>
[Trait("Category", "Integration")]
public class XzParallelInputTests
{
    /// <summary>Gives at most <see cref="Step"/> bytes a read, and stops (until released) once <see cref="PauseAt"/>
    /// bytes were given.</summary>
    private sealed class TrickleStream(byte[] data) : NativeInit.Core.ReadOnlyStream
    {
        private int _pos;
        private bool _waited;
        public int Step = 50_000;
        public int PauseAt = int.MaxValue;
        public readonly ManualResetEventSlim Released = new(false);

        /// <summary>Bytes given so far.</summary>
        public int Given => Volatile.Read(ref _pos);

        public override int Read(Span<byte> buffer)
        {
            int end = data.Length;
            if (_pos < PauseAt) end = Math.Min(end, PauseAt);
            else if (!_waited)
            {
                _waited = true;
                Released.Wait(TimeSpan.FromSeconds(10));
            }
            int n = Math.Min(Math.Min(buffer.Length, Step), end - _pos);
            data.AsSpan(_pos, n).CopyTo(buffer);
            Volatile.Write(ref _pos, _pos + n);
            return n;
        }
    }

    [SkippableFact]
    public void A_block_is_decoded_while_the_rest_of_its_input_is_still_being_read()
    {
        Tool.Require("xz");
        // Incompressible blocks of 3 MB: each block's input is about as large as its output.
        var data = XzTest.Random(6_000_000, seed: 21);
        var xz = XzTest.XzCli(data, "-6", "-T2", "--block-size=3000000");
        // The input stops 1 MB into the first block's data until the test has seen output.
        var input = new TrickleStream(xz) { PauseAt = 1_000_000 };
        using var s = new XzDecoderStream(input, new DecoderOptions { Threads = 2 });
        var output = new MemoryStream();
        var buf = new byte[64 << 10];
        int n = s.Read(buf, 0, buf.Length);
        // Output came while the input stood still in the middle of the block's data (waiting for the whole input, the
        // read would return only once the pause gave up after 10 s and the rest of the file was read).
        int given = input.Given;
        input.Released.Set();
        Assert.True(n > 0);
        Assert.True(s.IsParallel, "the parallel decoder was not used");
        Assert.True(given <= 1_000_000, $"no output before {given} bytes of input");
        output.Write(buf, 0, n);
        while ((n = s.Read(buf, 0, buf.Length)) > 0) output.Write(buf, 0, n);
        Assert.Equal(data, output.ToArray());
    }

    [SkippableTheory]
    [InlineData(2)]
    [InlineData(4)]
    public void Workers_that_catch_up_with_a_slow_input_wait_for_it_and_decode_exactly(int threads)
    {
        Tool.Require("xz");
        var data = XzTest.Sample(3_000_000, seed: 22);
        var xz = XzTest.XzCli(data, "-6", "-T2", "--block-size=250000");
        foreach (int step in new[] { 1, 333, 4096, 100_000 })
        {
            if (step == 1 && xz.Length > 200_000) continue;
            using var s = new XzDecoderStream(new TrickleStream(xz) { Step = step }, new DecoderOptions { Threads = threads });
            var output = new MemoryStream();
            s.CopyTo(output);
            Assert.True(s.IsParallel);
            Assert.Equal(data, output.ToArray());
        }
    }

    [SkippableFact]
    public void Input_that_ends_inside_a_block_fails_after_the_blocks_before_it()
    {
        Tool.Require("xz");
        var data = XzTest.Random(2_000_000, seed: 23);
        var xz = XzTest.XzCli(data, "-6", "-T2", "--block-size=500000");
        // Cut in the middle of the third block's data (blocks of about 500 KB of input each).
        var cut = xz.AsSpan(0, 1_250_000).ToArray();
        using var s = new XzDecoderStream(new TrickleStream(cut) { Step = 7000 }, new DecoderOptions { Threads = 2 });
        var output = new MemoryStream();
        var e = Assert.Throws<InvalidDataFormatException>(() => s.CopyTo(output));
        Assert.Contains("truncated", e.Message);
        // Everything of the two whole blocks came out first, and nothing past the cut.
        Assert.True(output.Length >= 1_000_000, $"only {output.Length} bytes before the error");
        Assert.True(output.Length < 1_250_000, $"{output.Length} bytes from 1.25 MB of incompressible input");
        Assert.Equal(data.AsSpan(0, (int)output.Length).ToArray(), output.ToArray());
    }
}
