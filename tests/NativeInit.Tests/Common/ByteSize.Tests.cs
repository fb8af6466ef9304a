using NativeInit.Core;

namespace NativeInit.Tests.Common;

public class ByteSizeTests
{
    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("4MiB", 4L << 20)]
    [InlineData("4M", 4L << 20)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("7.8GiB", 8375186227L)]
    [InlineData("1GB", 1_000_000_000L)]
    [InlineData(" 2 KiB ", 2048L)]
    public void Parses_sizes(string text, long expected)
    {
        Assert.True(ByteSize.TryParse(text, out var b));
        Assert.Equal(expected, b);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MiB")]
    [InlineData("12 parsecs")]
    [InlineData("-4M")]
    [InlineData("99999999999TiB")]
    public void Refuses_non_sizes(string text) => Assert.False(ByteSize.TryParse(text, out _));

    [Theory]
    [InlineData(512L, "512 B")]
    [InlineData(1536L, "1.5 KiB")]
    [InlineData(1L << 30, "1.0 GiB")]
    public void Formats_sizes(long bytes, string expected) => Assert.Equal(expected, ByteSize.Format(bytes));
}
