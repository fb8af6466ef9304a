namespace NativeInit.Core.Archive.Tar;

/// <summary>User and group names of the system an archive is extracted into (not the host's).</summary>
public interface IAccountNames
{
    bool TryResolve(bool group, ReadOnlySpan<byte> name, out uint id);
}

/// <summary>
/// POSIX.1e ACLs from their text form to the value of the Linux xattrs system.posix_acl_access and
/// system.posix_acl_default. The text is what pax SCHILY.acl.access / SCHILY.acl.default hold: entries separated by
/// ',' (star, bsdtar) or newlines (GNU tar), each "tag:qualifier:perms" with an optional fourth field, the numeric id
/// (star, libarchive), e.g. "user::rw-,user:bin:r--:2,group::r--,mask::r--,other::r--". Tags may be abbreviated
/// (u, g, m, o); "#" starts a comment (libacl's "#effective:"); a qualifier of digits is a numeric id.
/// The xattr value (linux include/uapi/linux/posix_acl_xattr.h, fs/posix_acl.c): a little-endian u32 version 2, then
/// one 8-byte entry per ACL entry (u16 tag, u16 perm, u32 id), sorted by tag then id, which the kernel requires.
/// </summary>
public static class PosixAcl
{
    public const uint XattrVersion = 2;
    public const int HeaderLength = 4, EntryLength = 8;
    /// <summary>e_tag values (include/uapi/linux/posix_acl.h).</summary>
    public const ushort TagUserObj = 0x01, TagUser = 0x02, TagGroupObj = 0x04, TagGroup = 0x08, TagMask = 0x10, TagOther = 0x20;
    /// <summary>e_id of the entries without a qualifier.</summary>
    public const uint UndefinedId = uint.MaxValue;

    /// <summary>The xattr name of an access or default ACL.</summary>
    public static ReadOnlySpan<byte> AccessXattr => "system.posix_acl_access"u8;
    public static ReadOnlySpan<byte> DefaultXattr => "system.posix_acl_default"u8;

    /// <summary>Encodes <paramref name="text"/> as the xattr value; null with <paramref name="error"/> set when an entry
    /// is malformed or a name is not known to <paramref name="names"/>.</summary>
    public static byte[]? Encode(ReadOnlySpan<byte> text, IAccountNames names, out string? error) =>
        Encode(text, names, out error, out _);

    /// <summary>As <see cref="Encode(ReadOnlySpan{byte}, IAccountNames, out string?)"/>; <paramref name="unknownName"/>
    /// tells that the only problem is a name <paramref name="names"/> does not know (yet).</summary>
    public static byte[]? Encode(ReadOnlySpan<byte> text, IAccountNames names, out string? error, out bool unknownName)
    {
        error = null;
        unknownName = false;
        var entries = new List<(ushort Tag, ushort Perm, uint Id)>();
        while (!text.IsEmpty)
        {
            int sep = text.IndexOfAny((byte)',', (byte)'\n');
            var item = sep < 0 ? text : text[..sep];
            text = sep < 0 ? default : text[(sep + 1)..];
            int hash = item.IndexOf((byte)'#');
            if (hash >= 0) item = item[..hash];
            item = item.Trim(" \t\r"u8);
            if (item.IsEmpty) continue;
            if (!TryEntry(item, names, out var entry, out error, out unknownName)) return null;
            entries.Add(entry);
        }
        if (entries.Count == 0) { error = "empty ACL"; return null; }
        entries.Sort((a, b) => a.Tag != b.Tag ? a.Tag.CompareTo(b.Tag) : a.Id.CompareTo(b.Id));
        var value = new byte[HeaderLength + EntryLength * entries.Count];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(value, XattrVersion);
        for (int i = 0; i < entries.Count; i++)
        {
            var at = value.AsSpan(HeaderLength + EntryLength * i, EntryLength);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(at, entries[i].Tag);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(at[2..], entries[i].Perm);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(at[4..], entries[i].Id);
        }
        return value;
    }

