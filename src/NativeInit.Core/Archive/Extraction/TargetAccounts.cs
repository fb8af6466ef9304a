using NativeInit.Core.Archive.Tar;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Archive.Extraction;

/// <summary>
/// User and group names of the tree being extracted: its etc/passwd and etc/group, read beneath the target directory
/// (never the host's, never through a symlink), for ACL entries that name a user or group without a numeric id.
/// Read on first use; read again on a miss when entries were extracted since (the archive may bring its own
/// etc/passwd before the entries that need it).
/// </summary>
internal sealed class TargetAccounts(DirectoryHandle root) : IAccountNames
{
    /// <summary>Upper bound of the files read (a gateway's passwd is a few KiB).</summary>
    public const int MaxFileLength = 4 << 20;

    private Dictionary<string, uint>? _users, _groups;
    private long _loadedAt = -1;

    /// <summary>Advanced by the extractor for every entry it makes, so that a miss re-reads only when the tree changed.</summary>
    public long Generation { get; set; }

    public bool TryResolve(bool group, ReadOnlySpan<byte> name, out uint id)
    {
        if (_loadedAt < 0) Load();
        string key = System.Text.Encoding.UTF8.GetString(name);
        if ((group ? _groups! : _users!).TryGetValue(key, out id)) return true;
        if (_loadedAt == Generation) return false;
        Load();
        return (group ? _groups! : _users!).TryGetValue(key, out id);
    }

    private void Load()
    {
        _users = Read("passwd"u8);
        _groups = Read("group"u8);
        _loadedAt = Generation;
    }

    /// <summary>name:password:id:... lines of etc/FILE; empty when etc or the file is missing or not a plain file.</summary>
    private Dictionary<string, uint> Read(ReadOnlySpan<byte> file)
    {
        var map = new Dictionary<string, uint>(StringComparer.Ordinal);
        if (root.TryOpenDirectory("etc"u8, out var etc) != 0) return map;
        byte[] content;
        using (etc) if (etc!.TryReadSmallFile(file, MaxFileLength, out content) != 0) return map;
        ReadOnlySpan<byte> rest = content;
        while (!rest.IsEmpty)
        {
            int nl = rest.IndexOf((byte)'\n');
            var line = nl < 0 ? rest : rest[..nl];
            rest = nl < 0 ? default : rest[(nl + 1)..];
            int c1 = line.IndexOf((byte)':');
            if (c1 <= 0) continue;
            int c2 = line[(c1 + 1)..].IndexOf((byte)':');
            if (c2 < 0) continue;
            var idField = line[(c1 + 1 + c2 + 1)..];
            int c3 = idField.IndexOf((byte)':');
            if (c3 >= 0) idField = idField[..c3];
            if (!System.Buffers.Text.Utf8Parser.TryParse(idField, out uint id, out int used) || used != idField.Length) continue;
            map.TryAdd(System.Text.Encoding.UTF8.GetString(line[..c1]), id);
        }
        return map;
    }
}
