using System.Diagnostics;
using System.Text;
using System.Text.Json;
using NativeInit.Core.Boot;
using NativeInit.Core.Bundle;
using NativeInit.Core.Carry;

namespace NativeInit.Core.Stage;

public sealed record StageOptions
{
    public required string Bundle { get; init; }
    public required byte[] PublicKey { get; init; }
    /// <summary>The system's root directory ("/" on the running system; a directory holding a system's files in tests).</summary>
    public string Root { get; init; } = "/";
    /// <summary>The boot directory, inside <see cref="Root"/>.</summary>
    public string BootDir { get; init; } = "/boot";
    public bool DryRun { get; init; }
}

/// <summary>
/// Stage one, on the running old system: verify the bundle; check RAM, disk and room in /boot (refuse, exit 3,
/// before writing anything); record the configuration to carry; put kernel, initramfs, bundle and carry record in
/// BOOT/nativeinit/; add the conversion entry to GRUB's custom.cfg; make it the next boot only (grub2-reboot /
/// grub-reboot on the running system when the tool is there, otherwise next_entry written into grubenv directly).
/// Every boot-configuration file it changes is copied first and listed, with the hash of its original bytes, in
/// BOOT/nativeinit/undo.json; <see cref="Undo"/> puts them back byte for byte and removes BOOT/nativeinit.
/// Nothing here is destructive: a plain reboot that does not pick the entry comes back to the old system.
/// </summary>
/// <summary>What stage one found, planned and did (printed by `stage --json`).</summary>
public sealed record StageReport
{
    public required string Bundle { get; init; }
    public required string KeyId { get; init; }
    public required long RamBytes { get; init; }
    public required long RamNeededBytes { get; init; }
    public required string Disk { get; init; }
    public required long DiskBytes { get; init; }
    public required long DiskNeededBytes { get; init; }
    public required long BootFreeBytes { get; init; }
    public required long BootNeededBytes { get; init; }
    public required string StageDir { get; init; }
    public required string CustomCfg { get; init; }
    public required string GrubEnv { get; init; }
    public required string KernelCommandLine { get; init; }
    /// <summary>"grub2-reboot", "grub-reboot" or "grubenv".</summary>
    public required string OneShot { get; init; }
    public required IReadOnlyList<string> CarriedFiles { get; init; }
    public required IReadOnlyList<string> CarriedPasswordUsers { get; init; }
    public required bool DryRun { get; init; }
    /// <summary>Files changed or created outside the staging directory (empty on a dry run).</summary>
    public IReadOnlyList<string> Changed { get; init; } = [];

    public void WriteJson(System.Text.Json.Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("bundle", Bundle);
        w.WriteString("keyId", KeyId);
        w.WriteBoolean("dryRun", DryRun);
        w.WriteStartObject("checks");
        w.WriteNumber("ramBytes", RamBytes);
        w.WriteNumber("ramNeededBytes", RamNeededBytes);
        w.WriteString("disk", Disk);
        w.WriteNumber("diskBytes", DiskBytes);
        w.WriteNumber("diskNeededBytes", DiskNeededBytes);
        w.WriteNumber("bootFreeBytes", BootFreeBytes);
        w.WriteNumber("bootNeededBytes", BootNeededBytes);
        w.WriteEndObject();
        w.WriteStartObject("carry");
        w.WriteStartArray("files");
        foreach (var f in CarriedFiles) w.WriteStringValue(f);
        w.WriteEndArray();
        w.WriteStartArray("passwordUsers");
        foreach (var u in CarriedPasswordUsers) w.WriteStringValue(u);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartObject("boot");
        w.WriteString("stageDir", StageDir);
        w.WriteString("customCfg", CustomCfg);
        w.WriteString("grubenv", GrubEnv);
        w.WriteString("entryId", ConversionMenuEntry.Id);
        w.WriteString("kernelCommandLine", KernelCommandLine);
        w.WriteString("oneShot", OneShot);
        w.WriteEndObject();
        w.WriteStartArray("changed");
        foreach (var c in Changed) w.WriteStringValue(c);
        w.WriteEndArray();
        w.WriteEndObject();
    }
}

