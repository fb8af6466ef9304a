using System.IO.Compression;
using System.Text;
using NativeInit.Core.Boot.Init;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Boot.Initramfs;

/// <summary>What goes into a minimal initramfs.</summary>
public sealed record InitramfsOptions
{
    /// <summary>The nativeinit executable that becomes /init (static: it needs no library).</summary>
    public required string InitBinary { get; init; }
    /// <summary>The kernel's module folder, e.g. .cache/kernel/V/lib/modules/V; its name is the kernel version.</summary>
    public string? ModuleDirectory { get; init; }
    /// <summary>Modules /init loads at boot (with what they need).</summary>
    public IReadOnlyList<string> Modules { get; init; } = InitramfsBuilder.DefaultModules;
    /// <summary>Programs stage two runs (mkfs.ext4, mkfs.xfs...): names looked up in PATH, or paths; copied with
    /// the libraries and the loader they need.</summary>
    public IReadOnlyList<string> Tools { get; init; } = [];
    /// <summary>A static busybox for the rescue shell (/bin/sh and a few applets); null for none.</summary>
    public string? Busybox { get; init; }
    /// <summary>The vendor's public key, installed as /etc/nativeinit/vendor.pub (convert's default --key); null for none.</summary>
    public string? VendorKey { get; init; }
    public bool Compress { get; init; } = true;
}

/// <summary>What a build produced.</summary>
public sealed record InitramfsResult(string Output, long Size, long UncompressedSize, int Entries, string? KernelVersion,
    IReadOnlyList<string> ModuleFiles, IReadOnlyList<string> Tools, IReadOnlyList<string> Libraries);

