using System.Text;

namespace NativeInit.Core.Boot.Init;

/// <summary>
/// The kernel command line (/proc/cmdline) split as the kernel does (linux lib/cmdline.c next_arg): words separated
/// by spaces, a value may be double-quoted ("a=\"x y\""). The last occurrence of a key wins, as in dracut's getarg.
/// </summary>
public sealed class KernelCommandLine
{
    public const string ProcPath = "/proc/cmdline";

    private readonly List<(string Key, string? Value)> _items;

    public KernelCommandLine(string text) => _items = Split(text);

    public static KernelCommandLine ReadProc() => new(File.Exists(ProcPath) ? File.ReadAllText(ProcPath) : "");

    public IReadOnlyList<(string Key, string? Value)> Items => _items;

    /// <summary>The value of the last <c>key=value</c>, or null when absent or given as a bare word.</summary>
    public string? Get(string key)
    {
        for (int i = _items.Count - 1; i >= 0; i--)
            if (_items[i].Key == key) return _items[i].Value;
        return null;
    }

    /// <summary>The first of <paramref name="keys"/> that has a value.</summary>
    public string? GetFirst(params string[] keys)
    {
        foreach (var k in keys)
            if (Get(k) is { } v) return v;
        return null;
    }

    public bool Has(string key) => _items.Any(i => i.Key == key);

    private static List<(string, string?)> Split(string text)
    {
        var result = new List<(string, string?)>();
        var word = new StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in text)
        {
            if (c == '"') { quoted = !quoted; any = true; continue; }
            if (!quoted && char.IsWhiteSpace(c))
            {
                if (any) Add(result, word);
                word.Clear();
                any = false;
                continue;
            }
            word.Append(c);
            any = true;
        }
        if (any) Add(result, word);
        return result;
    }

    private static void Add(List<(string, string?)> list, StringBuilder word)
    {
        var s = word.ToString();
        int eq = s.IndexOf('=', StringComparison.Ordinal);
        list.Add(eq < 0 ? (s, null) : (s[..eq], s[(eq + 1)..]));
    }
}
