using System.Globalization;
using System.Text;

namespace NativeInit.Core.Lvm;

/// <summary>A value of lvm2's configuration syntax: an integer, a float, a string or an array of those.</summary>
public sealed class LvmConfigValue
{
    public enum ValueKind { Integer, Float, String, Array }

    public ValueKind Kind { get; private init; }
    public long Integer { get; private init; }
    public double Float { get; private init; }
    public string String { get; private init; } = "";
    public IReadOnlyList<LvmConfigValue> Items { get; private init; } = [];

    public static LvmConfigValue Of(long v) => new() { Kind = ValueKind.Integer, Integer = v };
    public static LvmConfigValue Of(double v) => new() { Kind = ValueKind.Float, Float = v };
    public static LvmConfigValue Of(string v) => new() { Kind = ValueKind.String, String = v };
    public static LvmConfigValue Of(IReadOnlyList<LvmConfigValue> v) => new() { Kind = ValueKind.Array, Items = v };

    public override string ToString() => Kind switch
    {
        ValueKind.Integer => Integer.ToString(CultureInfo.InvariantCulture),
        ValueKind.Float => Float.ToString(CultureInfo.InvariantCulture),
        ValueKind.String => '"' + String + '"',
        _ => "[" + string.Join(", ", Items) + "]",
    };
}

/// <summary>A section "name { ... }" of lvm2's configuration syntax, holding values and subsections in order.</summary>
public sealed class LvmConfigSection(string name)
{
    public string Name { get; } = name;
    public List<KeyValuePair<string, LvmConfigValue>> Values { get; } = [];
    public List<LvmConfigSection> Sections { get; } = [];

    public LvmConfigValue? Get(string key)
    {
        foreach (var kv in Values) if (kv.Key == key) return kv.Value;
        return null;
    }

    public LvmConfigSection? Section(string name) => Sections.Find(s => s.Name == name);

    /// <summary>The path of this section, for error messages.</summary>
    public string Path { get; internal set; } = name;

    public string GetString(string key) => Get(key) switch
    {
        { Kind: LvmConfigValue.ValueKind.String } v => v.String,
        null => throw Missing(key),
        _ => throw Wrong(key, "a string"),
    };

    public string? GetStringOrNull(string key) => Get(key) is { Kind: LvmConfigValue.ValueKind.String } v ? v.String : null;

    public long GetInt(string key) => Get(key) switch
    {
        { Kind: LvmConfigValue.ValueKind.Integer } v => v.Integer,
        null => throw Missing(key),
        _ => throw Wrong(key, "an integer"),
    };

    public long GetInt(string key, long fallback) => Get(key) is null ? fallback : GetInt(key);

    public List<string> GetStrings(string key)
    {
        var v = Get(key);
        if (v is null) return [];
        if (v.Kind != LvmConfigValue.ValueKind.Array || v.Items.Any(i => i.Kind != LvmConfigValue.ValueKind.String)) throw Wrong(key, "an array of strings");
        return v.Items.Select(i => i.String).ToList();
    }

    public LvmConfigSection RequireSection(string name) => Section(name) ?? throw new InvalidDataFormatException($"LVM metadata: section {Path}/{name} is missing");

    private InvalidDataFormatException Missing(string key) => new($"LVM metadata: {Path}/{key} is missing");
    private InvalidDataFormatException Wrong(string key, string what) => new($"LVM metadata: {Path}/{key} is not {what}");
}

/// <summary>
/// Tokenizer and parser for lvm2's configuration syntax (lvm2 libdm/libdm-config.c), as used by the text metadata
/// and by .vg backup files: <c>key = value</c>, <c>name { ... }</c>, strings in double quotes with backslash escapes,
/// integers, floats, arrays in brackets, comments from '#' to the end of the line. A NUL ends the text.
/// </summary>
public static class LvmConfigParser
{
    public static LvmConfigSection Parse(string text)
    {
        var root = new LvmConfigSection("") { Path = "" };
        int pos = 0;
        ParseItems(text, ref pos, root, topLevel: true);
        return root;
    }

