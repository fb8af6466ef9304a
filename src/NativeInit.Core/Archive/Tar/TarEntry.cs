using System.Text;

namespace NativeInit.Core.Archive.Tar;

/// <summary>What an entry makes on disk.</summary>
public enum TarEntryType
{
    Regular,
    Directory,
    SymbolicLink,
    HardLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
}

/// <summary>A growable byte buffer reused across entries (paths, link targets, xattr values).</summary>
public sealed class ByteBuffer
{
    private byte[] _array;

    public ByteBuffer(int capacity = 256) => _array = new byte[capacity];

    public int Length { get; private set; }
    public ReadOnlySpan<byte> Span => _array.AsSpan(0, Length);
    internal byte[] Array => _array;

    public void Clear() => Length = 0;

    public void Set(ReadOnlySpan<byte> bytes)
    {
        Length = 0;
        Append(bytes);
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        EnsureCapacity(Length + bytes.Length);
        bytes.CopyTo(_array.AsSpan(Length));
        Length += bytes.Length;
    }

    public void Append(byte b)
    {
        EnsureCapacity(Length + 1);
        _array[Length++] = b;
    }

    /// <summary>Grows the buffer and returns a writable span of <paramref name="count"/> bytes at the end.</summary>
    public Span<byte> Extend(int count)
    {
        EnsureCapacity(Length + count);
        var s = _array.AsSpan(Length, count);
        Length += count;
        return s;
    }

    public void Truncate(int length) => Length = Math.Min(Length, length);

    private void EnsureCapacity(int needed)
    {
        if (needed <= _array.Length) return;
        System.Array.Resize(ref _array, Math.Max(needed, _array.Length * 2));
    }
}

/// <summary>One piece of a sparse file's data: <see cref="Length"/> bytes at <see cref="Offset"/> of the real file.</summary>
public readonly record struct SparseSegment(long Offset, long Length);

/// <summary>
/// One archive member. The reader reuses one instance for every entry (no allocation per entry); it is valid until
/// the next call to <see cref="TarReader.Next"/>. Paths, link targets, xattr names and values are bytes, exactly as
/// stored (non-UTF-8 names stay exact for the system calls); <see cref="DisplayPath"/> decodes them for messages only.
/// </summary>
public sealed class TarEntry
{
    private readonly ByteBuffer _path = new();
    private readonly ByteBuffer _link = new();
    private readonly ByteBuffer _xattrArena = new(1024);
    private readonly List<(int NameStart, int NameLength, int ValueStart, int ValueLength)> _xattrs = [];
    private readonly List<SparseSegment> _sparse = [];
    private readonly ByteBuffer _aclAccess = new(0);
    private readonly ByteBuffer _aclDefault = new(0);
    private readonly ByteBuffer _aclNfs4 = new(0);

    public TarEntryType Type { get; internal set; }
    /// <summary>The typeflag byte of the header that made this entry.</summary>
    public byte TypeFlag { get; internal set; }
    public ReadOnlySpan<byte> Path => _path.Span;
    /// <summary>Symlink target, or hardlink target (a path in the archive).</summary>
    public ReadOnlySpan<byte> LinkTarget => _link.Span;
    /// <summary>Permission bits including setuid, setgid and sticky (07777).</summary>
    public uint Mode { get; internal set; }
    public long Uid { get; internal set; }
    public long Gid { get; internal set; }
    /// <summary>Bytes of data stored in the archive for this entry (for a sparse file: the data segments only).</summary>
    public long Size { get; internal set; }
    public long MtimeSeconds { get; internal set; }
    public int MtimeNanoseconds { get; internal set; }
    public uint DevMajor { get; internal set; }
    public uint DevMinor { get; internal set; }
    /// <summary>Archive offset (uncompressed) of the first header block of this entry, for messages.</summary>
    public long HeaderOffset { get; internal set; }

    public bool IsSparse { get; internal set; }
    /// <summary>The sparse file's real size (holes included).</summary>
    public long RealSize { get; internal set; }
    /// <summary>The sparse map: where each stored data segment goes, in order.</summary>
    public IReadOnlyList<SparseSegment> SparseMap => _sparse;

    public int XattrCount => _xattrs.Count;
    public ReadOnlySpan<byte> XattrName(int i) => _xattrArena.Array.AsSpan(_xattrs[i].NameStart, _xattrs[i].NameLength);
    public ReadOnlySpan<byte> XattrValue(int i) => _xattrArena.Array.AsSpan(_xattrs[i].ValueStart, _xattrs[i].ValueLength);

    /// <summary>The POSIX.1e access ACL as text (pax SCHILY.acl.access, e.g. "user::rw-,user:bin:r--:2,mask::r--,...");
    /// empty when the archive has none.</summary>
    public ReadOnlySpan<byte> AclAccessText => _aclAccess.Span;
    /// <summary>The default ACL of a directory as text (pax SCHILY.acl.default).</summary>
    public ReadOnlySpan<byte> AclDefaultText => _aclDefault.Span;
    /// <summary>An NFSv4 ACL as text (pax SCHILY.acl.ace); Linux local file systems cannot take it.</summary>
    public ReadOnlySpan<byte> AclNfs4Text => _aclNfs4.Span;

    public string DisplayPath => Display(Path);
    public string DisplayLinkTarget => Display(LinkTarget);

    internal ByteBuffer PathBuffer => _path;
    internal ByteBuffer LinkBuffer => _link;
    internal List<SparseSegment> SparseList => _sparse;
    internal ByteBuffer AclAccessBuffer => _aclAccess;
    internal ByteBuffer AclDefaultBuffer => _aclDefault;
    internal ByteBuffer AclNfs4Buffer => _aclNfs4;

    internal void Reset()
    {
        _path.Clear();
        _link.Clear();
        _xattrArena.Clear();
        _xattrs.Clear();
        _sparse.Clear();
        _aclAccess.Clear();
        _aclDefault.Clear();
        _aclNfs4.Clear();
        Type = TarEntryType.Regular;
        TypeFlag = 0;
        Mode = 0;
        Uid = Gid = Size = MtimeSeconds = 0;
        MtimeNanoseconds = 0;
        DevMajor = DevMinor = 0;
        HeaderOffset = 0;
        IsSparse = false;
        RealSize = 0;
    }

    /// <summary>Whether the entry carries an xattr of this name.</summary>
    public bool HasXattr(ReadOnlySpan<byte> name)
    {
        for (int i = 0; i < _xattrs.Count; i++)
            if (XattrName(i).SequenceEqual(name)) return true;
        return false;
    }

    /// <summary>Sets an xattr; a later value for the same name replaces the earlier one.</summary>
    internal void SetXattr(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        int ns = _xattrArena.Length;
        _xattrArena.Append(name);
        int vs = _xattrArena.Length;
        _xattrArena.Append(value);
        var rec = (ns, name.Length, vs, value.Length);
        for (int i = 0; i < _xattrs.Count; i++)
        {
            if (XattrName(i).SequenceEqual(name)) { _xattrs[i] = rec; return; }
        }
        _xattrs.Add(rec);
    }

    /// <summary>Bytes for a message, escaped so that no byte can act on a terminal (see <see cref="DisplayText"/>).</summary>
    public static string Display(ReadOnlySpan<byte> bytes) => DisplayText.Of(bytes);
}
