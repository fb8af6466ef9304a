using System.Text;
using NativeInit.Core.Archive.Xz;

namespace NativeInit.Tests.Archive.Xz;

public class XzChecksTests
{
    [Fact]
    public void Crc64_is_CRC_64_XZ()
    {
        // The catalogue check value of CRC-64/XZ (reflected ECMA-182, init and xorout all ones).
        Assert.Equal(0x995DC9BBDF1939FAUL, Crc64Xz.Update(0, "123456789"u8));
        // System.IO.Hashing's Crc64 is a different CRC (CRC-64/ECMA-182): it must not be used for xz.
        Assert.NotEqual(0x995DC9BBDF1939FAUL, System.IO.Hashing.Crc64.HashToUInt64("123456789"u8));
    }

    [Fact]
    public void Carry_less_folding_matches_the_tables_for_every_length_and_split()
    {
        var data = new byte[5000];
        new Random(3).NextBytes(data);
        for (int len = 0; len <= 700; len++)
        {
            var span = data.AsSpan(len % 13, len);
            Assert.Equal(Crc64Xz.Update(0, span, allowClmul: false), Crc64Xz.Update(0, span));
        }
        ulong whole = Crc64Xz.Update(0, data, allowClmul: false);
        ulong split = Crc64Xz.Update(Crc64Xz.Update(0, data.AsSpan(0, 1234)), data.AsSpan(1234));
        Assert.Equal(whole, split);
    }

    [Fact]
    public void Sha256_without_OpenSSL()
    {
        var c = new XzCheck();
        c.Reset(XzCheckType.Sha256);
        c.Append(Encoding.ASCII.GetBytes("abc"));
        var expected = Convert.FromHexString("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
        Assert.True(c.Matches(expected));
    }
}
