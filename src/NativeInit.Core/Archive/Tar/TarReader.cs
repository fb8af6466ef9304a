using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using static NativeInit.Core.Archive.Tar.TarHeaderFields;

namespace NativeInit.Core.Archive.Tar;

/// <summary>
/// A streaming tar reader: ustar (prefix + name), v7, old GNU and GNU ('L'/'K' long names and link names, base-256
/// numbers including negative ones, 'S' old sparse entries with extension blocks), and pax ('x' and 'g' headers:
/// path, linkpath, size, uid, gid, mtime with fractions, SCHILY.xattr.* with raw byte values, LIBARCHIVE.xattr.* with
/// URL-encoded names and base64 values, RHT.security.selinux, SCHILY.devmajor/devminor, GNU sparse 0.0, 0.1 and 1.0).
/// Specifications: POSIX.1-2008 "pax Interchange Format"; GNU tar manual "Basic Tar Format", "GNU Extensions to the
/// Archive Format" and "Storing Sparse Files"; libarchive's tar(5).
/// <para>One <see cref="TarEntry"/> is reused for every entry, data is handed out as spans of the source's chunks
/// (<see cref="TryReadData"/>), so nothing is allocated per entry on the hot path. Header checksums are verified (the
/// unsigned and the historic signed sum); the archive ends at two zero blocks, or a lone zero block followed by the
/// end of data, or the end of data right after an entry's padding (as GNU tar). A lone zero block followed by a header
/// is read past and counted (<see cref="LoneZeroBlocks"/>; GNU tar stops there with a warning unless -i). A short read
/// inside a header or data is an error. Every format error is an <see cref="InvalidDataFormatException"/> naming the
/// entry and the offset.</para>
/// <para>Read as GNU tar and bsdtar both read them (archives of older tars, Java and Perl archivers, star): directories
/// with a non-zero size have no data blocks; a hard link's size counts only when data follows; numeric fields may
/// start with one NUL and spaces; a pax time may carry trailing garbage; an empty pax value deletes the attribute
/// (the header block's field applies). SCHILY.acl.access/default/ace are kept as text for the extractor;
/// RHT.security.selinux gets the trailing NUL setfilecon writes.</para>
/// </summary>
public sealed class TarReader : IDisposable
{
    /// <summary>Upper bounds for metadata that is buffered whole (GNU long names, pax headers).</summary>
    public const int MaxLongNameLength = 1 << 20, MaxPaxHeaderLength = 16 << 20, MaxGlobalPaxLength = 1 << 20;

    private readonly ChunkSource _source;
    private readonly bool _ownsSource;
    private readonly TarEntry _entry = new();
    private readonly ByteBuffer _longName = new();
    private readonly ByteBuffer _longLink = new();
    private readonly ByteBuffer _pax = new(1024);
    private readonly ByteBuffer _globalPax = new(0);
    private readonly ByteBuffer _scratch = new();
    private readonly ByteBuffer _sparseName = new();
    private readonly ByteBuffer _headerPath = new();
    private readonly ByteBuffer _headerLink = new();
    private (long Size, long Uid, long Gid, long Mtime, uint DevMajor, uint DevMinor) _header;

    private byte[] _buf = [];
    private int _len;
    private int _pos;
    private long _base;
    private bool _sourceEnded;
    private bool _finished;

    private long _dataRemaining;
    private long _padding;

    // Sparse state gathered from pax records of the current entry.
    private int _sparseMajor = -1, _sparseMinor = -1;
    private long _sparseRealSize = -1;
    private bool _sparseName_set;

    public TarReader(Stream stream) : this(new StreamChunkSource(stream), ownsSource: true) { }

    public TarReader(ChunkSource source, bool ownsSource = false)
    {
        _source = source;
        _ownsSource = ownsSource;
    }

    /// <summary>Uncompressed bytes consumed so far.</summary>
    public long Position => _base + _pos;

    /// <summary>Stored data bytes of the current entry not read yet.</summary>
    public long DataRemaining => _dataRemaining;

    /// <summary>Read the source to its end after the end-of-archive marker (default), so that a decoder's integrity
    /// checks run. False for a plain tar, whose input may never end.</summary>
    public bool DrainAfterEnd { get; init; } = true;

    /// <summary>Lone zero blocks followed by more headers (read past, see <see cref="Next"/>), and the offset of the
    /// first one (-1 when none).</summary>
    public int LoneZeroBlocks { get; private set; }
    public long FirstLoneZeroBlockOffset { get; private set; } = -1;