/// <summary>
/// Builds a minimal initramfs without dracut: nativeinit as /init (it does PID 1's duties itself, see
/// <see cref="InitProcess"/>), /dev/console, the kernel modules asked for and what they need (decompressed at
/// build time, with a modules.dep/softdep/alias/builtin reduced to them), the tools stage two runs with their
/// libraries, and optionally a static busybox for the rescue shell. The cpio (newc) is written by
/// <see cref="CpioWriter"/> and compressed with gzip, which every kernel that can boot an initramfs reads.
/// </summary>
public static class InitramfsBuilder
{
    /// <summary>Disk drivers (virtio, SATA/AHCI, PIIX IDE, SCSI disks), device-mapper, loop, the file systems.</summary>
    public static readonly string[] DefaultModules =
        ["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "ahci", "ata_piix", "dm_mod", "loop", "ext4", "xfs"];

    /// <summary>The programs stage two execs, taken when present on the build machine.</summary>
    public static readonly string[] DefaultTools = ["mkfs.ext4", "mkfs.xfs"];

    public static readonly string[] BusyboxApplets =
        ["sh", "ls", "cat", "mount", "umount", "dmesg", "reboot", "poweroff", "mkdir", "rm", "cp", "mv", "ln", "ps",
         "kill", "sleep", "echo", "grep", "sed", "vi", "less", "hexdump", "blkid", "lsmod", "sync", "df", "free", "dd"];

    /// <summary>Refuses before anything is written (exit 3): an init binary or busybox that cannot be read or is
    /// no ELF file, a module folder that is not there, an output whose directory does not exist.</summary>
    public static void CheckInputs(InitramfsOptions options, string output)
    {
        IoErrors.RequireCreatable("output", output);
        foreach (var (what, path) in new[] { ("init binary", options.InitBinary), ("busybox", options.Busybox) })
        {
            if (path is null) continue;
            IoErrors.RequireReadableFile(what, path);
            try { ElfDependencies.Read(path); }
            catch (InvalidDataFormatException e) { throw new RefusedException($"{what} {e.Message}", e); }
        }
        if (options.ModuleDirectory is { } d && !Directory.Exists(d))
            throw new RefusedException($"module folder {d}: {PosixError.Message(PosixError.ENOENT)} (ENOENT)");
    }

    public static InitramfsResult Build(InitramfsOptions options, string output)
    {
        CheckInputs(options, output);
        var (interp, _) = ElfDependencies.Read(options.InitBinary);
        if (interp is not null)
            throw new RefusedException($"{options.InitBinary} is dynamically linked (interpreter {interp}): /init must be the static build (tools/build)");

        string tmp = output + ".tmp";
        long uncompressed;
        int entries = 0;
        var moduleFiles = new List<string>();
        var tools = new List<string>();
        var libraries = new List<string>();
        string? kver = null;
        using (var file = File.Create(tmp))
        {
            Stream sink = options.Compress ? new GZipStream(file, CompressionLevel.SmallestSize, leaveOpen: true) : file;
            using (var cpio = new CpioWriter(sink, leaveOpen: !options.Compress))
            {
                foreach (var d in new[] { "dev", "proc", "sys", "run", "tmp", "root", "mnt", "etc", "etc/nativeinit", "usr", "usr/bin", "usr/sbin", "lib", "lib64" })
                    cpio.AddDirectory(d);
                cpio.AddSymlink("bin", "usr/bin");
                cpio.AddSymlink("sbin", "usr/sbin");
                // The kernel opens /dev/console for init's standard descriptors before /init runs.
                cpio.AddDevice("dev/console", block: false, 5, 1);
                cpio.AddDevice("dev/null", block: false, 1, 3, 0x1B6);
                cpio.AddFile("init", File.ReadAllBytes(options.InitBinary), 0x1ED);
                // The same binary as a command in the rescue shell (docs/recovery.md: `nativeinit status --disk …`).
                cpio.AddSymlink("usr/bin/nativeinit", "/init");
                if (options.VendorKey is { } key) cpio.AddFile("etc/nativeinit/vendor.pub", File.ReadAllBytes(key), 0x1A4);

                if (options.ModuleDirectory is { } moddir)
                {
                    kver = Path.GetFileName(Path.TrimEndingDirectorySeparator(moddir));
                    moduleFiles.AddRange(AddModules(cpio, new ModuleIndex(moddir), options.Modules, kver));
                    cpio.AddFile(InitProcess.ModulesFile, Encoding.UTF8.GetBytes(string.Join('\n', options.Modules) + "\n"));
                }
                foreach (var t in options.Tools)
                {
                    string host = FindProgram(t) ?? throw new NativeInitException($"tool '{t}': not found in PATH, /usr/sbin or /sbin");
                    string image = "usr/sbin/" + Path.GetFileName(t);
                    if (cpio.Contains(image)) continue;
                    cpio.AddFile(image, File.ReadAllBytes(host), 0x1ED);
                    tools.Add(image);
                    foreach (var need in ElfDependencies.Resolve(host))
                    {
                        if (cpio.Contains(need.ImagePath)) continue;
                        cpio.AddParents(need.ImagePath);
                        cpio.AddFile(need.ImagePath, File.ReadAllBytes(need.HostPath), 0x1ED);
                        libraries.Add(need.ImagePath);
                    }
                }
                if (options.Busybox is { } bb)
                {
                    var (bbInterp, _) = ElfDependencies.Read(bb);
                    if (bbInterp is not null) throw new RefusedException($"{bb}: busybox must be static (busybox-static)");
                    cpio.AddFile("usr/bin/busybox", File.ReadAllBytes(bb), 0x1ED);
                    foreach (var applet in BusyboxApplets)
                        if (!cpio.Contains("usr/bin/" + applet) && !cpio.Contains("usr/sbin/" + applet))
                            cpio.AddSymlink("usr/bin/" + applet, "busybox");
                    tools.Add("usr/bin/busybox");
                }
                cpio.Finish();
                uncompressed = cpio.Length;
            }
            if (options.Compress) sink.Dispose();
        }
        entries = CountEntries(tmp, options.Compress);
        File.Move(tmp, output, overwrite: true);
        return new InitramfsResult(output, new FileInfo(output).Length, uncompressed, entries, kver, moduleFiles, tools, libraries);
    }

    private static List<string> AddModules(CpioWriter cpio, ModuleIndex index, IReadOnlyList<string> names, string kver)
    {
        string root = $"lib/modules/{kver}";
        var files = index.Resolve(names);
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rel in files)
        {
            string host = Path.Combine(index.Directory, rel);
            string plain = rel;
            byte[] content;
            if (rel.EndsWith(".ko", StringComparison.Ordinal)) content = File.ReadAllBytes(host);
            else
            {
                content = ModuleLoader.Decompress(host);
                plain = rel[..rel.LastIndexOf(".ko", StringComparison.Ordinal)] + ".ko";
            }
            renamed[rel] = plain;
            string image = $"{root}/{plain}";
            cpio.AddParents(image);
            cpio.AddFile(image, content);
        }
        var included = new HashSet<string>(files.Select(ModuleIndex.NameOf), StringComparer.Ordinal);
        // modules.dep reduced to the included modules, with their (possibly renamed) paths.
        var dep = new StringBuilder();
        foreach (var line in File.ReadLines(Path.Combine(index.Directory, ModuleIndex.DepFile)))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !renamed.TryGetValue(line[..colon], out var p)) continue;
            var deps = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(d => renamed.GetValueOrDefault(d, d));
            dep.Append(p).Append(':');
            foreach (var d in deps) dep.Append(' ').Append(d);
            dep.Append('\n');
        }
        cpio.AddFile($"{root}/{ModuleIndex.DepFile}", Encoding.UTF8.GetBytes(dep.ToString()));
        CopyFiltered(cpio, index, root, ModuleIndex.SoftdepFile, w => w.Length >= 2 && w[0] == "softdep" && included.Contains(ModuleIndex.Normalize(w[1])));
        CopyFiltered(cpio, index, root, ModuleIndex.AliasFile, w => w.Length == 3 && w[0] == "alias" && included.Contains(ModuleIndex.Normalize(w[2])));
        CopyFiltered(cpio, index, root, ModuleIndex.BuiltinFile, _ => true);
        return files.Select(f => $"{root}/{renamed[f]}").ToList();
    }

    private static void CopyFiltered(CpioWriter cpio, ModuleIndex index, string root, string name, Func<string[], bool> keep)
    {
        string path = Path.Combine(index.Directory, name);
        if (!File.Exists(path)) return;
        var sb = new StringBuilder();
        foreach (var line in File.ReadLines(path))
            if (keep(line.Split(' ', StringSplitOptions.RemoveEmptyEntries))) sb.Append(line).Append('\n');
        cpio.AddFile($"{root}/{name}", Encoding.UTF8.GetBytes(sb.ToString()));
    }

    /// <summary>A program by path, or looked up in PATH plus the sbin folders.</summary>
    public static string? FindProgram(string nameOrPath) => ProgramPath.Find(nameOrPath);

    /// <summary>Counts the entries of a newc archive (trailer excluded): a check that what was written reads back.</summary>
    public static int CountEntries(string path, bool compressed)
    {
        using var file = File.OpenRead(path);
        using Stream s = compressed ? new GZipStream(file, CompressionMode.Decompress) : file;
        int count = 0;
        var header = new byte[CpioWriter.HeaderLength];
        long pos = 0;
        while (true)
        {
            s.ReadExactly(header);
            if (Encoding.ASCII.GetString(header, 0, CpioWriter.MagicLength) != CpioWriter.Magic)
                throw new InvalidDataFormatException($"{path}: bad cpio magic at offset {pos}");
            int Field(int i) => System.Convert.ToInt32(Encoding.ASCII.GetString(header, CpioWriter.MagicLength + i * CpioWriter.FieldLength, CpioWriter.FieldLength), 16);
            int nameSize = Field(CpioWriter.FieldNameSize), fileSize = Field(CpioWriter.FieldFileSize);
            var name = new byte[nameSize];
            s.ReadExactly(name);
            pos += CpioWriter.HeaderLength + nameSize;
            Skip(s, (int)((4 - pos % 4) % 4)); pos += (4 - pos % 4) % 4;
            if (Encoding.UTF8.GetString(name, 0, nameSize - 1) == CpioWriter.TrailerName) return count;
            Skip(s, fileSize); pos += fileSize;
            Skip(s, (int)((4 - pos % 4) % 4)); pos += (4 - pos % 4) % 4;
            count++;
        }
    }

    private static void Skip(Stream s, int n)
    {
        Span<byte> buf = stackalloc byte[4096];
        while (n > 0) { int k = Math.Min(n, buf.Length); s.ReadExactly(buf[..k]); n -= k; }
    }
}
