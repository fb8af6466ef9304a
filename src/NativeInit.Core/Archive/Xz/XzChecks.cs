using System.Buffers.Binary;
using System.IO.Hashing;
using Org.BouncyCastle.Crypto.Digests;

namespace NativeInit.Core.Archive.Xz;

/// <summary>Check types of the xz format (xz file format 1.2.1, section 3.4).</summary>
internal enum XzCheckType : byte
{
    None = 0x00,
    Crc32 = 0x01,
    Crc64 = 0x04,
    Sha256 = 0x0A,
}

/// <summary>CRC-64/XZ: the ECMA-182 polynomial, reflected (0xC96C5795D7870F42), initial value and final XOR all
/// ones. This is not System.IO.Hashing's Crc64, which is the non-reflected ECMA-182 variant with zero init.
/// Slicing-by-8 tables.</summary>
internal static unsafe class Crc64Xz
{
    private const ulong Polynomial = 0xC96C5795D7870F42UL;
    private static readonly ulong[] Table = BuildTable();

    private static ulong[] BuildTable()
    {
        var t = new ulong[8 * 256];
        for (int i = 0; i < 256; i++)
        {
            ulong c = (ulong)i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            t[i] = c;
        }
        for (int i = 0; i < 256; i++)
            for (int s = 1; s < 8; s++)
                t[s * 256 + i] = (t[(s - 1) * 256 + i] >> 8) ^ t[(byte)t[(s - 1) * 256 + i]];
        return t;
    }

    /// <summary>Continues a CRC (pass the previous result; 0 to start).</summary>
    public static ulong Update(ulong crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        fixed (ulong* t = Table)
        fixed (byte* p0 = data)
        {
            byte* p = p0;
            int n = data.Length;
            while (n >= 8)
            {
                ulong v = crc ^ BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(p, 8));
                crc = t[7 * 256 + (byte)v] ^ t[6 * 256 + (byte)(v >> 8)] ^ t[5 * 256 + (byte)(v >> 16)] ^
                      t[4 * 256 + (byte)(v >> 24)] ^ t[3 * 256 + (byte)(v >> 32)] ^ t[2 * 256 + (byte)(v >> 40)] ^
                      t[1 * 256 + (byte)(v >> 48)] ^ t[(byte)(v >> 56)];
                p += 8;
                n -= 8;
            }
            while (n-- > 0) crc = t[(byte)(crc ^ *p++)] ^ (crc >> 8);
        }
        return ~crc;
    }
}

/// <summary>The integrity check of one block: computed over its uncompressed data, compared with the stored field.</summary>
internal sealed class XzCheck
{
    private readonly Crc32 _crc32 = new();
    private ulong _crc64;
    private Sha256Digest? _sha256;

    public XzCheckType Type { get; private set; }

    /// <summary>Size in bytes of the Check field for a check ID (section 2.1.1.2: 0, 4, 8, 16, 32, 64 by groups of three).</summary>
    public static int SizeOf(int checkId) => checkId == 0 ? 0 : 4 << ((checkId - 1) / 3);

    public static bool IsSupported(int checkId) => checkId is 0x00 or 0x01 or 0x04 or 0x0A;

    public int Size => SizeOf((int)Type);

    public void Reset(XzCheckType type)
    {
        Type = type;
        switch (type)
        {
            case XzCheckType.Crc32: _crc32.Reset(); break;
            case XzCheckType.Crc64: _crc64 = 0; break;
            case XzCheckType.Sha256: (_sha256 ??= new Sha256Digest()).Reset(); break;
        }
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        switch (Type)
        {
            case XzCheckType.Crc32: _crc32.Append(data); break;
            case XzCheckType.Crc64: _crc64 = Crc64Xz.Update(_crc64, data); break;
            case XzCheckType.Sha256: _sha256!.BlockUpdate(data); break;
        }
    }

    /// <summary>True when the stored check field matches what was computed.</summary>
    public bool Matches(ReadOnlySpan<byte> stored)
    {
        switch (Type)
        {
            case XzCheckType.None: return true;
            case XzCheckType.Crc32: return BinaryPrimitives.ReadUInt32LittleEndian(stored) == _crc32.GetCurrentHashAsUInt32();
            case XzCheckType.Crc64: return BinaryPrimitives.ReadUInt64LittleEndian(stored) == _crc64;
            default:
                Span<byte> digest = stackalloc byte[32];
                _sha256!.DoFinal(digest);
                return digest.SequenceEqual(stored[..32]);
        }
    }

    public string Name => Type switch
    {
        XzCheckType.None => "none",
        XzCheckType.Crc32 => "CRC32",
        XzCheckType.Crc64 => "CRC64",
        _ => "SHA-256",
    };
}