    /// <summary>
    /// Moves to the next entry (skipping whatever of the previous entry's data was not read) and returns the reused
    /// entry object, or null at the end of the archive. At the end (with <see cref="DrainAfterEnd"/>), the rest of the
    /// stream is read so that the decoder's integrity checks (xz and zstd checksums) run.
    /// </summary>
    public TarEntry? Next()
    {
        if (_finished) return null;
        Skip(_dataRemaining + _padding, "data");
        _dataRemaining = _padding = 0;

        var e = _entry;
        e.Reset();
        _longName.Clear();
        _longLink.Clear();
        _pax.Clear();
        _sparseMajor = _sparseMinor = -1;
        _sparseRealSize = -1;
        _sparseName_set = false;
        _sparseName.Clear();
        bool haveLongName = false, haveLongLink = false, haveExtended = false;
        long first = -1;

        while (true)
        {
            long offset = Position;
            if (!TryReadBlock(out int at, haveExtended || haveLongName || haveLongLink ? "header after an extended header" : null))
            {
                if (haveExtended || haveLongName || haveLongLink)
                    Fail(first, null, "the archive ends after an extended header, before its entry");
                return Finish();
            }
            if (first < 0) first = offset;
            var h = _buf.AsSpan(at, BlockSize);
            if (h.IndexOfAnyExcept((byte)0) < 0)
            {
                if (haveExtended || haveLongName || haveLongLink)
                    Fail(first, null, "a zero block follows an extended header");
                // The end: a second zero block, or the end of data right after the first (GNU tar accepts a lone
                // trailing zero block). A partial block after it is a short read. A header after a lone zero block
                // (a zeroed block inside the archive, or archives concatenated with one zero block between them):
                // reading goes on with that header, as `tar --ignore-zeros`; GNU tar without it stops there with a
                // warning and bsdtar stops silently, both a quiet partial extraction. The event is counted
                // (LoneZeroBlocks) so the caller can report it.
                if (TryReadBlock(out int z, "end-of-archive") && _buf.AsSpan(z, BlockSize).IndexOfAnyExcept((byte)0) >= 0)
                {
                    if (LoneZeroBlocks++ == 0) FirstLoneZeroBlockOffset = offset;
                    _pos -= BlockSize; // the block just read is the next header: read it again
                    first = -1;
                    continue;
                }
                return Finish();
            }
            VerifyChecksum(h, offset);
            byte flag = h[TypeFlagOffset];
            long size = ParseNumber(h.Slice(SizeOffset, SizeLength), offset, h, "size");
            if (size < 0) Fail(offset, h, "negative size");
            switch (flag)
            {
                case TarTypeFlag.GnuLongName:
                    ReadWhole(_longName, size, MaxLongNameLength, offset, "GNU long name");
                    TrimAtNul(_longName);
                    haveLongName = true;
                    continue;
                case TarTypeFlag.GnuLongLink:
                    ReadWhole(_longLink, size, MaxLongNameLength, offset, "GNU long link name");
                    TrimAtNul(_longLink);
                    haveLongLink = true;
                    continue;
                case TarTypeFlag.PaxExtended:
                    ReadWhole(_scratch, size, MaxPaxHeaderLength, offset, "pax extended header");
                    _pax.Append(_scratch.Span);
                    haveExtended = true;
                    continue;
                case TarTypeFlag.PaxGlobal:
                    ReadWhole(_scratch, size, MaxGlobalPaxLength, offset, "pax global header");
                    if (_globalPax.Length + _scratch.Length > MaxGlobalPaxLength)
                        Fail(offset, h, $"pax global headers exceed {MaxGlobalPaxLength} bytes");
                    ValidatePax(_scratch.Span, offset);
                    _globalPax.Append(_scratch.Span);
                    first = -1;
                    continue;
                case TarTypeFlag.GnuVolumeLabel:
                    Skip(Padded(size), "volume label");
                    first = -1;
                    continue;
                case TarTypeFlag.GnuMultiVolume:
                    Fail(offset, h, "GNU multi-volume continuation entries are not supported");
                    break;
            }

            // The entry's own header.
            e.HeaderOffset = first;
            e.TypeFlag = flag;
            bool ustar = h.Slice(MagicOffset, MagicLength).SequenceEqual(UstarMagic);
            bool gnu = h.Slice(MagicOffset, MagicLength).SequenceEqual(GnuMagic);
            if (haveLongName) e.PathBuffer.Set(_longName.Span);
            else
            {
                var name = Field(h.Slice(NameOffset, NameLength));
                var prefix = ustar ? Field(h.Slice(PrefixOffset, PrefixLength)) : default;
                if (prefix.Length > 0) { e.PathBuffer.Set(prefix); e.PathBuffer.Append((byte)'/'); e.PathBuffer.Append(name); }
                else e.PathBuffer.Set(name);
            }
            if (haveLongLink) e.LinkBuffer.Set(_longLink.Span);
            else e.LinkBuffer.Set(Field(h.Slice(LinkNameOffset, LinkNameLength)));
            e.Mode = (uint)(ParseNumber(h.Slice(ModeOffset, ModeLength), offset, h, "mode") & 0xFFF);
            e.Uid = ParseNumber(h.Slice(UidOffset, UidLength), offset, h, "uid");
            e.Gid = ParseNumber(h.Slice(GidOffset, GidLength), offset, h, "gid");
            e.MtimeSeconds = ParseNumber(h.Slice(MtimeOffset, MtimeLength), offset, h, "mtime");
            e.Size = size;
            if (flag is TarTypeFlag.CharDevice or TarTypeFlag.BlockDevice && (ustar || gnu))
            {
                e.DevMajor = (uint)ParseNumber(h.Slice(DevMajorOffset, DevMajorLength), offset, h, "devmajor");
                e.DevMinor = (uint)ParseNumber(h.Slice(DevMinorOffset, DevMinorLength), offset, h, "devminor");
            }
            e.Type = flag switch
            {
                TarTypeFlag.HardLink => TarEntryType.HardLink,
                TarTypeFlag.SymLink => TarEntryType.SymbolicLink,
                TarTypeFlag.CharDevice => TarEntryType.CharacterDevice,
                TarTypeFlag.BlockDevice => TarEntryType.BlockDevice,
                TarTypeFlag.Directory or TarTypeFlag.GnuDumpDir => TarEntryType.Directory,
                TarTypeFlag.Fifo => TarEntryType.Fifo,
                _ => TarEntryType.Regular, // '0', '\0', '7', 'S' and unknown types (as GNU tar: extracted as files)
            };

            if (flag == TarTypeFlag.GnuSparse)
            {
                // Old GNU sparse: 4 descriptors in the header, then extension blocks of 21 while is-extended is set.
                e.IsSparse = true;
                e.RealSize = ParseNumber(h.Slice(GnuRealSizeOffset, GnuRealSizeLength), offset, h, "sparse real size");
                bool extended = h[GnuIsExtendedOffset] != 0;
                ReadOldSparse(h.Slice(GnuSparseOffset, GnuSparseHeaderEntries * GnuSparseEntryLength), offset, h);
                // The header span is no longer used past this point: extension blocks may come from the next chunk.
                while (extended)
                {
                    long extOffset = Position;
                    if (!TryReadBlock(out int xa, "sparse extension block"))
                        Fail(first, null, "the archive ends inside the sparse map extension blocks");
                    var x = _buf.AsSpan(xa, BlockSize);
                    ReadOldSparse(x[..(GnuSparseExtEntries * GnuSparseEntryLength)], extOffset, null);
                    extended = x[GnuSparseExtIsExtendedOffset] != 0;
                }
            }

            if (_globalPax.Length > 0 || haveExtended)
            {
                // What an empty pax value falls back to: the header block's own field (POSIX pax: a zero-length
                // value deletes the header field, previous extended header value or global value of that name).
                _headerPath.Set(e.Path);
                _headerLink.Set(e.LinkTarget);
                _header = (e.Size, e.Uid, e.Gid, e.MtimeSeconds, e.DevMajor, e.DevMinor);
                if (_globalPax.Length > 0) ApplyPax(_globalPax.Span, first);
                if (haveExtended) ApplyPax(_pax.Span, first);
            }

            if (e.Size < 0) Fail(first, null, $"'{e.DisplayPath}': negative size {e.Size}", entryNamed: true);

            if (e.Type == TarEntryType.Regular && e.Path.Length > 0 && e.Path[^1] == (byte)'/' &&
                flag is TarTypeFlag.Regular or TarTypeFlag.RegularAlt or TarTypeFlag.Contiguous)
                e.Type = TarEntryType.Directory; // old archives mark directories by a trailing slash

            // A directory has no data blocks whatever its size field says (old tars store the directory's size
            // there): the next header follows at once, as GNU tar and bsdtar read it. A GNU dump directory ('D')
            // does carry data (its list of names), skipped.
            if (e.Type == TarEntryType.Directory && flag != TarTypeFlag.GnuDumpDir) e.Size = 0;

            _dataRemaining = e.Size;
            _padding = Padded(e.Size) - e.Size;
            if (e.Type == TarEntryType.HardLink && e.Size > 0 && !HardLinkDataFollows())
            {
                e.Size = 0;
                _dataRemaining = _padding = 0;
            }

            if (_sparseMajor >= 0 || _sparseRealSize >= 0 || e.SparseList.Count > 0 && !e.IsSparse)
                SetupPaxSparse();
            if (e.IsSparse) ValidateSparse();
            if (e.Path.IsEmpty) Fail(first, null, "empty file name");
            return e;
        }
    }

