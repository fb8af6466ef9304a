using System.Text;
using System.Text.Json;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Carry;

/// <summary>A configuration file to carry, with its metadata and content.</summary>
public sealed record CarriedFile(string Path, uint Mode, uint Uid, uint Gid, byte[] Content);

/// <summary>A user's password hash from the old /etc/shadow (field 2), its last change (field 3) and the rest of its
/// aging, fields 4 to 8 as the file has them ("min:max:warn:inactive:expire"; null in a record written before they were
/// carried). The last change means something only with the aging it was counted against: the old date under the new
/// system's maximum age can be an expired password.</summary>
public sealed record PasswordEntry(string User, string Hash, string LastChange, string? Aging = null);

/// <summary>
/// What stage one records and stage two carries: network configuration (CentOS: ifcfg-* except ifcfg-lo, the static
/// routes and policy rules beside them (route-*, route6-*, rule-*, rule6-*), /etc/sysconfig/network and
/// /etc/sysconfig/static-routes; Debian: /etc/network/interfaces and interfaces.d/*), DNS (/etc/resolv.conf), the host
/// name (/etc/hostname, /etc/hosts), the SSH host keys, and the password hashes of the existing users (from
/// /etc/shadow: user, hash, last change and aging; accounts without a password, '*', '!' or '!!', are left out).
/// /etc/shadow itself is never carried as a file, even when a policy's pattern matches it. Stage two captures again from the old root
/// (read-only, before its first write) and keeps that record beside its journal; stage one's record is the evidence
/// of what stage one saw, which no later step reads.
/// </summary>
public sealed record CarryRecord(IReadOnlyList<CarriedFile> Files, IReadOnlyList<PasswordEntry> Passwords)
{
    public const int FormatVersion = 1;
    public const string FileName = "carry.json";

    /// <summary>Carried as <see cref="Passwords"/>, merged into the new file; never as a file.</summary>
    public const string ShadowPath = "/etc/shadow";

    /// <summary>Files and globs (relative to the root) that are carried.</summary>
    public static readonly string[] Sources =
    [
        "etc/sysconfig/network-scripts/ifcfg-*",
        "etc/sysconfig/network-scripts/route-*",
        "etc/sysconfig/network-scripts/route6-*",
        "etc/sysconfig/network-scripts/rule-*",
        "etc/sysconfig/network-scripts/rule6-*",
        "etc/sysconfig/network",
        "etc/sysconfig/static-routes",
        "etc/network/interfaces",
        "etc/network/interfaces.d/*",
        "etc/resolv.conf",
        "etc/hostname",
        "etc/hosts",
        "etc/ssh/ssh_host_*",
    ];

    /// <summary>The carry set: <see cref="Sources"/> plus what a bundle's carry-policy.json adds, minus what it removes
    /// (<see cref="CarryPolicy"/>).</summary>
    public static CarryRecord Capture(string root, CarryPolicy? policy = null)
    {
        var files = new List<CarriedFile>();
        var patterns = Sources.Concat(policy?.Add ?? []).Distinct(StringComparer.Ordinal).ToList();
        foreach (var pattern in patterns)
        {
            var dir = Path.Combine(root, Path.GetDirectoryName(pattern)!);
            var name = Path.GetFileName(pattern);
            if (!Directory.Exists(dir)) continue;
            IEnumerable<string> matches = name.Contains('*')
                ? Directory.EnumerateFiles(dir, name).Order(StringComparer.Ordinal)
                : [Path.Combine(dir, name)];
            foreach (var full in matches)
            {
                if (Path.GetFileName(full) is "ifcfg-lo" or "route-lo" or "route6-lo") continue;
                string rel = "/" + Path.GetRelativePath(root, full).Replace('\\', '/');
                if (rel == ShadowPath) continue;
                if (policy is not null && policy.Removes(rel)) continue;
                if (files.Any(x => x.Path == rel)) continue;
                var fi = new FileInfo(full);
                // resolv.conf is often a symlink (NetworkManager, systemd-resolved): carry the content it shows,
                // when the target is inside the root; a dangling one is skipped.
                if (!fi.Exists) continue;
                byte[] content;
                string target = full;
                if (fi.LinkTarget is { } link)
                {
                    target = link.StartsWith('/') ? Path.Combine(root, link.TrimStart('/')) : Path.Combine(Path.GetDirectoryName(full)!, link);
                    if (!File.Exists(target)) continue;
                }
                content = File.ReadAllBytes(target);
                Platform.PosixPath.TryStat(target, out var st);
                files.Add(new CarriedFile(rel, st.Mode & 0xFFF, st.Uid, st.Gid, content));
            }
        }
        var passwords = new List<PasswordEntry>();
        var shadow = Path.Combine(root, "etc/shadow");
        if (File.Exists(shadow)) passwords.AddRange(ShadowFile.ReadHashes(File.ReadAllText(shadow)));
        return new CarryRecord(files, passwords);
    }

