using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Tar;

namespace NativeInit.Core.Bundle;

public sealed record BundleCreateOptions
{
    /// <summary>A directory (archived by NativeInit) or a .tar.xz / .tar.zst / .tar (checked, counted, copied).</summary>
    public required string Rootfs { get; init; }
    public required string Layout { get; init; }
    public required string Kernel { get; init; }
    public required string Initramfs { get; init; }
    public required byte[] PrivateKey { get; init; }
    /// <summary>The bundle directory; with <see cref="SingleFile"/>, the single file to write.</summary>
    public required string Out { get; init; }
    public CompressionFormat Compression { get; init; } = CompressionFormat.Zstd;
    public int? Level { get; init; }
    public bool SingleFile { get; init; }
    public string ProductName { get; init; } = "gateway";
    public string ProductVersion { get; init; } = "0";
    public string KernelCommandLine { get; init; } = "";
    public long MinimumRamBytes { get; init; }
    /// <summary>Null: computed from the sgdisk backup file (the end of the last partition plus the backup GPT).</summary>
    public long? MinimumDiskBytes { get; init; }
    public long StageTwoMemoryBytes { get; init; } = BundleManifest.DefaultStageTwoMemoryBytes;
    public string? CarryPolicy { get; init; }
    public string? SelinuxPolicy { get; init; }
    /// <summary>The conversion's GRUB core.img and boot.img (made by Conversion/ConversionBundle), or null.</summary>
    public string? GrubCore { get; init; }
    public string? GrubBoot { get; init; }
    /// <summary>Called with the names in /boot of a rootfs given as an archive (entries boot/NAME, read while the
    /// archive is checked), before anything is written; throws to refuse (a conversion bundle whose system has no kernel
    /// with an initramfs: Conversion/ConversionBundle).</summary>
    public Action<IReadOnlyCollection<string>>? CheckArchiveBoot { get; init; }
}

public sealed record BundleCreateResult(string Path, BundleManifest Manifest, ArchiveStats? ArchiveStats);

/// <summary>
/// Writes a bundle. Part names inside the bundle: layout.json, the partition table under the relative path the layout
/// names (so the layout resolves inside the bundle), rootfs.tar.zst|.tar.xz|.tar, vmlinuz-convert,
/// initramfs-convert.img, carry-policy.json, selinux-policy (when given). The same inputs give the same bytes
/// (manifest and archive hold no time of creation).
/// </summary>
public static class BundleCreator
{
    public const string LayoutName = BundleFile.LayoutName, KernelName = BundleFile.KernelName, InitramfsName = BundleFile.InitramfsName,
        CarryPolicyName = BundleFile.CarryPolicyName, SelinuxPolicyName = BundleFile.SelinuxPolicyName,
        GrubCoreName = "grub-core.img", GrubBootName = "grub-boot.img";