    /// <summary>The next piece of the current entry's stored data (a span of the source chunk, valid until the next
    /// call), or false when all of it has been read.</summary>
    public bool TryReadData(out ReadOnlySpan<byte> data)
    {
        if (_dataRemaining <= 0) { data = default; return false; }
        if (_pos >= _len && !FetchChunk()) Fail(_entry.HeaderOffset, null, $"the archive ends inside the data of '{_entry.DisplayPath}' ({_dataRemaining} bytes missing)", entryNamed: true);
        int take = (int)Math.Min(_len - _pos, _dataRemaining);
        data = _buf.AsSpan(_pos, take);
        _pos += take;
        _dataRemaining -= take;
        return true;
    }

    public void Dispose()
    {
        if (_ownsSource) _source.Dispose();
    }

    // ---- blocks and chunks ----

    private bool FetchChunk()
    {
        if (_sourceEnded) return false;
        _base += _len;
        _pos = 0;
        _len = _source.Next(out _buf);
        if (_len == 0) { _sourceEnded = true; return false; }
        return true;
    }

    /// <summary>Reads one 512-byte block; false at a clean end of data (block boundary). A partial block is an error.</summary>
    private bool TryReadBlock(out int at, string? what)
    {
        if (_pos >= _len && !FetchChunk()) { at = 0; return false; }
        if (_len - _pos < BlockSize)
            Fail(Position, null, $"the archive ends inside a {what ?? "header"} block ({_len - _pos} of {BlockSize} bytes)");
        at = _pos;
        _pos += BlockSize;
        return true;
    }

