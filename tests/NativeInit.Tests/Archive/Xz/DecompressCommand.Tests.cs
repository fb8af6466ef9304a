using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive.Xz;

/// <summary>`nativeinit decompress` through the published binary.</summary>
[Trait("Category", "Integration")]
public class DecompressCommandTests
{
    [SkippableFact]
    public void Decodes_xz_and_zstd_to_a_file_and_to_stdout()
    {
        var bin = Tool.RequireNativeInit();
        Tool.Require("xz", "zstd");
        using var dir = new TempDir();
        var data = XzTest.Sample(400_000, 4);
        string plain = dir.Combine("data");
        File.WriteAllBytes(plain, data);
        Tool.Sh($"xz -6 -T2 --block-size=100000 -kc {plain} > {plain}.xz && zstd -q -3 -c {plain} > {plain}.zst");
        foreach (var ext in new[] { "xz", "zst" })
        {
            string output = dir.Combine("out-" + ext);
            var r = Tool.Run(bin, "decompress", $"{plain}.{ext}", "-o", output, "--threads", "2");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal(data, File.ReadAllBytes(output));
            // Standard input to standard output.
            Tool.Sh($"{Tool.Quote(bin)} decompress - < {plain}.{ext} > {output}.2 && cmp {output}.2 {plain}");
        }
    }

    [SkippableFact]
    public void Writes_to_an_output_another_process_has_open_as_two_benchmarks_to_dev_null_do()
    {
        // Two `decompress -o /dev/null` at once: the output was opened with FileShare.None, which .NET emulates with
        // an exclusive flock(2), so the second failed with EAGAIN. flock(1) holding a shared lock (as .NET takes for
        // the other share modes) stands in for the other process here; /dev/null itself is left to the host.
        var bin = Tool.RequireNativeInit();
        Tool.Require("xz", "flock");
        using var dir = new TempDir();
        var data = XzTest.Sample(300_000, 5);
        string plain = dir.Combine("data");
        File.WriteAllBytes(plain, data);
        Tool.Sh($"xz -6 -kc {plain} > {plain}.xz");
        string output = dir.Combine("out");
        File.WriteAllBytes(output, []);
        var r = Tool.Run("flock", "--shared", "--nonblock", output, bin, "decompress", plain + ".xz", "-o", output);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(data, File.ReadAllBytes(output));
        // An exclusive lock is still respected, and said in words before anything is written (exit 3).
        var locked = Tool.Run("flock", "--exclusive", "--nonblock", output, bin, "decompress", plain + ".xz", "-o", output);
        Assert.True(locked.ExitCode == 3, locked.ToString());
        Assert.Contains($"output {output}: another process holds a lock on it", locked.Stderr);
        Assert.Equal(data, File.ReadAllBytes(output));
    }

    [SkippableFact]
    public void Two_threads_hold_a_block_and_an_eighth_per_worker_not_one_block_per_slot()
    {
        var bin = Tool.RequireNativeInit();
        Tool.Require("xz", "/usr/bin/time");
        using var dir = new TempDir();
        // Eight blocks of 8 MiB (xz -6: 8 MiB dictionary). Two workers hold a pool of 2 x (8 MiB + 256 KiB) of
        // blocks plus an eighth of a block each (so that a worker can run ahead of a slow neighbour: within the
        // bound of workers x (block + dictionary)); four whole blocks, one per slot, would be 14 MiB more. One thread
        // holds one window of the dictionary size, so the difference between the two runs is the parallel
        // decoder's own memory.
        string plain = dir.Combine("data");
        var block = XzTest.Sample(8 << 20, 9);
        using (var f = File.Create(plain))
            for (int i = 0; i < 8; i++) f.Write(block);
        Tool.Sh($"xz -1 -T2 --lzma2=preset=1,dict=8MiB --block-size=8MiB -kc {plain} > {plain}.xz");
        long PeakKiB(int threads)
        {
            string time = dir.Combine($"time-{threads}");
            var r = Tool.Run("/usr/bin/time", "-f", "%M", "-o", time, bin, "decompress", plain + ".xz", "-o", dir.Combine("out"), "--threads", threads.ToString());
            Assert.True(r.ExitCode == 0, r.ToString());
            Tool.Sh($"cmp {Tool.Quote(dir.Combine("out"))} {Tool.Quote(plain)}");
            return long.Parse(File.ReadAllLines(time)[^1].Trim());
        }
        long one = Enumerable.Range(0, 2).Min(_ => PeakKiB(1));
        long two = Enumerable.Range(0, 2).Min(_ => PeakKiB(2));
        // Beyond the one-thread run (which has an 8 MiB window): at most one more block and an eighth of a block
        // per worker, plus 6 MiB for the rounding of blocks to chunks, threads, buffers and coder states.
        // Measured here: +12.2 to +12.8 MiB (2026-11-28; earlier designs: a pool of one block per worker
        // +10.7 MiB, three whole blocks in flight +18.3 MiB, four about +27 MiB).
        long bound = one + (8 << 10) + 2 * (8 << 10) / 8 + (6 << 10);
        Assert.True(two <= bound, $"peak RSS with two threads {two} KiB, with one {one} KiB: more than {bound} KiB");
    }

