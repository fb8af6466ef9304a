using NativeInit.Core.Disk;
using System.Text.Json;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Layout;

/// <summary>One logical volume of the layout.</summary>
public sealed record LayoutVolume(string Name, long? SizeBytes, string? Filesystem, string? MountPoint, string? Label, IReadOnlyList<string> MkfsOptions)
{
    public bool IsRest => SizeBytes is null;

    /// <summary>The A/B slot this LV is ("A" or "B", optional key "slot"), or null: an ordinary volume.</summary>
    public string? Slot { get; init; }
}

/// <summary>A GPT partition that carries a file system (e.g. /boot): made by `convert`, mounted by fstab.</summary>
public sealed record LayoutPartition(int Number, string Filesystem, string? MountPoint, string? Label);

/// <summary>
/// The declarative layout file shipped in the bundle (JSON):
/// <code>
/// { "partitionTable": "target.gpt",                   // sgdisk --backup file, relative to the layout file
///   "volumeGroup": {
///     "name": "VA", "partition": 3,                     // 1-based GPT entry that becomes the PV
///     "extentSize": "4MiB",                             // optional, default 4MiB
///     "metadataSize": "1MiB",                           // optional: room for LVM metadata (pe_start = next MiB)
///     "grow": "root",                                   // optional: the LV that takes the rest of the disk later
///     "logicalVolumes": [
///       { "name": "root", "size": "7.8GiB" | "rest", "filesystem": "xfs", "mountPoint": "/",
///         "label": "root", "mkfsOptions": ["-m", "reflink=0"],
///         "slot": "A" } ] },                          // optional: an A/B root slot (see below)
///   "partitions": [ { "number": 2, "filesystem": "xfs", "mountPoint": "/boot", "label": "boot" } ] }   // optional
/// </code>
/// Unknown keys are refused (a typo must not silently drop a setting); every error names the key.
/// <para>A/B layouts: two LVs carry <c>"slot": "A"</c> and <c>"slot": "B"</c> (both or neither). Slot A is the root the
/// conversion writes (mountPoint "/"); slot B has no mount point (it is not mounted by A's system; `update` writes it).
/// Both need a file system xfs or ext2/3/4, a fixed size (not "rest") and may not be the grow LV, so the two slots
/// stay the same size. Layouts without "slot" are read exactly as before.</para>
/// </summary>
public sealed class LayoutFile
{
    public const long DefaultExtentSize = 4L << 20;
    public static readonly string[] Filesystems = ["xfs", "ext4", "ext3", "ext2", "swap"];

    public required string Path { get; init; }
    public required string PartitionTablePath { get; init; }
    public required string VolumeGroupName { get; init; }
    public required int Partition { get; init; }
    public long ExtentSize { get; init; } = DefaultExtentSize;
    public long? MetadataSize { get; init; }
    public string? Grow { get; init; }
    public required IReadOnlyList<LayoutVolume> LogicalVolumes { get; init; }
    /// <summary>GPT partitions that carry a file system (optional key "partitions").</summary>
    public IReadOnlyList<LayoutPartition> Partitions { get; init; } = [];

    /// <summary>The partition mounted at /boot, or null.</summary>
    public LayoutPartition? BootPartition => Partitions.FirstOrDefault(p => p.MountPoint == "/boot");

    /// <summary>The slot names the layout knows.</summary>
    public static readonly string[] SlotNames = ["A", "B"];

    /// <summary>True when the layout has A/B root slots.</summary>
    public bool HasSlots => LogicalVolumes.Any(v => v.Slot is not null);

    /// <summary>The LV of slot <paramref name="slot"/>, or null (no slots, or no such slot).</summary>
    public LayoutVolume? SlotVolume(string slot) => LogicalVolumes.FirstOrDefault(v => v.Slot == slot);

