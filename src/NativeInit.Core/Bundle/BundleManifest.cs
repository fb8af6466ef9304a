using System.Text;
using System.Text.Json;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Bundle;

/// <summary>What a part is for. The string form is what manifest.json holds.</summary>
public static class PartRoles
{
    public const string Layout = "layout", PartitionTable = "partition-table", Rootfs = "rootfs", Kernel = "kernel",
        Initramfs = "initramfs", CarryPolicy = "carry-policy", SelinuxPolicy = "selinux-policy",
        // The conversion's own GRUB (Boot/ConversionGrub): core.img as grub-mkimage made it, and boot.img of that GRUB.
        GrubCore = "grub-core", GrubBoot = "grub-boot";

    public static readonly string[] All = [Layout, PartitionTable, Rootfs, Kernel, Initramfs, CarryPolicy, SelinuxPolicy, GrubCore, GrubBoot];
    /// <summary>Roles every bundle has exactly once.</summary>
    public static readonly string[] Required = [Layout, PartitionTable, Rootfs, Kernel, Initramfs];
}

public sealed record BundlePart(string Name, string Role, long Size, string Hash);

public sealed record RootfsInfo(string Compression, long UncompressedSize, long Entries)
{
    /// <summary>The rootfs's grub-mkimage (e.g. "usr/bin/grub2-mkimage") when it also has GRUB's i386-pc images; ""
    /// when bundle create found none; null when the manifest does not say (made before this field).</summary>
    public string? GrubMkimage { get; init; }
}

/// <summary>
/// manifest.json, format version 1. The signature covers its exact bytes, so it is written once (indented, fields in
/// a fixed order, no time stamps: the same inputs give the same bytes) and never re-serialized by a reader.
/// <code>
/// {
///   "formatVersion": 1,
///   "product": { "name": "gateway", "version": "2.0" },
///   "hashAlgorithm": "blake3",
///   "parts": [ { "name": "layout.json", "role": "layout", "size": 312, "hash": "…64 hex…" }, … ],
///   "rootfs": { "compression": "zstd", "uncompressedSize": 1450000000, "entries": 12642, "grubMkimage": "usr/bin/grub2-mkimage" },
///   "requirements": { "minimumRamBytes": 0, "minimumDiskBytes": 10737418240, "stageTwoMemoryBytes": 805306368 },
///   "conversion": { "kernelCommandLine": "console=ttyS0,115200n8" }
/// }
/// </code>
/// </summary>
public sealed record BundleManifest
{
    public const int CurrentFormatVersion = 1;
    public const string FileName = "manifest.json";
    public const string SignatureFileName = "manifest.sig";
    /// <summary>What stage two needs when nothing else is said, beside the conversion kernel and initramfs that stage
    /// one counts too (the bundle stays on the disk): the unpacked initramfs, decoder buffers (xz block buffers for two
    /// threads), tar and filesystem work, the page cache of the writes.</summary>
    public const long DefaultStageTwoMemoryBytes = 768L << 20;

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public required string ProductName { get; init; }
    public required string ProductVersion { get; init; }
    public string HashAlgorithm { get; init; } = ContentHash.Algorithm;
    public required IReadOnlyList<BundlePart> Parts { get; init; }
    public required RootfsInfo Rootfs { get; init; }
    public long MinimumRamBytes { get; init; }
    public long MinimumDiskBytes { get; init; }
    public long StageTwoMemoryBytes { get; init; } = DefaultStageTwoMemoryBytes;
    public string KernelCommandLine { get; init; } = "";

    public long TotalPartBytes => Parts.Sum(p => p.Size);

    public BundlePart Part(string role) => Parts.FirstOrDefault(p => p.Role == role)
        ?? throw new InvalidDataFormatException($"{FileName}: no part with role '{role}'");

    public BundlePart? FindPart(string role) => Parts.FirstOrDefault(p => p.Role == role);

