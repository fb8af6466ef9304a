using NativeInit.Core.Archive;

namespace NativeInit.Tests.Archive;

public class CompressionDetectTests
{
    [Fact]
    public void A_zstd_skippable_frame_first_is_zstd()
    {
        Assert.Equal(CompressionFormat.Zstd, Compression.Detect([0x50, 0x2A, 0x4D, 0x18, 4, 0]));   // pzstd
        Assert.Equal(CompressionFormat.Zstd, Compression.Detect([0x5E, 0x2A, 0x4D, 0x18, 0, 0]));   // seekable format
        Assert.Equal(CompressionFormat.Zstd, Compression.Detect([0x28, 0xB5, 0x2F, 0xFD, 0, 0]));
        Assert.Equal(CompressionFormat.None, Compression.Detect([0x60, 0x2A, 0x4D, 0x18, 0, 0]));
        Assert.Equal(CompressionFormat.None, Compression.Detect("ustar\0"u8));
    }
}