    private static bool TryEntry(ReadOnlySpan<byte> item, IAccountNames names, out (ushort Tag, ushort Perm, uint Id) entry,
        out string? error, out bool unknownName)
    {
        entry = default;
        error = null;
        unknownName = false;
        Span<Range> fields = stackalloc Range[5];
        int n = 0, start = 0;
        for (int i = 0; i <= item.Length && n < fields.Length; i++)
        {
            if (i < item.Length && item[i] != (byte)':') continue;
            fields[n++] = new Range(start, i);
            start = i + 1;
        }
        string shown = TarEntry.Display(item);
        if (n is < 2 or > 4) { error = $"ACL entry '{shown}' is not tag:qualifier:perms"; return false; }
        var tag = item[fields[0]];
        bool named;
        ushort objTag, namedTag;
        if (tag.SequenceEqual("user"u8) || tag.SequenceEqual("u"u8)) (named, objTag, namedTag) = (true, TagUserObj, TagUser);
        else if (tag.SequenceEqual("group"u8) || tag.SequenceEqual("g"u8)) (named, objTag, namedTag) = (true, TagGroupObj, TagGroup);
        else if (tag.SequenceEqual("mask"u8) || tag.SequenceEqual("m"u8)) (named, objTag, namedTag) = (false, TagMask, 0);
        else if (tag.SequenceEqual("other"u8) || tag.SequenceEqual("o"u8)) (named, objTag, namedTag) = (false, TagOther, 0);
        else { error = $"ACL entry '{shown}': unknown tag '{TarEntry.Display(tag)}'"; return false; }

        // mask and other may come as "mask:rwx" (two fields) or "mask::rwx".
        ReadOnlySpan<byte> qualifier = n >= 3 ? item[fields[1]] : default;
        ReadOnlySpan<byte> perms = n >= 3 ? item[fields[2]] : item[fields[1]];
        ReadOnlySpan<byte> idField = n == 4 ? item[fields[3]] : default;
        if (!named && !qualifier.IsEmpty) { error = $"ACL entry '{shown}': a {TarEntry.Display(tag)} entry takes no qualifier"; return false; }
        if (!named && n == 4) { error = $"ACL entry '{shown}' has too many fields"; return false; }

        ushort perm = 0;
        foreach (byte c in perms)
        {
            switch (c)
            {
                case (byte)'r': perm |= 4; break;
                case (byte)'w': perm |= 2; break;
                case (byte)'x': perm |= 1; break;
                case (byte)'-': break;
                default: error = $"ACL entry '{shown}': bad permissions '{TarEntry.Display(perms)}'"; return false;
            }
        }

        if (qualifier.IsEmpty && idField.IsEmpty)
        {
            entry = (objTag, perm, UndefinedId);
            return true;
        }
        uint id;
        bool isGroup = namedTag == TagGroup;
        if (!idField.IsEmpty)
        {
            if (!TryId(idField, out id)) { error = $"ACL entry '{shown}': bad numeric id '{TarEntry.Display(idField)}'"; return false; }
        }
        else if (TryId(qualifier, out id)) { }
        else if (!names.TryResolve(isGroup, qualifier, out id))
        {
            unknownName = true;
            error = $"ACL entry '{shown}': {(isGroup ? "group" : "user")} '{TarEntry.Display(qualifier)}' is not in the target's " +
                    $"{(isGroup ? "etc/group" : "etc/passwd")} (and the archive gives no numeric id)";
            return false;
        }
        entry = (namedTag, perm, id);
        return true;
    }

    private static bool TryId(ReadOnlySpan<byte> s, out uint id)
    {
        id = 0;
        if (s.IsEmpty || s.Length > 10) return false;
        ulong v = 0;
        foreach (byte c in s)
        {
            if (c is < (byte)'0' or > (byte)'9') return false;
            v = v * 10 + (uint)(c - '0');
        }
        if (v >= UndefinedId) return false;
        id = (uint)v;
        return true;
    }
}