    public byte[] ToJson() => JsonText.ToUtf8(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("formatVersion", FormatVersion);
        w.WriteStartArray("files");
        foreach (var f in Files)
        {
            w.WriteStartObject();
            w.WriteString("path", f.Path);
            w.WriteNumber("mode", f.Mode);
            w.WriteNumber("uid", f.Uid);
            w.WriteNumber("gid", f.Gid);
            w.WriteBase64String("content", f.Content);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("passwords");
        foreach (var p in Passwords)
        {
            w.WriteStartObject();
            w.WriteString("user", p.User);
            w.WriteString("hash", p.Hash);
            w.WriteString("lastChange", p.LastChange);
            if (p.Aging is not null) w.WriteString("aging", p.Aging);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });

    public static CarryRecord Parse(ReadOnlySpan<byte> json, string what)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var r = doc.RootElement;
            if (r.GetProperty("formatVersion").GetInt32() != FormatVersion) throw new InvalidDataFormatException($"{what}: unsupported formatVersion");
            var files = r.GetProperty("files").EnumerateArray().Select(f => new CarriedFile(
                f.GetProperty("path").GetString()!, f.GetProperty("mode").GetUInt32(), f.GetProperty("uid").GetUInt32(),
                f.GetProperty("gid").GetUInt32(), f.GetProperty("content").GetBytesFromBase64())).ToList();
            var pw = r.GetProperty("passwords").EnumerateArray().Select(p => new PasswordEntry(
                p.GetProperty("user").GetString()!, p.GetProperty("hash").GetString()!, p.GetProperty("lastChange").GetString()!,
                p.TryGetProperty("aging", out var a) ? a.GetString() : null)).ToList();
            return new CarryRecord(files, pw);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataFormatException($"{what}: {(e is JsonException j ? JsonErrors.Reason(j) : IoErrors.Readable(e.Message))}", e);
        }
    }
}

/// <summary>
/// carry-policy.json in a bundle: <c>{ "add": ["etc/foo.conf", "etc/x/*"], "remove": ["/etc/hosts"] }</c>. Paths are
/// relative to the root (a leading '/' is allowed) and must lie under etc/; '*' matches within one file name.
/// </summary>
public sealed record CarryPolicy(IReadOnlyList<string> Add, IReadOnlyList<string> Remove)
{
    public bool Removes(string path) => Remove.Any(r => Matches(r, path));

    private static bool Matches(string pattern, string path)
    {
        string p = "/" + pattern.TrimStart('/');
        if (!p.Contains('*')) return p == path;
        string dir = Path.GetDirectoryName(p)!, name = Path.GetFileName(p);
        if (Path.GetDirectoryName(path) != dir) return false;
        int star = name.IndexOf('*');
        string file = Path.GetFileName(path);
        return file.Length >= name.Length - 1 && file.StartsWith(name[..star], StringComparison.Ordinal) && file.EndsWith(name[(star + 1)..], StringComparison.Ordinal);
    }

