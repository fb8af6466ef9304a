using System.Buffers.Binary;
using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Xz;
using SharpCompress.Compressors.Xz;

namespace NativeInit.Benchmarks;

/// <summary>The xz decoder alone (no file system): NativeInit's decoder on one and two threads against SharpCompress's
/// XZStream (the baseline), on fixed inputs generated at setup with the xz CLI: 24 MiB of deterministic mixed data,
/// as one block (plain xz -6) and in 4 MiB blocks (xz -6 -T2 --block-size=4MiB). MB/s is uncompressed output.</summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class XzDecoderBenchmarks
{
    private const int Size = 24 << 20;
    private byte[] _single = [];
    private byte[] _multi = [];
    private readonly byte[] _buffer = new byte[1 << 20];

    [Params("single-block", "multi-block")]
    public string File { get; set; } = "single-block";

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn());
            AddDiagnoser(MemoryDiagnoser.Default);
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        var data = Sample(Size);
        _single = Compress(data, "-6");
        _multi = Compress(data, "-6", "-T2", "--block-size=4MiB");
    }

    private byte[] Input => File == "single-block" ? _single : _multi;

    [Benchmark(Baseline = true)]
    public long SharpCompress() => Drain(new XZStream(new MemoryStream(Input)));

    [Benchmark]
    public long NativeInit_1_thread() => Drain(new XzDecoderStream(new MemoryStream(Input), new DecoderOptions { Threads = 1 }));

    [Benchmark]
    public long NativeInit_2_threads() => Drain(new XzDecoderStream(new MemoryStream(Input), new DecoderOptions { Threads = 2 }));

    private long Drain(Stream s)
    {
        using (s)
        {
            long total = 0;
            int n;
            while ((n = s.Read(_buffer, 0, _buffer.Length)) > 0) total += n;
            if (total != Size) throw new InvalidOperationException($"decoded {total} bytes, expected {Size}");
            return total;
        }
    }

    private static byte[] Compress(byte[] data, params string[] args)
    {
        string dir = Path.Combine(Path.GetTempPath(), "nativeinit-bench-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            string input = Path.Combine(dir, "in");
            System.IO.File.WriteAllBytes(input, data);
            var psi = new ProcessStartInfo("xz") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("-kc");
            psi.ArgumentList.Add(input);
            using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start xz");
            var o = new MemoryStream();
            p.StandardOutput.BaseStream.CopyTo(o);
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException("xz failed");
            return o.ToArray();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Deterministic mixed data: words, repeats of earlier stretches, call-like binary, some noise.</summary>
    private static byte[] Sample(int size)
    {
        var rng = new Random(42);
        var data = new byte[size];
        string[] words = ["gateway", "conversion", "partition", "volume", "kernel", "initramfs", "bundle", "\n", " ", "/usr/lib/"];
        int i = 0;
        while (i < size)
        {
            int kind = rng.Next(10);
            if (kind < 6)
            {
                var w = words[rng.Next(words.Length)];
                for (int k = 0; k < w.Length && i < size; k++) data[i++] = (byte)w[k];
            }
            else if (kind < 8 && i > 64)
            {
                int from = rng.Next(Math.Max(1, i - 32));
                int len = rng.Next(4, 300);
                for (int k = 0; k < len && i < size; k++) data[i++] = data[from + k];
            }
            else if (kind < 9 && i + 5 <= size)
            {
                data[i++] = 0xE8;
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(i, 4), rng.Next(-100000, 100000));
                i += 4;
            }
            else data[i++] = (byte)rng.Next(256);
        }
        return data;
    }

    /// <summary>Uncompressed megabytes per second from the mean time.</summary>
    private sealed class ThroughputColumn : IColumn
    {
        public string Id => "MBps";
        public string ColumnName => "MB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "uncompressed MB (10^6 bytes) per second, from the mean";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is not { } stats) return "-";
            double seconds = stats.Mean / 1e9;
            return (Size / 1e6 / seconds).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
