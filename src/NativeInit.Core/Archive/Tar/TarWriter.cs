using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace NativeInit.Core.Archive.Tar;

/// <summary>One entry to write: what its header and pax records say. Paths are bytes (the archive keeps file names
/// byte for byte); xattr values are bytes.</summary>
public sealed class TarWriterEntry
{
    /// <summary>Archive path, e.g. "./etc/passwd" (directories get a trailing '/' when written).</summary>
    public required byte[] Path { get; init; }
    public required byte TypeFlag { get; init; }
    /// <summary>Permission bits including setuid, setgid and sticky (07777).</summary>
    public uint Mode { get; init; }
    public long Uid { get; init; }
    public long Gid { get; init; }
    /// <summary>Data bytes that follow (regular files only; 0 for everything else).</summary>
    public long Size { get; init; }
    public long MtimeSeconds { get; init; }
    /// <summary>0..999,999,999; a non-zero value is written as a pax "mtime" record.</summary>
    public int MtimeNanoseconds { get; init; }
    /// <summary>Target of a symlink or a hardlink.</summary>
    public byte[]? LinkPath { get; init; }
    public uint DevMajor { get; init; }
    public uint DevMinor { get; init; }
    /// <summary>Extended attributes written as pax "SCHILY.xattr.NAME" records, in the order given.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Xattrs { get; init; } = [];
}

/// <summary>
/// Writes a POSIX pax tar (POSIX.1-2008 pax, "pax Interchange Format"): ustar headers, and a pax extended header
/// ('x') before an entry only when it needs one: a path or link name longer than the ustar field, an mtime with a
/// fraction or out of range, a uid/gid/size/device number too large for octal, and every extended attribute as
/// <c>SCHILY.xattr.NAME=VALUE</c> with the raw value bytes (the keyword GNU tar and libarchive both read; binary values
/// such as security.capability stay byte-exact). Owners are numeric only (uname/gname empty). The output is a pure
/// function of the entries: no atime, ctime, pid or time of writing appears anywhere (the pax header's name is
/// "DIR/PaxHeaders/NAME", GNU tar's default without the pid, and its mtime is the entry's).
/// </summary>
public sealed class TarWriter : IDisposable
{
    private const int Block = TarHeaderFields.BlockSize;
    private const long MaxOctal7 = (1L << 21) - 1;   // 8-byte field: 7 octal digits + NUL
    private const long MaxOctal11 = (1L << 33) - 1;  // 12-byte field: 11 octal digits + NUL
    private const uint DefaultPaxMode = 0x1A4;       // 0644

    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly byte[] _header = new byte[Block];
    private readonly ArrayBufferWriter<byte> _pax = new(4096);
    private long _remaining = -1;
    private long _dataWritten;
    private bool _finished;

    public TarWriter(Stream output, bool leaveOpen = false) => (_output, _leaveOpen) = (output, leaveOpen);

    /// <summary>Bytes written to the output so far.</summary>
    public long Position { get; private set; }

    /// <summary>Writes the header (and pax header when needed) of <paramref name="entry"/>. For a regular file with a
    /// non-zero size, <see cref="WriteData"/> must follow with exactly <see cref="TarWriterEntry.Size"/> bytes, then
    /// <see cref="EndEntry"/>.</summary>
    public void BeginEntry(TarWriterEntry entry)
    {
        if (_remaining >= 0) throw new InvalidOperationException("tar writer: the previous entry's data is not complete");
        if (_finished) throw new InvalidOperationException("tar writer: already finished");
        bool isDir = entry.TypeFlag == TarTypeFlag.Directory;
        byte[] path = entry.Path;
        if (isDir && (path.Length == 0 || path[^1] != (byte)'/')) path = [.. path, (byte)'/'];
        long size = entry.TypeFlag is TarTypeFlag.Regular or TarTypeFlag.RegularAlt or TarTypeFlag.Contiguous ? entry.Size : 0;
        if (size < 0) throw new ArgumentException("negative size", nameof(entry));

        _pax.Clear();
        bool pathFits = path.Length <= TarHeaderFields.NameLength && IsPortable(path);
        if (!pathFits) AddRecord("path"u8, path);
        byte[]? link = entry.LinkPath;
        bool linkFits = link is null || (link.Length <= TarHeaderFields.LinkNameLength && IsPortable(link));
        if (!linkFits) AddRecord("linkpath"u8, link);
        if (entry.MtimeNanoseconds != 0 || entry.MtimeSeconds < 0 || entry.MtimeSeconds > MaxOctal11)
            AddRecord("mtime"u8, FormatTime(entry.MtimeSeconds, entry.MtimeNanoseconds));
        if (entry.Uid < 0 || entry.Uid > MaxOctal7) AddRecord("uid"u8, Ascii(entry.Uid));
        if (entry.Gid < 0 || entry.Gid > MaxOctal7) AddRecord("gid"u8, Ascii(entry.Gid));
        if (size > MaxOctal11) AddRecord("size"u8, Ascii(size));
        if (entry.DevMajor > MaxOctal7) AddRecord("SCHILY.devmajor"u8, Ascii(entry.DevMajor));
        if (entry.DevMinor > MaxOctal7) AddRecord("SCHILY.devminor"u8, Ascii(entry.DevMinor));
        foreach (var (name, value) in entry.Xattrs)
        {
            byte[] key = Encoding.UTF8.GetBytes("SCHILY.xattr." + name);
            AddRecord(key, value);
        }

        if (_pax.WrittenCount > 0)
        {
            var paxName = PaxHeaderName(path);
            FillHeader(paxName, TarTypeFlag.PaxExtended, DefaultPaxMode, 0, 0, _pax.WrittenCount,
                Math.Clamp(entry.MtimeSeconds, 0, MaxOctal11), null, 0, 0);
            Emit(_header);
            Emit(_pax.WrittenSpan);
            Pad(_pax.WrittenCount);
        }

        FillHeader(pathFits ? path : Truncate(path, TarHeaderFields.NameLength), entry.TypeFlag, entry.Mode & 0xFFF,
            Math.Clamp(entry.Uid, 0, MaxOctal7), Math.Clamp(entry.Gid, 0, MaxOctal7), size > MaxOctal11 ? 0 : size,
            Math.Clamp(entry.MtimeSeconds, 0, MaxOctal11),
            link is null ? null : linkFits ? link : Truncate(link, TarHeaderFields.LinkNameLength),
            Math.Min(entry.DevMajor, (uint)MaxOctal7), Math.Min(entry.DevMinor, (uint)MaxOctal7));
        Emit(_header);
        _remaining = size;
        _dataWritten = 0;
        if (size == 0) _remaining = -1;
    }