    private void Skip(long count, string what)
    {
        while (count > 0)
        {
            if (_pos >= _len && !FetchChunk())
                Fail(_entry.HeaderOffset, null, $"the archive ends inside the {what} of '{_entry.DisplayPath}' ({count} bytes missing)", entryNamed: true);
            int take = (int)Math.Min(_len - _pos, count);
            _pos += take;
            count -= take;
        }
    }

    private TarEntry? Finish()
    {
        _finished = true;
        // Drain the decompressed stream to its end so the decoder verifies its checksums and trailers. A plain tar is
        // not drained (GNU tar reads the rest of its record and stops): its input may never end (/dev/zero, a pipe
        // left open after the end-of-archive marker).
        _pos = _len;
        if (DrainAfterEnd)
            while (FetchChunk()) _pos = _len;
        return null;
    }

    private static long Padded(long size) => (size + BlockSize - 1) & ~(long)(BlockSize - 1);

    private void ReadWhole(ByteBuffer into, long size, int max, long offset, string what)
    {
        if (size > max) Fail(offset, null, $"{what} of {size} bytes exceeds the limit of {max} bytes");
        into.Clear();
        long remaining = size;
        while (remaining > 0)
        {
            if (_pos >= _len && !FetchChunk()) Fail(offset, null, $"the archive ends inside a {what}");
            int take = (int)Math.Min(_len - _pos, remaining);
            into.Append(_buf.AsSpan(_pos, take));
            _pos += take;
            remaining -= take;
        }
        Skip(Padded(size) - size, what);
    }

    private static void TrimAtNul(ByteBuffer b)
    {
        int nul = b.Span.IndexOf((byte)0);
        if (nul >= 0) b.Truncate(nul);
    }

    private static ReadOnlySpan<byte> Field(ReadOnlySpan<byte> f)
    {
        int nul = f.IndexOf((byte)0);
        return nul >= 0 ? f[..nul] : f;
    }

    // ---- numbers and checksums ----

    private void VerifyChecksum(ReadOnlySpan<byte> h, long offset)
    {
        var (unsignedSum, signedSum) = Checksums(h);
        if (!TryParseOctal(h.Slice(ChecksumOffset, ChecksumLength), out long stored))
            Fail(offset, h, "header checksum field is not an octal number (not a tar archive, or corrupt)");
        if (stored != unsignedSum && stored != signedSum)
            Fail(offset, h, $"header checksum mismatch (stored {stored}, computed {unsignedSum})");
    }

    /// <summary>The header checksum: the sum of the block's bytes with the checksum field as spaces, unsigned and as
    /// the historic signed sum.</summary>
    private static (uint Unsigned, int Signed) Checksums(ReadOnlySpan<byte> h)
    {
        uint unsignedSum = 0;
        int signedSum = 0;
        for (int i = 0; i < BlockSize; i++)
        {
            byte b = i is >= ChecksumOffset and < ChecksumOffset + ChecksumLength ? (byte)' ' : h[i];
            unsignedSum += b;
            signedSum += (sbyte)b;
        }
        return (unsignedSum, signedSum);
    }

    private static bool IsHeader(ReadOnlySpan<byte> h)
    {
        if (!TryParseOctal(h.Slice(ChecksumOffset, ChecksumLength), out long stored)) return false;
        var (u, s) = Checksums(h);
        return stored == u || stored == s;
    }

