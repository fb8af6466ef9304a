namespace NativeInit.Core.Lvm;

/// <summary>
/// lvm2's checksum (lib/misc/crc.c calc_crc): the reflected CRC-32 (polynomial 0xEDB88320) started from
/// <see cref="Initial"/> = 0xf597a6cf and with no final inversion. Used for the label, the metadata area header and
/// the metadata text.
/// </summary>
public static class LvmCrc
{
    public const uint Initial = 0xf597a6cf;
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data, uint crc = Initial)
    {
        var table = Table;
        foreach (byte b in data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }
}
