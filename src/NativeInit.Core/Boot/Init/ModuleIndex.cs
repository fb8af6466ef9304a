namespace NativeInit.Core.Boot.Init;

/// <summary>
/// The module tree of one kernel (/lib/modules/VERSION) as depmod describes it: modules.dep (a module's file and
/// the files it needs), modules.softdep ("softdep MOD pre: A B post: C"), modules.alias (exact aliases only, enough
/// for "crypto-crc32c"), modules.builtin (modules compiled into the kernel). Resolves names to an ordered list of
/// files where every module comes after what it needs: the order a loader without modprobe must follow.
/// Names compare with '-' and '_' equal, as the kernel does.
/// </summary>
public sealed class ModuleIndex
{
    public const string DepFile = "modules.dep", SoftdepFile = "modules.softdep", AliasFile = "modules.alias",
        BuiltinFile = "modules.builtin";

    private static readonly string[] ModuleSuffixes = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];

    private readonly Dictionary<string, (string Path, string[] Deps)> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _pre = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _aliases = new(StringComparer.Ordinal);
    private readonly HashSet<string> _builtin = new(StringComparer.Ordinal);

    public ModuleIndex(string directory)
    {
        Directory = directory;
        string dep = Path.Combine(directory, DepFile);
        if (!File.Exists(dep))
            throw new NativeInitException($"{dep}: missing (run depmod for this kernel, or give the right module directory)");
        foreach (var line in File.ReadLines(dep))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) continue;
            string path = line[..colon];
            string[] deps = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            _modules[NameOf(path)] = (path, deps);
        }
        string soft = Path.Combine(directory, SoftdepFile);
        if (File.Exists(soft))
            foreach (var line in File.ReadLines(soft))
            {
                var w = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (w.Length < 3 || w[0] != "softdep") continue;
                bool pre = false;
                foreach (var x in w.Skip(2))
                {
                    if (x == "pre:") { pre = true; continue; }
                    if (x == "post:") { pre = false; continue; }
                    if (pre) Get(_pre, Normalize(w[1])).Add(x);
                }
            }
        string alias = Path.Combine(directory, AliasFile);
        if (File.Exists(alias))
            foreach (var line in File.ReadLines(alias))
            {
                var w = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (w.Length == 3 && w[0] == "alias" && w[1].IndexOfAny(['*', '?', '[']) < 0)
                    Get(_aliases, w[1]).Add(Normalize(w[2]));
            }
        string builtin = Path.Combine(directory, BuiltinFile);
        if (File.Exists(builtin))
            foreach (var line in File.ReadLines(builtin))
                if (line.Length > 0) _builtin.Add(NameOf(line));
    }

    public string Directory { get; }

    public bool IsBuiltin(string name) => _builtin.Contains(Normalize(name));

    public bool Contains(string name) => _modules.ContainsKey(Normalize(name));

    /// <summary>Relative path (as in modules.dep) of a module.</summary>
    public string PathOf(string name) => _modules[Normalize(name)].Path;

    /// <summary>
    /// The files to load, in load order, for <paramref name="names"/> and everything they need (hard dependencies,
    /// then soft "pre:" dependencies resolved through aliases). Built-in modules are left out. An unknown name
    /// (neither a module, nor built-in, nor an alias) is an error unless <paramref name="optional"/> says otherwise.
    /// </summary>
    public IReadOnlyList<string> Resolve(IEnumerable<string> names, bool optional = false)
    {
        var order = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in names) Visit(n, order, seen, optional, depth: 0);
        return order;
    }

    private void Visit(string requested, List<string> order, HashSet<string> seen, bool optional, int depth)
    {
        if (depth > 64) throw new InvalidDataFormatException($"{Directory}: module dependencies nest deeper than 64 at {requested}");
        string name = Normalize(requested);
        if (_builtin.Contains(name)) return;
        if (!_modules.TryGetValue(name, out var module))
        {
            if (_aliases.TryGetValue(requested, out var targets))
            {
                foreach (var t in targets) Visit(t, order, seen, optional: true, depth + 1);
                return;
            }
            if (optional) return;
            throw new NativeInitException($"kernel module '{requested}': not in {Path.Combine(Directory, DepFile)}, not built in, no alias");
        }
        if (!seen.Add(name)) return;
        if (_pre.TryGetValue(name, out var pre))
            foreach (var p in pre) Visit(p, order, seen, optional: true, depth + 1);
        foreach (var d in module.Deps) Visit(NameOf(d), order, seen, optional: false, depth + 1);
        order.Add(module.Path);
    }

    /// <summary>The module name of a file path: "kernel/drivers/md/dm-mod.ko.xz" gives "dm_mod".</summary>
    public static string NameOf(string path)
    {
        string file = Path.GetFileName(path);
        foreach (var s in ModuleSuffixes)
            if (file.EndsWith(s, StringComparison.Ordinal)) { file = file[..^s.Length]; break; }
        return Normalize(file);
    }

    public static string Normalize(string name) => name.Replace('-', '_');

    private static List<string> Get(Dictionary<string, List<string>> d, string key)
    {
        if (!d.TryGetValue(key, out var l)) d[key] = l = [];
        return l;
    }
}
