using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Archive;
using NativeInit.Core.Bundle;

namespace NativeInit;

/// <summary>`nativeinit bundle keygen|create|verify|show`.</summary>
internal static class BundleCommands
{
    public static readonly CommandSpec Keygen = new()
    {
        Name = "bundle keygen",
        Summary = "make an Ed25519 key pair for signing bundles",
        Usage = "bundle keygen --private FILE --public FILE",
        Options =
        [
            new("private", null, "FILE", "where to write the private key (mode 0600; never overwritten)"),
            new("public", null, "FILE", "where to write the public key (shipped to gateways)"),
        ],
        Description = "Key files are text: '-----BEGIN NATIVEINIT ED25519 PUBLIC KEY-----', the base64 of the 32-byte key, an END line.",
        Run = (a, ctx) =>
        {
            var (seed, pub) = BundleKeys.Generate();
            BundleKeys.WriteFiles(a.Require("private"), a.Require("public"), seed, pub);
            ctx.Out.WriteLine($"key id {BundleKeys.KeyId(pub)}: private key {a.Require("private")}, public key {a.Require("public")}");
            return ExitCodes.Success;
        },
    };

    public static readonly CommandSpec Create = new()
    {
        Name = "bundle create",
        Summary = "write a signed bundle (manifest, partition table, layout, rootfs archive, conversion kernel and initramfs)",
        Usage = "bundle create --rootfs DIR|ARCHIVE --layout FILE --kernel FILE --initramfs FILE --key PRIVATE --out DIR [--compress xz|zstd] [--single-file]",
        Options =
        [
            new("rootfs", null, "DIR|ARCHIVE", "the target root filesystem: a directory (archived here) or a .tar.xz/.tar.zst"),
            new("layout", null, "FILE", "the layout JSON; its partitionTable (sgdisk --backup file) is taken along"),
            new("kernel", null, "FILE", "the conversion kernel"),
            new("initramfs", null, "FILE", "the conversion initramfs"),
            new("key", null, "PRIVATE", "the private key file (bundle keygen)"),
            new("out", "o", "DIR", "the bundle directory to create (with --single-file: the file)"),
            new("compress", null, "xz|zstd", "compression of an archive written from a directory (default zstd)"),
            new("level", null, "N", "compression level (zstd 1-22, default 12; xz 0-9, default 6)"),
            new("single-file", null, null, "write one uncompressed tar of the bundle (manifest first)"),
            new("product", null, "NAME", "product name (default gateway)"),
            new("product-version", null, "VERSION", "product version (default 0)"),
            new("cmdline", null, "ARGS", "kernel command line of the conversion boot (added after rd.nativeinit=...)"),
            new("min-ram", null, "SIZE", "minimum RAM of a gateway (default 0: the conversion kernel + initramfs + the stage-two budget decide)"),
            new("min-disk", null, "SIZE", "minimum disk size (default: from the partition table)"),
            new("stage-two-memory", null, "SIZE", "memory stage two needs beside its kernel and initramfs; the bundle stays on the disk (default 768MiB)"),
            new("carry-policy", null, "FILE", "optional: which configuration to carry"),
            new("selinux-policy", null, "FILE", "optional: the SELinux state of the target"),
        ],
        Description = "When the layout has a /boot partition and a BIOS boot (EF02) partition, the bundle also carries the conversion's " +
            "own GRUB (parts grub-core, grub-boot): a core.img for (,gptN)/nativeinit/grub built with the rootfs directory's grub-mkimage " +
            "and modules, else the host's (Debian: grub-pc-bin). Stage two installs it early so that a power cut boots into the resume.",
        Run = RunCreate,
    };

    public static readonly CommandSpec Verify = new()
    {
        Name = "bundle verify",
        JsonSchema = "bundle-show",
        Summary = "check a bundle's signature, every part's size and hash, and that nothing else is there",
        Usage = "bundle verify BUNDLE --key PUBLIC [--json]",
        MinArguments = 1,
        MaxArguments = 1,
        Options =
        [
            new("key", null, "PUBLIC", "the vendor's public key file"),
            new("json", null, null, "print one JSON object"),
        ],
        Description = "BUNDLE is a bundle directory or a single-file bundle. Exit 0 only if everything checks; otherwise exit 3 and a message naming the first problem.",
        Run = (a, ctx) =>
        {
            var key = BundleKeys.ReadPublic(a.Require("key"));
            bool json = a.Has("json");
            var b = BundleVerifier.Verify(a.Arguments[0], key, json ? null : ctx.Out.WriteLine);
            if (json) WriteJson(ctx, b.Manifest, b.Path, b.KeyId, verified: true);
            else ctx.Out.WriteLine($"bundle {b.Path}: good ({DisplayText.Of(b.Manifest.ProductName)} {DisplayText.Of(b.Manifest.ProductVersion)}, {b.Manifest.Parts.Count} parts, signed by key {DisplayText.Of(b.KeyId)})");
            return ExitCodes.Success;
        },
    };

