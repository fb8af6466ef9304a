using System.Runtime.CompilerServices;

namespace NativeInit.Core.Archive.Xz;

/// <summary>LZMA2 chunk control bytes (xz file format 1.2.1 section 5.3.1; LZMA2 as implemented by XZ Utils):
/// 0x00 end, 0x01 uncompressed with dictionary reset, 0x02 uncompressed, 0x80-0xFF LZMA with bits 5-6 saying
/// what to reset (0 nothing, 1 state, 2 state + new properties, 3 everything) and bits 0-4 the top bits of the
/// uncompressed size minus one.</summary>
internal static unsafe class Lzma2
{
    public const int MaxChunkUncompressed = 1 << 21;
    public const int MaxChunkCompressed = 1 << 16;

    /// <summary>Applies a control byte's resets to the flags; fails on a chunk that breaks the rules.</summary>
    public static void CheckControl(byte ctrl, ref bool needDictReset, ref bool needProps, out bool dictReset)
    {
        dictReset = ctrl >= 0xE0 || ctrl == 1;
        if (dictReset)
        {
            // A dictionary reset also needs new properties in the next LZMA chunk.
            needProps = true;
            needDictReset = false;
        }
        else if (needDictReset) XzFormat.Fail("LZMA2 data does not start with a dictionary reset");
        if (ctrl >= 0x80)
        {
            if (ctrl >= 0xC0) needProps = false;
            else if (needProps) XzFormat.Fail("LZMA2 chunk without the properties it needs");
        }
        else if (ctrl > 2) XzFormat.Fail($"reserved LZMA2 control byte 0x{ctrl:X2}");
    }