    /// <summary>A hard link entry with a non-zero size: older tars (and some pax writers) put the linked file's size
    /// there with no data after the header, and GNU tar and bsdtar both ignore it. Decided from what follows, as they
    /// effectively do: a header (valid checksum), the end-of-archive marker or the end of data means no data; anything
    /// else is the entry's data, skipped.</summary>
    private bool HardLinkDataFollows()
    {
        if (_pos >= _len && !FetchChunk()) return false;
        if (_len - _pos < BlockSize) return true; // a short block: reading it as data reports the truncation
        var next = _buf.AsSpan(_pos, BlockSize);
        return next.IndexOfAnyExcept((byte)0) >= 0 && !IsHeader(next);
    }

    /// <summary>A numeric header field: octal (space/NUL padded), or GNU base-256 when the high bit of the first byte
    /// is set (two's complement, bit 6 of the first byte is the sign).</summary>
    private long ParseNumber(ReadOnlySpan<byte> f, long offset, ReadOnlySpan<byte> header, string what)
    {
        if ((f[0] & 0x80) != 0)
        {
            long v = (f[0] & 0x40) != 0 ? (sbyte)(f[0] | 0x80) : f[0] & 0x3F;
            for (int i = 1; i < f.Length; i++)
            {
                if (v > (long.MaxValue >> 8) || v < (long.MinValue >> 8)) Fail(offset, header, $"base-256 {what} out of range");
                v = (v << 8) | f[i];
            }
            return v;
        }
        if (!TryParseOctal(f, out long n)) Fail(offset, header, $"{what} field is not an octal number");
        return n;
    }

    private static bool TryParseOctal(ReadOnlySpan<byte> f, out long value)
    {
        value = 0;
        // A leading NUL (written by an old tar when the previous field overflowed), then leading spaces (older tars):
        // GNU tar reads the number after them.
        int i = f.Length > 0 && f[0] == 0 ? 1 : 0;
        while (i < f.Length && f[i] == (byte)' ') i++;
        int digits = 0;
        for (; i < f.Length && f[i] is >= (byte)'0' and <= (byte)'7'; i++, digits++)
        {
            if (value > (long.MaxValue >> 3)) return false;
            value = (value << 3) | (uint)(f[i] - '0');
        }
        for (; i < f.Length; i++) if (f[i] is not (0 or (byte)' ')) return false;
        return true;
    }

    // ---- old GNU sparse ----

    private void ReadOldSparse(ReadOnlySpan<byte> descriptors, long offset, ReadOnlySpan<byte> header)
    {
        for (int i = 0; i + GnuSparseEntryLength <= descriptors.Length; i += GnuSparseEntryLength)
        {
            var d = descriptors.Slice(i, GnuSparseEntryLength);
            if (d[0] == 0) break; // unused descriptor
            long off = ParseNumber(d[..12], offset, header, "sparse offset");
            long len = ParseNumber(d.Slice(12, 12), offset, header, "sparse length");
            _entry.SparseList.Add(new SparseSegment(off, len));
        }
    }

    // ---- pax ----

    /// <summary>Checks the record framing of a pax header ("LEN KEY=VALUE\n", LEN counting bytes).</summary>
    private void ValidatePax(ReadOnlySpan<byte> data, long offset)
    {
        int p = 0;
        while (p < data.Length)
        {
            if (!NextRecord(data, ref p, out _, out _))
                Fail(offset, null, $"malformed pax record at byte {p} of the extended header");
        }
    }

    private static bool NextRecord(ReadOnlySpan<byte> data, ref int p, out ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value)
    {
        key = value = default;
        // Trailing NUL padding (some writers) ends the header.
        if (data[p] == 0) { p = data.Length; return true; }
        int sp = data[p..].IndexOf((byte)' ');
        if (sp <= 0 || !Utf8Parser.TryParse(data.Slice(p, sp), out int len, out int used) || used != sp || len <= sp + 2 ||
            len > data.Length - p)
            return false;
        var rec = data.Slice(p, len);
        if (rec[^1] != (byte)'\n') return false;
        var kv = rec[(sp + 1)..^1];
        int eq = kv.IndexOf((byte)'=');
        if (eq <= 0) return false;
        key = kv[..eq];
        value = kv[(eq + 1)..];
        p += len;
        return true;
    }