public static class Stager
{
    public const string StageDirName = "nativeinit";
    public const string UndoFileName = "undo.json";
    public const string BundleFileName = "bundle.tar";
    /// <summary>Room kept free in /boot beyond what is staged (grub and kernel updates must still fit).</summary>
    public const long BootReserveBytes = 16L << 20;

    public static StageReport Run(StageOptions o, TextWriter log)
    {
        string root = Path.GetFullPath(o.Root);
        string boot = Path.Combine(root, o.BootDir.TrimStart('/'));
        string stageDir = Path.Combine(boot, StageDirName);

        if (root == "/" && !o.DryRun && Platform.Libc.geteuid() != 0)
            throw new RefusedException("stage changes /boot and the boot configuration: run it as root (or with --dry-run)");

        // 1. Verify.
        log.WriteLine($"verifying bundle {o.Bundle}");
        var bundle = BundleVerifier.Verify(o.Bundle, o.PublicKey);
        var m = bundle.Manifest;
        log.WriteLine($"  good: {m.ProductName} {m.ProductVersion}, {m.Parts.Count} parts, {ByteSize.Format(bundle.TotalBytes)}, signed by key {bundle.KeyId}");

        // 2. Checks: all of them before anything is written.
        var problems = new List<string>();
        long ram = SystemFacts.MemTotalBytes(root);
        long bundleBytes = bundle.IsSingleFile ? bundle.TotalBytes : SingleFileSize(bundle);
        long needRam = Math.Max(m.MinimumRamBytes, bundleBytes + m.StageTwoMemoryBytes);
        log.WriteLine($"RAM:  {ByteSize.Format(ram)} (MemTotal); needs {ByteSize.Format(needRam)} = max(minimum {ByteSize.Format(m.MinimumRamBytes)}, bundle {ByteSize.Format(bundleBytes)} + stage two {ByteSize.Format(m.StageTwoMemoryBytes)})");
        if (ram < needRam) problems.Add($"RAM {ByteSize.Format(ram)} is less than the {ByteSize.Format(needRam)} the conversion needs");
        var (disk, diskBytes) = SystemFacts.RootDisk(root);
        log.WriteLine($"disk: {disk} {ByteSize.Format(diskBytes)} ({diskBytes} bytes) holds /; the layout needs {ByteSize.Format(m.MinimumDiskBytes)} ({m.MinimumDiskBytes} bytes)");
        if (diskBytes < m.MinimumDiskBytes) problems.Add($"disk {disk} has {diskBytes} bytes, the layout needs {m.MinimumDiskBytes}");
        if (!Directory.Exists(boot)) throw new RefusedException($"boot directory {boot} does not exist");
        var kernel = m.Part(PartRoles.Kernel);
        var initramfs = m.Part(PartRoles.Initramfs);
        var carry = CarryRecord.Capture(root);
        var carryJson = carry.ToJson();
        long staged = kernel.Size + initramfs.Size + bundleBytes + carryJson.Length + (64 << 10);
        var (bootFree, _) = Platform.PosixPath.StatVfs(boot);
        log.WriteLine($"boot: {ByteSize.Format(bootFree)} free in {boot}; staging needs {ByteSize.Format(staged)} + {ByteSize.Format(BootReserveBytes)} reserve");
        if (bootFree < staged + BootReserveBytes) problems.Add($"{boot} has {ByteSize.Format(bootFree)} free, staging needs {ByteSize.Format(staged + BootReserveBytes)}");
        var grub = GrubSetup.Find(boot);
        if (grub is null) problems.Add($"no GRUB 2 configuration in {boot}/grub2 or {boot}/grub");
        else
        {
            log.WriteLine($"grub: {grub.ConfigFile} ({grub.Flavor})");
            problems.AddRange(grub.Problems());
            if (File.Exists(grub.EnvFile))
            {
                try { GrubEnv.Parse(File.ReadAllBytes(grub.EnvFile), grub.EnvFile); }
                catch (InvalidDataFormatException e) { problems.Add(e.Message); }
            }
        }
        if (ConversionMenuEntry.CommandLineProblem(m.KernelCommandLine) is { } cmdProblem) problems.Add(cmdProblem);
        if (Directory.Exists(stageDir))
            problems.Add($"{stageDir} exists: already staged (run 'nativeinit stage --undo' first)");
        if (problems.Count > 0) throw new RefusedException("refused, nothing was written: " + string.Join("; ", problems));

        // 3. The configuration to carry.
        log.WriteLine($"carry: {carry.Files.Count} files ({string.Join(", ", carry.Files.Select(f => f.Path))}), password hashes of {carry.Passwords.Count} users ({string.Join(", ", carry.Passwords.Select(p => p.User))})");

        // 4. The plan.
        string grubPath = SystemFacts.PathOnItsFilesystem(root, boot) + "/" + StageDirName;
        string cmdline = $"rd.nativeinit=convert rd.nativeinit.bundle={grubPath}/{BundleFileName}" +
            (m.KernelCommandLine.Length > 0 ? " " + m.KernelCommandLine : "");
        string entry = ConversionMenuEntry.Text(grubPath, BundleCreator.KernelName, BundleCreator.InitramfsName, cmdline);
        bool useTool = root == "/" && FindTool(root, grub!.RebootTool) is not null;
        log.WriteLine("plan:");
        log.WriteLine($"  create {stageDir}/ with {BundleCreator.KernelName} ({kernel.Size} B), {BundleCreator.InitramfsName} ({initramfs.Size} B), {BundleFileName} ({bundleBytes} B), {CarryRecord.FileName}, {UndoFileName}");
        log.WriteLine($"  {(File.Exists(grub!.CustomCfg) ? "append to" : "create")} {grub.CustomCfg}: menuentry '{ConversionMenuEntry.Title}' --id {ConversionMenuEntry.Id}");
        log.WriteLine($"  kernel command line: {cmdline}");
        log.WriteLine(useTool
            ? $"  one-shot: {grub.RebootTool} {ConversionMenuEntry.Id}"
            : $"  one-shot: next_entry={ConversionMenuEntry.Id} in {grub.EnvFile}");
        var report = new StageReport
        {
            Bundle = o.Bundle, KeyId = bundle.KeyId ?? "", RamBytes = ram, RamNeededBytes = needRam, Disk = disk, DiskBytes = diskBytes,
            DiskNeededBytes = m.MinimumDiskBytes, BootFreeBytes = bootFree, BootNeededBytes = staged + BootReserveBytes,
            StageDir = stageDir, CustomCfg = grub.CustomCfg, GrubEnv = grub.EnvFile, KernelCommandLine = cmdline,
            OneShot = useTool ? grub.RebootTool : "grubenv", CarriedFiles = carry.Files.Select(f => f.Path).ToList(),
            CarriedPasswordUsers = carry.Passwords.Select(p => p.User).ToList(), DryRun = o.DryRun,
        };
        if (o.DryRun)
        {
            log.WriteLine("dry run: nothing was written");
            return report;
        }

        // 5. Write: first the undo record and the copies of what will change, then the rest.
        var changes = new List<UndoChange>();
        Directory.CreateDirectory(stageDir);
        try
        {
            var undoDir = Path.Combine(stageDir, "undo");
            Directory.CreateDirectory(undoDir);
            foreach (var file in new[] { grub.CustomCfg, grub.EnvFile })
            {
                var rel = Path.GetRelativePath(root, file);
                if (File.Exists(file))
                {
                    var bytes = File.ReadAllBytes(file);
                    var copy = Path.Combine(undoDir, rel.Replace('/', '_'));
                    File.WriteAllBytes(copy, bytes);
                    changes.Add(new UndoChange(rel, true, Blake3.Hasher.Hash(bytes).ToString(), bytes.Length, Path.GetRelativePath(root, copy)));
                }
                else changes.Add(new UndoChange(rel, false, null, 0, null));
            }
            WriteUndo(stageDir, root, Path.GetRelativePath(root, stageDir), changes);

            CopyPart(bundle, kernel, Path.Combine(stageDir, BundleCreator.KernelName));
            CopyPart(bundle, initramfs, Path.Combine(stageDir, BundleCreator.InitramfsName));
            var stagedBundle = Path.Combine(stageDir, BundleFileName);
            if (bundle.IsSingleFile) File.Copy(bundle.Path, stagedBundle);
            else using (var f = new FileStream(stagedBundle, FileMode.CreateNew, FileAccess.Write)) BundleCreator.WriteSingleFile(bundle.Path, m, f);
            using (var f = new FileStream(Path.Combine(stageDir, CarryRecord.FileName), new FileStreamOptions
                   { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
                f.Write(carryJson);
            Sync();
            log.WriteLine($"verifying the staged copy {stagedBundle}");
            BundleVerifier.Verify(stagedBundle, o.PublicKey);

            // Boot configuration.
            var custom = File.Exists(grub.CustomCfg) ? File.ReadAllText(grub.CustomCfg) : "";
            if (custom.Length > 0 && !custom.EndsWith('\n')) custom += "\n";
            WriteInPlace(grub.CustomCfg, Encoding.UTF8.GetBytes(custom + entry));
            if (useTool)
            {
                var tool = FindTool(root, grub.RebootTool)!;
                var r = RunTool(tool, ConversionMenuEntry.Id);
                if (r != 0) throw new NativeInitException($"{tool} {ConversionMenuEntry.Id} failed with exit code {r}");
            }
            else
            {
                var env = File.Exists(grub.EnvFile) ? GrubEnv.Parse(File.ReadAllBytes(grub.EnvFile), grub.EnvFile) : GrubEnv.Empty();
                env.Set("next_entry", ConversionMenuEntry.Id);
                WriteInPlace(grub.EnvFile, env.ToBytes());
            }
            var check = GrubEnv.Parse(File.ReadAllBytes(grub.EnvFile), grub.EnvFile);
            if (check["next_entry"] != ConversionMenuEntry.Id)
                throw new NativeInitException($"{grub.EnvFile}: next_entry is '{check["next_entry"]}' after setting it to {ConversionMenuEntry.Id}");
            Sync();
        }
        catch
        {
            log.WriteLine("staging failed: undoing what was written");
            try
            {
                // Before undo.json exists nothing outside the staging directory has changed yet.
                if (!File.Exists(Path.Combine(stageDir, UndoFileName))) Directory.Delete(stageDir, recursive: true);
                else Undo(root, o.BootDir, TextWriter.Null);
            }
            catch (Exception e) when (e is NativeInitException or IOException) { log.WriteLine($"undo failed too: {e.Message}"); }
            throw;
        }

        log.WriteLine("changed:");
        log.WriteLine($"  added   {stageDir}/ (kernel, initramfs, {BundleFileName}, {CarryRecord.FileName}, {UndoFileName}, undo/)");
        foreach (var c in changes) log.WriteLine($"  {(c.Existed ? "changed" : "created")} {Path.Combine(root, c.Path)}");
        log.WriteLine($"the next boot (only) starts the conversion: entry '{ConversionMenuEntry.Title}' ({ConversionMenuEntry.Id})");
        log.WriteLine($"undo: nativeinit stage --undo --root {o.Root} --boot-dir {o.BootDir}");
        return report with { Changed = [stageDir + "/", .. changes.Select(c => Path.Combine(root, c.Path))] };
    }

    /// <summary>Restores every boot-configuration file listed in undo.json to its original bytes (checked against the
    /// recorded hash), deletes the files stage one created, and removes BOOT/nativeinit.</summary>
    public static void Undo(string rootArg, string bootDir, TextWriter log)
    {
        string root = Path.GetFullPath(rootArg);
        string stageDir = Path.Combine(root, bootDir.TrimStart('/'), StageDirName);
        var undoFile = Path.Combine(stageDir, UndoFileName);
        if (!File.Exists(undoFile))
        {
            if (Directory.Exists(stageDir)) throw new NativeInitException($"{undoFile} is missing: cannot tell what to restore (remove {stageDir} by hand after checking the boot configuration)");
            throw new NativeInitException($"nothing to undo: {stageDir} does not exist");
        }
        var changes = ReadUndo(undoFile);
        // Check every copy before touching anything.
        foreach (var c in changes.Where(c => c.Existed))
        {
            var copy = Path.Combine(root, c.Backup!);
            if (!File.Exists(copy)) throw new NativeInitException($"undo: the copy {copy} of {c.Path} is missing");
            var bytes = File.ReadAllBytes(copy);
            if (Blake3.Hasher.Hash(bytes).ToString() != c.Hash || bytes.Length != c.Size)
                throw new NativeInitException($"undo: the copy {copy} of {c.Path} does not match the recorded hash");
        }
        foreach (var c in changes)
        {
            var path = Path.Combine(root, c.Path);
            if (c.Existed)
            {
                WriteInPlace(path, File.ReadAllBytes(Path.Combine(root, c.Backup!)));
                log.WriteLine($"restored {path}");
            }
            else if (File.Exists(path))
            {
                File.Delete(path);
                log.WriteLine($"removed  {path}");
            }
        }
        Sync();
        Directory.Delete(stageDir, recursive: true);
        log.WriteLine($"removed  {stageDir}/");
        Sync();
    }

    private sealed record UndoChange(string Path, bool Existed, string? Hash, long Size, string? Backup);

    private static void WriteUndo(string stageDir, string root, string stageRel, List<UndoChange> changes)
    {
        var json = JsonText.ToUtf8(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("formatVersion", 1);
            w.WriteString("added", stageRel);
            w.WriteString("hashAlgorithm", ContentHash.Algorithm);
            w.WriteStartArray("changed");
            foreach (var c in changes)
            {
                w.WriteStartObject();
                w.WriteString("path", c.Path);
                w.WriteBoolean("existed", c.Existed);
                if (c.Existed)
                {
                    w.WriteString("hash", c.Hash);
                    w.WriteNumber("size", c.Size);
                    w.WriteString("copy", c.Backup);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
        File.WriteAllBytes(Path.Combine(stageDir, UndoFileName), json);
        Sync();
    }

    private static List<UndoChange> ReadUndo(string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            var list = new List<UndoChange>();
            foreach (var c in doc.RootElement.GetProperty("changed").EnumerateArray())
            {
                bool existed = c.GetProperty("existed").GetBoolean();
                var path = c.GetProperty("path").GetString()!;
                if (path.StartsWith('/') || path.Split('/').Contains("..")) throw new InvalidDataFormatException($"{file}: path {path} is not inside the root");
                list.Add(existed
                    ? new UndoChange(path, true, c.GetProperty("hash").GetString(), c.GetProperty("size").GetInt64(), c.GetProperty("copy").GetString())
                    : new UndoChange(path, false, null, 0, null));
            }
            return list;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataFormatException($"{file}: {e.Message}", e);
        }
    }

    /// <summary>Rewrites a file's content keeping its inode, owner and mode (truncate and write), then fsync.</summary>
    private static void WriteInPlace(string path, byte[] bytes)
    {
        using var f = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None);
        f.SetLength(0);
        f.Write(bytes);
        f.Flush(flushToDisk: true);
    }

    private static void CopyPart(VerifiedBundle bundle, BundlePart part, string dest)
    {
        using var src = bundle.OpenPart(part);
        using var dst = new FileStream(dest, FileMode.CreateNew, FileAccess.Write);
        src.CopyTo(dst, 1 << 20);
        dst.Flush(flushToDisk: true);
        if (dst.Length != part.Size) throw new NativeInitException($"{dest}: copied {dst.Length} bytes of {part.Size}");
        dst.Close();
        if (ContentHash.HashFile(dest).Hex != part.Hash) throw new NativeInitException($"{dest}: the copy's hash differs from the manifest");
    }

    private static long SingleFileSize(VerifiedBundle b)
    {
        static long Member(long size) => 512 + (size + 511) / 512 * 512;
        return Member(b.ManifestBytes.Length) + Member(b.SignatureBytes.Length) + b.Manifest.Parts.Sum(p => Member(p.Size)) + 1024;
    }

    private static string? FindTool(string root, string name) =>
        new[] { "usr/sbin", "sbin", "usr/bin", "bin" }.Select(d => Path.Combine(root, d, name)).FirstOrDefault(File.Exists);

    private static int RunTool(string tool, string arg)
    {
        var psi = new ProcessStartInfo(tool) { UseShellExecute = false };
        psi.ArgumentList.Add(arg);
        using var p = Process.Start(psi) ?? throw new NativeInitException($"cannot start {tool}");
        p.WaitForExit();
        return p.ExitCode;
    }

    private static void Sync() => Platform.BootCalls.Sync();
}
