using System.Globalization;
using System.Text;
using NativeInit.Core.Archive.Tar;

namespace NativeInit.Core.Conversion;

/// <summary>
/// Writes the self-test's small archive in the guest (no fixture file to carry): a POSIX pax tar (ustar headers,
/// POSIX.1-2008 "pax Interchange Format") of <see cref="SelfTest.Tree"/> with numeric owners, modes (setuid incl.),
/// a symlink, and the extended attributes as <c>SCHILY.xattr.NAME</c> pax records holding the raw bytes (binary
/// security.capability incl.), as GNU tar --xattrs writes them.
/// </summary>
public static class SelfTestArchive
{
    public const string SymlinkPath = "etc/ping-link", SymlinkTarget = "../usr/bin/ping";
    public const string XattrPrefix = "SCHILY.xattr.";
    private const long Mtime = 1_700_000_000;

    public static void Write(Stream output)
    {
        var dirs = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var e in SelfTest.Tree)
            for (string? d = Path.GetDirectoryName(e.Path); !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d)) dirs.Add(d);
        foreach (var d in dirs) Entry(output, d + "/", TarTypeFlag.Directory, 0x1ED, 0, 0, [], "", []);
        foreach (var e in SelfTest.Tree)
        {
            var pax = e.Xattrs.Select(x => (XattrPrefix + x.Name, x.Value)).ToList();
            Entry(output, e.Path, TarTypeFlag.Regular, e.Mode, e.Uid, e.Gid, Encoding.UTF8.GetBytes(e.Content), "", pax);
        }
        Entry(output, SymlinkPath, TarTypeFlag.SymLink, 0x1FF, 0, 0, [], SymlinkTarget, []);
        output.Write(new byte[TarHeaderFields.BlockSize * 2]);   // end of archive: two zero blocks
        output.Flush();
    }

    private static void Entry(Stream output, string name, byte type, int mode, int uid, int gid, byte[] data, string link,
        List<(string Key, byte[] Value)> pax)
    {
        if (pax.Count > 0)
        {
            using var records = new MemoryStream();
            foreach (var (key, value) in pax) WritePaxRecord(records, key, value);
            byte[] r = records.ToArray();
            Header(output, "PaxHeaders/" + name.TrimEnd('/'), TarTypeFlag.PaxExtended, 0x1A4, 0, 0, r.Length, "");
            Data(output, r);
        }
        Header(output, name, type, mode, uid, gid, data.Length, link);
        Data(output, data);
    }

    /// <summary>"LEN KEY=VALUE\n" where LEN counts the whole record, its own digits included.</summary>
    private static void WritePaxRecord(Stream s, string key, byte[] value)
    {
        int rest = 1 + Encoding.UTF8.GetByteCount(key) + 1 + value.Length + 1;
        int len = rest + 1;
        while (len.ToString(CultureInfo.InvariantCulture).Length + rest != len) len++;
        s.Write(Encoding.ASCII.GetBytes(len.ToString(CultureInfo.InvariantCulture) + " "));
        s.Write(Encoding.UTF8.GetBytes(key + "="));
        s.Write(value);
        s.WriteByte((byte)'\n');
    }

    private static void Header(Stream output, string name, byte type, int mode, int uid, int gid, long size, string link)
    {
        var h = new byte[TarHeaderFields.BlockSize];
        byte[] n = Encoding.UTF8.GetBytes(name);
        if (n.Length > TarHeaderFields.NameLength) throw new ArgumentException($"self-test archive name too long: {name}", nameof(name));
        n.CopyTo(h, TarHeaderFields.NameOffset);
        Octal(h, TarHeaderFields.ModeOffset, TarHeaderFields.ModeLength, mode);
        Octal(h, TarHeaderFields.UidOffset, TarHeaderFields.UidLength, uid);
        Octal(h, TarHeaderFields.GidOffset, TarHeaderFields.GidLength, gid);
        Octal(h, TarHeaderFields.SizeOffset, TarHeaderFields.SizeLength, size);
        Octal(h, TarHeaderFields.MtimeOffset, TarHeaderFields.MtimeLength, Mtime);
        h[TarHeaderFields.TypeFlagOffset] = type;
        Encoding.UTF8.GetBytes(link).CopyTo(h, TarHeaderFields.LinkNameOffset);
        TarHeaderFields.UstarMagic.CopyTo(h.AsSpan(TarHeaderFields.MagicOffset));
        TarHeaderFields.UstarVersion.CopyTo(h.AsSpan(TarHeaderFields.VersionOffset));
        Octal(h, TarHeaderFields.DevMajorOffset, TarHeaderFields.DevMajorLength, 0);
        Octal(h, TarHeaderFields.DevMinorOffset, TarHeaderFields.DevMinorLength, 0);
        // Checksum: the sum of all header bytes with the checksum field taken as spaces; six octal digits, NUL, space.
        h.AsSpan(TarHeaderFields.ChecksumOffset, TarHeaderFields.ChecksumLength).Fill((byte)' ');
        int sum = h.Sum(b => (int)b);
        Encoding.ASCII.GetBytes(System.Convert.ToString(sum, 8).PadLeft(6, '0')).CopyTo(h, TarHeaderFields.ChecksumOffset);
        h[TarHeaderFields.ChecksumOffset + 6] = 0;
        h[TarHeaderFields.ChecksumOffset + 7] = (byte)' ';
        output.Write(h);
    }

    /// <summary>A zero-padded octal number filling the field but its last byte, which is NUL.</summary>
    private static void Octal(byte[] h, int offset, int length, long value)
    {
        string s = System.Convert.ToString(value, 8).PadLeft(length - 1, '0');
        Encoding.ASCII.GetBytes(s).CopyTo(h, offset);
        h[offset + length - 1] = 0;
    }

    private static void Data(Stream output, byte[] data)
    {
        output.Write(data);
        int pad = (TarHeaderFields.BlockSize - data.Length % TarHeaderFields.BlockSize) % TarHeaderFields.BlockSize;
        if (pad > 0) output.Write(new byte[pad]);
    }
}
