using System.Text;

namespace NativeInit.Core.Boot;

/// <summary>
/// The GRUB environment block (grubenv), as grub-core/lib/envblk.c reads and writes it and grub-editenv makes it:
/// exactly 1024 bytes by default: the line "# GRUB Environment Block", then one "NAME=VALUE\n" line per variable,
/// then '#' up to the end. In a value, '\' and newline are escaped with a backslash. Lines starting with '#' are
/// comments. The block keeps its size when rewritten; variables keep their order; a new one goes last.
/// </summary>
public sealed class GrubEnv
{
    public const int DefaultSize = 1024;
    public const string Header = "# GRUB Environment Block\n";
    private const byte Padding = (byte)'#';

    private readonly List<KeyValuePair<string, string>> _vars = [];

    public int Size { get; private set; } = DefaultSize;

    public IReadOnlyList<KeyValuePair<string, string>> Variables => _vars;

    public string? this[string name] => _vars.FirstOrDefault(v => v.Key == name) is { Key: not null } kv ? kv.Value : null;

    public static GrubEnv Parse(ReadOnlySpan<byte> block, string what)
    {
        if (!block.StartsWith(Encoding.ASCII.GetBytes(Header)))
            throw new InvalidDataFormatException($"{what}: not a GRUB environment block (no '{Header.TrimEnd()}' header)");
        var env = new GrubEnv { Size = block.Length };
        int pos = Header.Length;
        while (pos < block.Length)
        {
            int nl = block[pos..].IndexOf((byte)'\n');
            // A value may hold escaped newlines: find the first newline not preceded by an odd number of backslashes.
            int end = pos;
            while (true)
            {
                nl = block[end..].IndexOf((byte)'\n');
                if (nl < 0) { end = block.Length; break; }
                int at = end + nl, bs = 0;
                while (at - 1 - bs >= pos && block[at - 1 - bs] == (byte)'\\') bs++;
                if (bs % 2 == 0) { end = at; break; }
                end = at + 1;
            }
            var line = block[pos..end];
            pos = end + 1;
            if (line.Length == 0 || line[0] == (byte)'#') continue;
            int eq = line.IndexOf((byte)'=');
            if (eq <= 0) continue; // grub ignores malformed lines
            env._vars.Add(new(Encoding.UTF8.GetString(line[..eq]), Unescape(Encoding.UTF8.GetString(line[(eq + 1)..]))));
        }
        return env;
    }

    public static GrubEnv Empty() => new();

    public void Set(string name, string value)
    {
        if (name.Length == 0 || name.Contains('=') || name.Contains('\n') || name.StartsWith('#'))
            throw new ArgumentException($"'{name}' is not a grubenv variable name", nameof(name));
        int i = _vars.FindIndex(v => v.Key == name);
        if (i >= 0) _vars[i] = new(name, value);
        else _vars.Add(new(name, value));
    }

    public bool Remove(string name) => _vars.RemoveAll(v => v.Key == name) > 0;

    public byte[] ToBytes()
    {
        var sb = new StringBuilder(Header);
        foreach (var (k, v) in _vars) sb.Append(k).Append('=').Append(Escape(v)).Append('\n');
        var text = Encoding.UTF8.GetBytes(sb.ToString());
        if (text.Length > Size)
            throw new NativeInitException($"grubenv: {text.Length} bytes of variables do not fit the {Size}-byte block");
        var block = new byte[Size];
        text.CopyTo(block, 0);
        block.AsSpan(text.Length).Fill(Padding);
        return block;
    }

    private static string Escape(string v) => v.Replace("\\", "\\\\").Replace("\n", "\\\n");

    private static string Unescape(string v)
    {
        if (!v.Contains('\\')) return v;
        var sb = new StringBuilder(v.Length);
        for (int i = 0; i < v.Length; i++)
        {
            if (v[i] == '\\' && i + 1 < v.Length) i++;
            sb.Append(v[i]);
        }
        return sb.ToString();
    }
}
