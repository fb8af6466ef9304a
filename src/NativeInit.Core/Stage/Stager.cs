using System.Text.Json;
using NativeInit.Core.Boot;
using NativeInit.Core.Bundle;
using NativeInit.Core.Carry;
using NativeInit.Core.Disk;

namespace NativeInit.Core.Stage;

/// <summary>
/// Stage one, on the running old system, in the order the pipeline reads (issue 10): <see cref="Plan"/> verifies the
/// bundle and checks RAM, disk, room in /boot and GRUB, refusing (exit 3) before anything is written, and returns a
/// <see cref="StagePlan"/>; <see cref="Execute"/> writes it; <see cref="Undo"/> puts everything back.
/// <para>
/// Crash-consistent (issue 18): first undo.json (atomically) with copies of the two boot-configuration files it will
/// change, then kernel, initramfs, bundle, carry record and the bundle's extents in BOOT/nativeinit/, each fsynced, the
/// bundle verified again; only then, last, the conversion entry in custom.cfg and next_entry in grubenv, each
/// atomically (<see cref="StagedBootEntry"/>). Killed at any moment, the boot configuration is either untouched or
/// complete; a later `stage` or `stage --undo` finds and removes a half-written BOOT/nativeinit. SIGINT/SIGTERM
/// before the boot configuration is written stop the run and undo it; after that the run completes.
/// The log goes to BOOT/nativeinit/stage.log as well (through a <see cref="RunLog"/>); a run that failed and undid
/// itself keeps it as ROOT/var/log/nativeinit/stage-failed.log.
/// Nothing here is destructive: a plain reboot that does not pick the entry comes back to the old system.
/// </para>
/// </summary>
public static class Stager
{
    public const string StageDirName = "nativeinit";
    public const string UndoFileName = "undo.json";
    public const string BundleFileName = "bundle.tar";
    public const string ExtentsFileName = "bundle.extents.json";
    public const string LogFileName = "stage.log";
    /// <summary>A staging directory being removed (renamed first, so a half-removed one is never taken for staged).</summary>
    public const string RemovingSuffix = ".removing";
    /// <summary>Where the logs of a failed run and of undo are kept, under the root.</summary>
    public const string KeptLogDir = "var/log/nativeinit";
    /// <summary>Room kept free in /boot beyond what is staged (grub and kernel updates must still fit).</summary>
    public const long BootReserveBytes = 16L << 20;

    /// <summary>Plan and, unless a dry run, execute; then, with <see cref="StageOptions.Reboot"/>, reboot into the
    /// conversion (as `update --reboot` does: the job, not the command line, starts the reboot).</summary>
    public static StageResult Run(StageOptions o, TextWriter log, Func<string?>? interrupted = null)
    {
        if (o.Reboot && Path.GetFullPath(o.Root) != "/") throw new UsageException("--reboot only with --root /");
        if (o.Reboot && o.DryRun) throw new UsageException("--reboot and --dry-run exclude each other");
        var plan = Plan(o, log);
        if (plan.DryRun)
        {
            log.WriteLine("dry run: nothing was written");
            return new StageResult(plan, [], null, 0, null);
        }
        var result = Execute(plan, log, interrupted);
        if (o.Reboot)
        {
            log.WriteLine("rebooting into the conversion");
            log.Flush();
            try { Platform.SystemReboot.Request(o.Root); }
            catch (NativeInitException e) { throw new NativeInitException($"{e.Message}; staged, reboot by hand", e.ExitCode, e); }
        }
        return result;
    }