    private void ApplyPax(ReadOnlySpan<byte> data, long offset)
    {
        var e = _entry;
        int p = 0;
        while (p < data.Length)
        {
            int at = p;
            if (!NextRecord(data, ref p, out var key, out var value))
                Fail(offset, null, $"malformed pax record at byte {at} of the extended header");
            if (key.IsEmpty) continue;
            if (value.IsEmpty && ResetToHeader(key)) continue;
            if (key.StartsWith("SCHILY.xattr."u8))
            {
                e.SetXattr(key["SCHILY.xattr."u8.Length..], value);
            }
            else if (key.StartsWith("LIBARCHIVE.xattr."u8))
            {
                // Name URL-encoded (%XX), value base64 (libarchive writes it without padding).
                _scratch.Clear();
                if (!UrlDecode(key["LIBARCHIVE.xattr."u8.Length..], _scratch)) PaxFail(offset, key, "bad URL encoding");
                int nameLen = _scratch.Length;
                var dest = _scratch.Extend(value.Length);
                if (!TryBase64(value, dest, out int n)) PaxFail(offset, key, "bad base64 value");
                e.SetXattr(_scratch.Span[..nameLen], _scratch.Span.Slice(nameLen, n));
            }
            else if (key.SequenceEqual("RHT.security.selinux"u8))
            {
                // Red Hat's tar stores the context without its NUL; GNU tar (--selinux) restores it with
                // setfilecon, which writes the NUL: so the value gets one when it has none.
                if (value[^1] == 0) e.SetXattr("security.selinux"u8, value);
                else
                {
                    _scratch.Set(value);
                    _scratch.Append(0);
                    e.SetXattr("security.selinux"u8, _scratch.Span);
                }
            }
            else if (key.StartsWith("SCHILY.acl."u8))
            {
                // POSIX.1e ACLs as text (star, bsdtar, GNU tar --acls); the extractor turns them into the
                // system.posix_acl_* xattrs. NFSv4 ACLs are kept to be refused by the extractor, naming the entry.
                var k = key["SCHILY.acl."u8.Length..];
                if (k.SequenceEqual("access"u8)) e.AclAccessBuffer.Set(value);
                else if (k.SequenceEqual("default"u8)) e.AclDefaultBuffer.Set(value);
                else if (k.SequenceEqual("ace"u8)) e.AclNfs4Buffer.Set(value);
            }
            else if (key.SequenceEqual("path"u8)) e.PathBuffer.Set(value);
            else if (key.SequenceEqual("linkpath"u8)) e.LinkBuffer.Set(value);
            else if (key.SequenceEqual("size"u8)) e.Size = PaxLong(value, offset, key);
            else if (key.SequenceEqual("uid"u8)) e.Uid = PaxLong(value, offset, key);
            else if (key.SequenceEqual("gid"u8)) e.Gid = PaxLong(value, offset, key);
            else if (key.SequenceEqual("mtime"u8))
            {
                if (!TryParseTime(value, out long s, out int ns)) PaxFail(offset, key, "not a time");
                e.MtimeSeconds = s;
                e.MtimeNanoseconds = ns;
            }
            else if (key.SequenceEqual("SCHILY.devmajor"u8)) e.DevMajor = (uint)PaxLong(value, offset, key);
            else if (key.SequenceEqual("SCHILY.devminor"u8)) e.DevMinor = (uint)PaxLong(value, offset, key);
            else if (key.StartsWith("GNU.sparse."u8))
            {
                var k = key["GNU.sparse."u8.Length..];
                if (k.SequenceEqual("major"u8)) _sparseMajor = (int)PaxLong(value, offset, key);
                else if (k.SequenceEqual("minor"u8)) _sparseMinor = (int)PaxLong(value, offset, key);
                else if (k.SequenceEqual("name"u8)) { _sparseName.Set(value); _sparseName_set = true; }
                else if (k.SequenceEqual("realsize"u8) || k.SequenceEqual("size"u8)) _sparseRealSize = PaxLong(value, offset, key);
                else if (k.SequenceEqual("numblocks"u8)) { if (_sparseMajor < 0) { _sparseMajor = 0; } }
                else if (k.SequenceEqual("offset"u8)) e.SparseList.Add(new SparseSegment(PaxLong(value, offset, key), 0));
                else if (k.SequenceEqual("numbytes"u8))
                {
                    if (e.SparseList.Count == 0) PaxFail(offset, key, "numbytes without offset");
                    var last = e.SparseList[^1];
                    e.SparseList[^1] = last with { Length = PaxLong(value, offset, key) };
                }
                else if (k.SequenceEqual("map"u8))
                {
                    // 0.1: "offset,size,offset,size..."
                    e.SparseList.Clear();
                    var rest = value;
                    while (!rest.IsEmpty)
                    {
                        long o = TakeNumber(ref rest, (byte)',', offset, key);
                        if (rest.IsEmpty) PaxFail(offset, key, "odd number of values");
                        long l = TakeNumber(ref rest, (byte)',', offset, key);
                        e.SparseList.Add(new SparseSegment(o, l));
                    }
                }
            }
            // atime, ctime, uname, gname, comment, charset, hdrcharset and unknown keys are ignored.
        }
    }