    public void WriteData(ReadOnlySpan<byte> data)
    {
        if (_remaining < 0 || data.Length > _remaining)
            throw new InvalidOperationException("tar writer: more data than the entry's size");
        Emit(data);
        _remaining -= data.Length;
        _dataWritten += data.Length;
    }

    /// <summary>Pads the entry's data to a whole block; throws when fewer bytes than declared were written.</summary>
    public void EndEntry()
    {
        if (_remaining > 0) throw new InvalidOperationException($"tar writer: entry data is {_remaining} bytes short");
        if (_remaining == 0) Pad(_dataWritten);
        _remaining = -1;
    }

    /// <summary>Writes the end-of-archive marker (two zero blocks) and flushes.</summary>
    public void Finish()
    {
        if (_finished) return;
        if (_remaining > 0) throw new InvalidOperationException("tar writer: the last entry's data is not complete");
        Span<byte> zeros = stackalloc byte[Block * 2];
        zeros.Clear();
        Emit(zeros);
        _output.Flush();
        _finished = true;
    }

    public void Dispose()
    {
        if (!_leaveOpen) _output.Dispose();
    }

    private void Emit(ReadOnlySpan<byte> bytes)
    {
        _output.Write(bytes);
        Position += bytes.Length;
    }

    private void Pad(long length)
    {
        int pad = (int)((Block - length % Block) % Block);
        if (pad == 0) return;
        Span<byte> zeros = stackalloc byte[Block];
        zeros.Clear();
        Emit(zeros[..pad]);
    }

    /// <summary>ustar fields are safe for bytes 1..127 except that a name with non-ASCII bytes is sent as a pax
    /// "path" (UTF-8 by the standard) so readers that decode header names do not have to guess.</summary>
    private static bool IsPortable(ReadOnlySpan<byte> s) => s.IndexOfAnyInRange((byte)0x80, (byte)0xFF) < 0 && !s.Contains((byte)0);

    /// <summary>A pax record: "LEN KEYWORD=VALUE\n", LEN counting itself (POSIX pax, "pax Extended Header").</summary>
    private void AddRecord(ReadOnlySpan<byte> keyword, ReadOnlySpan<byte> value)
    {
        int body = 1 + keyword.Length + 1 + value.Length + 1; // ' ' k '=' v '\n'
        int digits = 1;
        while (CountDigits(body + digits) != digits) digits++;
        int total = body + digits;
        var span = _pax.GetSpan(total);
        Utf8Formatter.TryFormat(total, span, out int w);
        span[w++] = (byte)' ';
        keyword.CopyTo(span[w..]); w += keyword.Length;
        span[w++] = (byte)'=';
        value.CopyTo(span[w..]); w += value.Length;
        span[w++] = (byte)'\n';
        _pax.Advance(w);
    }

    private static int CountDigits(int n) => n < 10 ? 1 : 1 + CountDigits(n / 10);