    /// <summary>Every check, before anything is written; throws <see cref="RefusedException"/> naming each problem.</summary>
    public static StagePlan Plan(StageOptions o, TextWriter log)
    {
        string root = Path.GetFullPath(o.Root);
        string boot = Path.Combine(root, o.BootDir.TrimStart('/'));
        string stageDir = Path.Combine(boot, StageDirName);

        if (root == "/" && !o.DryRun && Platform.Libc.geteuid() != 0)
            throw new RefusedException("stage changes /boot and the boot configuration: run it as root (or with --dry-run)");

        log.WriteLine($"verifying bundle {o.Bundle}");
        var bundle = BundleVerifier.Verify(o.Bundle, o.PublicKey);
        var m = bundle.Manifest;
        log.WriteLine($"  good: {DisplayText.Of(m.ProductName)} {DisplayText.Of(m.ProductVersion)}, {m.Parts.Count} parts, {ByteSize.Format(bundle.TotalBytes)}, signed by key {bundle.KeyId}");

        var problems = new List<string>();
        long ram = SystemFacts.MemTotalBytes(root);
        long bundleBytes = bundle.IsSingleFile ? bundle.TotalBytes
            : BundleFile.SingleFileSize(bundle.ManifestBytes.Length, bundle.SignatureBytes.Length, m.Parts.Select(p => p.Size));
        // Stage two reads the bundle where it lies on the disk (through its extents), never into RAM: what it needs is
        // its own memory beside the conversion kernel and initramfs, which GRUB loads and the kernel unpacks into RAM.
        // (This rule used to add the bundle's size, which refused a bundle larger than RAM - 768 MiB that converts.)
        long bootFiles = m.Parts.Where(p => p.Role is PartRoles.Kernel or PartRoles.Initramfs).Sum(p => p.Size);
        long needRam = Math.Max(m.MinimumRamBytes, bootFiles + m.StageTwoMemoryBytes);
        log.WriteLine($"RAM:  {ByteSize.Format(ram)} (MemTotal); needs {ByteSize.Format(needRam)} = max(minimum {ByteSize.Format(m.MinimumRamBytes)}, " +
            $"conversion kernel + initramfs {ByteSize.Format(bootFiles)} + stage two {ByteSize.Format(m.StageTwoMemoryBytes)}; the bundle stays on the disk)");
        if (ram < needRam) problems.Add($"RAM {ByteSize.Format(ram)} is less than the {ByteSize.Format(needRam)} the conversion needs");
        var where = SystemFacts.RootDevice(root);
        string disk = where.DiskName;
        long diskBytes = where.DiskBytes;
        log.WriteLine($"disk: {disk} {ByteSize.Format(diskBytes)} ({diskBytes} bytes) holds /; the layout needs {ByteSize.Format(m.MinimumDiskBytes)} ({m.MinimumDiskBytes} bytes)");
        if (diskBytes < m.MinimumDiskBytes) problems.Add($"disk {disk} has {diskBytes} bytes, the layout needs {m.MinimumDiskBytes}");
        string? identity = SystemFacts.RootDiskIdentity(root, where, out var tried);
        if (identity is null)
            problems.Add($"cannot name the disk {disk} holding / so that the conversion boot finds it again (rd.nativeinit.disk=): {tried}");
        else log.WriteLine($"      identity for the conversion boot: rd.nativeinit.disk={identity}");
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
        var leftover = StagingLeftover.None;
        if (Directory.Exists(stageDir))
        {
            if (grub is not null && StagingDirectory.IsHalfWritten(root, stageDir)) leftover = StagingLeftover.HalfWritten;
            else problems.Add($"{stageDir} exists: already staged (run 'nativeinit stage --undo' first)");
        }
        long? bootOffset = SystemFacts.PartitionOffset(root, "/" + Path.GetRelativePath(root, boot));
        IReadOnlyList<DiskRange> keepOut = [];
        if (problems.Count == 0 && bootOffset is not null)
        {
            try { keepOut = BundlePlacement.KeepOut(bundle, diskBytes); }
            catch (RefusedException e) { problems.Add(e.Message); }
        }
        if (problems.Count > 0) throw new RefusedException("refused, nothing was written: " + string.Join("; ", problems));

        log.WriteLine($"carry: {carry.Files.Count} files ({string.Join(", ", carry.Files.Select(f => DisplayText.Of(f.Path)))}), " +
            $"password hashes of {carry.Passwords.Count} users ({string.Join(", ", carry.Passwords.Select(p => DisplayText.Of(p.User)))})");

        string grubPath = SystemFacts.PathOnItsFilesystem(root, boot) + "/" + StageDirName;
        string cmdline = $"rd.nativeinit=convert rd.nativeinit.bundle={grubPath}/{BundleFileName} rd.nativeinit.disk={identity}" +
            (m.KernelCommandLine.Length > 0 ? " " + m.KernelCommandLine : "");
        var plan = new StagePlan
        {
            Options = o, Root = root, BootDir = boot, StageDir = stageDir, Bundle = bundle,
            RamBytes = ram, RamNeededBytes = needRam, Disk = disk, DiskBytes = diskBytes, DiskNeededBytes = m.MinimumDiskBytes,
            BootFreeBytes = bootFree, BootNeededBytes = staged + BootReserveBytes, DiskIdentity = identity!, Grub = grub!,
            GrubPath = grubPath, KernelCommandLine = cmdline,
            EntryText = ConversionMenuEntry.Text(grubPath, BundleFile.KernelName, BundleFile.InitramfsName, cmdline),
            StagedBundleBytes = bundleBytes, CarryJson = carryJson, CarriedFiles = carry.Files.Select(f => f.Path).ToList(),
            CarriedPasswordUsers = carry.Passwords.Select(p => p.User).ToList(), BootPartitionOffset = bootOffset, KeepOut = keepOut,
            Leftover = leftover,
        };
        plan.WriteText(log);
        return plan;
    }

