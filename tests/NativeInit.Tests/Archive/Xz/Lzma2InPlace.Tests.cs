using NativeInit.Core.Archive.Xz;

namespace NativeInit.Tests.Archive.Xz;

public unsafe class Lzma2InPlaceTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(70_000)]
    public void Input_that_output_would_overrun_is_moved_aside_first(int margin)
    {
        // Stored chunks grow by 3 bytes per 64 KiB: with a small margin the output catches up with the input and
        // the rest of the input must be spilled before it is overwritten.
        var data = XzTest.Random(300_000, 17);
        var lzma2 = XzHandWriter.Lzma2Uncompressed(data);
        int placement = data.Length + margin;
        int size = Math.Max(placement, lzma2.Length) + LzmaDecoder.InputPadding + LzmaDecoder.WindowTail;
        var buffer = GC.AllocateArray<byte>(size, pinned: true);
        int inOffset = Math.Max(0, placement - lzma2.Length);
        lzma2.CopyTo(buffer, inOffset);
        var spill = new PinnedBuffer();
        fixed (byte* p = buffer)
        {
            Lzma2.DecodeFlat(new LzmaDecoder(), p + inOffset, lzma2.Length, p, data.Length, 1 << 20, spill);
        }
        Assert.True(data.AsSpan().SequenceEqual(buffer.AsSpan(0, data.Length)));
        Assert.True(spill.Length > 0 || margin >= 70_000, "the overlapping case should have used the spill buffer");
    }
}