    /// <summary>Decodes a whole block's LZMA2 data held in memory (<paramref name="inLen"/> bytes plus readable
    /// padding) into a flat output buffer of exactly the block's uncompressed size: the buffer is the dictionary.
    ///
    /// The input may lie inside the output buffer, at its end (in-place decoding, as liblzma's docs describe for
    /// single-buffer decoding): before each chunk, if the chunk's output (plus the copy overshoot) could reach the
    /// chunk's own input, the rest of the input is first moved to <paramref name="spill"/>, so even an unusual but
    /// valid file decodes; nothing unread is ever overwritten.</summary>
    /// <param name="progress">Told before each chunk how far it will read the input and write the output, and after
    /// it how far the block is decoded (the parallel decoder starts a block while its input is still being read,
    /// backs its buffer with memory as it goes, hands the oldest block out while it is decoded and gives back what lies
    /// behind the dictionary). Input the decoder may touch is always asked for first, the readable padding after a
    /// chunk included where it lies within the input, so what it reads is the same as with the whole input at hand.</param>
    public static void DecodeFlat(LzmaDecoder lz, byte* input, int inLen, byte* output, int outSize, uint dictSize,
        PinnedBuffer? spill = null, IFlatProgress? progress = null)
    {
        lz.SetWindow(output, outSize, dictSize);
        bool needDict = true, needProps = true;
        bool overlaps = spill is not null;
        bool spilled = false;
        int i = 0;
        while (true)
        {
            if (i >= inLen) XzFormat.Fail("LZMA2 data runs past the block's compressed size");
            // The chunk header: control byte, sizes, properties.
            progress?.WillRead(Math.Min(inLen, i + 6));
            if (overlaps)
            {
                // Where this chunk's output could end (its header says how much it writes; the bytes peeked past
                // the end are readable padding) against where its input starts.
                byte c = input[i];
                int chunkOut = c >= 0x80 ? ((c & 0x1F) << 16) + (input[i + 1] << 8) + input[i + 2] + 1
                    : c is 1 or 2 ? (input[i + 1] << 8) + input[i + 2] + 1 : 0;
                long outEnd = (output + lz.Position + Math.Min(chunkOut, outSize - lz.Position) + LzmaDecoder.WindowTail) - (input + i);
                if (outEnd > 0)
                {
                    progress?.WillRead(inLen);
                    spill!.Ensure(inLen - i + LzmaDecoder.InputPadding);
                    new ReadOnlySpan<byte>(input + i, inLen - i).CopyTo(new Span<byte>(spill.Pointer, inLen - i));
                    input = spill.Pointer - i;
                    overlaps = false;
                    spilled = true;
                }
            }
            byte ctrl = input[i++];
            if (ctrl == 0) break;
            CheckControl(ctrl, ref needDict, ref needProps, out bool dictReset);
            if (dictReset) lz.ResetDictionary(flat: true);
            if (ctrl >= 0x80)
            {
                if (inLen - i < 4) XzFormat.Fail("LZMA2 chunk header runs past the block's compressed size");
                int unpacked = ((ctrl & 0x1F) << 16) + (input[i] << 8) + input[i + 1] + 1;
                int packed = (input[i + 2] << 8) + input[i + 3] + 1;
                i += 4;
                if (ctrl >= 0xC0)
                {
                    if (i >= inLen || !lz.SetProperties(input[i])) XzFormat.Fail("invalid LZMA properties in an LZMA2 chunk");
                    i++;
                    lz.ResetState();
                }
                else if (ctrl >= 0xA0) lz.ResetState();
                if (unpacked > outSize - lz.Position) XzFormat.Fail("LZMA2 data is longer than the block's uncompressed size");
                if (packed > inLen - i) XzFormat.Fail("LZMA2 chunk runs past the block's compressed size");
                progress?.WillRead((int)Math.Min(inLen, (long)i + packed + LzmaDecoder.InputPadding));
                progress?.WillWrite(lz.Position + unpacked + LzmaDecoder.WindowTail);
                if (!lz.StartChunk(input + i, packed) || !lz.Decode(lz.Position + unpacked) || !lz.FinishChunk())
                    XzFormat.Fail("corrupt LZMA data");
                i += packed;
                progress?.Decoded(lz.Position, spilled ? inLen : i);
            }
            else
            {
                if (inLen - i < 2) XzFormat.Fail("LZMA2 chunk header runs past the block's compressed size");
                int size = (input[i] << 8) + input[i + 1] + 1;
                i += 2;
                if (size > inLen - i) XzFormat.Fail("LZMA2 chunk runs past the block's compressed size");
                if (size > outSize - lz.Position) XzFormat.Fail("LZMA2 data is longer than the block's uncompressed size");
                progress?.WillRead(i + size);
                progress?.WillWrite(lz.Position + size);
                lz.CopyUncompressed(new ReadOnlySpan<byte>(input + i, size));
                i += size;
                progress?.Decoded(lz.Position, spilled ? inLen : i);
            }
        }
        if (lz.Position != outSize) XzFormat.Fail("block is shorter than its recorded uncompressed size");
        if (i != inLen) XzFormat.Fail("block's compressed size does not match its LZMA2 data");
    }
}

/// <summary>What <see cref="Lzma2.DecodeFlat"/> tells its caller around each LZMA2 chunk.</summary>
internal interface IFlatProgress
{
    /// <summary>The next step reads input bytes below <paramref name="end"/> (exclusive, counted from the start of the
    /// input given to DecodeFlat, at most its length): returns once they are there.</summary>
    void WillRead(int end);

    /// <summary>The next chunk writes output bytes below <paramref name="end"/> (exclusive).</summary>
    void WillWrite(int end);

    /// <summary>Output bytes below <paramref name="position"/> are final (LZMA2 output, before other filters), and the
    /// first <paramref name="inputDone"/> bytes of the input given to DecodeFlat will not be read again.</summary>
    void Decoded(int position, int inputDone);
}

/// <summary>Pinned byte buffers that grow but are never freed while their owner lives (reused across blocks).</summary>
internal sealed unsafe class PinnedBuffer
{
    private byte[] _array = [];

    public byte[] Array => _array;
    public byte* Pointer { get; private set; }
    public int Length => _array.Length;

    /// <summary>Makes the buffer at least <paramref name="size"/> bytes (contents are not kept).</summary>
    public void Ensure(int size)
    {
        if (_array.Length >= size) return;
        _array = [];
        Pointer = null;
        _array = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        Pointer = (byte*)Unsafe.AsPointer(ref _array[0]);
    }
}