    public static readonly CommandSpec Show = new()
    {
        Name = "bundle show",
        JsonSchema = "bundle-show",
        Summary = "print a bundle's manifest (verified when --key is given)",
        Usage = "bundle show BUNDLE [--key PUBLIC] [--json]",
        MinArguments = 1,
        MaxArguments = 1,
        Options =
        [
            new("key", null, "PUBLIC", "verify with this public key first"),
            new("json", null, null, "print one JSON object"),
        ],
        Run = (a, ctx) =>
        {
            BundleManifest m;
            string? keyId;
            bool verified = a.Has("key");
            if (verified)
            {
                var b = BundleVerifier.Verify(a.Arguments[0], BundleKeys.ReadPublic(a.Require("key")));
                (m, keyId) = (b.Manifest, b.KeyId);
            }
            else
            {
                var (manifest, _, sig) = BundleVerifier.ReadUnverified(a.Arguments[0]);
                (m, keyId) = (manifest, sig?.KeyId);
            }
            if (a.Has("json")) { WriteJson(ctx, m, a.Arguments[0], keyId, verified); return ExitCodes.Success; }
            var w = ctx.Out;
            w.WriteLine($"bundle     {a.Arguments[0]} ({(verified ? "verified" : "NOT verified: give --key to verify")})");
            w.WriteLine($"product    {DisplayText.Of(m.ProductName)} {DisplayText.Of(m.ProductVersion)}");
            w.WriteLine($"signed by  key {DisplayText.Of(keyId ?? "?")}");
            w.WriteLine($"rootfs     {DisplayText.Of(m.Rootfs.Compression)}, {m.Rootfs.Entries} entries, {ByteSize.Format(m.Rootfs.UncompressedSize)} uncompressed" +
                m.Rootfs.GrubMkimage switch { null => "", "" => "; no GRUB BIOS tools", var g => $"; GRUB: /{DisplayText.Of(g)}" });
            w.WriteLine($"needs      RAM >= {ByteSize.Format(m.MinimumRamBytes)}, disk >= {ByteSize.Format(m.MinimumDiskBytes)}, stage two {ByteSize.Format(m.StageTwoMemoryBytes)} beside its kernel and initramfs");
            w.WriteLine($"cmdline    {DisplayText.Of(m.KernelCommandLine)}");
            w.WriteLine("parts:");
            foreach (var p in m.Parts) w.WriteLine($"  {DisplayText.Of(p.Role),-16} {DisplayText.Of(p.Name),-28} {p.Size,14} {DisplayText.Of(m.HashAlgorithm)}:{DisplayText.Of(p.Hash)}");
            return ExitCodes.Success;
        },
    };

    private static int RunCreate(ParsedArgs a, CommandContext ctx)
    {
        var compress = a.Get("compress") switch
        {
            null or "zstd" or "zst" => CompressionFormat.Zstd,
            "xz" => CompressionFormat.Xz,
            var other => throw new UsageException($"--compress: '{other}' is not xz or zstd"),
        };
        var r = NativeInit.Core.Conversion.ConversionBundle.Create(new BundleCreateOptions
        {
            Rootfs = a.Require("rootfs"), Layout = a.Require("layout"), Kernel = a.Require("kernel"), Initramfs = a.Require("initramfs"),
            PrivateKey = BundleKeys.ReadPrivate(a.Require("key")), Out = a.Require("out"), Compression = compress,
            Level = a.Has("level") ? a.GetInt("level", 0, 0, 22) : null, SingleFile = a.Has("single-file"),
            ProductName = a.Get("product") ?? "gateway", ProductVersion = a.Get("product-version") ?? "0",
            KernelCommandLine = a.Get("cmdline") ?? "", MinimumRamBytes = a.GetSize("min-ram", 0),
            MinimumDiskBytes = a.Has("min-disk") ? a.GetSize("min-disk", 0) : null,
            StageTwoMemoryBytes = a.GetSize("stage-two-memory", BundleManifest.DefaultStageTwoMemoryBytes),
            CarryPolicy = a.Get("carry-policy"), SelinuxPolicy = a.Get("selinux-policy"),
        }, ctx.Error.WriteLine);
        ctx.Out.WriteLine($"bundle {r.Path}: {r.Manifest.Parts.Count} parts, {ByteSize.Format(r.Manifest.TotalPartBytes)}; rootfs {r.Manifest.Rootfs.Entries} entries, {ByteSize.Format(r.Manifest.Rootfs.UncompressedSize)} uncompressed");
        return ExitCodes.Success;
    }

    private static void WriteJson(CommandContext ctx, BundleManifest m, string path, string? keyId, bool verified)
    {
        ctx.Out.WriteJson(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 1);
            w.WriteString("bundle", path);
            w.WriteBoolean("verified", verified);
            if (keyId is null) w.WriteNull("keyId"); else w.WriteString("keyId", keyId);
            w.WritePropertyName("manifest");
            using (var doc = JsonDocument.Parse(m.ToJson())) doc.RootElement.WriteTo(w);
            w.WriteEndObject();
        });
    }
}
