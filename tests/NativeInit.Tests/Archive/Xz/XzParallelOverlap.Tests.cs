using NativeInit.Core;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Xz;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.Archive.Xz;

/// <summary>
/// Two workers on blocks of very different speeds (text-like blocks that take long to decode, blocks of zeros that
/// take almost nothing, alternating; 24 MiB blocks with an 8 MiB dictionary, as xz -T2 makes them for a root file
/// system) must keep decoding side by side: while the oldest block (slow) is decoded, the other worker finishes the
/// quick block after it and goes on into the next slow one instead of waiting for memory until the oldest is done.
///
/// Measured through <see cref="XzDecodeStatistics"/>: the time workers wait for memory behind the head block. A
/// decoder that serialises on such blocks (the pool of one block per worker with eager input read-ahead: a worker
/// waits for most of every slow block) spends about as long waiting as decoding; waits caused by the design do
/// not shrink on a loaded machine, they grow with it, so the bound holds on a busy CI host too.
/// </summary>
[Trait("Category", "Integration")]
[Collection("xz allocation")]
public class XzParallelOverlapTests(ITestOutputHelper output)
{
    private const int Block = 24 << 20;

    /// <summary>Text-like data: words from a small vocabulary (about 4:1 with xz -1, slow to decode: short matches
    /// and literals).</summary>
    private static byte[] Text(int size, int seed)
    {
        var rng = new Random(seed);
        string[] words = ["gateway ", "conversion ", "partition ", "volume ", "kernel\n", "initramfs ", "bundle ", "0x7f ",
            "/usr/lib/", "sda3 ", "lvm ", "grub2 ", "xfs ", "selinux=1 ", "root=", "/dev/mapper/VA-root "];
        var data = new byte[size];
        int i = 0;
        while (i < size)
        {
            var w = words[rng.Next(words.Length)];
            for (int k = 0; k < w.Length && i < size; k++) data[i++] = (byte)w[k];
            if (rng.Next(8) == 0 && i < size) data[i++] = (byte)('0' + rng.Next(10));
        }
        return data;
    }

    [SkippableFact]
    public void Two_workers_overlap_on_blocks_of_very_different_speeds()
    {
        Tool.Require("xz");
        using var dir = new TempDir();
        string plain = dir.Combine("data");
        // slow, quick, slow, quick, slow, quick, slow
        var zeros = new byte[Block];
        using (var f = File.Create(plain))
        {
            for (int b = 0; b < 7; b++) f.Write(b % 2 == 0 ? Text(Block, b) : zeros);
        }
        string packed = plain + ".xz";
        Tool.Sh($"xz -T2 --lzma2=preset=1,dict=8MiB --block-size=24MiB -kc {Tool.Quote(plain)} > {Tool.Quote(packed)}");

        var stats = new XzDecodeStatistics();
        using (var s = new XzDecoderStream(File.OpenRead(packed), new DecoderOptions { Threads = 2, XzStatistics = stats }))
        {
            var buf = new byte[1 << 20];
            using var expected = File.OpenRead(plain);
            var want = new byte[buf.Length];
            int n;
            while ((n = s.Read(buf, 0, buf.Length)) > 0)
            {
                expected.ReadExactly(want, 0, n);
                Assert.True(buf.AsSpan(0, n).SequenceEqual(want.AsSpan(0, n)), "output differs");
            }
            Assert.Equal(expected.Length, expected.Position);
            Assert.Equal(2, s.ParallelWorkers);
        }

        double busy = 0, behind = 0;
        foreach (var t in stats.Threads.Take(stats.Workers))
        {
            busy += t.Busy.TotalSeconds;
            behind += t.WaitMemory.TotalSeconds;
        }
        string figures = string.Join("; ", stats.Threads.Take(stats.Workers).Select(t =>
            $"{t.Name}: decoding {t.Busy.TotalSeconds:0.000} s, waiting for memory behind the head {t.WaitMemory.TotalSeconds:0.000} s"));
        output.WriteLine(figures);
        Assert.Equal(7, stats.Blocks);
        Assert.True(behind <= 0.25 * busy,
            $"workers waited {behind:0.000} s for memory behind the head block against {busy:0.000} s decoding ({figures})");
    }
}