/// <summary>Streaming decoder of one block whose data is pulled from <see cref="XzInput"/> chunk by chunk: the
/// single-thread path. The window is flat (block size) when the header records a size no larger than the dictionary,
/// else circular (dictionary size + slack); output is handed out straight from the window.</summary>
internal sealed unsafe class XzBlockDecoder
{
    private const int StagingSize = 1 << 20;
    private readonly XzInput _in;
    private readonly LzmaDecoder _lz = new();
    private readonly PinnedBuffer _window = new();
    private readonly XzFilterChain _filters = new();
    private byte[]? _staging;
    private int _stLen, _stReady, _stOut;
    private bool _rawEnded;

    private bool _flat;
    private int _flushPos;
    private int _chunkLeft;
    private bool _chunkLzma;
    private int _chunkPacked;
    private int _uncOffset;
    private bool _needDict, _needProps;
    private bool _lzmaEnd;
    private long _expectedUncompressed;

    public XzBlockDecoder(XzInput input) => _in = input;

    public XzCheck Check { get; } = new();

    /// <summary>Uncompressed bytes handed out for the current block.</summary>
    public long Produced { get; private set; }

    /// <summary>Window bytes the block needs: refused against the memory limit before anything is allocated.</summary>
    public static long WindowBytes(in XzBlockHeader bh, out bool flat)
    {
        long circular = (long)bh.DictionarySize + LzmaDecoder.CircularSlack;
        flat = bh.UncompressedSize >= 0 && bh.UncompressedSize <= circular;
        return flat ? bh.UncompressedSize : circular;
    }

    public void Begin(in XzBlockHeader bh, XzCheckType check, long memoryLimit)
    {
        long need = WindowBytes(bh, out _flat);
        if (need + LzmaDecoder.WindowTail > memoryLimit || need > int.MaxValue - 64)
            XzFormat.Fail($"block needs a {ByteSize.Format(need)} LZMA2 window (dictionary {ByteSize.Format(bh.DictionarySize)}), " +
                          $"beyond the memory limit of {ByteSize.Format(memoryLimit)}");
        _window.Ensure((int)need + LzmaDecoder.WindowTail);
        _lz.SetWindow(_window.Pointer, (int)need, bh.DictionarySize);
        _expectedUncompressed = bh.UncompressedSize;
        _flushPos = 0;
        _chunkLeft = 0;
        _needDict = _needProps = true;
        _lzmaEnd = false;
        Produced = 0;
        Check.Reset(check);
        _filters.Reset(bh);
        if (_filters.Count > 0)
        {
            _staging ??= new byte[StagingSize];
            _stLen = _stReady = _stOut = 0;
            _rawEnded = false;
        }
    }

    /// <summary>Reads decoded bytes of the block; 0 at its end (the LZMA2 end marker, all output handed out).</summary>
    public int Read(Span<byte> dst)
    {
        int n;
        if (_filters.Count == 0)
        {
            n = ReadRaw(dst);
        }
        else
        {
            while (true)
            {
                if (_stOut < _stReady)
                {
                    n = Math.Min(dst.Length, _stReady - _stOut);
                    _staging.AsSpan(_stOut, n).CopyTo(dst);
                    _stOut += n;
                    break;
                }
                if (_stOut > 0)
                {
                    _staging.AsSpan(_stOut, _stLen - _stOut).CopyTo(_staging);
                    _filters.Discard(_stOut);
                    _stLen -= _stOut;
                    _stReady -= _stOut;
                    _stOut = 0;
                }
                if (_rawEnded) { n = 0; break; }
                int r = ReadRaw(_staging.AsSpan(_stLen));
                if (r == 0)
                {
                    _rawEnded = true;
                    _stReady = _filters.Process(_staging, _stLen, final: true);
                }
                else
                {
                    _stLen += r;
                    _stReady = _filters.Process(_staging, _stLen, final: false);
                }
            }
        }
        if (n > 0)
        {
            Check.Append(dst[..n]);
            Produced += n;
            if (_expectedUncompressed >= 0 && Produced > _expectedUncompressed)
                XzFormat.Fail("block is longer than its recorded uncompressed size");
        }
        return n;
    }

