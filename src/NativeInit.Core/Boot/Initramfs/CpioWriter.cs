using System.Globalization;
using System.Text;

namespace NativeInit.Core.Boot.Initramfs;

/// <summary>
/// Writes a cpio archive in the "new ASCII" (newc) format the kernel unpacks as an initramfs
/// (linux Documentation/driver-api/early-userspace/buffer-format.rst; init/initramfs.c): a 110-byte header of
/// the magic "070701" and thirteen 8-digit hexadecimal fields, the NUL-terminated name, padding to a multiple of
/// four, the data, padding to a multiple of four; the archive ends with the entry "TRAILER!!!".
/// Device nodes are only headers, so an image with /dev/console is written without root.
/// </summary>
public sealed class CpioWriter : IDisposable
{
    public const string Magic = "070701";
    public const string TrailerName = "TRAILER!!!";
    public const int HeaderLength = 110;
    public const int MagicLength = 6;
    public const int FieldLength = 8;
    public const int FieldCount = 13;
    public const int Alignment = 4;

    // Field order after the magic (buffer-format.rst).
    public const int FieldIno = 0, FieldMode = 1, FieldUid = 2, FieldGid = 3, FieldNlink = 4, FieldMtime = 5,
        FieldFileSize = 6, FieldDevMajor = 7, FieldDevMinor = 8, FieldRdevMajor = 9, FieldRdevMinor = 10,
        FieldNameSize = 11, FieldCheck = 12;

    // st_mode type bits (include/uapi/linux/stat.h).
    public const uint TypeDirectory = 0x4000, TypeRegular = 0x8000, TypeSymlink = 0xA000, TypeCharDevice = 0x2000,
        TypeBlockDevice = 0x6000;

    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private uint _nextInode = 1;
    private long _position;

    public CpioWriter(Stream output, bool leaveOpen = false, long mtime = 0)
    {
        _output = output;
        _leaveOpen = leaveOpen;
        Mtime = mtime;
    }

    /// <summary>Modification time written in every header (fixed, so images are reproducible).</summary>
    public long Mtime { get; }

    /// <summary>Bytes written so far.</summary>
    public long Length => _position;

    public bool Contains(string name) => _names.Contains(Normalize(name));

    public void AddDirectory(string name, uint permissions = 0x1ED /* 0755 */) =>
        WriteEntry(name, TypeDirectory | permissions, nlink: 2, ReadOnlySpan<byte>.Empty);

    /// <summary>Adds every missing parent directory of <paramref name="name"/>.</summary>
    public void AddParents(string name)
    {
        string n = Normalize(name);
        int slash = -1;
        while ((slash = n.IndexOf('/', slash + 1)) > 0)
        {
            string parent = n[..slash];
            if (!_names.Contains(parent)) AddDirectory(parent);
        }
    }

    public void AddFile(string name, ReadOnlySpan<byte> content, uint permissions = 0x1A4 /* 0644 */) =>
        WriteEntry(name, TypeRegular | permissions, nlink: 1, content);

    public void AddSymlink(string name, string target) =>
        WriteEntry(name, TypeSymlink | 0x1FF, nlink: 1, Encoding.UTF8.GetBytes(target));

    public void AddDevice(string name, bool block, uint major, uint minor, uint permissions = 0x180 /* 0600 */) =>
        WriteEntry(name, (block ? TypeBlockDevice : TypeCharDevice) | permissions, nlink: 1, ReadOnlySpan<byte>.Empty, major, minor);

    /// <summary>Writes the trailer. The kernel accepts several archives one after another; this ends this one.</summary>
    public void Finish()
    {
        WriteHeader(TrailerName, 0, 1, 0, 0, 0, 0);
        _output.Flush();
    }

    private void WriteEntry(string name, uint mode, uint nlink, ReadOnlySpan<byte> data, uint rdevMajor = 0, uint rdevMinor = 0)
    {
        string n = Normalize(name);
        if (!_names.Add(n)) throw new InvalidOperationException($"cpio: '{n}' added twice");
        WriteHeader(n, mode, nlink, data.Length, rdevMajor, rdevMinor, _nextInode++);
        _output.Write(data);
        _position += data.Length;
        Pad();
    }

    private void WriteHeader(string name, uint mode, uint nlink, long size, uint rdevMajor, uint rdevMinor, uint inode)
    {
        if (size > uint.MaxValue) throw new InvalidOperationException($"cpio: '{name}' is larger than 4 GiB, newc cannot hold it");
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        Span<uint> fields = stackalloc uint[FieldCount];
        fields[FieldIno] = inode;
        fields[FieldMode] = mode;
        fields[FieldUid] = 0;
        fields[FieldGid] = 0;
        fields[FieldNlink] = nlink;
        fields[FieldMtime] = (uint)Mtime;
        fields[FieldFileSize] = (uint)size;
        fields[FieldDevMajor] = 0;
        fields[FieldDevMinor] = 0;
        fields[FieldRdevMajor] = rdevMajor;
        fields[FieldRdevMinor] = rdevMinor;
        fields[FieldNameSize] = (uint)nameBytes.Length + 1;
        fields[FieldCheck] = 0;
        Span<byte> header = stackalloc byte[HeaderLength];
        Encoding.ASCII.GetBytes(Magic, header);
        for (int i = 0; i < FieldCount; i++)
            fields[i].TryFormat(header.Slice(MagicLength + i * FieldLength, FieldLength), out _, "X8", CultureInfo.InvariantCulture);
        _output.Write(header);
        _output.Write(nameBytes);
        _output.WriteByte(0);
        _position += HeaderLength + nameBytes.Length + 1;
        Pad();
    }

    private void Pad()
    {
        int pad = (int)((Alignment - _position % Alignment) % Alignment);
        if (pad == 0) return;
        Span<byte> zeros = stackalloc byte[Alignment];
        zeros.Clear();
        _output.Write(zeros[..pad]);
        _position += pad;
    }

    /// <summary>Archive names are relative ("usr/bin/x"), without a leading "/" or "./".</summary>
    public static string Normalize(string name)
    {
        string n = name.TrimStart('/');
        while (n.StartsWith("./", StringComparison.Ordinal)) n = n[2..];
        n = n.TrimEnd('/');
        if (n.Length == 0) throw new ArgumentException("cpio: empty entry name", nameof(name));
        return n;
    }

    public void Dispose()
    {
        if (!_leaveOpen) _output.Dispose();
    }
}