    public byte[] ToJson() => JsonText.ToUtf8(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("formatVersion", FormatVersion);
        w.WriteStartObject("product");
        w.WriteString("name", ProductName);
        w.WriteString("version", ProductVersion);
        w.WriteEndObject();
        w.WriteString("hashAlgorithm", HashAlgorithm);
        w.WriteStartArray("parts");
        foreach (var p in Parts)
        {
            w.WriteStartObject();
            w.WriteString("name", p.Name);
            w.WriteString("role", p.Role);
            w.WriteNumber("size", p.Size);
            w.WriteString("hash", p.Hash);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("rootfs");
        w.WriteString("compression", Rootfs.Compression);
        w.WriteNumber("uncompressedSize", Rootfs.UncompressedSize);
        w.WriteNumber("entries", Rootfs.Entries);
        if (Rootfs.GrubMkimage is not null) w.WriteString("grubMkimage", Rootfs.GrubMkimage);
        w.WriteEndObject();
        w.WriteStartObject("requirements");
        w.WriteNumber("minimumRamBytes", MinimumRamBytes);
        w.WriteNumber("minimumDiskBytes", MinimumDiskBytes);
        w.WriteNumber("stageTwoMemoryBytes", StageTwoMemoryBytes);
        w.WriteEndObject();
        w.WriteStartObject("conversion");
        w.WriteString("kernelCommandLine", KernelCommandLine);
        w.WriteEndObject();
        w.WriteEndObject();
    });

    /// <summary>Parses and checks manifest.json (call only after its signature verified).</summary>
    public static BundleManifest Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var root = doc.RootElement;
            int version = Req(root, "formatVersion").GetInt32();
            if (version != CurrentFormatVersion)
                throw Bad($"formatVersion {version} is not supported (this nativeinit reads {CurrentFormatVersion})");
            var product = Req(root, "product");
            string algorithm = Req(root, "hashAlgorithm").GetString() ?? "";
            if (algorithm != ContentHash.Algorithm) throw Bad($"hashAlgorithm '{algorithm}' is not supported");
            var parts = new List<BundlePart>();
            foreach (var p in Req(root, "parts").EnumerateArray())
            {
                var part = new BundlePart(Str(p, "name"), Str(p, "role"), Req(p, "size").GetInt64(), Str(p, "hash"));
                CheckPartName(part.Name);
                if (!PartRoles.All.Contains(part.Role)) throw Bad($"part {part.Name}: unknown role '{part.Role}'");
                if (part.Size < 0) throw Bad($"part {part.Name}: negative size");
                if (part.Hash.Length != ContentHash.HexLength || !part.Hash.All(char.IsAsciiHexDigitLower))
                    throw Bad($"part {part.Name}: hash is not {ContentHash.HexLength} lower-case hex digits");
                if (parts.Any(q => q.Name == part.Name)) throw Bad($"part {part.Name} is listed twice");
                parts.Add(part);
            }
            foreach (var role in PartRoles.Required)
                if (parts.Count(p => p.Role == role) != 1) throw Bad($"needs exactly one part with role '{role}'");
            var rootfs = Req(root, "rootfs");
            var req = Req(root, "requirements");
            var conv = Req(root, "conversion");
            return new BundleManifest
            {
                FormatVersion = version,
                ProductName = Str(product, "name"),
                ProductVersion = Str(product, "version"),
                HashAlgorithm = algorithm,
                Parts = parts,
                Rootfs = new RootfsInfo(Str(rootfs, "compression"), Req(rootfs, "uncompressedSize").GetInt64(), Req(rootfs, "entries").GetInt64())
                {
                    GrubMkimage = rootfs.TryGetProperty("grubMkimage", out var g) ? g.GetString() : null,
                },
                MinimumRamBytes = Req(req, "minimumRamBytes").GetInt64(),
                MinimumDiskBytes = Req(req, "minimumDiskBytes").GetInt64(),
                StageTwoMemoryBytes = Req(req, "stageTwoMemoryBytes").GetInt64(),
                KernelCommandLine = Str(conv, "kernelCommandLine"),
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw Bad(e is JsonException j ? JsonErrors.Reason(j) : IoErrors.Readable(e.Message));
        }
    }

    /// <summary>A part name is a relative path of plain components (no "..", ".", empty or absolute parts), and is
    /// neither manifest file.</summary>
    public static void CheckPartName(string name)
    {
        if (name.Length == 0 || name.StartsWith('/') || name.Split('/').Any(c => c is "" or "." or ".." ) || name.Contains('\0') || name.Contains('\\'))
            throw Bad($"part name '{name}' is not a plain relative path");
        if (name is FileName or SignatureFileName) throw Bad($"part name '{name}' is reserved");
        if (Encoding.UTF8.GetByteCount(name) > 100) throw Bad($"part name '{name}' is longer than 100 bytes");
    }

    private static JsonElement Req(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? v : throw Bad($"missing field '{name}'");

    private static string Str(JsonElement e, string name) => Req(e, name).GetString() ?? throw Bad($"field '{name}' is null");

    private static InvalidDataFormatException Bad(string why) => new($"{FileName}: {why}");
}