    private int ReadRaw(Span<byte> dst)
    {
        while (true)
        {
            int pos = _lz.Position;
            if (_flushPos < pos)
            {
                int n = Math.Min(dst.Length, pos - _flushPos);
                new ReadOnlySpan<byte>(_lz.WindowAt(_flushPos), n).CopyTo(dst);
                _flushPos += n;
                return n;
            }
            if (_chunkLeft > 0)
            {
                if (pos == _lz.WindowSize)
                {
                    if (_flat) XzFormat.Fail("block is longer than its recorded uncompressed size");
                    _lz.Wrap();
                    _flushPos = 0;
                    pos = 0;
                }
                int step = Math.Min(_lz.WindowSize - pos, _chunkLeft);
                if (_chunkLzma)
                {
                    if (!_lz.Decode(pos + step)) XzFormat.Fail("corrupt LZMA data");
                    _chunkLeft -= _lz.Position - pos;
                    if (_chunkLeft == 0)
                    {
                        if (!_lz.FinishChunk()) XzFormat.Fail("corrupt LZMA data (chunk does not end cleanly)");
                        _in.Consume(_chunkPacked);
                    }
                }
                else
                {
                    _lz.CopyUncompressed(new ReadOnlySpan<byte>(_in.Pointer + _uncOffset, step));
                    _uncOffset += step;
                    _chunkLeft -= step;
                    if (_chunkLeft == 0) _in.Consume(_uncOffset);
                }
                continue;
            }
            if (_lzmaEnd) return 0;
            NextChunk();
        }
    }

    private void NextChunk()
    {
        byte ctrl = _in.ReadByte("LZMA2 chunk header");
        if (ctrl == 0)
        {
            _lzmaEnd = true;
            return;
        }
        Lzma2.CheckControl(ctrl, ref _needDict, ref _needProps, out bool dictReset);
        if (dictReset)
        {
            _lz.ResetDictionary(_flat);
            _flushPos = _lz.Position;
        }
        if (ctrl >= 0x80)
        {
            int hdr = ctrl >= 0xC0 ? 5 : 4;
            if (!_in.Ensure(hdr)) XzInput.Truncated("LZMA2 chunk header");
            byte* h = _in.Pointer;
            int unpacked = ((ctrl & 0x1F) << 16) + (h[0] << 8) + h[1] + 1;
            int packed = (h[2] << 8) + h[3] + 1;
            if (ctrl >= 0xC0)
            {
                if (!_lz.SetProperties(h[4])) XzFormat.Fail("invalid LZMA properties in an LZMA2 chunk");
                _lz.ResetState();
            }
            else if (ctrl >= 0xA0) _lz.ResetState();
            _in.Consume(hdr);
            if (_flat && unpacked > _lz.WindowSize - _lz.Position)
                XzFormat.Fail("LZMA2 data is longer than the block's uncompressed size");
            if (!_in.Ensure(packed)) XzInput.Truncated("LZMA2 chunk");
            if (!_lz.StartChunk(_in.Pointer, packed)) XzFormat.Fail("corrupt LZMA data (bad range coder start)");
            _chunkLzma = true;
            _chunkLeft = unpacked;
            _chunkPacked = packed;
        }
        else
        {
            if (!_in.Ensure(2)) XzInput.Truncated("LZMA2 chunk header");
            int size = (_in.Pointer[0] << 8) + _in.Pointer[1] + 1;
            _in.Consume(2);
            if (_flat && size > _lz.WindowSize - _lz.Position)
                XzFormat.Fail("LZMA2 data is longer than the block's uncompressed size");
            if (!_in.Ensure(size)) XzInput.Truncated("LZMA2 uncompressed chunk");
            _chunkLzma = false;
            _chunkLeft = size;
            _uncOffset = 0;
        }
    }
}
