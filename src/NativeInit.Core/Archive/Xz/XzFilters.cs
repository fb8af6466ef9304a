using System.Buffers.Binary;

namespace NativeInit.Core.Archive.Xz;

/// <summary>
/// The non-LZMA2 filters of a block's chain, decoding side (xz file format 1.2.1 section 5.3.2 delta, 5.3.3 branch
/// converters). Works in place on a staging buffer: filter k (in decoding order, i.e. the reverse of the header's
/// list) has turned the prefix [0, _done[k]) into its output; branch converters keep up to four trailing bytes until
/// more data (or the end of the block) arrives.
/// </summary>
internal sealed class XzFilterChain
{
    private const int MaxFilters = 3;
    private readonly ulong[] _ids = new ulong[MaxFilters];
    private readonly int[] _done = new int[MaxFilters];
    private readonly byte[] _deltaHistory = new byte[MaxFilters * 256];
    private readonly byte[] _deltaPos = new byte[MaxFilters];
    private readonly uint[] _prop = new uint[MaxFilters];
    private readonly uint[] _nowPos = new uint[MaxFilters];
    private readonly uint[] _x86PrevMask = new uint[MaxFilters];
    private readonly uint[] _x86PrevPos = new uint[MaxFilters];
    private int _count;

    public int Count => _count;

    /// <summary>Sets up the chain from a block header (all filters but the last, LZMA2), in decoding order.</summary>
    public void Reset(in XzBlockHeader bh)
    {
        _count = bh.FilterCount - 1;
        for (int k = 0; k < _count; k++)
        {
            var f = bh.Filter(_count - 1 - k);
            _ids[k] = f.Id;
            _prop[k] = f.Property;
            _done[k] = 0;
            _nowPos[k] = f.Id == XzFilterId.Delta ? 0 : f.Property;
            _x86PrevMask[k] = 0;
            _x86PrevPos[k] = unchecked((uint)-5);
            _deltaPos[k] = 0;
            Array.Clear(_deltaHistory, k * 256, 256);
        }
    }

    /// <summary>Runs the chain over buf[.. length) (bytes already processed are remembered); returns how many
    /// leading bytes are fully decoded. With <paramref name="final"/> every byte is released.</summary>
    public int Process(Span<byte> buf, int length, bool final)
    {
        int avail = length;
        for (int k = 0; k < _count; k++)
        {
            int start = _done[k];
            var part = buf[start..avail];
            int n = _ids[k] switch
            {
                XzFilterId.Delta => Delta(k, part),
                XzFilterId.X86 => X86(k, part),
                _ => Arm64(k, part),
            };
            _nowPos[k] += (uint)n;
            _done[k] = final ? avail : start + n;
            avail = _done[k];
        }
        return avail;
    }

    /// <summary>The first <paramref name="n"/> bytes were handed out and moved away: shift the bookkeeping.</summary>
    public void Discard(int n)
    {
        for (int k = 0; k < _count; k++) _done[k] -= n;
    }

    private int Delta(int k, Span<byte> buf)
    {
        var hist = _deltaHistory.AsSpan(k * 256, 256);
        int distance = (int)_prop[k];
        byte pos = _deltaPos[k];
        for (int i = 0; i < buf.Length; i++)
        {
            byte b = (byte)(buf[i] + hist[(byte)(distance + pos)]);
            buf[i] = b;
            hist[pos--] = b;
        }
        _deltaPos[k] = pos;
        return buf.Length;
    }

    private static bool X86MsByte(uint b) => b == 0 || b == 0xFF;

    private int X86(int k, Span<byte> buf)
    {
        // Which prefix masks still allow a conversion, and the byte examined for each.
        ReadOnlySpan<bool> allowed = [true, true, true, false, true, false, false, false];
        ReadOnlySpan<byte> bitNumber = [0, 1, 2, 2, 3, 3, 3, 3];
        uint nowPos = _nowPos[k];
        uint prevMask = _x86PrevMask[k];
        uint prevPos = _x86PrevPos[k];
        if (buf.Length < 5) return 0;
        if (nowPos - prevPos > 5) prevPos = nowPos - 5;
        int limit = buf.Length - 5;
        int i = 0;
        while (i <= limit)
        {
            byte b = buf[i];
            if (b != 0xE8 && b != 0xE9)
            {
                i++;
                continue;
            }
            uint offset = nowPos + (uint)i - prevPos;
            prevPos = nowPos + (uint)i;
            if (offset > 5) prevMask = 0;
            else
                for (uint j = 0; j < offset; j++) prevMask = (prevMask & 0x77) << 1;
            b = buf[i + 4];
            if (X86MsByte(b) && allowed[(int)((prevMask >> 1) & 7)] && (prevMask >> 1) < 0x10)
            {
                uint src = BinaryPrimitives.ReadUInt32LittleEndian(buf.Slice(i + 1, 4));
                uint dest;
                while (true)
                {
                    dest = src - (nowPos + (uint)i + 5);
                    if (prevMask == 0) break;
                    int bn = bitNumber[(int)(prevMask >> 1)];
                    if (!X86MsByte((byte)(dest >> (24 - bn * 8)))) break;
                    src = dest ^ ((1u << (32 - bn * 8)) - 1);
                }
                dest &= 0x01FFFFFF;
                dest |= (dest & 0x01000000) != 0 ? 0xFF000000u : 0;
                BinaryPrimitives.WriteUInt32LittleEndian(buf.Slice(i + 1, 4), dest);
                i += 5;
                prevMask = 0;
            }
            else
            {
                i++;
                prevMask |= 1;
                if (X86MsByte(b)) prevMask |= 0x10;
            }
        }
        _x86PrevMask[k] = prevMask;
        _x86PrevPos[k] = prevPos;
        return i;
    }

    private int Arm64(int k, Span<byte> buf)
    {
        uint nowPos = _nowPos[k];
        int i = 0;
        for (; i + 4 <= buf.Length; i += 4)
        {
            uint pc = nowPos + (uint)i;
            uint instr = BinaryPrimitives.ReadUInt32LittleEndian(buf.Slice(i, 4));
            if ((instr >> 26) == 0x25)
            {
                // BL: 26-bit word offset.
                uint src = instr;
                uint p = 0u - (pc >> 2);
                instr = 0x94000000 | ((src + p) & 0x03FFFFFF);
                BinaryPrimitives.WriteUInt32LittleEndian(buf.Slice(i, 4), instr);
            }
            else if ((instr & 0x9F000000) == 0x90000000)
            {
                // ADRP: 21-bit page offset, converted only within +-512 MiB.
                uint src = ((instr >> 29) & 3) | ((instr >> 3) & 0x001FFFFC);
                if (((src + 0x00020000) & 0x001C0000) != 0) continue;
                instr &= 0x9000001F;
                uint dest = src + (0u - (pc >> 12));
                instr |= (dest & 3) << 29;
                instr |= (dest & 0x0003FFFC) << 3;
                instr |= (0u - (dest & 0x00020000)) & 0x00E00000;
                BinaryPrimitives.WriteUInt32LittleEndian(buf.Slice(i, 4), instr);
            }
        }
        return i;
    }
}