    /// <summary>A pax record with an empty value: for the header block's fields, the value falls back to the header
    /// block's (POSIX pax: a zero-length value deletes the field of that name); for the ACL records, the ACL is
    /// deleted. False for other keys (an empty SCHILY.xattr value is an empty xattr, as GNU tar restores it).</summary>
    private bool ResetToHeader(ReadOnlySpan<byte> key)
    {
        var e = _entry;
        if (key.SequenceEqual("path"u8)) e.PathBuffer.Set(_headerPath.Span);
        else if (key.SequenceEqual("linkpath"u8)) e.LinkBuffer.Set(_headerLink.Span);
        else if (key.SequenceEqual("size"u8)) e.Size = _header.Size;
        else if (key.SequenceEqual("uid"u8)) e.Uid = _header.Uid;
        else if (key.SequenceEqual("gid"u8)) e.Gid = _header.Gid;
        else if (key.SequenceEqual("mtime"u8)) { e.MtimeSeconds = _header.Mtime; e.MtimeNanoseconds = 0; }
        else if (key.SequenceEqual("SCHILY.devmajor"u8)) e.DevMajor = _header.DevMajor;
        else if (key.SequenceEqual("SCHILY.devminor"u8)) e.DevMinor = _header.DevMinor;
        else if (key.SequenceEqual("SCHILY.acl.access"u8)) e.AclAccessBuffer.Clear();
        else if (key.SequenceEqual("SCHILY.acl.default"u8)) e.AclDefaultBuffer.Clear();
        else if (key.SequenceEqual("SCHILY.acl.ace"u8)) e.AclNfs4Buffer.Clear();
        else if (key.SequenceEqual("RHT.security.selinux"u8)) { }
        else return false;
        return true;
    }

    private long TakeNumber(ref ReadOnlySpan<byte> rest, byte separator, long offset, ReadOnlySpan<byte> key)
    {
        int c = rest.IndexOf(separator);
        var num = c < 0 ? rest : rest[..c];
        rest = c < 0 ? default : rest[(c + 1)..];
        return PaxLong(num, offset, key);
    }

    private long PaxLong(ReadOnlySpan<byte> value, long offset, ReadOnlySpan<byte> key)
    {
        if (!Utf8Parser.TryParse(value, out long v, out int used) || used != value.Length) PaxFail(offset, key, "not a decimal number");
        return v;
    }

    /// <summary>pax time: [-]seconds[.fraction], the fraction truncated to nanoseconds. Whatever follows the number
    /// is ignored, as GNU tar and bsdtar both read "1600000000.5abc" as 1600000000.5; no digits at all is an error.</summary>
    internal static bool TryParseTime(ReadOnlySpan<byte> v, out long seconds, out int nanoseconds)
    {
        seconds = 0;
        nanoseconds = 0;
        bool negative = v.Length > 0 && v[0] == (byte)'-';
        if (negative) v = v[1..];
        int wholeDigits = v.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        if (wholeDigits < 0) wholeDigits = v.Length;
        if (wholeDigits == 0 || !Utf8Parser.TryParse(v[..wholeDigits], out long s, out int used) || used != wholeDigits)
            return false;
        long ns = 0;
        if (wholeDigits < v.Length && v[wholeDigits] == (byte)'.')
        {
            int digits = 0;
            foreach (byte b in v[(wholeDigits + 1)..])
            {
                if (b is < (byte)'0' or > (byte)'9') break;
                if (digits < 9) { ns = ns * 10 + (b - '0'); digits++; }
            }
            for (; digits < 9; digits++) ns *= 10;
        }
        if (negative)
        {
            s = -s;
            if (ns > 0) { s -= 1; ns = 1_000_000_000 - ns; }
        }
        seconds = s;
        nanoseconds = (int)ns;
        return true;
    }

