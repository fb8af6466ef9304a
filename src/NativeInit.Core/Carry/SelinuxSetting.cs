using System.Text;
using System.Text.Json;

namespace NativeInit.Core.Carry;

/// <summary>
/// The bundle's selinux-policy part: <c>{ "mode": "disabled" | "permissive" | "enforcing", "autorelabel": false }</c>.
/// disabled/permissive: the target's /etc/selinux/config says so. enforcing: the labels are the archive's
/// (security.selinux xattrs extracted with the files; carried files keep the label of the file they replace), and
/// /.autorelabel is made only when the part asks for it.
/// </summary>
public sealed record SelinuxSetting(string Mode, bool Autorelabel)
{
    public static SelinuxSetting Parse(ReadOnlySpan<byte> json, string what)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var r = doc.RootElement;
            foreach (var p in r.EnumerateObject())
                if (p.Name is not ("mode" or "autorelabel")) throw new RefusedException($"{what}: unknown key '{p.Name}' (known: mode, autorelabel)");
            string mode = r.TryGetProperty("mode", out var m) ? m.GetString() ?? "" : throw new RefusedException($"{what}: \"mode\" is missing");
            if (mode is not ("disabled" or "permissive" or "enforcing"))
                throw new RefusedException($"{what}: mode '{mode}' is not disabled, permissive or enforcing");
            bool relabel = r.TryGetProperty("autorelabel", out var a) && a.GetBoolean();
            return new SelinuxSetting(mode, relabel);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new RefusedException($"{what}: not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Applies the setting to the new root; returns what was done.</summary>
    public string Apply(string root)
    {
        string config = Path.Combine(root, "etc/selinux/config");
        string text = File.Exists(config) ? File.ReadAllText(config) : "SELINUXTYPE=targeted\n";
        var lines = text.Split('\n').ToList();
        int at = lines.FindIndex(l => l.TrimStart().StartsWith("SELINUX=", StringComparison.Ordinal));
        if (at >= 0) lines[at] = "SELINUX=" + Mode;
        else lines.Insert(0, "SELINUX=" + Mode);
        var bytes = Encoding.UTF8.GetBytes(string.Join('\n', lines));
        // Replaced whole: the new text is the old one with SELINUX= changed, and a rewrite in place cut short by a power
        // cut would leave the resumed step an empty file to start from (the config's other settings lost).
        if (File.Exists(config) && new FileInfo(config).LinkTarget is null) AtomicFile.ReplaceKeepingAttributes(config, bytes);
        else
        {
            Directory.CreateDirectory(Path.GetDirectoryName(config)!);
            File.WriteAllBytes(config, bytes);
        }
        string relabel = Path.Combine(root, ".autorelabel");
        if (Autorelabel && Mode != "disabled") File.WriteAllBytes(relabel, []);
        else if (File.Exists(relabel)) File.Delete(relabel);
        return $"SELINUX={Mode} in /etc/selinux/config" + (Autorelabel && Mode != "disabled" ? ", /.autorelabel made" : "") +
            (Mode == "enforcing" ? "; labels are the archive's, carried files keep the label of the file they replace" : "");
    }
}
