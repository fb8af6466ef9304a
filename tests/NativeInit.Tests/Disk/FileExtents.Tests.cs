using System.Text.RegularExpressions;
using NativeInit.Core.Disk;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Disk;

/// <summary>FS_IOC_FIEMAP through <see cref="FileExtents"/>, against filefrag (e2fsprogs) as the oracle.</summary>
public partial class FileExtentsTests
{
    [GeneratedRegex(@"^\s*\d+:\s+(\d+)\.\.\s*(\d+):\s+(\d+)\.\.\s*(\d+):\s+(\d+):", RegexOptions.Multiline)]
    private static partial Regex FilefragExtent();

    [SkippableFact]
    public void Extents_equal_what_filefrag_reports_and_cover_the_file()
    {
        Tool.Require("filefrag");
        using var tmp = new TempDir(DiskTemp.Root);
        var file = tmp.Combine("data");
        var bytes = new byte[5_000_000];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(file, bytes);
        // Sparse middle and a second write make more than one extent on most filesystems.
        using (var f = new FileStream(file, FileMode.Append)) { f.Seek(3L << 20, SeekOrigin.Current); f.Write(bytes, 0, 1_000_000); }

        const long partitionStart = 1L << 20;
        var e = FileExtents.Read(file, partitionStart);
        var v = Tool.Check("filefrag", "-v", file);
        long bs = long.Parse(Regex.Match(v, @"blocks of (\d+) bytes").Groups[1].Value);
        var oracle = FilefragExtent().Matches(v).Select(m => (Logical: long.Parse(m.Groups[1].Value) * bs,
            Physical: long.Parse(m.Groups[3].Value) * bs, Length: long.Parse(m.Groups[5].Value) * bs)).ToList();
        Assert.NotEmpty(oracle);
        Assert.Equal(oracle.Select(o => (o.Logical, partitionStart + o.Physical)), e.Extents.Select(x => (x.Logical, x.DiskOffset)));
        Assert.Equal(oracle.Sum(o => o.Length), e.Extents.Sum(x => (x.Length + bs - 1) / bs * bs));
        // The 3 MiB gap is a hole: named as a problem (stage two could not read the file by its extents).
        Assert.Contains(e.Problems(), p => p.Contains("no extent (a hole)", StringComparison.Ordinal));
        Assert.Equal(new FileInfo(file).Length, e.FileBytes);
    }

    [SkippableFact]
    public void A_written_file_has_no_problem_and_the_json_round_trips()
    {
        using var tmp = new TempDir(DiskTemp.Root);
        var file = tmp.Combine("bundle.tar");
        File.WriteAllBytes(file, new byte[2_000_000]);
        var e = FileExtents.Read(file, 512 * 2048);
        Assert.Empty(e.Problems());
        Assert.True(e.MappedBytes >= e.FileBytes);
        var json = NativeInit.Core.JsonText.ToUtf8(w => e.WriteJson(w, "/boot/nativeinit/bundle.tar"));
        var back = FileExtents.Parse(json, "bundle.extents.json");
        Assert.Equal(e.Extents, back.Extents);
        Assert.Equal("/boot/nativeinit/bundle.tar", back.File);
        Assert.Equal(512 * 2048, back.PartitionOffset);
    }

    [Fact]
    public void Overlaps_are_found_at_the_edges_and_not_beside_them()
    {
        var e = new FileExtents
        {
            File = "f", FileBytes = 8192, PartitionOffset = 0,
            Extents = [new FileExtent(0, 4096, 4096, 0), new FileExtent(4096, 65536, 4096, 1)],
        };
        Assert.Empty(e.Overlaps([new DiskRange(0, 4096, "before"), new DiskRange(8192, 57344, "between"), new DiskRange(69632, 10, "after")]));
        var hits = e.Overlaps([new DiskRange(8191, 1, "last byte"), new DiskRange(65536 + 4095, 100, "tail")]);
        Assert.Equal(["last byte", "tail"], hits.Select(h => h.Range.What));
    }
}
