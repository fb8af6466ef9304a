using System.Text;

namespace NativeInit.Tests.Archive;

/// <summary>Builds small tar archives in memory for reader tests: raw 512-byte headers with chosen fields.</summary>
internal sealed class TarBuilder
{
    private readonly MemoryStream _ms = new();

    public static byte[] Header(string name, byte type, long size = 0, string link = "", int mode = 420, long uid = 0,
        long gid = 0, long mtime = 0, bool gnu = false, string prefix = "", Action<byte[]>? tweak = null, bool signedChecksum = false)
        => Header(Encoding.UTF8.GetBytes(name), type, size, link, mode, uid, gid, mtime, gnu, prefix, tweak, signedChecksum);

    public static byte[] Header(byte[] name, byte type, long size = 0, string link = "", int mode = 420, long uid = 0,
        long gid = 0, long mtime = 0, bool gnu = false, string prefix = "", Action<byte[]>? tweak = null, bool signedChecksum = false)
    {
        var h = new byte[512];
        name.AsSpan(0, Math.Min(100, name.Length)).CopyTo(h);
        Octal(h, 100, 8, mode);
        Number(h, 108, 8, uid);
        Number(h, 116, 8, gid);
        Number(h, 124, 12, size);
        Number(h, 136, 12, mtime);
        h[156] = type;
        Encoding.UTF8.GetBytes(link).CopyTo(h, 157);
        if (gnu) { "ustar  \0"u8.CopyTo(h.AsSpan(257)); }
        else { "ustar\0"u8.CopyTo(h.AsSpan(257)); "00"u8.CopyTo(h.AsSpan(263)); Encoding.UTF8.GetBytes(prefix).CopyTo(h, 345); }
        tweak?.Invoke(h);
        SetChecksum(h, signedChecksum);
        return h;
    }

    public static void SetChecksum(byte[] h, bool signedSum = false)
    {
        for (int i = 148; i < 156; i++) h[i] = (byte)' ';
        long sum = 0;
        foreach (byte b in h) sum += signedSum ? (sbyte)b : b;
        var s = Convert.ToString(sum, 8).PadLeft(6, '0');
        if (sum < 0) s = Convert.ToString(sum & 0x3FFFF, 8); // not used by the tests
        Encoding.ASCII.GetBytes(s).CopyTo(h, 148);
        h[154] = 0;
        h[155] = (byte)' ';
    }

    private static void Octal(byte[] h, int off, int len, long v)
    {
        var s = Convert.ToString(v, 8).PadLeft(len - 1, '0');
        Encoding.ASCII.GetBytes(s).CopyTo(h, off);
        h[off + len - 1] = 0;
    }

    /// <summary>Octal when it fits, else GNU base-256 (two's complement, first byte 0x80/0xFF marker).</summary>
    public static void Number(byte[] h, int off, int len, long v)
    {
        if (v >= 0 && v < (1L << (3 * (len - 1)))) { Octal(h, off, len, v); return; }
        for (int i = len - 1; i >= 0; i--) { h[off + i] = (byte)v; v >>= 8; }
        h[off] |= 0x80;
    }

    public TarBuilder Raw(byte[] bytes) { _ms.Write(bytes); return this; }

    public TarBuilder Entry(byte[] header, byte[]? data = null)
    {
        _ms.Write(header);
        if (data is not null) Data(data);
        return this;
    }

    public TarBuilder File(string name, string content, Action<byte[]>? tweak = null, int mode = 420)
    {
        var data = Encoding.UTF8.GetBytes(content);
        return Entry(Header(name, (byte)'0', data.Length, mode: mode, tweak: tweak), data);
    }

    public TarBuilder Data(byte[] data)
    {
        _ms.Write(data);
        int pad = (512 - data.Length % 512) % 512;
        _ms.Write(new byte[pad]);
        return this;
    }

    /// <summary>A pax extended header ('x' or 'g') from records given as (key, value bytes).</summary>
    public TarBuilder Pax(byte type, params (string Key, byte[] Value)[] records)
    {
        var body = new MemoryStream();
        foreach (var (k, v) in records) body.Write(PaxRecord(k, v));
        return Entry(Header("PaxHeaders/x", type, body.Length), body.ToArray());
    }

    public static byte[] PaxRecord(string key, byte[] value)
    {
        var kb = Encoding.UTF8.GetBytes(key);
        int rest = 1 + kb.Length + 1 + value.Length + 1; // ' ' key '=' value '\n'
        int len = rest + 1;
        while (len.ToString(System.Globalization.CultureInfo.InvariantCulture).Length + rest != len) len++;
        var ms = new MemoryStream();
        ms.Write(Encoding.ASCII.GetBytes(len.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        ms.WriteByte((byte)' ');
        ms.Write(kb);
        ms.WriteByte((byte)'=');
        ms.Write(value);
        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    public TarBuilder End() { _ms.Write(new byte[1024]); return this; }

    public byte[] ToArray() => _ms.ToArray();
}
