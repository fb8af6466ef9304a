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
    public void Two_threads_hold_one_block_per_worker_not_one_per_block_in_flight()
    {
        var bin = Tool.RequireNativeInit();
        Tool.Require("xz", "/usr/bin/time");
        using var dir = new TempDir();
        // Eight blocks of 8 MiB (xz -6: 8 MiB dictionary). Two workers may hold 2 x (8 MiB + 256 KiB) of blocks;
        // three whole blocks in flight (the earlier decoder) would be 8 MiB more. One thread holds one window of
        // the dictionary size, so the difference between the two runs is the parallel decoder's own memory.
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
        // Beyond the one-thread run (which has an 8 MiB window): at most one more block, plus 6 MiB for the
        // rounding of blocks to 1 MiB chunks, threads, buffers and coder states. Measured here: +10.7 MiB; the
        // earlier decoder with three whole blocks in flight: +18.3 MiB.
        long bound = one + (8 << 10) + (6 << 10);
        Assert.True(two <= bound, $"peak RSS with two threads {two} KiB, with one {one} KiB: more than {bound} KiB");
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
