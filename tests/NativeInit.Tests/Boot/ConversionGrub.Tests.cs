using NativeInit.Core.Boot;

namespace NativeInit.Tests.Boot;

/// <summary>Where the two core.img of a conversion go in the BIOS boot partition, and when a partition is too small.</summary>
public class ConversionGrubTests
{
    [Fact]
    public void The_system_core_goes_to_the_sector_aligned_second_half()
    {
        Assert.Equal(1L << 20, ConversionGrub.SystemCoreOffset(2L << 20));
        Assert.Equal(512L << 10, ConversionGrub.SystemCoreOffset(1L << 20));
        Assert.Equal(1000L * 512, ConversionGrub.SystemCoreOffset(2001L * 512));
        Assert.Equal("(,gpt2)/nativeinit/grub", ConversionGrub.Prefix(2));
    }

    [Fact]
    public void Partitions_of_1_MiB_and_more_take_any_core_and_smaller_ones_are_refused_with_the_figures()
    {
        Assert.Null(ConversionGrub.RoomProblem(178_092, 2L << 20));
        Assert.Null(ConversionGrub.RoomProblem(178_092, 1L << 20));
        long max = (long)GrubPcFormat.MaxCoreSectors * GrubPcFormat.SectorSize;
        Assert.Null(ConversionGrub.RoomProblem(max, 2 * max));
        var small = ConversionGrub.RoomProblem(178_092, 600L << 10);
        Assert.NotNull(small);
        Assert.Contains($"needs {2 * max} bytes or more", small);
        var big = ConversionGrub.RoomProblem(1_200_000, 2L << 20);
        Assert.NotNull(big);
        Assert.Contains("does not fit the first half", big);
    }
}
