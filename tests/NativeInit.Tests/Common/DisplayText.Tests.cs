using System.Text;
using NativeInit.Core;

namespace NativeInit.Tests.Common;

public class DisplayTextTests
{
    [Theory]
    [InlineData(new byte[] { (byte)'a', 0x1b, (byte)'[', (byte)'2', (byte)'J' }, @"a\x1b[2J")]
    [InlineData(new byte[] { (byte)'o', (byte)'k', (byte)'\r', (byte)'\n' }, @"ok\x0d\x0a")]
    [InlineData(new byte[] { (byte)'x', 0xff, 0xfe, (byte)'y' }, @"x\xff\xfey")]
    [InlineData(new byte[] { 0xe2, 0x82 }, @"\xe2\x82")]                     // truncated 3-byte sequence
    [InlineData(new byte[] { 0xc2, 0x9b, (byte)'1' }, @"\x9b1")]             // C1 CSI, valid UTF-8
    [InlineData(new byte[] { (byte)'a', (byte)'\\', (byte)'b' }, @"a\\b")]
    [InlineData(new byte[] { 0xe2, 0x80, 0xae, (byte)'t' }, @"\u{202E}t")]  // right-to-left override
    [InlineData(new byte[] { 0xc3, 0xa9, (byte)'t', 0xc3, 0xa9 }, "été")]    // ordinary non-ASCII stays readable
    public void Escapes_what_could_rewrite_a_terminal(byte[] input, string expected)
    {
        Assert.Equal(expected, DisplayText.Of(input));
        if (IsValidUtf8(input)) Assert.Equal(expected, DisplayText.Of(Encoding.UTF8.GetString(input)));
    }

    [Fact]
    public void Output_holds_no_control_bytes_for_any_input()
    {
        var rng = new Random(7);
        var buf = new byte[64];
        for (int i = 0; i < 2000; i++)
        {
            rng.NextBytes(buf);
            string s = DisplayText.Of(buf);
            Assert.DoesNotContain(s, c => c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == '\uFFFD');
        }
    }

    [Fact]
    public void Plain_names_come_back_unchanged() =>
        Assert.Equal("VA-root_1.img", DisplayText.Of("VA-root_1.img"u8));

    private static bool IsValidUtf8(byte[] b)
    {
        try { new UTF8Encoding(false, true).GetString(b); return true; }
        catch (DecoderFallbackException) { return false; }
    }
}
