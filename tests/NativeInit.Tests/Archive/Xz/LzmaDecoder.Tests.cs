using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive.Xz;

/// <summary>The LZMA decoder's position bookkeeping across an LZMA2 dictionary reset in the middle of a block, in
/// each window mode: flat (the dictionary start moves inside the buffer), circular without and with wrapping, and
/// the parallel path's flat slots. The xz CLI makes the LZMA data (the oracle); the container is written by hand.</summary>
[Trait("Category", "Integration")]
public class LzmaDecoderTests
{
    /// <summary>Raw LZMA2 of the two halves joined: the second half's first chunk resets the dictionary (and, as
    /// LZMA2 requires, the state and properties). After the reset at an odd position, window reads must be relative
    /// to the reset (a decoder that keeps addressing from the buffer start fails here). Position and literal states
    /// cannot show a wrong origin: fresh probabilities make a constant shift of those contexts invisible.</summary>
    private static byte[] TwoStreams(byte[] part, string dict)
    {
        int half = part.Length / 2 | 1;
        string filter = $"--lzma2=preset=6,dict={dict},lc=3,lp=1,pb=2";
        var first = XzTest.XzCli(part[..half], "--format=raw", filter);
        var second = XzTest.XzCli(part[half..], "--format=raw", filter);
        Assert.Equal(0, first[^1]); // end of LZMA2 data, dropped so the second stream continues the same block
        Assert.True(second[0] >= 0xE0, "the second stream starts with a dictionary reset");
        return [.. first[..^1], .. second];
    }

    [SkippableTheory]
    [InlineData(true, 16, 1)]  // sizes known, 1 MiB dictionary: flat window
    [InlineData(false, 16, 1)] // sizes unknown: circular window, no wrap
    [InlineData(false, 0, 1)]  // 4 KiB dictionary: circular window that wraps many times
    [InlineData(true, 0, 1)]   // sizes known but the block is larger than the window: circular, wrapping
    [InlineData(true, 16, 2)]  // two blocks decoded in parallel into flat slots
    public void Mid_block_dictionary_reset_decodes_in_every_window_mode(bool sizesInHeader, byte dictProperty, int threads)
    {
        Tool.Require("xz");
        var data = XzTest.Sample(400_000, seed: 23);
        string dict = dictProperty == 0 ? "4KiB" : "1MiB";
        var xz = new XzHandWriter
        {
            BlockSize = 200_000,
            CheckId = 4,
            SizesInHeader = sizesInHeader,
            DictProperty = dictProperty,
            Lzma2Encoder = part => TwoStreams(part, dict),
        }.Write(data);
        Assert.Equal(data, XzTest.Decode(xz, threads));
    }
}
