using System.Runtime.CompilerServices;

namespace NativeInit.Core.Archive.Xz;

/// <summary>
/// The LZMA decoder core used by LZMA2 (xz file format 1.2.1 section 5.3.1; the LZMA SDK's lzma-specification.txt
/// describes the coder). Written for the JIT/AOT: the range decoder and the coder state live in locals of one loop,
/// memory is reached through pointers into pinned arrays (no bounds checks), probabilities are ushorts.
///
/// The window is either a flat buffer of a block's whole uncompressed size (nothing ever wraps: the buffer is the
/// dictionary) or a circular buffer of dictionary size + <see cref="CircularSlack"/>. Input safety: the caller
/// guarantees <see cref="InputPadding"/> readable bytes after a chunk's end; a symbol reads at most 48 bytes and the
/// loop refuses to start a symbol past the chunk's end, so garbage can never read out of bounds.
/// </summary>
internal sealed unsafe class LzmaDecoder
{
    /// <summary>Readable bytes needed after the end of a chunk's compressed data.</summary>
    public const int InputPadding = 64;
    /// <summary>Writable bytes needed after the end of the window (8-byte match copies may overshoot).</summary>
    public const int WindowTail = 64;
    /// <summary>Extra window bytes beyond the dictionary in circular mode, so overshooting copies never clobber
    /// history still reachable by a distance below the dictionary size. A multiple of 16 (position bits).</summary>
    public const int CircularSlack = 4096;

    private const int NumStates = 12;
    private const int BitModelTotal = 1 << 11;
    private const int MoveBits = 5;
    private const uint TopValue = 1u << 24;

    // Probability array layout.
    private const int IsMatch = 0;                         // [state << 4 | posState]
    private const int IsRep = IsMatch + (NumStates << 4);  // [state]
    private const int IsRepG0 = IsRep + NumStates;
    private const int IsRepG1 = IsRepG0 + NumStates;
    private const int IsRepG2 = IsRepG1 + NumStates;
    private const int IsRep0Long = IsRepG2 + NumStates;    // [state << 4 | posState]
    private const int PosSlot = IsRep0Long + (NumStates << 4); // [lenState][64]
    private const int SpecPos = PosSlot + (4 << 6);        // 114 entries
    private const int Align = SpecPos + 114;               // 16
    private const int LenCoder = Align + 16;               // 514
    private const int RepLenCoder = LenCoder + 514;
    private const int Literal = RepLenCoder + 514;
    // Length coder layout: choice, choice2, low[16][8], mid[16][8], high[256].
    private const int LenChoice = 0, LenChoice2 = 1, LenLow = 2, LenMid = LenLow + 128, LenHigh = LenMid + 128;
    private const int MaxProbs = Literal + (0x300 << 4);   // lc + lp <= 4 in LZMA2

    private readonly ushort[] _probsArray = GC.AllocateUninitializedArray<ushort>(MaxProbs, pinned: true);
    private readonly ushort* _probs;

    // Window.
    private byte* _win;
    private int _winSize;
    private uint _dictSize;
    private int _pos;
    private int _dictStart;
    private bool _full;

    // Coder state kept between calls.
    private int _lc, _lp, _pb;
    private int _state;
    private uint _rep0, _rep1, _rep2, _rep3;
    private int _pendingLen;
    private uint _range, _code;
    private byte* _in, _inEnd;

    public LzmaDecoder() => _probs = (ushort*)Unsafe.AsPointer(ref _probsArray[0]);

    public int Position => _pos;
    public int WindowSize => _winSize;
    public bool HasPendingMatch => _pendingLen > 0;

    /// <summary>Matches reach back fewer than this many bytes: the dictionary size as liblzma allocates it (at least
    /// 4 KiB, a multiple of 16).</summary>
    public static uint DistanceLimit(uint dictSize) =>
        (uint)Math.Min(uint.MaxValue - 15, Math.Max(4096UL, (dictSize + 15UL) & ~15UL));

    /// <summary>Uses <paramref name="window"/> (pinned, <paramref name="size"/> + <see cref="WindowTail"/> bytes).
    /// In flat mode <paramref name="size"/> is the block size; in circular mode it is dictSize + CircularSlack.</summary>
    public void SetWindow(byte* window, int size, uint dictSize)
    {
        _win = window;
        _winSize = size;
        // Distances are limited to the dictionary size as liblzma allocates it (at least 4 KiB, a multiple of 16),
        // also in flat mode: a parallel slot releases the memory that lies more than this behind the position.
        _dictSize = DistanceLimit(dictSize);
        _pos = 0;
        _dictStart = 0;
        _full = false;
    }