    public static BundleCreateResult Create(BundleCreateOptions o, Action<string>? log = null)
    {
        foreach (var (what, path) in new[] { ("layout", o.Layout), ("kernel", o.Kernel), ("initramfs", o.Initramfs) })
            if (!File.Exists(path)) throw new NativeInitException($"{what} {path}: no such file", ExitCodes.Refused);
        foreach (var (what, path) in new[] { ("carry policy", o.CarryPolicy), ("SELinux policy", o.SelinuxPolicy) })
            if (path is not null && !File.Exists(path)) throw new NativeInitException($"{what} {path}: no such file", ExitCodes.Refused);
        if (BootCommandLine.Problem(o.KernelCommandLine) is { } cmdProblem) throw new NativeInitException(cmdProblem, ExitCodes.Refused);
        bool rootfsIsDir = Directory.Exists(o.Rootfs);
        if (!rootfsIsDir && !File.Exists(o.Rootfs)) throw new NativeInitException($"rootfs {o.Rootfs}: no such file or directory", ExitCodes.Refused);

        string tableRel = LayoutFacts.PartitionTablePath(o.Layout);
        try { BundleManifest.CheckPartName(tableRel); }
        catch (InvalidDataFormatException) { throw new NativeInitException($"layout {o.Layout}: partitionTable '{tableRel}' must be a relative path inside the bundle", ExitCodes.Refused); }
        string tableSrc = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(o.Layout))!, tableRel);
        if (!File.Exists(tableSrc)) throw new NativeInitException($"layout {o.Layout}: partition table {tableSrc} not found", ExitCodes.Refused);
        long minDisk = o.MinimumDiskBytes ?? PartitionTableFacts.MinimumDiskBytes(File.ReadAllBytes(tableSrc), tableSrc);

        string dir = o.SingleFile ? o.Out + ".parts.tmp" : o.Out;
        if (o.SingleFile && File.Exists(o.Out)) throw new NativeInitException($"{o.Out}: exists already", ExitCodes.Refused);
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new NativeInitException($"{dir}: exists and is not empty", ExitCodes.Refused);
        bool created = !Directory.Exists(dir);
        Directory.CreateDirectory(dir);
        try
        {
            var files = new List<(string Name, string Role)>();
            void Copy(string src, string name, string role)
            {
                var dst = Path.Combine(dir, name);
                Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
                File.Copy(src, dst);
                files.Add((name, role));
            }
            Copy(o.Layout, LayoutName, PartRoles.Layout);
            Copy(tableSrc, tableRel, PartRoles.PartitionTable);

            // The rootfs archive.
            ArchiveStats? stats = null;
            RootfsInfo rootfs;
            string rootfsName;
            if (rootfsIsDir)
            {
                rootfsName = "rootfs" + ArchiveEncoder.Extension(o.Compression);
                log?.Invoke($"archiving {o.Rootfs} into {rootfsName}");
                using (var f = new FileStream(Path.Combine(dir, rootfsName), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                using (var enc = ArchiveEncoder.Open(f, o.Compression, new EncoderOptions { Level = o.Level }))
                    stats = DirectoryArchiver.Write(o.Rootfs, enc);
                foreach (var s in stats.SkippedPaths) log?.Invoke($"skipped socket {s}");
                rootfs = new RootfsInfo(FormatName(o.Compression), stats.TarBytes, stats.Entries)
                {
                    GrubMkimage = GrubTool(rel => { var fi = new FileInfo(Path.Combine(o.Rootfs, rel)); return fi.Exists || fi.LinkTarget is not null; }),
                };
            }
            else
            {
                var (format, entries, size, names, bootNames) = CheckArchive(o.Rootfs);
                o.CheckArchiveBoot?.Invoke(bootNames);
                rootfsName = "rootfs" + ArchiveEncoder.Extension(format);
                log?.Invoke($"rootfs archive {o.Rootfs}: {FormatName(format)}, {entries} entries, {size} bytes uncompressed");
                File.Copy(o.Rootfs, Path.Combine(dir, rootfsName));
                rootfs = new RootfsInfo(FormatName(format), size, entries) { GrubMkimage = GrubTool(names.Contains) };
            }
            files.Add((rootfsName, PartRoles.Rootfs));
            Copy(o.Kernel, KernelName, PartRoles.Kernel);
            Copy(o.Initramfs, InitramfsName, PartRoles.Initramfs);
            if (o.CarryPolicy is not null) Copy(o.CarryPolicy, CarryPolicyName, PartRoles.CarryPolicy);
            if (o.SelinuxPolicy is not null) Copy(o.SelinuxPolicy, SelinuxPolicyName, PartRoles.SelinuxPolicy);
            if (o.GrubCore is not null) Copy(o.GrubCore, GrubCoreName, PartRoles.GrubCore);
            if (o.GrubBoot is not null) Copy(o.GrubBoot, GrubBootName, PartRoles.GrubBoot);

            var parts = new List<BundlePart>();
            foreach (var (name, role) in files)
            {
                var (hash, size) = ContentHash.HashFile(Path.Combine(dir, name));
                parts.Add(new BundlePart(name, role, size, hash));
            }
            var manifest = new BundleManifest
            {
                ProductName = o.ProductName, ProductVersion = o.ProductVersion, Parts = parts, Rootfs = rootfs,
                MinimumRamBytes = o.MinimumRamBytes, MinimumDiskBytes = minDisk, StageTwoMemoryBytes = o.StageTwoMemoryBytes,
                KernelCommandLine = o.KernelCommandLine,
            };
            var json = manifest.ToJson();
            var pub = BundleKeys.PublicFromPrivate(o.PrivateKey);
            var sig = new BundleSignature(BundleKeys.KeyId(pub), BundleKeys.Sign(o.PrivateKey, json));
            File.WriteAllBytes(Path.Combine(dir, BundleManifest.FileName), json);
            File.WriteAllText(Path.Combine(dir, BundleManifest.SignatureFileName), sig.ToText());
            if (!o.SingleFile) return new BundleCreateResult(dir, manifest, stats);

            using (var f = new FileStream(o.Out, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                WriteSingleFile(dir, manifest, f);
            Directory.Delete(dir, recursive: true);
            return new BundleCreateResult(o.Out, manifest, stats);
        }
        catch
        {
            // Leave nothing half-written behind: the temporary parts directory, or the bundle directory made here.
            if (o.SingleFile || created) { try { Directory.Delete(dir, true); } catch (IOException) { } }
            if (o.SingleFile) { try { File.Delete(o.Out); } catch (IOException) { } }
            throw;
        }
    }

    /// <summary>The single-file form (<see cref="BundleFile.WriteSingleFile"/>).</summary>
    public static void WriteSingleFile(string dir, BundleManifest manifest, Stream output) => BundleFile.WriteSingleFile(dir, manifest, output);

    /// <summary>The rootfs's grub-mkimage (relative path) when it also has the i386-pc images (<see cref="GrubPaths"/>),
    /// else "" (looked for, not there): recorded in the manifest for stage two's preflight.</summary>
    private static string GrubTool(Func<string, bool> exists)
    {
        if (!GrubPaths.RequiredImages.All(i => exists(GrubPaths.ModuleSubdirectory + "/" + i))) return "";
        return GrubPaths.MkimageCandidates.FirstOrDefault(exists) ?? "";
    }

    /// <summary>Decompresses and walks every header and data block of a rootfs archive: (format, entries, tar bytes, and
    /// which of GRUB's paths (<see cref="GrubPaths"/>) it holds).</summary>
    public static (CompressionFormat Format, long Entries, long Size, HashSet<string> GrubNames, HashSet<string> BootNames) CheckArchive(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        var head = new byte[Compression.MagicLength];
        int got = f.Read(head);
        f.Position = 0;
        var format = Compression.Detect(head.AsSpan(0, got));
        try
        {
            using var dec = Compression.OpenDecoder(f, format, new DecoderOptions());
            using var reader = new TarReader(dec);
            long entries = 0;
            var wanted = GrubPaths.MkimageCandidates.Concat(GrubPaths.RequiredImages.Select(i => GrubPaths.ModuleSubdirectory + "/" + i)).ToHashSet(StringComparer.Ordinal);
            var found = new HashSet<string>(StringComparer.Ordinal);
            var boot = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Next() is { } e)
            {
                entries++;
                string name = e.DisplayPath.StartsWith("./", StringComparison.Ordinal) ? e.DisplayPath[2..] : e.DisplayPath.TrimStart('/');
                if (wanted.Contains(name)) found.Add(name);
                if (name.StartsWith("boot/", StringComparison.Ordinal) && name.IndexOf('/', 5) < 0 && name.Length > 5 &&
                    e.Type is TarEntryType.Regular or TarEntryType.SymbolicLink or TarEntryType.HardLink)
                    boot.Add(name[5..]);
            }
            long size = reader.Position;
            if (entries == 0) throw new InvalidDataFormatException($"rootfs archive {path}: holds no entry");
            return (format, entries, size, found, boot);
        }
        catch (InvalidDataFormatException e)
        {
            throw new NativeInitException($"rootfs archive {path} does not read cleanly: {e.Message}", ExitCodes.Refused, e);
        }
    }

    public static string FormatName(CompressionFormat f) => f switch
    {
        CompressionFormat.Zstd => "zstd",
        CompressionFormat.Xz => "xz",
        _ => "none",
    };
}