    private static byte[] Ascii(long n) => Encoding.ASCII.GetBytes(n.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Seconds and a fraction without trailing zeros, e.g. "1700000000.5"; negative times as pax allows.</summary>
    internal static byte[] FormatTime(long seconds, int nanoseconds)
    {
        if (nanoseconds == 0) return Ascii(seconds);
        if (seconds < 0)
        {
            // -1.25 means 1.25 s before the epoch: seconds -2 + 0.75 s.
            long total = seconds * 1_000_000_000L + nanoseconds;
            string sign = "-";
            long abs = -total;
            return Encoding.ASCII.GetBytes(sign + (abs / 1_000_000_000L).ToString(System.Globalization.CultureInfo.InvariantCulture) + "." +
                (abs % 1_000_000_000L).ToString("D9", System.Globalization.CultureInfo.InvariantCulture).TrimEnd('0'));
        }
        return Encoding.ASCII.GetBytes(seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) + "." +
            nanoseconds.ToString("D9", System.Globalization.CultureInfo.InvariantCulture).TrimEnd('0'));
    }

    /// <summary>"DIR/PaxHeaders/BASE" (GNU tar's default "%d/PaxHeaders.%p/%f" without the pid), cut to 100 bytes.</summary>
    private static byte[] PaxHeaderName(byte[] path)
    {
        var p = path.AsSpan();
        if (p.Length > 1 && p[^1] == (byte)'/') p = p[..^1];
        int slash = p.LastIndexOf((byte)'/');
        var dir = slash >= 0 ? p[..slash] : "."u8;
        var name = slash >= 0 ? p[(slash + 1)..] : p;
        byte[] full = [.. dir, .. "/PaxHeaders/"u8, .. name];
        if (full.Length > TarHeaderFields.NameLength || !IsPortable(full))
        {
            full = [.. "./PaxHeaders/"u8, .. name];
            if (full.Length > TarHeaderFields.NameLength || !IsPortable(full)) full = Truncate(Sanitize(full), TarHeaderFields.NameLength);
        }
        return full;
    }

    private static byte[] Sanitize(byte[] s)
    {
        var r = (byte[])s.Clone();
        for (int i = 0; i < r.Length; i++) if (r[i] >= 0x80 || r[i] == 0) r[i] = (byte)'_';
        return r;
    }

    private static byte[] Truncate(byte[] s, int max)
    {
        if (s.Length <= max) return Sanitize(s);
        return Sanitize(s.AsSpan(0, max).ToArray());
    }

    private void FillHeader(ReadOnlySpan<byte> name, byte type, uint mode, long uid, long gid, long size, long mtime,
        ReadOnlySpan<byte> link, uint major, uint minor)
    {
        var h = _header.AsSpan();
        h.Clear();
        name.CopyTo(h.Slice(TarHeaderFields.NameOffset, TarHeaderFields.NameLength));
        Octal(h.Slice(TarHeaderFields.ModeOffset, TarHeaderFields.ModeLength), mode);
        Octal(h.Slice(TarHeaderFields.UidOffset, TarHeaderFields.UidLength), uid);
        Octal(h.Slice(TarHeaderFields.GidOffset, TarHeaderFields.GidLength), gid);
        Octal(h.Slice(TarHeaderFields.SizeOffset, TarHeaderFields.SizeLength), size);
        Octal(h.Slice(TarHeaderFields.MtimeOffset, TarHeaderFields.MtimeLength), mtime);
        h[TarHeaderFields.TypeFlagOffset] = type;
        link.CopyTo(h.Slice(TarHeaderFields.LinkNameOffset, TarHeaderFields.LinkNameLength));
        TarHeaderFields.UstarMagic.CopyTo(h[TarHeaderFields.MagicOffset..]);
        TarHeaderFields.UstarVersion.CopyTo(h[TarHeaderFields.VersionOffset..]);
        if (type is TarTypeFlag.CharDevice or TarTypeFlag.BlockDevice)
        {
            Octal(h.Slice(TarHeaderFields.DevMajorOffset, TarHeaderFields.DevMajorLength), major);
            Octal(h.Slice(TarHeaderFields.DevMinorOffset, TarHeaderFields.DevMinorLength), minor);
        }
        // Checksum: the sum of all header bytes with the checksum field taken as spaces; 6 octal digits, NUL, space.
        h.Slice(TarHeaderFields.ChecksumOffset, TarHeaderFields.ChecksumLength).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in h) sum += b;
        Octal(h.Slice(TarHeaderFields.ChecksumOffset, 7), sum);
        h[TarHeaderFields.ChecksumOffset + 7] = (byte)' ';
    }

    /// <summary>Zero-padded octal digits filling the field but its last byte, which is NUL.</summary>
    private static void Octal(Span<byte> field, long value)
    {
        int digits = field.Length - 1;
        for (int i = digits - 1; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
        if (value != 0) ThrowTooLarge();
        field[digits] = 0;
    }

    [DoesNotReturn]
    private static void ThrowTooLarge() => throw new InvalidOperationException("tar writer: a number does not fit its octal field");
}