    public static LayoutFile Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (IoErrors.IsFileError(e)) { throw IoErrors.Refuse("layout", path, e); }
        return Parse(text, path);
    }

    public static LayoutFile Parse(string json, string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new RefusedException($"layout {path}: {JsonErrors.Reason(e)}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            Object(root, "(top level)", path);
            Keys(root, "", path, "partitionTable", "volumeGroup", "partitions");
            string table = String(root, "partitionTable", "", path, required: true)!;
            var vgEl = Required(root, "volumeGroup", "", path);
            Object(vgEl, "volumeGroup", path);
            Keys(vgEl, "volumeGroup.", path, "name", "partition", "extentSize", "metadataSize", "grow", "logicalVolumes");
            string name = String(vgEl, "name", "volumeGroup.", path, required: true)!;
            Check(() => Lvm.LvmBuilder.ValidateName(name, "volume group"), "volumeGroup.name", path);
            var partEl = Required(vgEl, "partition", "volumeGroup.", path);
            if (partEl.ValueKind != JsonValueKind.Number || !partEl.TryGetInt32(out int partition) || partition < 1 || partition > 128)
                throw Bad(path, "volumeGroup.partition", "must be a GPT entry number from 1 to 128");
            long extent = Size(vgEl, "extentSize", "volumeGroup.", path) ?? DefaultExtentSize;
            if (extent < 8192 || extent % 512 != 0 || ((extent & (extent - 1)) != 0 && extent % (128 * 1024) != 0))
                throw Bad(path, "volumeGroup.extentSize", $"{extent} bytes is not a valid LVM extent size (a power of two of at least 8 KiB or a multiple of 128 KiB, e.g. 4MiB)");
            long? mda = Size(vgEl, "metadataSize", "volumeGroup.", path);
            if (mda is < 8192) throw Bad(path, "volumeGroup.metadataSize", "must be at least 8KiB");
            string? grow = String(vgEl, "grow", "volumeGroup.", path, required: false);

            var lvsEl = Required(vgEl, "logicalVolumes", "volumeGroup.", path);
            if (lvsEl.ValueKind != JsonValueKind.Array || lvsEl.GetArrayLength() == 0)
                throw Bad(path, "volumeGroup.logicalVolumes", "must be a non-empty array");
            var lvs = new List<LayoutVolume>();
            int i = 0;
            foreach (var lv in lvsEl.EnumerateArray())
            {
                string at = $"volumeGroup.logicalVolumes[{i}]";
                Object(lv, at, path);
                Keys(lv, at + ".", path, "name", "size", "filesystem", "mountPoint", "label", "mkfsOptions", "slot");
                string lvName = String(lv, "name", at + ".", path, required: true)!;
                Check(() => Lvm.LvmBuilder.ValidateName(lvName, "logical volume"), at + ".name", path);
                if (lvs.Any(l => l.Name == lvName)) throw Bad(path, at + ".name", $"'{lvName}' is used twice");
                var sizeEl = Required(lv, "size", at + ".", path);
                long? size = sizeEl.ValueKind == JsonValueKind.String && sizeEl.GetString() == "rest" ? null : Size(lv, "size", at + ".", path);
                if (size is <= 0) throw Bad(path, at + ".size", "must be positive");
                string? fs = String(lv, "filesystem", at + ".", path, required: false);
                if (fs is not null && fs != "none" && !Filesystems.Contains(fs))
                    throw Bad(path, at + ".filesystem", $"'{fs}' is not one of {string.Join(", ", Filesystems)}, none");
                if (fs == "none") fs = null;
                string? mount = String(lv, "mountPoint", at + ".", path, required: false);
                if (mount is not null && !mount.StartsWith('/') && mount != "swap") throw Bad(path, at + ".mountPoint", $"'{mount}' is not an absolute path");
                if (mount is not null && fs is null) throw Bad(path, at + ".mountPoint", "needs a filesystem");
                string? label = String(lv, "label", at + ".", path, required: false);
                if (label is not null && (label.Length == 0 || label.Length > (fs == "xfs" ? 12 : 16)))
                    throw Bad(path, at + ".label", $"'{label}' is too long for {fs ?? "a filesystem"} (xfs: 12, ext4: 16 characters)");
                var opts = new List<string>();
                if (lv.TryGetProperty("mkfsOptions", out var o))
                {
                    if (o.ValueKind != JsonValueKind.Array || o.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
                        throw Bad(path, at + ".mkfsOptions", "must be an array of strings, e.g. [\"-m\", \"reflink=0\"]");
                    if (fs is null) throw Bad(path, at + ".mkfsOptions", "needs a filesystem");
                    opts.AddRange(o.EnumerateArray().Select(e => e.GetString()!));
                }
                string? slot = String(lv, "slot", at + ".", path, required: false);
                if (slot is not null)
                {
                    if (!SlotNames.Contains(slot)) throw Bad(path, at + ".slot", $"'{slot}' is not one of {string.Join(", ", SlotNames)}");
                    if (lvs.FirstOrDefault(l => l.Slot == slot) is { } other) throw Bad(path, at + ".slot", $"slot {slot} is already LV {other.Name}");
                    if (fs is not ("xfs" or "ext4" or "ext3" or "ext2")) throw Bad(path, at + ".slot", $"a root slot needs filesystem xfs, ext4, ext3 or ext2, not {fs ?? "none"}");
                    if (size is null) throw Bad(path, at + ".slot", "a root slot needs a fixed size, not \"rest\" (both slots hold the same system)");
                    if (slot == "A" && mount != "/") throw Bad(path, at + ".slot", "slot A is the root the conversion writes: its mountPoint must be \"/\"");
                    if (slot != "A" && mount is not null) throw Bad(path, at + ".mountPoint", $"slot {slot} is not mounted by slot A's system: leave out mountPoint");
                }
                lvs.Add(new LayoutVolume(lvName, size, fs, mount, label, opts) { Slot = slot });
                i++;
            }
            if (lvs.Any(l => l.Slot is not null) && SlotNames.FirstOrDefault(n => lvs.All(l => l.Slot != n)) is { } missing)
                throw Bad(path, "volumeGroup.logicalVolumes", $"an A/B layout needs both slots; no LV has \"slot\": \"{missing}\"");
            if (lvs.Count(l => l.IsRest) > 1) throw Bad(path, "volumeGroup.logicalVolumes", "only one logical volume may have size \"rest\"");
            var dupMount = lvs.Where(l => l.MountPoint is not null && l.MountPoint != "swap").GroupBy(l => l.MountPoint).FirstOrDefault(g => g.Count() > 1);
            if (dupMount is not null) throw Bad(path, "volumeGroup.logicalVolumes", $"mount point {dupMount.Key} is used twice");
            if (grow is not null && lvs.All(l => l.Name != grow)) throw Bad(path, "volumeGroup.grow", $"'{grow}' is not one of the logical volumes");
            if (grow is not null && lvs.First(l => l.Name == grow).Slot is { } gs)
                throw Bad(path, "volumeGroup.grow", $"'{grow}' is root slot {gs}: growing one slot would leave the other too small for the same system");

            var parts = new List<LayoutPartition>();
            if (root.TryGetProperty("partitions", out var partsEl) && partsEl.ValueKind != JsonValueKind.Null)
            {
                if (partsEl.ValueKind != JsonValueKind.Array) throw Bad(path, "partitions", "must be an array");
                int k = 0;
                foreach (var pe in partsEl.EnumerateArray())
                {
                    string at = $"partitions[{k}]";
                    Object(pe, at, path);
                    Keys(pe, at + ".", path, "number", "filesystem", "mountPoint", "label");
                    var numEl = Required(pe, "number", at + ".", path);
                    if (numEl.ValueKind != JsonValueKind.Number || !numEl.TryGetInt32(out int number) || number < 1 || number > 128)
                        throw Bad(path, at + ".number", "must be a GPT entry number from 1 to 128");
                    if (number == partition) throw Bad(path, at + ".number", $"partition {number} is the LVM PV (volumeGroup.partition)");
                    if (parts.Any(x => x.Number == number)) throw Bad(path, at + ".number", $"partition {number} is listed twice");
                    string pfs = String(pe, "filesystem", at + ".", path, required: true)!;
                    if (pfs is not ("xfs" or "ext4" or "ext3" or "ext2"))
                        throw Bad(path, at + ".filesystem", $"'{pfs}' is not one of xfs, ext4, ext3, ext2");
                    string? pmount = String(pe, "mountPoint", at + ".", path, required: false);
                    if (pmount is not null && !pmount.StartsWith('/')) throw Bad(path, at + ".mountPoint", $"'{pmount}' is not an absolute path");
                    if (pmount is not null && (lvs.Any(l => l.MountPoint == pmount) || parts.Any(x => x.MountPoint == pmount)))
                        throw Bad(path, at + ".mountPoint", $"mount point {pmount} is used twice");
                    string? plabel = String(pe, "label", at + ".", path, required: false);
                    if (plabel is not null && plabel.Length > (pfs == "xfs" ? 12 : 16))
                        throw Bad(path, at + ".label", $"'{plabel}' is too long for {pfs} (xfs: 12, ext4: 16 characters)");
                    parts.Add(new LayoutPartition(number, pfs, pmount, plabel));
                    k++;
                }
            }

            string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
            return new LayoutFile
            {
                Path = path,
                PartitionTablePath = System.IO.Path.IsPathRooted(table) ? table : System.IO.Path.Combine(dir, table),
                VolumeGroupName = name,
                Partition = partition,
                ExtentSize = extent,
                MetadataSize = mda,
                Grow = grow,
                LogicalVolumes = lvs,
                Partitions = parts,
            };
        }
    }

    private static void Check(Action a, string key, string path)
    {
        try { a(); }
        catch (RefusedException e) { throw Bad(path, key, e.Message); }
    }

    private static RefusedException Bad(string path, string key, string why) => new($"layout {path}: {key}: {why}");

    private static void Object(JsonElement e, string key, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Bad(path, key, "must be an object");
    }

    private static void Keys(JsonElement e, string prefix, string path, params string[] known)
    {
        foreach (var p in e.EnumerateObject())
            if (!known.Contains(p.Name)) throw Bad(path, prefix + p.Name, $"unknown key (known: {string.Join(", ", known)})");
    }

    private static JsonElement Required(JsonElement e, string key, string prefix, string path) =>
        e.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : throw Bad(path, prefix + key, "is missing");

    private static string? String(JsonElement e, string key, string prefix, string path, bool required)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw Bad(path, prefix + key, "is missing") : null;
        if (v.ValueKind != JsonValueKind.String || v.GetString()!.Length == 0) throw Bad(path, prefix + key, "must be a non-empty string");
        return v.GetString();
    }

    private static long? Size(JsonElement e, string key, string prefix, string path)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n)) return n;
        if (v.ValueKind == JsonValueKind.String && ByteSize.TryParse(v.GetString()!, out long b)) return b;
        throw Bad(path, prefix + key, $"{v.GetRawText()} is not a size (examples: 4MiB, 7.8GiB, 536870912{(key == "size" ? ", \"rest\"" : "")})");
    }
}