    private static void ParseItems(string s, ref int pos, LvmConfigSection into, bool topLevel)
    {
        while (true)
        {
            SkipSpace(s, ref pos);
            if (pos >= s.Length)
            {
                if (!topLevel) throw Error(s, pos, $"section '{into.Path}' is not closed");
                return;
            }
            if (s[pos] == '}')
            {
                if (topLevel) throw Error(s, pos, "unexpected '}'");
                pos++;
                return;
            }
            string key = ReadIdentifier(s, ref pos);
            SkipSpace(s, ref pos);
            if (pos >= s.Length) throw Error(s, pos, $"'{key}' is followed by nothing");
            if (s[pos] == '{')
            {
                pos++;
                var section = new LvmConfigSection(key) { Path = into.Path.Length == 0 ? key : into.Path + "/" + key };
                into.Sections.Add(section);
                ParseItems(s, ref pos, section, topLevel: false);
            }
            else if (s[pos] == '=')
            {
                pos++;
                var value = ParseValue(s, ref pos);
                into.Values.Add(new(key, value));
            }
            else throw Error(s, pos, $"expected '=' or '{{' after '{key}'");
        }
    }

    private static LvmConfigValue ParseValue(string s, ref int pos)
    {
        SkipSpace(s, ref pos);
        if (pos >= s.Length) throw Error(s, pos, "value expected");
        char c = s[pos];
        if (c == '[')
        {
            pos++;
            var items = new List<LvmConfigValue>();
            SkipSpace(s, ref pos);
            if (pos < s.Length && s[pos] == ']') { pos++; return LvmConfigValue.Of(items); }
            while (true)
            {
                var item = ParseValue(s, ref pos);
                if (item.Kind == LvmConfigValue.ValueKind.Array) throw Error(s, pos, "nested arrays are not allowed");
                items.Add(item);
                SkipSpace(s, ref pos);
                if (pos >= s.Length) throw Error(s, pos, "array is not closed");
                if (s[pos] == ',') { pos++; continue; }
                if (s[pos] == ']') { pos++; return LvmConfigValue.Of(items); }
                throw Error(s, pos, "expected ',' or ']' in array");
            }
        }
        if (c == '"') return LvmConfigValue.Of(ReadString(s, ref pos));
        if (c == '-' || c == '+' || char.IsAsciiDigit(c) || c == '.')
        {
            int start = pos;
            pos++;
            while (pos < s.Length && (char.IsAsciiDigit(s[pos]) || s[pos] is '.' or 'e' or 'E' or '-' or '+')) pos++;
            var token = s.AsSpan(start, pos - start);
            if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return LvmConfigValue.Of(l);
            if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return LvmConfigValue.Of(d);
            throw Error(s, start, $"'{token}' is not a number");
        }
        throw Error(s, pos, $"unexpected '{c}' where a value was expected");
    }

    private static string ReadString(string s, ref int pos)
    {
        pos++; // opening quote
        var sb = new StringBuilder();
        while (true)
        {
            if (pos >= s.Length) throw Error(s, pos, "string is not closed");
            char c = s[pos++];
            if (c == '"') return sb.ToString();
            if (c == '\\')
            {
                if (pos >= s.Length) throw Error(s, pos, "string is not closed");
                sb.Append(s[pos++]);
            }
            else sb.Append(c);
        }
    }

    private static string ReadIdentifier(string s, ref int pos)
    {
        int start = pos;
        while (pos < s.Length && !char.IsWhiteSpace(s[pos]) && s[pos] is not ('{' or '}' or '[' or ']' or '=' or ',' or '"' or '#' or '\0')) pos++;
        if (pos == start) throw Error(s, pos, $"unexpected '{s[pos]}' where a name was expected");
        return s[start..pos];
    }

    private static void SkipSpace(string s, ref int pos)
    {
        while (pos < s.Length)
        {
            char c = s[pos];
            if (c == '\0') { pos = s.Length; return; }
            if (c == '#') { while (pos < s.Length && s[pos] != '\n') pos++; continue; }
            if (!char.IsWhiteSpace(c)) return;
            pos++;
        }
    }

    private static InvalidDataFormatException Error(string s, int pos, string what)
    {
        int line = 1;
        for (int i = 0; i < pos && i < s.Length; i++) if (s[i] == '\n') line++;
        return new InvalidDataFormatException($"LVM metadata, line {line}: {what}");
    }
}