    public static CarryPolicy Parse(ReadOnlySpan<byte> json, string what)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var r = doc.RootElement;
            foreach (var p in r.EnumerateObject())
                if (p.Name is not ("add" or "remove")) throw new InvalidDataFormatException($"{what}: unknown key '{p.Name}' (known: add, remove)");
            List<string> List(string key)
            {
                if (!r.TryGetProperty(key, out var a)) return [];
                var l = a.EnumerateArray().Select(e => e.GetString()!.TrimStart('/')).ToList();
                foreach (var x in l)
                {
                    if (!x.StartsWith("etc/", StringComparison.Ordinal) || x.Split('/').Any(c => c is "" or "." or ".."))
                        throw new InvalidDataFormatException($"{what}: {key}: '{x}' is not a path under /etc");
                    if (key == "add" && "/" + x == CarryRecord.ShadowPath)
                        throw new InvalidDataFormatException($"{what}: add: '{x}': /etc/shadow is carried as password hashes only (merged into the new system's file)");
                }
                return l;
            }
            return new CarryPolicy(List("add"), List("remove"));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataFormatException($"{what}: {e.Message}", e);
        }
    }
}

/// <summary>/etc/shadow (shadow(5)): "user:hash:lastchg:min:max:warn:inactive:expire:reserved".</summary>
public static class ShadowFile
{
    /// <summary>The users that have a password (field 2 not empty, '*', '!' or '!!'; a locked hash "!$6$..." is kept
    /// as it is).</summary>
    public static IEnumerable<PasswordEntry> ReadHashes(string shadow)
    {
        foreach (var raw in shadow.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var f = line.Split(':');
            if (f.Length < 2 || f[0].Length == 0) continue;
            if (f[1] is "" or "*" or "!" or "!!" or "x" || f[1].StartsWith("!*", StringComparison.Ordinal)) continue;
            yield return new PasswordEntry(f[0], f[1], f.Length > 2 ? f[2] : "",
                string.Join(':', Enumerable.Range(3, 5).Select(i => i < f.Length ? f[i] : "")));
        }
    }

    /// <summary>
    /// Merges carried password hashes into the NEW system's /etc/shadow text: for every user present in both, field 2
    /// (the hash) and fields 3 to 8 (the last change and the aging it counts against) take the old values, so the
    /// password expires, or not, as it did on the old system; every other line, field and user of the new file stays
    /// as it is (system accounts of the new release, the reserved field 9, line order, a missing final newline). A
    /// record without the aging (written before it was carried) sets field 3 only. Users that the new shadow does not have are not added (they have no passwd entry there); they are
    /// returned in <c>Skipped</c>.
    /// </summary>
    public static (string Shadow, IReadOnlyList<string> Merged, IReadOnlyList<string> Skipped) Merge(string newShadow, IEnumerable<PasswordEntry> old)
    {
        var byUser = new Dictionary<string, PasswordEntry>(StringComparer.Ordinal);
        foreach (var p in old) byUser[p.User] = p;
        var merged = new List<string>();
        var lines = newShadow.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            bool cr = line.EndsWith('\r');
            var body = cr ? line[..^1] : line;
            if (body.Length == 0 || body.StartsWith('#')) continue;
            var f = body.Split(':');
            if (f.Length < 2 || !byUser.TryGetValue(f[0], out var p)) continue;
            if (p.Aging?.Split(':') is { Length: 5 } aging)
            {
                if (f.Length < 9) f = [.. f, .. Enumerable.Repeat("", 9 - f.Length)];
                f[2] = p.LastChange;
                aging.CopyTo(f, 3);
            }
            else if (f.Length > 2 && p.LastChange.Length > 0) f[2] = p.LastChange;
            f[1] = p.Hash;
            lines[i] = string.Join(':', f) + (cr ? "\r" : "");
            merged.Add(f[0]);
        }
        var skipped = byUser.Keys.Where(u => !merged.Contains(u)).Order(StringComparer.Ordinal).ToList();
        return (string.Join('\n', lines), merged, skipped);
    }
}