    /// <summary>LZMA2 dictionary reset. Flat mode keeps the bytes already decoded (they are output) and only forbids
    /// reaching back before this point; circular mode starts the window over (the owner has consumed it all).</summary>
    public void ResetDictionary(bool flat = false)
    {
        if (!flat) _pos = 0;
        _dictStart = _pos;
        _full = false;
    }

    /// <summary>Called by the owner when the window is full and every byte of it has been consumed.</summary>
    public void Wrap()
    {
        _pos = 0;
        _dictStart = 0;
        _full = true;
    }

    /// <summary>Sets lc/lp/pb from an LZMA2 properties byte; false if invalid (lc + lp > 4, pb > 4).</summary>
    public bool SetProperties(byte props)
    {
        if (props >= 9 * 5 * 5) return false;
        int lc = props % 9;
        props /= 9;
        int lp = props % 5;
        int pb = props / 5;
        if (lc + lp > 4 || pb > 4) return false;
        _lc = lc;
        _lp = lp;
        _pb = pb;
        return true;
    }

    public void ResetState()
    {
        int n = Literal + (0x300 << (_lc + _lp));
        new Span<ushort>(_probs, n).Fill(BitModelTotal >> 1);
        _state = 0;
        _rep0 = _rep1 = _rep2 = _rep3 = 0;
        _pendingLen = 0;
    }

    /// <summary>Starts a chunk's range decoder on <paramref name="size"/> bytes at <paramref name="data"/>.</summary>
    public bool StartChunk(byte* data, int size)
    {
        if (size < 5 || data[0] != 0) return false;
        _code = (uint)data[1] << 24 | (uint)data[2] << 16 | (uint)data[3] << 8 | data[4];
        _range = uint.MaxValue;
        _in = data + 5;
        _inEnd = data + size;
        return true;
    }

    /// <summary>After a chunk's last byte: the range decoder must have used exactly its input and end at code 0,
    /// and no match may run on into the next chunk.</summary>
    public bool FinishChunk()
    {
        if (_range < TopValue && _in < _inEnd)
        {
            _range <<= 8;
            _code = (_code << 8) | *_in++;
        }
        return _in == _inEnd && _code == 0 && _pendingLen == 0;
    }

    /// <summary>Copies uncompressed bytes (an LZMA2 uncompressed chunk) into the window; the caller keeps
    /// <c>Position + data.Length &lt;= WindowSize</c>.</summary>
    public void CopyUncompressed(ReadOnlySpan<byte> data)
    {
        data.CopyTo(new Span<byte>(_win + _pos, data.Length));
        _pos += data.Length;
    }

    /// <summary>Returns a pointer to the window at <paramref name="offset"/>.</summary>
    public byte* WindowAt(int offset) => _win + offset;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Bit(ushort* p, ref uint range, ref uint code, ref byte* inp)
    {
        if (range < TopValue) { range <<= 8; code = (code << 8) | *inp++; }
        uint prob = *p;
        uint bound = (range >> 11) * prob;
        if (code < bound)
        {
            range = bound;
            *p = (ushort)(prob + ((BitModelTotal - prob) >> MoveBits));
            return 0;
        }
        range -= bound;
        code -= bound;
        *p = (ushort)(prob - (prob >> MoveBits));
        return 1;
    }

