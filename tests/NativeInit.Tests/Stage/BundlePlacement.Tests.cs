using System.Security.Cryptography;
using NativeInit.Core;
using NativeInit.Core.Disk;
using NativeInit.Core.Stage;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Stage;

/// <summary>Stage one keeps the staged bundle clear of stage two's first writes (issue 12): it places the file again
/// while an extent overlaps, and refuses when it cannot.</summary>
public class BundlePlacementTests
{
    private static (TempDir Tmp, string File, byte[] Hash) Staged()
    {
        var tmp = new TempDir(DiskTemp.Root);
        var dir = tmp.Combine("boot/nativeinit");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "bundle.tar");
        var bytes = new byte[4_000_000];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(file, bytes);
        return (tmp, file, SHA256.HashData(bytes));
    }

    [SkippableFact]
    public void An_overlapping_bundle_is_placed_again_elsewhere()
    {
        var (tmp, file, hash) = Staged();
        using var _ = tmp;
        var first = FileExtents.Read(file, 0);
        var keepOut = first.Extents.Select(x => new DiskRange(x.DiskOffset, x.Length, "the new /boot partition")).ToList();
        var log = new StringWriter();
        var (placed, attempts) = BundlePlacement.Place(file, 0, keepOut, log);
        Assert.True(attempts >= 2, log.ToString());
        Assert.Empty(placed.Overlaps(keepOut));
        Assert.Contains("placing the bundle again", log.ToString());
        Assert.Equal(placed.Extents, FileExtents.Read(file, 0).Extents);
        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(file)));
        // Nothing of the earlier copies is left.
        Assert.Equal(["bundle.tar"], Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(file)!).Select(Path.GetFileName));
    }

    [SkippableFact]
    public void A_bundle_that_cannot_be_placed_clear_is_refused_naming_the_range()
    {
        var (tmp, file, hash) = Staged();
        using var _ = tmp;
        var everything = new[] { new DiskRange(0, long.MaxValue / 2, "the whole disk") };
        var e = Assert.Throws<RefusedException>(() => BundlePlacement.Place(file, 0, everything, TextWriter.Null));
        Assert.Contains($"after {BundlePlacement.MaxAttempts} placements", e.Message);
        Assert.Contains("lie in the whole disk", e.Message);
        Assert.Equal(ExitCodes.Refused, e.ExitCode);
        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(file)));
        Assert.Equal(["bundle.tar"], Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(file)!).Select(Path.GetFileName));
    }

    [SkippableFact]
    public void A_clear_bundle_is_left_where_it_is()
    {
        var (tmp, file, _) = Staged();
        using var __ = tmp;
        var before = FileExtents.Read(file, 1 << 20);
        var (placed, attempts) = BundlePlacement.Place(file, 1 << 20, [new DiskRange(0, 1 << 20, "GPT")], TextWriter.Null);
        Assert.Equal(1, attempts);
        Assert.Equal(before.Extents, placed.Extents);
    }
}
