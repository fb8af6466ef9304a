using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
/// Slicing-by-8 tables, and carry-less multiplication (PCLMULQDQ) folding of 16-byte blocks for long inputs: the
/// message A·x^128 + B is replaced by L·(x^192 mod P) + H·(x^128 mod P) + B (L, H the halves of A), which leaves the
/// CRC unchanged; long inputs fold four accumulators 64 bytes apart the same way (x^576, x^512); the last 16-byte
/// block is finished with the tables.</summary>
internal static unsafe class Crc64Xz
{
    private const ulong Polynomial = 0xC96C5795D7870F42UL;
    /// <summary>The polynomial in normal (non-reflected) form, without the x^64 term.</summary>
    private const ulong NormalPolynomial = 0x42F0E1EBA9EA3693UL;
    private static readonly ulong[] Table = BuildTable();
    // Reflected x^191 mod P and x^127 mod P (one less than 192 and 128: a reflected carry-less product comes out
    // shifted by one bit).
    private static readonly ulong FoldHigh = Reflect(XPowMod(191));
    private static readonly ulong FoldLow = Reflect(XPowMod(127));
    // The same for folding over 512 bits (four accumulators 64 bytes apart).
    private static readonly ulong FoldHigh4 = Reflect(XPowMod(575));
    private static readonly ulong FoldLow4 = Reflect(XPowMod(511));

    private static ulong XPowMod(int e)
    {
        // x^e mod P in normal form, one multiplication by x at a time.
        ulong r = 1;
        for (int i = 0; i < e; i++)
        {
            bool carry = (r & (1UL << 63)) != 0;
            r <<= 1;
            if (carry) r ^= NormalPolynomial;
        }
        return r;
    }

    private static ulong Reflect(ulong v)
    {
        ulong r = 0;
        for (int i = 0; i < 64; i++) r |= ((v >> i) & 1) << (63 - i);
        return r;
    }

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
    public static ulong Update(ulong crc, ReadOnlySpan<byte> data) => Update(crc, data, allowClmul: true);

    internal static ulong Update(ulong crc, ReadOnlySpan<byte> data, bool allowClmul)
    {
        crc = ~crc;
        fixed (byte* p0 = data)
        {
            byte* p = p0;
            int n = data.Length;
            if (allowClmul && n >= 64 && Pclmulqdq.IsSupported && Sse2.IsSupported)
            {
                var acc = Sse2.LoadVector128(p).AsUInt64() ^ Vector128.CreateScalar(crc);
                var k = Vector128.Create(FoldHigh, FoldLow);
                p += 16;
                n -= 16;
                if (n >= 112)
                {
                    // Four independent accumulators 64 bytes apart hide the multiplier's latency: each is folded
                    // over 512 bits (x^575, x^511), then they are folded into one 128 bits at a time.
                    var acc1 = Sse2.LoadVector128(p).AsUInt64();
                    var acc2 = Sse2.LoadVector128(p + 16).AsUInt64();
                    var acc3 = Sse2.LoadVector128(p + 32).AsUInt64();
                    p += 48;
                    n -= 48;
                    var k4 = Vector128.Create(FoldHigh4, FoldLow4);
                    while (n >= 64)
                    {
                        acc = Pclmulqdq.CarrylessMultiply(acc, k4, 0x00) ^ Pclmulqdq.CarrylessMultiply(acc, k4, 0x11) ^
                              Sse2.LoadVector128(p).AsUInt64();
                        acc1 = Pclmulqdq.CarrylessMultiply(acc1, k4, 0x00) ^ Pclmulqdq.CarrylessMultiply(acc1, k4, 0x11) ^
                               Sse2.LoadVector128(p + 16).AsUInt64();
                        acc2 = Pclmulqdq.CarrylessMultiply(acc2, k4, 0x00) ^ Pclmulqdq.CarrylessMultiply(acc2, k4, 0x11) ^
                               Sse2.LoadVector128(p + 32).AsUInt64();
                        acc3 = Pclmulqdq.CarrylessMultiply(acc3, k4, 0x00) ^ Pclmulqdq.CarrylessMultiply(acc3, k4, 0x11) ^
                               Sse2.LoadVector128(p + 48).AsUInt64();
                        p += 64;
                        n -= 64;
                    }
                    acc = Pclmulqdq.CarrylessMultiply(acc, k, 0x00) ^ Pclmulqdq.CarrylessMultiply(acc, k, 0x11) ^ acc1;
                    acc = Pclmulqdq.CarrylessMultiply(acc, k, 0x00) ^ Pclmulqdq.CarrylessMultiply(acc, k, 0x11) ^ acc2;
                    acc = Pclmulqdq.CarrylessMultiply(acc, k, 0x00) ^ Pclmulqdq.CarrylessMultiply(acc, k, 0x11) ^ acc3;
                }
                while (n >= 16)
                {
                    var next = Sse2.LoadVector128(p).AsUInt64();
                    acc = Pclmulqdq.CarrylessMultiply(acc, k, 0x00) ^ Pclmulqdq.CarrylessMultiply(acc, k, 0x11) ^ next;
                    p += 16;
                    n -= 16;
                }
                byte* last = stackalloc byte[16];
                Sse2.Store(last, acc.AsByte());
                crc = Tables(0, last, 16);
            }
            crc = Tables(crc, p, n);
        }
        return ~crc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Tables(ulong crc, byte* p, int n)
    {
        fixed (ulong* t = Table)
        {
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
        return crc;
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