    /// <summary>A bit without a data-dependent branch (literal bits are poorly predictable): the JIT turns the
    /// selections into conditional moves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint BitNoBranch(ushort* p, ref uint range, ref uint code, ref byte* inp)
    {
        if (range < TopValue) { range <<= 8; code = (code << 8) | *inp++; }
        uint prob = *p;
        uint bound = (range >> 11) * prob;
        uint bit = code >= bound ? 1u : 0u;
        uint mask = 0u - bit;
        // bit 0: range = bound, prob += (2048 - prob) >> 5; bit 1: range -= bound, code -= bound, prob -= prob >> 5.
        // (2048 - prob) >> 5 == -((prob - 2017) >> 5) with an arithmetic shift, so both updates are
        // prob - ((prob - t) >> 5) with t = 2017 or 0.
        range = bound + ((range - bound - bound) & mask);
        code -= bound & mask;
        *p = (ushort)(prob - (uint)((int)(prob - (2017u & ~mask)) >> MoveBits));
        return bit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MatchedBit(ushort* lp, ref uint sym, ref uint offset, ref uint matchByte, ref uint range,
                                   ref uint code, ref byte* inp)
    {
        matchByte <<= 1;
        uint matchBit = matchByte & offset;
        uint bit = BitNoBranch(lp + offset + matchBit + sym, ref range, ref code, ref inp);
        sym = (sym << 1) | bit;
        offset &= matchBit ^ (bit - 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Tree(ushort* p, int bits, ref uint range, ref uint code, ref byte* inp)
    {
        uint m = 1;
        for (int i = 0; i < bits; i++) m = (m << 1) | Bit(p + m, ref range, ref code, ref inp);
        return m - (1u << bits);
    }

    /// <summary>A 6-bit tree (the distance slot) without data-dependent branches, unrolled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Tree6NoBranch(ushort* p, ref uint range, ref uint code, ref byte* inp)
    {
        uint m = 2 | BitNoBranch(p + 1, ref range, ref code, ref inp);
        m = (m << 1) | BitNoBranch(p + m, ref range, ref code, ref inp);
        m = (m << 1) | BitNoBranch(p + m, ref range, ref code, ref inp);
        m = (m << 1) | BitNoBranch(p + m, ref range, ref code, ref inp);
        m = (m << 1) | BitNoBranch(p + m, ref range, ref code, ref inp);
        m = (m << 1) | BitNoBranch(p + m, ref range, ref code, ref inp);
        return m - 64;
    }

    /// <summary>A 3-bit tree (low and middle lengths) without data-dependent branches, unrolled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Tree3NoBranch(ushort* p, ref uint range, ref uint code, ref byte* inp)
    {
        uint m = 2 | BitNoBranch(p + 1, ref range, ref code, ref inp);
        m = (m << 1) | BitNoBranch(p + m, ref range, ref code, ref inp);
        m = (m << 1) | BitNoBranch(p + m, ref range, ref code, ref inp);
        return m - 8;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Len(ushort* p, uint posState, ref uint range, ref uint code, ref byte* inp)
    {
        if (Bit(p + LenChoice, ref range, ref code, ref inp) == 0)
            return 2 + Tree3NoBranch(p + LenLow + (posState << 3), ref range, ref code, ref inp);
        if (Bit(p + LenChoice2, ref range, ref code, ref inp) == 0)
            return 10 + Tree3NoBranch(p + LenMid + (posState << 3), ref range, ref code, ref inp);
        return 18 + Tree(p + LenHigh, 8, ref range, ref code, ref inp);
    }

    /// <summary>Copies up to <paramref name="len"/> bytes of a match at <paramref name="rep0"/> + 1 behind
    /// <paramref name="rpos"/>, stopping at <paramref name="rlimit"/>. Positions are relative to <paramref name="wb"/>,
    /// the window at the dictionary start; the distance has been validated.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CopyMatch(byte* wb, ref int rpos, int rlimit, uint rep0, ref int len)
    {
        int n = rlimit - rpos;
        if (n > len) n = len;
        len -= n;
        long src = rpos - (long)rep0 - 1;
        byte* dst = wb + rpos;
        rpos += n;
        if (src >= 0) Copy(dst, wb + src, n, rep0);
        else CopyWrapped(dst, src + _dictStart, n, rep0);
    }

    /// <summary>A match whose source starts before the window start (<paramref name="srcL"/> &lt; 0, absolute):
    /// only in circular mode, where it starts near the window's end (at least CircularSlack bytes ahead of the
    /// destination, so a forward copy is safe) and may continue at its start.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CopyWrapped(byte* dst, long srcL, int n, uint rep0)
    {
        byte* win = _win;
        int winSize = _winSize;
        long s = srcL + winSize;
        int first = (int)Math.Min(n, winSize - s);
        Copy(dst, win + s, first, uint.MaxValue);
        if (n > first) Copy(dst + first, win, n - first, rep0);
    }

    /// <summary>Copies <paramref name="n"/> &gt; 0 bytes forward; <paramref name="rep0"/> + 1 is the distance
    /// between destination and source when the source is behind.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(byte* dst, byte* src, int n, uint rep0)
    {
        if (rep0 >= 15)
        {
            // 16-byte steps never read bytes not yet written when the distance is at least 16.
            byte* end = dst + n;
            do
            {
                Unsafe.WriteUnaligned(dst, Unsafe.ReadUnaligned<System.Runtime.Intrinsics.Vector128<byte>>(src));
                dst += 16;
                src += 16;
            } while (dst < end);
        }
        else if (rep0 >= 7)
        {
            // 8-byte steps never read bytes not yet written when the distance is at least 8; the window has a
            // writable tail for the overshoot.
            byte* end = dst + n;
            do
            {
                Unsafe.WriteUnaligned(dst, Unsafe.ReadUnaligned<ulong>(src));
                dst += 8;
                src += 8;
            } while (dst < end);
        }
        else if (rep0 == 0)
        {
            new Span<byte>(dst, n).Fill(*src);
        }
        else
        {
            for (int i = 0; i < n; i++) dst[i] = src[i];
        }
    }

    /// <summary>Decodes until the window position reaches <paramref name="limit"/> (at most the window size).
    /// Returns false on corrupt data (distance beyond the decoded history, end marker, input overrun).
    ///
    /// Register pressure decides this loop's speed: positions are kept relative to the dictionary start (one
    /// variable less), the literal coder index needs two precomputed values instead of three, and what only the
    /// rarer paths need (rep1..rep3, the window size, the input end, the pending length) stays in fields.</summary>
    public bool Decode(int limit)
    {
        ushort* probs = _probs;
        int dictStart = _dictStart;
        byte* wb = _win + dictStart;   // the window at the dictionary start
        int rpos = _pos - dictStart;   // position since the dictionary reset
        int rlimit = limit - dictStart;
        uint range = _range, code = _code;
        byte* inp = _in;
        int state = _state;
        uint rep0 = _rep0;
        uint pbMask = (1u << _pb) - 1;
        // Literal coder: ((rpos & lpMask) << lc) + (prev >> (8 - lc)) == ((rpos << 8 | prev) & litMask) >> litShift.
        uint litMask = (((1u << _lp) - 1) << 8) | 0xFF;
        int litShift = 8 - _lc;

        int pending = _pendingLen;
        if (pending > 0)
        {
            CopyMatch(wb, ref rpos, rlimit, rep0, ref pending);
            _pendingLen = pending;
            if (pending > 0) rlimit = rpos; // still at the window end: nothing more to do now
        }

        while (rpos < rlimit)
        {
            if (inp > _inEnd) goto Fail;
            uint posState = (uint)rpos & pbMask;
            if (Bit(probs + IsMatch + (state << 4) + posState, ref range, ref code, ref inp) == 0)
            {
                // Literal.
                uint prev = rpos > 0 ? wb[rpos - 1] : _full ? _win[_winSize - 1] : 0u;
                ushort* lp = probs + Literal + 0x300 * (int)((((uint)rpos << 8 | prev) & litMask) >> litShift);
                uint sym = 1;
                if (state < 7)
                {
                    sym = 2 | BitNoBranch(lp + 1, ref range, ref code, ref inp);
                    sym = (sym << 1) | BitNoBranch(lp + sym, ref range, ref code, ref inp);
                    sym = (sym << 1) | BitNoBranch(lp + sym, ref range, ref code, ref inp);
                    sym = (sym << 1) | BitNoBranch(lp + sym, ref range, ref code, ref inp);
                    sym = (sym << 1) | BitNoBranch(lp + sym, ref range, ref code, ref inp);
                    sym = (sym << 1) | BitNoBranch(lp + sym, ref range, ref code, ref inp);
                    sym = (sym << 1) | BitNoBranch(lp + sym, ref range, ref code, ref inp);
                    sym = (sym << 1) | BitNoBranch(lp + sym, ref range, ref code, ref inp);
                    state = state < 4 ? 0 : state - 3;
                }
                else
                {
                    long src = rpos - (long)rep0 - 1;
                    uint matchByte = src >= 0 ? wb[src] : _win[src + _dictStart + _winSize];
                    // Matched literal, without data-dependent branches: while the bits agree with the match
                    // byte, offset selects the coder for its bit; after the first mismatch offset is 0 and the
                    // rest is a plain literal (offset &= bit ? matchBit : ~matchBit).
                    uint offset = 0x100;
                    MatchedBit(lp, ref sym, ref offset, ref matchByte, ref range, ref code, ref inp);
                    MatchedBit(lp, ref sym, ref offset, ref matchByte, ref range, ref code, ref inp);
                    MatchedBit(lp, ref sym, ref offset, ref matchByte, ref range, ref code, ref inp);
                    MatchedBit(lp, ref sym, ref offset, ref matchByte, ref range, ref code, ref inp);
                    MatchedBit(lp, ref sym, ref offset, ref matchByte, ref range, ref code, ref inp);
                    MatchedBit(lp, ref sym, ref offset, ref matchByte, ref range, ref code, ref inp);
                    MatchedBit(lp, ref sym, ref offset, ref matchByte, ref range, ref code, ref inp);
                    MatchedBit(lp, ref sym, ref offset, ref matchByte, ref range, ref code, ref inp);
                    state = state < 10 ? state - 3 : state - 6;
                }
                wb[rpos++] = (byte)sym;
                continue;
            }

            int len;
            if (Bit(probs + IsRep + state, ref range, ref code, ref inp) == 0)
            {
                // Simple match: a new distance.
                _rep3 = _rep2;
                _rep2 = _rep1;
                _rep1 = rep0;
                len = (int)Len(probs + LenCoder, posState, ref range, ref code, ref inp);
                state = state < 7 ? 7 : 10;
                int lenState = len - 2 < 3 ? len - 2 : 3;
                uint slot = Tree6NoBranch(probs + PosSlot + (lenState << 6), ref range, ref code, ref inp);
                if (slot < 4)
                {
                    rep0 = slot;
                }
                else
                {
                    int direct = (int)(slot >> 1) - 1;
                    uint dist = (2 | (slot & 1)) << direct;
                    if (slot < 14)
                    {
                        ushort* sp = probs + SpecPos + dist - slot - 1;
                        uint m = 1;
                        for (int i = 0; i < direct; i++)
                        {
                            uint b = Bit(sp + m, ref range, ref code, ref inp);
                            m = (m << 1) | b;
                            dist |= b << i;
                        }
                    }
                    else
                    {
                        int n = direct - 4;
                        uint d = 0;
                        do
                        {
                            if (range < TopValue) { range <<= 8; code = (code << 8) | *inp++; }
                            range >>= 1;
                            uint t = (code - range) >> 31; // 1 when code < range
                            code -= range & (t - 1);
                            d = (d << 1) | (1 - t);
                        } while (--n > 0);
                        dist += d << 4;
                        // The four align bits (a reverse tree), unrolled and branchless.
                        ushort* al = probs + Align;
                        uint b0 = BitNoBranch(al + 1, ref range, ref code, ref inp);
                        uint m = 2 | b0;
                        uint b1 = BitNoBranch(al + m, ref range, ref code, ref inp);
                        m = (m << 1) | b1;
                        uint b2 = BitNoBranch(al + m, ref range, ref code, ref inp);
                        m = (m << 1) | b2;
                        uint b3 = BitNoBranch(al + m, ref range, ref code, ref inp);
                        dist |= b0 | (b1 << 1) | (b2 << 2) | (b3 << 3);
                        if (dist == uint.MaxValue) goto Fail; // end marker: not allowed in LZMA2
                    }
                    rep0 = dist;
                }
            }
            else
            {
                if (Bit(probs + IsRepG0 + state, ref range, ref code, ref inp) == 0)
                {
                    if (Bit(probs + IsRep0Long + (state << 4) + posState, ref range, ref code, ref inp) == 0)
                    {
                        // Short rep: one byte at rep0.
                        state = state < 7 ? 9 : 11;
                        if (!_full && rep0 >= (uint)rpos) goto Fail;
                        long s1 = rpos - (long)rep0 - 1;
                        wb[rpos] = s1 >= 0 ? wb[s1] : _win[s1 + _dictStart + _winSize];
                        rpos++;
                        continue;
                    }
                }
                else
                {
                    uint dist;
                    if (Bit(probs + IsRepG1 + state, ref range, ref code, ref inp) == 0)
                    {
                        dist = _rep1;
                    }
                    else
                    {
                        if (Bit(probs + IsRepG2 + state, ref range, ref code, ref inp) == 0)
                        {
                            dist = _rep2;
                        }
                        else
                        {
                            dist = _rep3;
                            _rep3 = _rep2;
                        }
                        _rep2 = _rep1;
                    }
                    _rep1 = rep0;
                    rep0 = dist;
                }
                len = (int)Len(probs + RepLenCoder, posState, ref range, ref code, ref inp);
                state = state < 7 ? 8 : 11;
            }

            // Validate the distance against what has been decoded since the dictionary reset.
            if (rep0 >= _dictSize || (!_full && rep0 >= (uint)rpos)) goto Fail;
            CopyMatch(wb, ref rpos, rlimit, rep0, ref len);
            if (len > 0)
            {
                _pendingLen = len; // stopped at the limit in the middle of a match
                break;
            }
        }

        bool failed = false;
        goto Save;
    Fail:
        failed = true;
    Save:
        _pos = rpos + dictStart;
        _range = range;
        _code = code;
        _in = inp;
        _state = state;
        _rep0 = rep0;
        return !failed && inp <= _inEnd;
    }
}