    [SkippableFact]
    public void Stats_tell_each_threads_busy_and_waiting_time_on_stderr()
    {
        var bin = Tool.RequireNativeInit();
        Tool.Require("xz");
        using var dir = new TempDir();
        string plain = dir.Combine("data");
        var data = XzTest.Sample(600_000, 12);
        File.WriteAllBytes(plain, data);
        Tool.Sh($"xz -6 -T2 --block-size=100000 -kc {plain} > {plain}.xz");
        string output = dir.Combine("out");
        var r = Tool.Run(bin, "decompress", plain + ".xz", "-o", output, "--threads", "2", "--stats=json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(data, File.ReadAllBytes(output));
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stderr);
        var xz = doc.RootElement.GetProperty("xz");
        Assert.Equal(2, xz.GetProperty("workers").GetInt32());
        Assert.Equal(6, xz.GetProperty("blocks").GetInt32());
        var threads = xz.GetProperty("threads").EnumerateArray().ToList();
        Assert.Equal(["worker 0", "worker 1", "dispatcher", "reader"], threads.Select(t => t.GetProperty("name").GetString()));
        double decoding = threads.Take(2).Sum(t => t.GetProperty("busy_seconds").GetDouble());
        Assert.True(decoding > 0, r.Stderr);
        Assert.True(doc.RootElement.GetProperty("peak_rss_bytes").GetInt64() > 0);
        JsonSchemaFiles.AssertValid("decompress-stats", r.Stderr, "decompress --stats=json");
        // Each block's decoding time, and the least wall time two workers taking them in file order could need:
        // at least the longest block and half of the sum, at most the sum.
        var blocks = xz.GetProperty("block_seconds").EnumerateArray().Select(b => b.GetDouble()).ToList();
        Assert.Equal(6, blocks.Count);
        double limit = xz.GetProperty("scheduling_limit_seconds").GetDouble(), sum = blocks.Sum();
        Assert.True(limit >= blocks.Max() - 1e-6 && limit >= sum / 2 - 1e-6 && limit <= sum + 1e-6, r.Stderr);
        // Text to stderr, the data alone on stdout.
        var t = Tool.Run(bin, "decompress", plain + ".xz", "-o", output, "--threads", "1", "--stats");
        Assert.True(t.ExitCode == 0, t.ToString());
        Assert.Contains("xz:            one thread, 6 blocks", t.Stderr);
        Assert.Contains("peak RSS:", t.Stderr);
        Assert.Equal(data, File.ReadAllBytes(output));
    }

    [SkippableFact]
    public void Corrupt_input_fails_and_leaves_no_output_file()
    {
        var bin = Tool.RequireNativeInit();
        Tool.Require("xz");
        using var dir = new TempDir();
        string plain = dir.Combine("data");
        File.WriteAllBytes(plain, XzTest.Sample(200_000, 8));
        Tool.Sh($"xz -6 -kc {plain} > {plain}.xz");
        var bytes = File.ReadAllBytes(plain + ".xz");
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(plain + ".bad.xz", bytes);
        string output = dir.Combine("out");
        var r = Tool.Run(bin, "decompress", plain + ".bad.xz", "-o", output, "--threads", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("xz:", r.Stderr);
        Assert.False(File.Exists(output));
        var u = Tool.Run(bin, "decompress", plain);
        Assert.NotEqual(0, u.ExitCode);
        Assert.Contains("not an xz or zstd stream", u.Stderr);
    }
}