    /// <summary>
    /// Writes the plan. <paramref name="interrupted"/> returns the name of a signal that asked the run to stop (or
    /// null); it is looked at between the writes until the boot configuration is written. Any failure or interruption
    /// before then undoes everything written and rethrows.
    /// </summary>
    public static StageResult Execute(StagePlan plan, TextWriter log, Func<string?>? interrupted = null)
    {
        var runLog = log as RunLog;
        string stageDir = plan.StageDir, root = plan.Root;
        var grub = plan.Grub;
        var bundle = plan.Bundle;
        var m = bundle.Manifest;

        void ThrowIfInterrupted()
        {
            if (interrupted?.Invoke() is { } signal)
                throw new StageInterruptedException($"interrupted by {signal} before the boot configuration was changed");
        }

        void Checkpoint(string point)
        {
            StageTestHooks.Point(point);
            ThrowIfInterrupted();
        }

        if (plan.Leftover == StagingLeftover.HalfWritten)
        {
            log.WriteLine($"removing the half-written {stageDir}/ of an interrupted run");
            StagingDirectory.Remove(root, stageDir, TextWriter.Null);
        }
        StagingDirectory.RemoveLeftover(stageDir);

        var changes = new List<UndoChange>();
        FileExtents? extents = null;
        int attempts = 0;
        Directory.CreateDirectory(stageDir);
        runLog?.OpenFile(Path.Combine(stageDir, LogFileName));
        try
        {
            // 1. The undo record, before anything outside BOOT/nativeinit changes.
            var undoDir = Path.Combine(stageDir, "undo");
            Directory.CreateDirectory(undoDir);
            foreach (var file in new[] { grub.CustomCfg, grub.EnvFile })
            {
                var rel = Path.GetRelativePath(root, file);
                if (File.Exists(file))
                {
                    var bytes = File.ReadAllBytes(file);
                    var copy = Path.Combine(undoDir, rel.Replace('/', '_'));
                    AtomicFile.Write(copy, bytes, File.GetUnixFileMode(file));
                    changes.Add(new UndoChange(rel, true, Blake3.Hasher.Hash(bytes).ToString(), bytes.Length, Path.GetRelativePath(root, copy),
                        File.GetUnixFileMode(file)));
                }
                else changes.Add(new UndoChange(rel, false, null, 0, null, null));
            }
            UndoRecord.Write(Path.Combine(stageDir, UndoFileName), Path.GetRelativePath(root, stageDir), changes);
            Checkpoint("undo-record");

            // 2. The staged files, each fsynced.
            log.WriteLine($"writing {stageDir}/");
            CopyPart(bundle, m.Part(PartRoles.Kernel), Path.Combine(stageDir, BundleFile.KernelName));
            Checkpoint("kernel");
            CopyPart(bundle, m.Part(PartRoles.Initramfs), Path.Combine(stageDir, BundleFile.InitramfsName));
            Checkpoint("initramfs");
            WriteStagedBundle(plan, Checkpoint, ThrowIfInterrupted);
            Checkpoint("bundle");
            using (var f = new FileStream(Path.Combine(stageDir, CarryRecord.FileName), new FileStreamOptions
                   { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
                f.Write(plan.CarryJson);
                f.Flush(flushToDisk: true);
            }
            Checkpoint("carry");

            // 3. Where the bundle lies, clear of stage two's first writes.
            (extents, attempts) = BundlePlacement.Place(plan.StagedBundle, plan.BootPartitionOffset, plan.KeepOut, log);
            var extentsJson = JsonText.ToUtf8(w => extents.WriteJson(w, plan.GrubPath + "/" + BundleFileName, plan.KeepOut));
            AtomicFile.Write(Path.Combine(stageDir, ExtentsFileName), extentsJson);
            Checkpoint("extents");

            // 4. Verify what will be booted from.
            log.WriteLine($"verifying the staged copy {plan.StagedBundle}");
            BundleVerifier.Verify(plan.StagedBundle, plan.Options.PublicKey);
            AtomicFile.SyncDirectory(stageDir);
            runLog?.Sync();
            Checkpoint("verified");
        }
        catch (Exception e)
        {
            RollBack(plan, log, runLog, e);
            throw;
        }

        // 5. Last, each atomically: the entry, then the one-shot. From here the run completes whatever signal comes.
        try
        {
            StagedBootEntry.WriteEntry(grub, plan.EntryText);
            StageTestHooks.Point("custom.cfg");
            // GRUB reads /boot without replaying its file system's log. custom.cfg is a rename, which until written back
            // in place exists only in the log: a power cut right after the one-shot was set left GRUB with next_entry
            // naming an entry it could not find, and it booted the old system with the one-shot spent
            // (tools/vm-test powercut, the point after stage one's commit). The entry goes in place before the one-shot.
            if (Path.GetFullPath(root) == "/") CheckpointBoot(grub.GrubDir, log);
            StagedBootEntry.SetNextEntry(grub.EnvFile);
            StageTestHooks.Point("grubenv");
        }
        catch (Exception e)
        {
            RollBack(plan, log, runLog, e);
            throw;
        }

        log.WriteLine("changed:");
        log.WriteLine($"  added   {stageDir}/ (kernel, initramfs, {BundleFileName}, {CarryRecord.FileName}, {ExtentsFileName}, {UndoFileName}, {LogFileName}, undo/)");
        foreach (var c in changes) log.WriteLine($"  {(c.Existed ? "changed" : "created")} {Path.Combine(root, c.Path)}");
        log.WriteLine($"the next boot (only) starts the conversion: entry '{ConversionMenuEntry.Title}' ({ConversionMenuEntry.Id})");
        if (interrupted?.Invoke() is { } late) log.WriteLine($"({late} arrived while the boot configuration was written: staging was completed)");
        log.WriteLine($"undo: nativeinit stage --undo --root {plan.Options.Root} --boot-dir {plan.Options.BootDir}");
        runLog?.CloseFile();
        StageTestHooks.Point("done");
        return new StageResult(plan, [stageDir + "/", .. changes.Select(c => Path.Combine(root, c.Path))], extents, attempts,
            Path.Combine(stageDir, LogFileName));
    }

    /// <summary>Writes the file system holding <paramref name="grubDir"/> back in place (FIFREEZE + FITHAW,
    /// <see cref="Platform.FilesystemCheckpoint"/>), only on the running system (a test's tree is never read by GRUB).
    /// A file system frozen by someone else is waited for (up to 5 s); one that cannot be frozen is logged and staging
    /// goes on: a power cut in the next moment then boots the old system once, which is safe.</summary>
    private static void CheckpointBoot(string grubDir, TextWriter log)
    {
        for (int attempt = 0; ; attempt++)
        {
            try { Platform.FilesystemCheckpoint.Run(grubDir); return; }
            catch (Platform.PosixException e) when (e.Errno == Platform.PosixError.EBUSY && attempt < 50) { Thread.Sleep(100); }
            catch (Platform.PosixException e)
            {
                log.WriteLine($"note: {e.Message}: the boot entry could not be written back in place before the one-shot; " +
                    "a power cut in the next seconds boots the old system once");
                return;
            }
        }
    }

    private static void RollBack(StagePlan plan, TextWriter log, RunLog? runLog, Exception e)
    {
        log.WriteLine(e is StageInterruptedException ? $"{e.Message}: undoing what was written" : "staging failed: undoing what was written");
        runLog?.FileOnly(e.ToString());
        string? kept = null;
        if (runLog?.FilePath is not null)
        {
            runLog.CloseFile();
            try
            {
                var dir = Path.Combine(plan.Root, KeptLogDir);
                Directory.CreateDirectory(dir);
                kept = Path.Combine(dir, "stage-failed.log");
                File.Copy(Path.Combine(plan.StageDir, LogFileName), kept, overwrite: true);
            }
            catch (Exception ce) when (ce is IOException or UnauthorizedAccessException) { kept = null; }
        }
        try
        {
            // Before undo.json exists nothing outside the staging directory has changed yet.
            StagingDirectory.Remove(plan.Root, plan.StageDir, TextWriter.Null);
        }
        catch (Exception ue) when (ue is NativeInitException or IOException or UnauthorizedAccessException)
        {
            log.WriteLine($"undo failed too: {ue.Message}");
        }
        if (kept is not null) log.WriteLine($"the log of this run is kept in {kept}");
    }

    /// <summary>The single-file bundle, written and fsynced (a directory bundle is packed into that form).</summary>
    private static void WriteStagedBundle(StagePlan plan, Action<string> checkpoint, Action throwIfInterrupted)
    {
        var bundle = plan.Bundle;
        long total = plan.StagedBundleBytes, written = 0;
        bool halfTold = false;
        void Progress(long n)
        {
            // A large bundle takes a while: a signal stops the copy every 64 MiB, not only at the end.
            if (n >> 26 != written >> 26) throwIfInterrupted();
            written = n;
            if (!halfTold && written >= total / 2) { halfTold = true; checkpoint("bundle-half"); }
        }
        using var dst = new FileStream(plan.StagedBundle, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        if (bundle.IsSingleFile)
        {
            using var src = new FileStream(bundle.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            var buffer = new byte[1 << 20];
            int n;
            while ((n = src.Read(buffer)) > 0)
            {
                dst.Write(buffer, 0, n);
                Progress(written + n);
            }
        }
        else BundleFile.WriteSingleFile(bundle.Path, bundle.Manifest, dst, Progress);
        dst.Flush(flushToDisk: true);
        if (dst.Length != total) throw new NativeInitException($"{plan.StagedBundle}: wrote {dst.Length} bytes, expected {total}");
    }

    /// <summary>Restores every boot-configuration file listed in undo.json to its original bytes (checked against the
    /// recorded hash), deletes the files stage one created, and removes BOOT/nativeinit. A half-written staging
    /// directory (no undo.json: the boot configuration was never changed) is removed.</summary>
    public static void Undo(string rootArg, string bootDir, TextWriter log)
    {
        string root = Path.GetFullPath(rootArg);
        string stageDir = Path.Combine(root, bootDir.TrimStart('/'), StageDirName);
        if (!Directory.Exists(stageDir))
        {
            if (StagingDirectory.RemoveLeftover(stageDir))
            {
                log.WriteLine($"removed  {stageDir}{RemovingSuffix}/ (left by an interrupted undo)");
                return;
            }
            throw new NativeInitException($"nothing to undo: {stageDir} does not exist");
        }
        var undoFile = Path.Combine(stageDir, UndoFileName);
        if (!File.Exists(undoFile))
            log.WriteLine($"{undoFile} was never written: the boot configuration was not changed; removing the half-written {stageDir}/");
        StagingDirectory.Remove(root, stageDir, log);
    }

    private static void CopyPart(VerifiedBundle bundle, BundlePart part, string dest)
    {
        using (var src = bundle.OpenPart(part))
        using (var dst = new FileStream(dest, FileMode.CreateNew, FileAccess.Write))
        {
            src.CopyTo(dst, 1 << 20);
            dst.Flush(flushToDisk: true);
            if (dst.Length != part.Size) throw new NativeInitException($"{dest}: copied {dst.Length} bytes of {part.Size}");
        }
        if (ContentHash.HashFile(dest).Hex != part.Hash) throw new NativeInitException($"{dest}: the copy's hash differs from the manifest");
    }
}

/// <summary>SIGINT or SIGTERM stopped stage one before its boot configuration was written; it undid its writes.</summary>
public sealed class StageInterruptedException(string message) : NativeInitException(message, ExitCodes.Failure);