    private static bool UrlDecode(ReadOnlySpan<byte> s, ByteBuffer into)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != (byte)'%') { into.Append(s[i]); continue; }
            if (i + 2 >= s.Length) return false;
            int hi = Hex(s[i + 1]), lo = Hex(s[i + 2]);
            if (hi < 0 || lo < 0) return false;
            into.Append((byte)(hi << 4 | lo));
            i += 2;
        }
        return true;
    }

    private static int Hex(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Standard base64, '=' padding optional.</summary>
    private static bool TryBase64(ReadOnlySpan<byte> s, Span<byte> dest, out int written)
    {
        written = 0;
        int acc = 0, bits = 0;
        foreach (byte c in s)
        {
            int v = c switch
            {
                >= (byte)'A' and <= (byte)'Z' => c - 'A',
                >= (byte)'a' and <= (byte)'z' => c - 'a' + 26,
                >= (byte)'0' and <= (byte)'9' => c - '0' + 52,
                (byte)'+' => 62,
                (byte)'/' => 63,
                (byte)'=' => -2,
                _ => -1,
            };
            if (v == -2) break;
            if (v < 0) return false;
            acc = (acc << 6) | v;
            bits += 6;
            if (bits >= 8)
            {
                bits -= 8;
                dest[written++] = (byte)(acc >> bits);
                acc &= (1 << bits) - 1;
            }
        }
        return true;
    }

    // ---- sparse files ----

    private void SetupPaxSparse()
    {
        var e = _entry;
        e.IsSparse = true;
        if (_sparseName_set) e.PathBuffer.Set(_sparseName.Span);
        if (_sparseRealSize >= 0) e.RealSize = _sparseRealSize;
        if (_sparseMajor == 1 && _sparseMinor == 0)
        {
            // 1.0: the map is at the start of the data, decimal numbers one a line (count, then offset/size pairs),
            // padded to a block boundary.
            e.SparseList.Clear();
            long consumed = 0;
            long count = ReadMapNumber(ref consumed);
            if (count < 0 || count > 1 << 24) Fail(e.HeaderOffset, null, $"'{e.DisplayPath}': sparse map of {count} entries", entryNamed: true);
            for (long i = 0; i < count; i++)
            {
                long o = ReadMapNumber(ref consumed);
                long l = ReadMapNumber(ref consumed);
                e.SparseList.Add(new SparseSegment(o, l));
            }
            long pad = Padded(consumed) - consumed;
            if (pad > _dataRemaining) Fail(e.HeaderOffset, null, $"'{e.DisplayPath}': sparse map longer than the data", entryNamed: true);
            Skip(pad, "sparse map");
            _dataRemaining -= pad;
            e.Size = _dataRemaining;
        }
        else if (_sparseMajor is > 1 || _sparseMajor == 1 && _sparseMinor != 0)
        {
            Fail(e.HeaderOffset, null, $"'{e.DisplayPath}': GNU sparse format {_sparseMajor}.{_sparseMinor} is not supported", entryNamed: true);
        }
    }

    private long ReadMapNumber(ref long consumed)
    {
        long v = 0;
        int digits = 0;
        while (true)
        {
            if (_dataRemaining <= 0) Fail(_entry.HeaderOffset, null, $"'{_entry.DisplayPath}': sparse map runs past the data", entryNamed: true);
            if (_pos >= _len && !FetchChunk()) Fail(_entry.HeaderOffset, null, $"the archive ends inside the sparse map of '{_entry.DisplayPath}'", entryNamed: true);
            byte b = _buf[_pos++];
            _dataRemaining--;
            consumed++;
            if (b == (byte)'\n')
            {
                if (digits == 0) Fail(_entry.HeaderOffset, null, $"'{_entry.DisplayPath}': empty number in the sparse map", entryNamed: true);
                return v;
            }
            if (b is < (byte)'0' or > (byte)'9' || digits > 18)
                Fail(_entry.HeaderOffset, null, $"'{_entry.DisplayPath}': bad sparse map", entryNamed: true);
            v = v * 10 + (b - '0');
            digits++;
        }
    }

    private void ValidateSparse()
    {
        var e = _entry;
        long sum = 0, end = 0;
        foreach (var s in e.SparseList)
        {
            if (s.Offset < end || s.Length < 0 || s.Offset > long.MaxValue - s.Length)
                Fail(e.HeaderOffset, null, $"'{e.DisplayPath}': sparse map segments overlap or are out of order", entryNamed: true);
            end = s.Offset + s.Length;
            sum += s.Length;
        }
        if (sum != e.Size)
            Fail(e.HeaderOffset, null, $"'{e.DisplayPath}': sparse map holds {sum} bytes but the entry stores {e.Size}", entryNamed: true);
        if (e.RealSize < 0 || e.RealSize < end)
            Fail(e.HeaderOffset, null, $"'{e.DisplayPath}': sparse map reaches {end}, past the real size {e.RealSize}", entryNamed: true);
    }

    // ---- errors ----

    private void PaxFail(long offset, ReadOnlySpan<byte> key, string reason) =>
        Fail(offset, null, $"pax record '{TarEntry.Display(key)}' of '{_entry.DisplayPath}': {reason}", entryNamed: true);

    [DoesNotReturn]
    private static void Fail(long offset, ReadOnlySpan<byte> header, string reason, bool entryNamed = false)
    {
        string who = entryNamed || header.IsEmpty ? "" : $" '{TarEntry.Display(Field(header.Slice(NameOffset, NameLength)))}'";
        throw new InvalidDataFormatException($"tar: entry{who} at offset {offset}: {reason}");
    }
}
