namespace NativeInit.Core.Lvm;

/// <summary>
/// LVM2 identifiers (lvm2 lib/uuid/uuid.c): 32 characters of a 64-character alphabet, stored raw in the PV header and
/// printed 6-4-4-4-4-4-6 with dashes in the text metadata. lvm2 generates ids only from the 62 alphanumerics
/// (it leaves out '!' and '#'), and so does <see cref="New"/>; <see cref="IsValid"/> accepts all 64.
/// </summary>
public static class LvmId
{
    public const int Length = 32;
    public const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#";
    private static readonly int[] Groups = [6, 4, 4, 4, 4, 4, 6];

    /// <summary>A new random id, formatted with dashes.</summary>
    public static string New()
    {
        Span<byte> random = stackalloc byte[Length];
        Guid.NewGuid().TryWriteBytes(random[..16]);
        Guid.NewGuid().TryWriteBytes(random[16..]);
        Span<char> raw = stackalloc char[Length];
        for (int i = 0; i < Length; i++) raw[i] = Alphabet[random[i] % 62];
        return Format(new string(raw));
    }

    /// <summary>Raw 32 characters → "xxxxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxxxx".</summary>
    public static string Format(string raw)
    {
        if (!IsValidRaw(raw)) throw new InvalidDataFormatException($"'{raw}' is not an LVM id (32 characters of [a-zA-Z0-9!#])");
        var parts = new List<string>(Groups.Length);
        int pos = 0;
        foreach (int g in Groups) { parts.Add(raw.Substring(pos, g)); pos += g; }
        return string.Join('-', parts);
    }

    /// <summary>Formatted or raw id → raw 32 characters.</summary>
    public static string Raw(string id)
    {
        string raw = id.Replace("-", "", StringComparison.Ordinal);
        if (!IsValidRaw(raw)) throw new InvalidDataFormatException($"'{id}' is not an LVM id (32 characters of [a-zA-Z0-9!#], dashes optional)");
        return raw;
    }

    public static bool IsValid(string id) => IsValidRaw(id.Replace("-", "", StringComparison.Ordinal));

    private static bool IsValidRaw(string raw) => raw.Length == Length && raw.All(c => Alphabet.Contains(c));
}
