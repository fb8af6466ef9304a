using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Extraction;
using NativeInit.Core.Bundle;
using NativeInit.Core.Carry;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Layout;
using NativeInit.Core.Lvm;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Conversion;

/// <summary>What `convert` and `status` are asked to work on.</summary>
public sealed record ConvertOptions
{
    /// <summary>The disk image file (or block device) to convert.</summary>
    public required string Target { get; init; }
    public required bool IsImage { get; init; }
    /// <summary>The staged bundle's path inside the old root file system; null: the default places.</summary>
    public string? Bundle { get; init; }
    public required byte[] PublicKey { get; init; }
}

/// <summary>What `status` reports.</summary>
public sealed record ConvertStatus(string State, string Target, string Found, ConvertJournal? Journal, string? JournalLocation, string NextBoot)
{
    public const string NotConverted = "not converted", InProgress = "in progress", Done = "done";

    /// <summary>The first step of the conversion the journal does not have as Done.</summary>
    public string? NextStep => Journal is null ? null : ConvertJob.Steps.FirstOrDefault(s => !Journal.IsDone(s));

    public void WriteText(TextWriter w)
    {
        w.WriteLine($"{Target}: {State}" + (State == InProgress && NextStep is { } n
            ? $" at step {n} ({(Journal!.Find(n)?.State == StepState.Pending ? "started, not finished" : "not started")})" : ""));
        w.WriteLine($"  found: {Found}");
        if (Journal is { } j)
        {
            w.WriteLine($"  journal: {JournalLocation}; started {j.StartedAt:u}" + (j.FinishedAt is { } f ? $", finished {f:u}" : ""));
            w.WriteLine($"  bundle: {DisplayText.Of(j.BundleProduct)}, {ByteSize.Format(j.BundleBytes)} in {j.BundleRuns.Count} extents on the disk, key {j.BundleKeyId}");
            w.WriteLine($"  unprotected window: {ByteSize.Format(j.UnprotectedWindowBytes)} ({j.UnprotectedWindowBytes} bytes) written in {j.UnprotectedWindowMilliseconds} ms before a resume was possible");
            foreach (var s in j.Steps) w.WriteLine($"  step {s.Name,-16} {(s.State == StepState.Done ? "done" : "pending"),-8} {s.At:u}  {s.Detail}");
            if (j.LastError is not null) w.WriteLine($"  last error: {j.LastError}");
        }
        w.WriteLine($"  next boot: {NextBoot}");
    }

    public void WriteJson(Utf8JsonWriter j)
    {
        j.WriteStartObject();
        j.WriteNumber("schemaVersion", 1);
        j.WriteString("target", Target);
        j.WriteString("state", State);
        j.WriteString("found", Found);
        if (State == InProgress && NextStep is { } n) j.WriteString("step", n);
        if (JournalLocation is not null) j.WriteString("journal", JournalLocation);
        if (Journal is { } jr)
        {
            j.WriteStartObject("unprotectedWindow");
            j.WriteNumber("bytes", jr.UnprotectedWindowBytes);
            j.WriteNumber("milliseconds", jr.UnprotectedWindowMilliseconds);
            j.WriteEndObject();
            j.WriteStartArray("steps");
            foreach (var s in jr.Steps)
            {
                j.WriteStartObject();
                j.WriteString("name", s.Name);
                j.WriteString("state", s.State == StepState.Done ? "done" : "pending");
                j.WriteString("detail", s.Detail);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            if (jr.LastError is not null) j.WriteString("lastError", jr.LastError);
        }
        j.WriteString("nextBoot", NextBoot);
        j.WriteEndObject();
    }
}

/// <summary>
/// Stage two, `nativeinit convert`: the one entry point the CLI and the tests call. <see cref="Plan"/> runs every
/// check and writes nothing; <see cref="Run"/> executes the plan as named steps with a journal on the new /boot
/// (docs: CONVERT-DESIGN, issue 12); <see cref="Status"/> reads that journal. The bundle is read only through its
/// extents on the disk (<see cref="ExtentReadStream"/>), verified that way, and never copied.
/// </summary>
public static class ConvertJob
{
    public const string StepPartitionTable = "partition-table", StepBootFilesystem = "boot-filesystem", StepBootFiles = "boot-files",
        StepLvm = "lvm", StepExtract = "extract", StepCarry = "carry", StepFstab = "fstab", StepSelinux = "selinux", StepVolumes = "volumes",
        StepBootloader = "bootloader", StepFinish = "finish";

    public static readonly string[] Steps =
        [StepPartitionTable, StepBootFilesystem, StepBootFiles, StepLvm, StepExtract, StepCarry, StepFstab, StepSelinux, StepVolumes, StepBootloader, StepFinish];

    /// <summary>Where stage one stages the bundle, relative to the old root.</summary>
    public static readonly string[] BundleLocations = ["boot/nativeinit/bundle.tar", "nativeinit/bundle.tar"];

    /// <summary>The memory the run needs: decoder buffers (4 x 1 MiB ring, 1 MiB reads, the zstd/xz window) and the
    /// runtime, with room; the bundle itself is never in RAM.</summary>
    public const long MemoryNeededBytes = 256L << 20;

    /// <summary>Room the new root needs beyond the unpacked rootfs: 20% + 256 MiB.</summary>
    public static long RootNeeded(long uncompressed) => uncompressed + uncompressed / 5 + (256L << 20);

    private const string LayoutDir = "layout", KeptDir = "bundle-kept";

    /// <summary>The bundle's parts not kept on /boot (ConvertJournal.KeptBundleDirectoryName): the rootfs is consumed by
    /// the extraction, and the conversion kernel and initramfs are on /boot already as the resume's own files.</summary>
    public static readonly IReadOnlySet<string> NotKeptRoles = new HashSet<string>(StringComparer.Ordinal) { PartRoles.Rootfs, PartRoles.Kernel, PartRoles.Initramfs };

    // ---------------------------------------------------------------- plan (writes nothing)

    public static ConvertPlan Plan(ConvertOptions o, WorkDirectory work, TextWriter log)
    {
        if (!File.Exists(o.Target)) throw new RefusedException($"{o.Target}: no such {(o.IsImage ? "image file" : "disk")}");
        if (!Environment.IsPrivilegedProcess) throw new RefusedException($"{o.Target}: converting needs loop devices and mounts, which need root");
        if (o.IsImage) LayoutPlanner.RefuseIfImageInUse(o.Target);

        using var disk = DiskDevice.Open(o.Target, writable: false);
        // --disk takes the steps of --image; only the way to the new LVs differs (NewVolumes: device-mapper on a disk,
        // loop devices at the LVs' offsets in an image).
        if (o.IsImage && disk.IsBlockDevice) throw new UsageException($"{o.Target} is a block device: use --disk");
        if (!o.IsImage && !disk.IsBlockDevice) throw new UsageException($"{o.Target} is not a block device: use --image for an image file");

        ConvertJournal? journal = null;
        IReadOnlyDictionary<string, string> oldVolumes = new Dictionary<string, string>();
        string found;
        IReadOnlyList<DiskRun> runs;
        string bundlePath;
        CarryRecord carry;
        VerifiedBundle bundle;
        var gpt = GptReader.Read(disk);
        if (gpt.Table is { } table)
        {
            var at = FindJournal(o.Target, disk, table, work, writableForBroken: true, copyKeptTo: work.Combine(KeptDir))
                ?? throw new RefusedException($"{o.Target}: holds a GPT and no conversion journal on any of its partitions: " +
                    "not a legacy MBR disk, and not a conversion under way (a conversion that failed inside its unprotected window, " +
                    "before its journal was on the new /boot, leaves such a disk: docs/recovery.md, \"Inside the unprotected window\")");
            journal = at.Journal;
            found = $"a conversion journal ({at.Location}), state {journal.State}";
            runs = journal.BundleRuns;
            if (journal.IsDone(StepExtract) && Directory.Exists(work.Combine(KeptDir)))
            {
                // The rootfs is on the new root: the steps after it (the other volumes' mkfs, the root's growth) write
                // over the bundle's extents, so a resume from here reads the copy boot-files kept on /boot.
                bundlePath = $"the copy of the bundle kept on /boot ({at.Location.Replace(ConvertJournal.FileName, ConvertJournal.KeptBundleDirectoryName, StringComparison.Ordinal)}; " +
                    "the extraction is done, the bundle's extents may be overwritten)";
                try { bundle = BundleVerifier.VerifyKept(work.Combine(KeptDir), o.PublicKey, NotKeptRoles); }
                catch (BundleVerificationException e) { throw new NativeInitException($"{bundlePath}: {e.Message}", ExitCodes.FailedAfterPointOfNoReturn, e); }
                log.WriteLine($"bundle: signature and the kept parts verified in {bundlePath}");
            }
            else
            {
                bundlePath = $"{o.Target} at the {runs.Count} extents the journal records";
                // Past the point of no return a bundle that no longer verifies is not a refusal before any write (exit 3).
                try { bundle = VerifyThroughExtents(o.Target, runs, bundlePath, o.PublicKey, log); }
                catch (BundleVerificationException e)
                {
                    throw new NativeInitException($"{e.Message}; the conversion is past its point of no return (journal at step " +
                        $"{Steps.FirstOrDefault(s => !journal.IsDone(s))}) and cannot go on without its bundle", ExitCodes.FailedAfterPointOfNoReturn, e);
                }
            }
            if (Hash(bundle.ManifestBytes) != journal.ManifestHash)
                throw new NativeInitException($"{o.Target}: the bundle at the journal's extents is not the one the conversion started with " +
                    "(manifest differs)", ExitCodes.FailedAfterPointOfNoReturn);
            carry = at.Carry ?? throw new NativeInitException($"{at.Location}: {ConvertJournal.CarryFileName} is missing beside the journal", ExitCodes.FailedAfterPointOfNoReturn);
        }
        else
        {
            var legacy = LegacyLayout.Recognise(disk);
            found = legacy.Description;
            log.WriteLine($"found {legacy.Description}");
            oldVolumes = OldVolumeGroup.ActiveVolumes(disk, legacy);
            string old = work.Combine("old"), oldBoot = work.Combine("oldboot");
            if (legacy.Kind == LegacyLayout.MbrBootRoot)
            {
                // Which partition is the root: the one with /etc (read-only mounts, nothing written).
                bool firstIsRoot, secondIsRoot;
                using (var a = VolumeMount.Mount(o.Target, legacy.RootOffset, legacy.RootLength, legacy.RootFilesystem, old, readOnly: true))
                    secondIsRoot = Directory.Exists(System.IO.Path.Combine(old, "etc"));
                using (var b = VolumeMount.Mount(o.Target, legacy.BootOffset!.Value, legacy.BootLength!.Value, legacy.BootFilesystem!, oldBoot, readOnly: true))
                    firstIsRoot = Directory.Exists(System.IO.Path.Combine(oldBoot, "etc"));
                if (firstIsRoot == secondIsRoot)
                    throw new RefusedException($"{o.Target}: {legacy.Description}: {(firstIsRoot ? "both hold" : "neither holds")} /etc: cannot tell the root from /boot");
                if (firstIsRoot) legacy = legacy.Swapped();
                found = legacy.Description;
            }
            using (var mount = VolumeMount.Mount(o.Target, legacy.RootOffset, legacy.RootLength, legacy.RootFilesystem, old, readOnly: true))
            using (var bootMount = legacy.BootOffset is { } bo
                ? VolumeMount.Mount(o.Target, bo, legacy.BootLength!.Value, legacy.BootFilesystem!, oldBoot, readOnly: true) : null)
            {
                // The bundle: on the root (/boot/nativeinit or /nativeinit), or on the old /boot partition (nativeinit/).
                string? rel = FindBundle(old, o.Bundle);
                string where = old;
                long partOffset = legacy.RootOffset, partLength = legacy.RootLength;
                if (rel is null && bootMount is not null)
                {
                    string? inBoot = o.Bundle is null ? "nativeinit/bundle.tar"
                        : o.Bundle.StartsWith("/boot/", StringComparison.Ordinal) ? o.Bundle["/boot/".Length..] : null;
                    if (inBoot is not null && File.Exists(System.IO.Path.Combine(oldBoot, inBoot)))
                        (rel, where, partOffset, partLength) = ("boot/" + inBoot, oldBoot, legacy.BootOffset!.Value, legacy.BootLength!.Value);
                }
                if (rel is null) throw new RefusedException($"{o.Target}: no staged bundle in the old root " +
                    $"({string.Join(", ", (o.Bundle is null ? BundleLocations : [o.Bundle.TrimStart('/')]).Select(b => "/" + b))}): run stage one (nativeinit stage) first");
                bundlePath = $"/{rel} on the old system ({o.Target})";
                string file = where == old ? System.IO.Path.Combine(old, rel) : System.IO.Path.Combine(oldBoot, rel["boot/".Length..]);
                runs = DiskRuns(file, partOffset, partLength, bundlePath);
                bundle = VerifyThroughExtents(o.Target, runs, bundlePath, o.PublicKey, log);
                CarryPolicy? policy = null;
                if (bundle.Manifest.FindPart(PartRoles.CarryPolicy) is { } pp)
                    policy = CarryPolicy.Parse(ReadPart(bundle, pp), $"bundle part {pp.Name}");
                carry = CarryRecord.Capture(old, policy);
                log.WriteLine($"captured {carry.Files.Count} files and {carry.Passwords.Count} password hashes from the old root (read-only)");
            }
        }

        // The layout from the bundle, in a scratch directory (the file and its partition table).
        var layout = LoadLayout(bundle, work.Combine(LayoutDir));
        var bootSpec = layout.BootPartition ?? throw new RefusedException($"bundle layout: no entry in \"partitions\" with mountPoint /boot " +
            "(convert keeps its journal, the carried configuration and the conversion kernel on /boot)");
        LvmIdentity? identity = journal is null ? null : new LvmIdentity
        {
            VgId = journal.VgId, PvId = journal.PvId, LvIds = journal.LvIds, Time = journal.LvmTime, Host = journal.LvmHost,
        };
        var plan = LayoutPlanner.Plan(layout, disk, identity, oldVolumes.Keys.ToHashSet(StringComparer.Ordinal));
        if (journal is not null && plan.Table.DiskGuid.ToString() != journal.DiskGuid)
            throw new NativeInitException($"{o.Target}: the bundle's partition table has disk GUID {plan.Table.DiskGuid}, the journal {journal.DiskGuid}", ExitCodes.FailedAfterPointOfNoReturn);
        int ss = plan.SectorSize;
        var bootPart = plan.Table.Find(bootSpec.Number) ?? throw new RefusedException($"bundle layout: partitions: /boot is partition {bootSpec.Number}, " +
            $"which the partition table does not have (entries: {string.Join(", ", plan.Table.Partitions.Select(p => p.Number))})");
        var root = plan.Volumes.FirstOrDefault(v => v.Spec.MountPoint == "/")
            ?? throw new RefusedException("bundle layout: no logical volume with mountPoint /");
        if (root.Spec.Filesystem is not ("xfs" or "ext4" or "ext3" or "ext2"))
            throw new RefusedException($"bundle layout: LV {root.Name} (mountPoint /) has filesystem {root.Spec.Filesystem ?? "none"}; convert needs xfs or ext2/3/4");

        // The conversion's own GRUB: installed with /boot's files, so that from then on the disk boots into the resume.
        var bios = plan.Table.Partitions.FirstOrDefault(p => p.Type == GptPartitionTypes.BiosBoot.Guid)
            ?? throw new RefusedException("bundle partition table: no BIOS boot (EF02) partition for GRUB's core.img");
        var grubCorePart = bundle.Manifest.FindPart(PartRoles.GrubCore);
        var grubBootPart = bundle.Manifest.FindPart(PartRoles.GrubBoot);
        if (grubCorePart is null || grubBootPart is null)
            throw new RefusedException($"bundle {DisplayText.Of(bundle.Manifest.ProductName)} {DisplayText.Of(bundle.Manifest.ProductVersion)}: no conversion GRUB " +
                $"(parts with roles {PartRoles.GrubCore} and {PartRoles.GrubBoot}); without it a power cut during the conversion leaves a disk that does not boot: " +
                "make the bundle again with this version's `nativeinit bundle create`");
        byte[] grubCore = ReadPart(bundle, grubCorePart), grubBoot = ReadPart(bundle, grubBootPart);
        if (grubBoot.Length != Boot.GrubPcFormat.SectorSize)
            throw new RefusedException($"bundle part {grubBootPart.Name}: {grubBoot.Length} bytes; a GRUB boot.img is {Boot.GrubPcFormat.SectorSize}");
        if (Boot.ConversionGrub.RoomProblem(grubCore.Length, bios.ByteLength(ss)) is { } room)
            throw new RefusedException($"bundle partition table: BIOS boot partition {bios.Number}: {room}");
        // Every refusal of the install that does not need the written GPT, now: the install comes after the first write.
        Boot.GrubBiosInstaller.CheckImages(new Boot.GrubBiosTarget(o.Target, bios.ByteOffset(ss), bios.ByteLength(ss), bootPart.Number, bootSpec.Filesystem!, null)
            { CoreOffset = Boot.ConversionGrub.ConversionCoreOffset }, ss, grubCore, grubBoot, $"bundle part {grubCorePart.Name}");

        // Early writes: until the journal, the carry record and the extents are on /boot, nothing may touch the bundle.
        var early = new List<EarlyWrite>();
        foreach (var w in plan.Gpt.TableWrites) early.Add(new EarlyWrite(w.What, w.Offset, w.Length));
        foreach (var w in plan.Gpt.WipeWrites) early.Add(new EarlyWrite(w.What, w.Offset, w.Length));
        foreach (var p in plan.Table.Partitions.Where(p => p.Type == GptPartitionTypes.BiosBoot.Guid))
            early.Add(new EarlyWrite($"BIOS boot partition {p.Number} (GRUB core.img)", p.ByteOffset(ss), p.ByteLength(ss)));
        early.Add(new EarlyWrite($"/boot partition {bootPart.Number} ({bootSpec.Filesystem}, journal, carry, kernel, initramfs)", bootPart.ByteOffset(ss), bootPart.ByteLength(ss)));
        early.Add(new EarlyWrite("LVM PV label and metadata area", plan.PvOffset, plan.Geometry.PeStartBytes));
        if (journal is null)
            foreach (var e in early)
                foreach (var r in runs)
                    if (r.Overlaps(e.Offset, e.Length))
                        throw new RefusedException($"{o.Target}: the bundle's extent at bytes {r.DiskOffset}..{r.End - 1} lies under an early write " +
                            $"({e.What}, bytes {e.Offset}..{e.Offset + e.Length - 1}); stage again: stage one places the bundle elsewhere");

        // The new root is made first only as large as fits before the bundle's first extent inside its LV.
        long needed = RootNeeded(bundle.Manifest.Rootfs.UncompressedSize);
        long initial = journal?.RootInitialBytes ?? RootInitial(root, runs);
        if (initial < needed)
            throw new RefusedException($"{o.Target}: the new root can first be made with only {ByteSize.Format(initial)} ({initial} bytes) before the bundle's " +
                $"extents inside LV {root.Name}, and the rootfs needs {ByteSize.Format(needed)} ({needed} bytes); stage again: stage one places the bundle elsewhere");

        // SELinux as the bundle says (checked now: a bad part refuses before any write).
        SelinuxSetting? selinux = bundle.Manifest.FindPart(PartRoles.SelinuxPolicy) is { } sp
            ? SelinuxSetting.Parse(ReadPart(bundle, sp), $"bundle part {sp.Name}") : null;

        // Programs and memory.
        LayoutApplier.Preflight(plan);
        if (ProgramPath.Find(LayoutApplier.MkfsProgram(bootSpec.Filesystem)) is null)
            throw new RefusedException($"/boot partition {bootSpec.Number}: {LayoutApplier.MkfsProgram(bootSpec.Filesystem)} is not installed");
        foreach (var grow in new[] { root.Spec.Filesystem == "xfs" ? "xfs_growfs" : "resize2fs" })
            if (ProgramPath.Find(grow) is null) throw new RefusedException($"LV {root.Name}: {grow} is not installed (the root is grown once the bundle is consumed)");
        var grubReasons = new List<string>();
        string grubTool = GrubPreflight(bundle.Manifest.Rootfs, Boot.GrubImageTool.Find(null, grubReasons)?.Description, grubReasons);
        long avail = MemAvailable();
        if (avail < MemoryNeededBytes)
            throw new RefusedException($"memory: MemAvailable is {ByteSize.Format(avail)}, the conversion needs {ByteSize.Format(MemoryNeededBytes)}");

        bool resuming = journal is not null;
        journal ??= NewJournal(o.Target, found, bundle, runs, plan, bootPart, bootSpec, initial);
        return new ConvertPlan
        {
            Target = o.Target,
            IsImage = o.IsImage,
            DiskBytes = disk.SizeBytes,
            OldLayout = found,
            OldVolumes = [.. oldVolumes.Values],
            Journal = journal,
            Resuming = resuming,
            BundlePath = bundlePath,
            Bundle = bundle,
            BundleRuns = runs,
            Layout = plan,
            BootSpec = bootSpec,
            BootPartition = bootPart,
            EarlyWrites = early,
            RootVolume = root,
            RootInitialBytes = initial,
            RootNeededBytes = needed,
            Carry = carry,
            Steps = Steps,
            MemAvailableBytes = avail,
            MemNeededBytes = MemoryNeededBytes,
            Selinux = selinux,
            GrubCore = grubCore,
            GrubBoot = grubBoot,
            BiosBootPartition = bios,
            GrubTool = grubTool,
        };
    }

    /// <summary>Which grub-mkimage the bootloader step will use (Boot/GrubImageTool prefers the target's own): the
    /// rootfs's, as bundle create recorded it, else this environment's (<paramref name="hostTool"/>). Refused when the
    /// bundle says its rootfs has none and this environment has none either: the bootloader step would fail after the
    /// point of no return. A bundle made before the record (null) is not refused: the step finds out.</summary>
    internal static string GrubPreflight(RootfsInfo rootfs, string? hostTool, IReadOnlyList<string> hostReasons)
    {
        if (!string.IsNullOrEmpty(rootfs.GrubMkimage)) return $"the rootfs's own /{rootfs.GrubMkimage} with /{GrubPaths.ModuleSubdirectory}";
        if (hostTool is not null)
            return $"{hostTool} with /{GrubPaths.ModuleSubdirectory} of this environment" +
                (rootfs.GrubMkimage is null ? " (the bundle does not record whether its rootfs has GRUB; the rootfs's is used if it has)" : " (the rootfs has none)");
        if (rootfs.GrubMkimage is null)
            return $"the rootfs's own grub-mkimage, if it has one: the bundle does not record it, and this environment has none ({string.Join("; ", hostReasons)})";
        throw new RefusedException($"grub: the bundle's rootfs has no grub-mkimage with /{GrubPaths.ModuleSubdirectory} (bundle create looked), and neither has this " +
            $"environment ({string.Join("; ", hostReasons)}): the bootloader step could not make the converted system's core.img. " +
            "Put GRUB's BIOS tools in the rootfs (grub2-pc + grub2-pc-modules on CentOS, grub-pc on Debian) or in the conversion initramfs");
    }

    private static long RootInitial(PlannedVolume root, IReadOnlyList<DiskRun> runs)
    {
        long end = root.DiskOffset + root.SizeBytes;
        long first = runs.Where(r => r.Overlaps(root.DiskOffset, root.SizeBytes)).Select(r => Math.Max(r.DiskOffset, root.DiskOffset)).DefaultIfEmpty(end).Min();
        return (first - root.DiskOffset) / (1 << 20) * (1 << 20);
    }

    private static ConvertJournal NewJournal(string target, string found, VerifiedBundle bundle, IReadOnlyList<DiskRun> runs, LayoutPlan plan,
        GptPartition bootPart, LayoutPartition bootSpec, long initial)
    {
        var fss = new List<PlannedFilesystem>
        {
            new($"partition {bootPart.Number}", bootSpec.Filesystem, Guid.NewGuid().ToString(), bootSpec.Label, bootSpec.MountPoint),
        };
        foreach (var v in plan.Volumes.Where(v => v.Spec.Filesystem is not null))
            fss.Add(new PlannedFilesystem($"lv {v.Name}", v.Spec.Filesystem!, Guid.NewGuid().ToString(), v.Spec.Label, v.Spec.MountPoint));
        var vg = plan.VolumeGroup;
        return new ConvertJournal
        {
            Disk = target,
            OldLayout = found,
            BundleProduct = $"{bundle.Manifest.ProductName} {bundle.Manifest.ProductVersion}",
            BundleKeyId = bundle.KeyId ?? "",
            ManifestHash = Hash(bundle.ManifestBytes),
            BundleRuns = runs,
            BundleBytes = runs.Sum(r => r.Length),
            DiskGuid = plan.Table.DiskGuid.ToString(),
            VgId = vg.Id,
            PvId = vg.PhysicalVolumes[0].Id,
            LvIds = vg.LogicalVolumes.ToDictionary(l => l.Name, l => l.Id),
            LvmTime = vg.CreationTime,
            LvmHost = vg.CreationHost,
            Filesystems = fss,
            RootInitialBytes = initial,
        };
    }

    // ---------------------------------------------------------------- run

    /// <summary>Executes <paramref name="plan"/> (made by <see cref="Plan"/>): every failure after the first write is
    /// exit 4 with the way to resume. Step lines go to <paramref name="output"/>, extraction progress to
    /// <paramref name="progress"/>.</summary>
    public static void Run(ConvertPlan plan, WorkDirectory work, TextWriter output, TextWriter progress, bool progressIsTty)
    {
        if (plan.AlreadyDone)
        {
            output.WriteLine($"{plan.Target}: the conversion is done (journal state done); no changes");
            return;
        }
        var journal = plan.Journal;
        var log = new ConvertLog();
        string flag = plan.IsImage ? "--image" : "--disk";
        // Every line of the run also goes to /boot/nativeinit/convert.txt (with the plan, held until /boot is there;
        // issue 18: what a lost console did not show is kept); the JSON-lines events go to convert.log.
        var text = new RunLog(output);
        var planText = new StringWriter();
        plan.WriteText(planText);
        text.FileOnly($"--- {DateTime.UtcNow:u} nativeinit convert {flag} {plan.Target} (pid {Environment.ProcessId})\n{planText}");
        output = text;
        var runner = new StepRunner(journal, output, log.Write, "convert: ");
        string how = $"run `nativeinit convert {flag} {plan.Target} --yes` again to resume from the journal on the new /boot " +
            $"(`nativeinit status {flag} {plan.Target}` shows where it stopped)";
        // (c) on a disk: the old VG's unused LVs leave device-mapper now, before the first write.
        OldVolumeGroup.Release(plan.OldVolumes, plan.Target, output);
        using var disk = DiskDevice.Open(plan.Target, writable: true);
        disk.LockAgainstRescans();
        using var memory = new MemoryWatch(); // the run's memory, printed at its end (issue 12 step 5, issue 13 e)
        VolumeMount? boot = null;
        NewVolumes? volumes = null;
        // A journal read from the disk (a resumed run) is there since boot-files, whose partition-table step is done; a
        // fresh run's reaches the disk only at boot-files.
        bool fresh = !journal.IsDone(StepPartitionTable);
        try
        {
            PointOfNoReturn.Run(plan.Target, how, () =>
            {
                var window = Stopwatch.StartNew();
                long windowBytes = 0;
                int ss = plan.Layout.SectorSize;
                string bootDir = work.Combine("boot");

                runner.Run(StepPartitionTable, () =>
                {
                    var notified = GptApply.Execute(disk, plan.Layout.Gpt);
                    long bytes = plan.Layout.Gpt.TableWrites.Sum(w => w.Length) + plan.Layout.Gpt.WipeWrites.Sum(w => w.Length);
                    windowBytes += bytes;
                    var tableBytes = new List<byte>();
                    foreach (var w in plan.Layout.Gpt.TableWrites) tableBytes.AddRange(w.Data ?? []);
                    return ($"GPT with {plan.Layout.Table.Partitions.Count} partitions, {plan.Layout.Gpt.WipeWrites.Count} wipes, {bytes} bytes; kernel: {notified}",
                        Hash([.. tableBytes]));
                });
                runner.Run(StepBootFilesystem, () =>
                {
                    var fs = Planned(journal, $"partition {plan.BootPartition.Number}");
                    long? written;
                    using (var loop = Disk.Loop.LoopDevice.Attach(plan.Target, plan.BootOffset, plan.BootLength))
                    {
                        // What mkfs wrote, as the kernel counts it on the loop device (its counters live as long as the
                        // device, so the difference): superblocks, AG headers and the zeroed log, tens of MiB for xfs on
                        // a 1 GiB /boot; 1 MiB when /sys cannot tell.
                        long? before = BlockDeviceInfo.BytesWritten($"loop{loop.Number}");
                        Mkfs(fs, loop.DevicePath, []);
                        written = BlockDeviceInfo.BytesWritten($"loop{loop.Number}") - before;
                    }
                    windowBytes += written ?? 1 << 20;
                    return ($"{fs.Filesystem} on partition {plan.BootPartition.Number} ({ByteSize.Format(plan.BootLength)}), UUID {fs.Uuid}", null);
                });
                boot = VolumeMount.Mount(plan.Target, plan.BootOffset, plan.BootLength, plan.BootSpec.Filesystem, bootDir, readOnly: false);
                string stageDir = Path.Combine(bootDir, ConvertJournal.DirectoryName);
                Directory.CreateDirectory(stageDir);
                log.Path = Path.Combine(stageDir, ConvertJournal.LogFileName);
                text.OpenFile(Path.Combine(stageDir, ConvertJournal.TextLogFileName));
                if (journal.IsDone(StepBootFiles)) journal.SavePath = Path.Combine(stageDir, ConvertJournal.FileName);
                runner.Run(StepBootFiles, () =>
                {
                    long bytes = WriteBootFiles(plan, stageDir);
                    journal.SavePath = Path.Combine(stageDir, ConvertJournal.FileName);
                    // The journal (boot-files pending) is on /boot before the MBR boots the resume: a power cut after
                    // the MBR's write and before the step's end otherwise booted a resume that found no journal and
                    // refused (exit 3, "no conversion journal"): tools/vm-test powercut, replayed at that flush.
                    journal.Save();
                    // Last: the conversion's GRUB (grub.cfg whose default is the resume, core.img, then boot.img in the
                    // MBR). From the MBR's write on, the disk boots into the resume by itself.
                    var (cfg, grub) = InstallConversionGrub(plan, disk, bootDir);
                    TestHooks.KillAtStep(StepBootFiles + ":grub-installed");
                    bytes += cfg + grub.CoreImageBytes + Boot.GrubPcFormat.MbrCodeLength;
                    windowBytes += bytes;
                    return ($"{ConvertJournal.FileName}, {ConvertJournal.CarryFileName}, {ConvertJournal.ExtentsFileName}, layout, conversion kernel and initramfs, " +
                        $"/boot/{Boot.ConversionGrub.ConfigPath} (default: resume), conversion core.img ({grub.CoreImageBytes} bytes) at LBA {grub.CoreSector} and boot.img in the MBR: {bytes} bytes", null);
                });
                if (journal.UnprotectedWindowMilliseconds == 0)
                {
                    journal.UnprotectedWindowBytes = windowBytes;
                    journal.UnprotectedWindowMilliseconds = Math.Max(1, window.ElapsedMilliseconds);
                    journal.Save();
                    output.WriteLine($"convert: unprotected window: {ByteSize.Format(windowBytes)} ({windowBytes} bytes) in {journal.UnprotectedWindowMilliseconds} ms; from here a power cut resumes");
                }

                runner.Run(StepLvm, () =>
                {
                    var l = plan.Layout;
                    LvmDiskFormat.WriteNewPv(disk.Handle, l.PvOffset, l.Geometry, l.VolumeGroup, "pv0", l.PvDevice);
                    disk.Flush();
                    return ($"PV {l.PvDevice}, VG {l.VolumeGroup.Name} with {l.Volumes.Count} LVs", Hash(LvmDiskFormat.MetadataBytes(l.VolumeGroup)));
                });
                var lvs = volumes = plan.IsImage ? NewVolumes.ForImage(plan)
                    : NewVolumes.Activate(plan, disk, cutRoot: !journal.IsDone(StepExtract), m => output.WriteLine("convert: " + m));
                output.WriteLine($"convert: the LVs through {lvs.Via}" + (lvs.UsesDeviceMapper && !journal.IsDone(StepExtract)
                    ? $"; {plan.RootVolume.Name} mapped to its first {ByteSize.Format(plan.RootInitialBytes)} until the bundle is consumed" : ""));
                runner.Run(StepExtract, () => Extract(plan, work, boot!, lvs, progress, progressIsTty));
                runner.Run(StepCarry, () =>
                {
                    using var root = MountRoot(plan, work, boot!, lvs);
                    var r = CarryRestore.Apply(root.Directory, plan.Carry, m => output.WriteLine("convert: " + m));
                    return (r.Summary(), null);
                });
                runner.Run(StepFstab, () =>
                {
                    using var root = MountRoot(plan, work, boot!, lvs);
                    var text = Fstab(plan, root.Directory);
                    return ($"/etc/fstab: {journal.Filesystems.Count(f => f.MountPoint is not null)} volumes by UUID", Hash(Encoding.UTF8.GetBytes(text)));
                });
                runner.Run(StepSelinux, () =>
                {
                    if (plan.Selinux is null) return ("the bundle has no selinux-policy part: the rootfs's /etc/selinux/config is kept as it is", null);
                    using var root = MountRoot(plan, work, boot!, lvs);
                    return (plan.Selinux.Apply(root.Directory), null);
                });
                runner.Run(StepVolumes, () => OtherVolumesAndGrow(plan, disk, work, boot!, lvs));
                runner.Run(StepBootloader, () => Bootloader(plan, work, boot!, lvs));
                runner.Run(StepFinish, () =>
                {
                    BootCalls.Sync();
                    bool dm = lvs.UsesDeviceMapper;
                    lvs.Dispose();
                    return (dm ? "synced; the new LVs' device-mapper devices removed" : "synced", null);
                });
                journal.State = ConvertJournal.StateDone;
                journal.FinishedAt = DateTime.UtcNow;
                journal.Save();
                output.WriteLine($"convert: memory: {memory.Describe()}");
                output.WriteLine($"convert: {plan.Target} converted; journal {ConvertJournal.DirectoryName}/{ConvertJournal.FileName} on /boot says done");
            });
        }
        catch (FailedAfterPointOfNoReturnException e) when (fresh && journal.SavePath is null && journal.Steps.Count > 0)
        {
            // Inside the unprotected window, before the journal reached the new /boot: a run again finds a GPT and no
            // journal and refuses, so "run it again to resume" would be wrong. Say what is true and where to read on.
            text.FileOnly($"convert: failed: {e.Message}\n{e.InnerException}\n");
            throw new FailedAfterPointOfNoReturnException(plan.Target,
                $"it failed inside the unprotected window, before the journal was on the new /boot, so a run again cannot resume it: " +
                $"`nativeinit status {flag} {plan.Target}` says whether the disk still has its old partition table (then a run again starts over) " +
                "or a GPT and no journal (then the old system no longer boots and the disk is converted from other media: " +
                "docs/recovery.md, \"Inside the unprotected window\")", e.InnerException ?? e);
        }
        catch (NativeInitException e) when (journal.SavePath is not null)
        {
            try { journal.LastError = e.Message; journal.Save(); } catch (IOException) { }
            text.FileOnly($"convert: failed: {e.Message}\n{e.InnerException}\n");
            throw;
        }
        finally
        {
            text.CloseFile();
            log.Close();
            volumes?.Dispose();
            boot?.Dispose();
        }
    }

    private static long WriteBootFiles(ConvertPlan plan, string stageDir)
    {
        long bytes = 0;
        const UnixFileMode secret = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var carry = plan.Carry.ToJson();
        AtomicFile.Write(Path.Combine(stageDir, ConvertJournal.CarryFileName), carry, secret);
        bytes += carry.Length;
        var extents = JsonText.ToUtf8(w =>
        {
            w.WriteStartObject();
            w.WriteString("disk", plan.Target);
            w.WriteStartArray("runs");
            foreach (var r in plan.BundleRuns)
            {
                w.WriteStartObject();
                w.WriteNumber("diskOffset", r.DiskOffset);
                w.WriteNumber("length", r.Length);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
        AtomicFile.Write(Path.Combine(stageDir, ConvertJournal.ExtentsFileName), extents);
        bytes += extents.Length;
        bytes += KeepBundle(plan.Bundle, Path.Combine(stageDir, ConvertJournal.KeptBundleDirectoryName));
        // The layout (for `nativeinit grow` after the bundle is gone) and the conversion kernel + initramfs.
        string layoutDir = Path.Combine(stageDir, LayoutDir);
        Directory.CreateDirectory(layoutDir);
        foreach (var role in new[] { PartRoles.Layout, PartRoles.PartitionTable, PartRoles.Kernel, PartRoles.Initramfs })
        {
            var part = plan.Bundle.Manifest.Part(role);
            string dest = role is PartRoles.Kernel or PartRoles.Initramfs
                ? Path.Combine(stageDir, role == PartRoles.Kernel ? "vmlinuz" : "initramfs.img")
                : Path.Combine(layoutDir, role == PartRoles.Layout ? "layout.json" : LayoutFacts.PartitionTablePath(Path.Combine(layoutDir, "layout.json")));
            CopyPart(plan.Bundle, part, dest);
            bytes += part.Size;
        }
        AtomicFile.SyncDirectory(layoutDir);
        AtomicFile.SyncDirectory(stageDir);
        return bytes;
    }

    /// <summary>A bundle part to <paramref name="dest"/>, fsynced, through DEST.tmp and a rename; nothing when DEST
    /// already holds it (size and hash of the manifest). boot-files runs again after a power cut that came once the MBR
    /// already loaded the conversion's GRUB: rewriting the conversion kernel and initramfs then would put them in new
    /// blocks that GRUB, which does not replay the file system's log, sees only after the next checkpoint, and a second
    /// power cut in between could leave it the old names over freed blocks.</summary>
    private static void CopyPart(VerifiedBundle bundle, BundlePart part, string dest)
    {
        if (File.Exists(dest) && new FileInfo(dest).Length == part.Size && ContentHash.HashFile(dest).Hex == part.Hash) return;
        using (var src = bundle.OpenPart(part))
        using (var dst = new FileStream(dest + ".tmp", FileMode.Create, FileAccess.Write))
        {
            src.CopyTo(dst, 1 << 20);
            dst.Flush(flushToDisk: true);
        }
        File.Move(dest + ".tmp", dest, overwrite: true);
    }

    /// <summary>The signed manifest, its signature and every part but those of <see cref="NotKeptRoles"/> into
    /// <paramref name="dir"/> (a partial directory bundle, <see cref="BundleVerifier.VerifyKept"/>): tens of KiB (the
    /// layout, the partition table, GRUB's core.img and boot.img, the policies). Returns the bytes written.</summary>
    private static long KeepBundle(VerifiedBundle bundle, string dir)
    {
        Directory.CreateDirectory(dir);
        long bytes = 0;
        foreach (var part in bundle.Manifest.Parts.Where(p => !NotKeptRoles.Contains(p.Role)))
        {
            string dest = Path.Combine(dir, part.Name);
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            CopyPart(bundle, part, dest);
            bytes += part.Size;
        }
        // The manifest last: a kept copy with a manifest has all its parts.
        AtomicFile.Write(Path.Combine(dir, BundleManifest.SignatureFileName), bundle.SignatureBytes);
        AtomicFile.Write(Path.Combine(dir, BundleManifest.FileName), bundle.ManifestBytes);
        AtomicFile.SyncDirectory(dir);
        return bytes + bundle.SignatureBytes.Length + bundle.ManifestBytes.Length;
    }

    /// <summary>The conversion's GRUB (Boot/ConversionGrub): /boot/nativeinit/grub/grub.cfg with the resume entry as
    /// the default (and a shell entry), written atomically; then the bundle's core.img at the start of the BIOS boot
    /// partition and boot.img in the MBR pointing at it. Idempotent (a repeated install writes nothing that is
    /// already there). Returns grub.cfg's length and what the installer did.</summary>
    private static (long, Boot.GrubBiosInstallResult) InstallConversionGrub(ConvertPlan plan, DiskDevice disk, string bootDir)
    {
        var bootFs = Planned(plan.Journal, $"partition {plan.BootPartition.Number}");
        var cmdline = plan.Bundle.Manifest.KernelCommandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var spec = new Boot.GrubConfigSpec
        {
            BootFilesystemUuid = bootFs.Uuid,
            GrubDirectory = "/" + Boot.ConversionGrub.Directory,
            VolumeGroup = plan.Layout.VolumeGroup.Name,
            RootVolume = plan.RootVolume.Name,
            Conversion = new Boot.GrubConversionEntry(Boot.ConversionGrub.Kernel, Boot.ConversionGrub.Initramfs, Disk.PartitionIdentity.UuidPrefix + bootFs.Uuid)
            {
                ExtraArguments = cmdline,
            },
            // GRUB talks on the serial port too when the conversion kernel does (a gateway's console is often only that).
            Serial = cmdline.Any(a => a.StartsWith("console=ttyS", StringComparison.Ordinal)) ? new Boot.GrubSerial() : null,
            SystemName = plan.Bundle.Manifest.ProductName,
            TimeoutSeconds = 3,
        };
        string cfg = Boot.GrubConfigWriter.WriteFiles(bootDir, spec);
        AtomicFile.SyncDirectory(Path.GetDirectoryName(cfg)!);
        // GRUB does not replay the file system's log: until the metadata is written back in place, the files just
        // written do not exist for it after a power cut (seen in QEMU: "grub>" with an empty /boot).
        FilesystemCheckpoint.Run(bootDir);
        int ss = plan.Layout.SectorSize;
        var target = new Boot.GrubBiosTarget(plan.Target, plan.BiosBootPartition.ByteOffset(ss), plan.BiosBootPartition.ByteLength(ss),
            plan.BootPartition.Number, plan.BootSpec.Filesystem, null) { CoreOffset = Boot.ConversionGrub.ConversionCoreOffset };
        disk.Flush();
        var installed = Boot.GrubBiosInstaller.InstallImages(target, plan.GrubCore, plan.GrubBoot, "the bundle's conversion GRUB",
            Boot.ConversionGrub.Prefix(plan.BootPartition.Number));
        return (new FileInfo(cfg).Length, installed);
    }

    private static (string, string?) Extract(ConvertPlan plan, WorkDirectory work, VolumeMount boot, NewVolumes volumes, TextWriter progress, bool tty)
    {
        var root = plan.RootVolume;
        var fs = Planned(plan.Journal, $"lv {root.Name}");
        // A fresh file system each time (a resumed extraction starts over), no larger than what is clear of the bundle.
        using (var device = volumes.Device(root, plan.RootInitialBytes))
            Mkfs(fs, device.Path, root.Spec.MkfsOptions);
        using var mount = MountRoot(plan, work, boot, volumes);
        // /boot keeps nativeinit/ (journal, carry, kernel); what an earlier extraction put there goes.
        string bootInRoot = Path.Combine(mount.Directory, "boot");
        foreach (var entry in Directory.EnumerateFileSystemEntries(bootInRoot))
        {
            string name = Path.GetFileName(entry);
            if (name is ConvertJournal.DirectoryName or "lost+found") continue;
            if (Directory.Exists(entry) && new FileInfo(entry).LinkTarget is null) Directory.Delete(entry, recursive: true);
            else File.Delete(entry);
        }
        var part = plan.Bundle.Manifest.Part(PartRoles.Rootfs);
        using var input = ArchiveExtraction.Input.FromStream(plan.Bundle.OpenPart(part), part.Size);
        using var extractor = TarExtractor.Open(mount.Directory, restoreOwners: true);
        var reporter = new ProgressReporter(progress, tty, "convert: extract", part.Size, () => input.BytesRead);
        bool hook = TestHooks.WantsBytes(StepExtract);
        ExtractionReport report;
        try
        {
            report = ArchiveExtraction.Run(input, extractor, new DecoderOptions { Threads = 2 }, () =>
            {
                reporter.Tick();
                if (hook) TestHooks.KillAfterBytes(StepExtract, input.BytesRead);
            });
        }
        catch
        {
            reporter.Abort();
            throw;
        }
        reporter.Done();
        BootCalls.Sync();
        var s = report.Stats;
        return (string.Create(CultureInfo.InvariantCulture,
            $"{fs.Filesystem} of {ByteSize.Format(plan.RootInitialBytes)} on LV {root.Name} ({volumes.Describe(root)}, UUID {fs.Uuid}); {s.Entries} entries, {ByteSize.Format(s.BytesWritten)} of data from {ByteSize.Format(report.InputBytes)} of {report.Compression.ToString().ToLowerInvariant()} read from the disk"), null);
    }

    /// <summary>The new root mounted (its dm device, or a loop device over its LV) with /boot mounted inside it.</summary>
    private static VolumeMount MountRoot(ConvertPlan plan, WorkDirectory work, VolumeMount boot, NewVolumes volumes)
    {
        var m = volumes.Mount(plan.RootVolume, work.Combine("root"));
        try
        {
            m.MountInside(boot.Device, Path.Combine(m.Directory, "boot"), plan.BootSpec.Filesystem);
            // Unmounted before the root (Dispose unmounts in reverse order).
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    /// <summary>/etc/fstab of the new system: every volume with a mount point by UUID, then the lines of the
    /// bundle's fstab that name none of them (tmpfs and the like; a symlinked fstab brings none,
    /// <see cref="FstabFile.ReadTree"/>).</summary>
    private static string Fstab(ConvertPlan plan, string root)
    {
        var mine = plan.Journal.Filesystems.Where(f => f.MountPoint is not null)
            .OrderBy(f => f.MountPoint == "swap" ? "~" : f.MountPoint, StringComparer.Ordinal).ToList();
        var sb = new StringBuilder();
        sb.Append("# /etc/fstab written by nativeinit convert: the volumes of the layout by UUID\n");
        foreach (var f in mine)
        {
            bool swap = f.Filesystem == "swap";
            string pass = swap ? "0" : f.MountPoint == "/" ? "1" : "2";
            sb.Append(CultureInfo.InvariantCulture, $"UUID={f.Uuid} {(swap ? "swap" : f.MountPoint)} {f.Filesystem} defaults 0 {pass}\n");
        }
        foreach (var raw in FstabFile.ReadTree(root).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var t = line.Trim();
            if (t.Length == 0 || t.StartsWith('#')) continue;
            var f = t.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2) continue;
            if (FstabFile.NamesDevice(f[0])) continue;
            if (mine.Any(m => m.MountPoint == f[1])) continue;
            sb.Append(line).Append('\n');
        }
        string text = sb.ToString();
        FstabFile.Write(root, text);
        return text;
    }

    private static (string, string?) OtherVolumesAndGrow(ConvertPlan plan, DiskDevice disk, WorkDirectory work, VolumeMount boot, NewVolumes volumes)
    {
        var done = new List<string>();
        foreach (var v in plan.Layout.Volumes.Where(v => v != plan.RootVolume))
        {
            GptWriter.Execute(disk, DiskWipe.Plan(disk, v.DiskOffset, v.SizeBytes, $"LV {v.Name}"));
            disk.Flush();
            if (v.Spec.Filesystem is null) { done.Add($"{v.Name} wiped"); continue; }
            var fs = Planned(plan.Journal, $"lv {v.Name}");
            using var device = volumes.Device(v);
            Mkfs(fs, device.Path, v.Spec.MkfsOptions);
            done.Add($"{v.Name}: {fs.Filesystem} on {volumes.Describe(v)}");
        }
        var root = plan.RootVolume;
        volumes.MapWholeRoot();
        using (var m = MountRoot(plan, work, boot, volumes))
        {
            if (root.Spec.Filesystem == "xfs") RunTool("xfs_growfs", m.Directory);
            else RunTool("resize2fs", m.Device);
        }
        done.Add($"root grown from {ByteSize.Format(plan.RootInitialBytes)} to {ByteSize.Format(root.SizeBytes)}");
        return (string.Join("; ", done), null);
    }

    /// <summary>GRUB for BIOS on the new GPT (Boot/GrubBiosInstaller: core.img from the target's own grub-mkimage and
    /// modules into the BIOS boot partition, boot.img into the MBR) and grub.cfg + grubenv on /boot for the converted
    /// system (Boot/GrubConfigWriter: root on the LV, the target's GRUB_CMDLINE_LINUX, its serial terminal).</summary>
    private static (string, string?) Bootloader(ConvertPlan plan, WorkDirectory work, VolumeMount boot, NewVolumes volumes)
    {
        int ss = plan.Layout.SectorSize;
        var bios = plan.Layout.Table.Partitions.FirstOrDefault(p => p.Type == GptPartitionTypes.BiosBoot.Guid)
            ?? throw new NativeInitException($"{plan.Target}: the bundle's partition table has no BIOS boot (EF02) partition for GRUB's core.img",
                ExitCodes.FailedAfterPointOfNoReturn);
        using var root = MountRoot(plan, work, boot, volumes);
        // The system's core.img goes to the second half of the BIOS boot partition, the conversion's stays in the first:
        // the MBR's boot code, written last in one sector, switches from one to the other (Boot/ConversionGrub).
        var target = new Boot.GrubBiosTarget(plan.Target, bios.ByteOffset(ss), bios.ByteLength(ss), plan.BootPartition.Number,
            plan.BootSpec.Filesystem, root.Directory) { CoreOffset = Boot.ConversionGrub.SystemCoreOffset(bios.ByteLength(ss)) };
        string grubDir = Boot.GrubBiosInstaller.GrubDirectoryName(root.Directory);
        string bootDir = Path.Combine(root.Directory, "boot");
        // What grub2-mkconfig would take from the target's /etc/default/grub; shell code there (stock CentOS and Debian
        // files compute GRUB_DISTRIBUTOR) is left out and said, never a reason to fail after the point of no return.
        var defaults = Boot.TargetGrubDefaults.Read(root.Directory);
        var spec = new Boot.GrubConfigSpec
        {
            BootFilesystemUuid = Planned(plan.Journal, $"partition {plan.BootPartition.Number}").Uuid,
            GrubDirectory = "/" + grubDir,
            VolumeGroup = plan.Layout.VolumeGroup.Name,
            RootVolume = plan.RootVolume.Name,
            Kernels = Boot.BootKernel.Find(bootDir),
            TargetArguments = defaults.CommandLine,
            TargetDefaultArguments = defaults.DefaultCommandLine,
            Serial = defaults.Serial,
            SystemName = defaults.Distributor ?? plan.Bundle.Manifest.ProductName,
            TimeoutSeconds = defaults.TimeoutSeconds ?? Boot.GrubConfigSpec.DefaultTimeoutSeconds,
        };
        // grub.cfg of the system before its core.img, and both before the MBR: the MBR never points at a GRUB whose
        // configuration is not there yet. An A/B layout (issue 14): slot kernels, the boot-counting grub.cfg and
        // grubenv instead (Boot/SlotBootConfig).
        string cfg = Boot.SlotBootConfig.SlotsOf(plan.Layout.Volumes.Select(v => v.Spec)) is { } slots
            ? Boot.SlotBootConfig.WriteAfterConversion(bootDir, spec, slots, new Boot.SlotRecord(plan.Bundle.Manifest.ProductVersion, DateTimeOffset.UtcNow))
            : Boot.GrubConfigWriter.WriteFiles(bootDir, spec);
        AtomicFile.SyncDirectory(Path.GetDirectoryName(cfg)!);
        FilesystemCheckpoint.Run(bootDir); // GRUB reads /boot without its log: the kernels and grub.cfg in place first
        var installed = Boot.GrubBiosInstaller.Install(target);
        return ($"core.img ({installed.CoreImageBytes} bytes, {installed.MkimageTool}) at LBA {installed.CoreSector} in BIOS boot partition {bios.Number}, boot.img in the MBR now points at it, " +
            $"prefix {installed.Prefix}; /boot{cfg[bootDir.Length..]} boots {spec.Kernels.FirstOrDefault()?.Kernel ?? "(no kernel)"} with root on {plan.Layout.VolumeGroup.Name}/{plan.RootVolume.Name}" +
            $" ('{spec.SystemName}', timeout {spec.TimeoutSeconds} s)" + string.Concat(defaults.Notes.Select(n => "; " + n)),
            Hash(File.ReadAllBytes(cfg)));
    }

    // ---------------------------------------------------------------- status

    /// <summary>`nativeinit status`: not converted / in progress at step S / done, and what the next boot does. Reads only.</summary>
    public static ConvertStatus Status(ConvertOptions o)
    {
        if (!File.Exists(o.Target)) throw new RefusedException($"{o.Target}: no such {(o.IsImage ? "image file" : "disk")}");
        using var work = new WorkDirectory("nativeinit-convert.");
        using var disk = DiskDevice.Open(o.Target, writable: false);
        var gpt = GptReader.Read(disk);
        if (gpt.Table is { } table)
        {
            var at = FindJournal(o.Target, disk, table, work, writableForBroken: false);
            if (at is null)
                return new ConvertStatus(ConvertStatus.NotConverted, o.Target, $"a GPT with {table.Partitions.Count} partitions and no conversion journal", null, null,
                    "whatever this disk's boot loader boots; nativeinit has not converted it, or a conversion failed inside its unprotected " +
                    "window, before its journal was on the new /boot (docs/recovery.md, \"Inside the unprotected window\")");
            var j = at.Journal;
            if (j.State == ConvertJournal.StateDone)
                return new ConvertStatus(ConvertStatus.Done, o.Target, $"a converted disk (journal {at.Location})", j, at.Location,
                    "the converted system (GRUB on the disk, grub.cfg on /boot)");
            string resume = $"`nativeinit convert {(o.IsImage ? "--image" : "--disk")} {o.Target} --yes` resumes at step {ConvertJob.Steps.FirstOrDefault(s => !j.IsDone(s))}";
            var core = MbrPointsAt(disk, table);
            if (WrittenThroughTheMbrSwitch(j, core))
                return new ConvertStatus(ConvertStatus.Done, o.Target,
                    $"a converted disk (journal {at.Location}; the run stopped after the MBR switched to the converted system's GRUB, " +
                    $"before the journal recorded {string.Join(" and ", Steps.Where(s => !j.IsDone(s)))}: nothing is left to write)", j, at.Location,
                    "the converted system (GRUB on the disk, grub.cfg on /boot)");
            return new ConvertStatus(ConvertStatus.InProgress, o.Target, $"a conversion under way (journal {at.Location})", j, at.Location,
                core switch
                {
                    BootCore.Conversion => $"the conversion's GRUB (core.img at the start of the BIOS boot partition, /boot/{Boot.ConversionGrub.ConfigPath}) " +
                        $"boots the conversion kernel with rd.nativeinit=resume, which finishes it; by hand: {resume}",
                    BootCore.System => $"the converted system (the MBR already points at its GRUB; the run stopped before the journal said done); {resume}",
                    _ => $"nothing boots by itself: the run stopped before the conversion's GRUB was installed (step {StepBootFiles}); {resume}",
                });
        }
        string found;
        try { found = LegacyLayout.Recognise(disk).Description; }
        catch (RefusedException e) { found = e.Message; }
        return new ConvertStatus(ConvertStatus.NotConverted, o.Target, found, null, null, "the old system (or stage one's conversion entry, when stage one set it as the next boot)");
    }

    private enum BootCore { None, Conversion, System }

    /// <summary>
    /// A journal not closed whose conversion is nevertheless finished: the MBR's switch to the system's core.img is the
    /// bootloader step's last write, so with every step before it done and the MBR loading the system's GRUB, every
    /// write of the conversion is on the disk and only the journal's own closing (a sync, "done") was cut off. The
    /// converted system boots, and nothing would ever close this journal: status (of the disk and of the running
    /// system) reports it done, and grow goes on.
    /// </summary>
    private static bool WrittenThroughTheMbrSwitch(ConvertJournal j, BootCore core) =>
        core == BootCore.System && Steps.TakeWhile(s => s != StepBootloader).All(j.IsDone);

    /// <summary><see cref="WrittenThroughTheMbrSwitch(ConvertJournal, BootCore)"/> for the running system: the disk is
    /// the one whose partition is mounted on <paramref name="bootDir"/>. False when that cannot be told (no such mount,
    /// no GPT, the disk unreadable).</summary>
    internal static bool WrittenThroughTheMbrSwitch(ConvertJournal j, string bootDir)
    {
        if (BlockDeviceInfo.DiskOfMount(bootDir) is not { } name) return false;
        try
        {
            using var disk = DiskDevice.Open("/dev/" + name, writable: false);
            return GptReader.Read(disk).Table is { } table && WrittenThroughTheMbrSwitch(j, MbrPointsAt(disk, table));
        }
        catch (Exception e) when (e is IOException or NativeInitException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>Which core.img the MBR's boot code loads: the conversion's (start of the BIOS boot partition), the
    /// system's (its second half), or neither (no GRUB boot code, or another LBA).</summary>
    private static BootCore MbrPointsAt(DiskDevice disk, GptTable table)
    {
        int ss = disk.LogicalSectorSize;
        var bios = table.Partitions.FirstOrDefault(p => p.Type == GptPartitionTypes.BiosBoot.Guid);
        if (bios is null || ss != Boot.GrubPcFormat.SectorSize) return BootCore.None;
        var mbr = new byte[Boot.GrubPcFormat.SectorSize];
        disk.ReadAt(0, mbr);
        ulong lba = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(mbr.AsSpan(Boot.GrubPcFormat.KernelSectorOffset, Boot.GrubPcFormat.KernelSectorLength));
        long start = bios.ByteOffset(ss) / ss;
        if (lba == (ulong)start) return BootCore.Conversion;
        if (lba == (ulong)(start + Boot.ConversionGrub.SystemCoreOffset(bios.ByteLength(ss)) / ss)) return BootCore.System;
        return BootCore.None;
    }

    // ---------------------------------------------------------------- grow

    /// <summary>
    /// `nativeinit grow`: after a finished conversion, `layout grow` (GPT to the disk's size, the PV partition, the PV
    /// and the layout's grow LV) with the layout recorded on /boot by the conversion, then the LV's file system grown
    /// (xfs_growfs on a mount, resize2fs). Without <paramref name="write"/> only the plan is returned. A second run
    /// finds nothing to grow and still makes the file system fill its LV (idempotent).
    /// On a disk (<c>--disk</c>, the running converted system, issue 12 step 7) it works online: the journal and layout
    /// are read from /boot where it is mounted, the kernel learns the grown partition (BLKPG), an active LV's
    /// device-mapper table is reloaded (<see cref="LayoutGrow"/>), and the file system is grown where it is mounted
    /// (mounted for the time of the grow when it is not); an LV that is not active is reached through a loop device at
    /// its offset, as on an image.
    /// </summary>
    public static LayoutGrowPlan Grow(ConvertOptions o, bool write, TextWriter log)
    {
        if (o.IsImage && !File.Exists(o.Target)) throw new RefusedException($"{o.Target}: no such image file");
        if (!o.IsImage && !File.Exists(o.Target)) throw new RefusedException($"{o.Target}: no such disk");
        if (!Environment.IsPrivilegedProcess)
            throw new RefusedException(o.IsImage ? $"{o.Target}: growing an image's file system needs loop devices, which need root"
                : $"{o.Target}: growing a disk needs root");
        if (o.IsImage) LayoutPlanner.RefuseIfImageInUse(o.Target);
        using var work = new WorkDirectory("nativeinit-convert.");
        LayoutFile layout;
        using (var disk = DiskDevice.Open(o.Target, writable: false))
        {
            if (!o.IsImage && !disk.IsBlockDevice) throw new RefusedException($"{o.Target}: not a block device (give an image with --image)");
            var table = GptReader.Read(disk).Table ?? throw new RefusedException($"{o.Target}: no GPT: not a converted disk");
            // On a running system /boot is mounted: read it there (mounting an xfs a second time is refused by the kernel).
            var at = (disk.IsBlockDevice ? FindJournalMounted(disk, table, copyLayoutTo: work.Combine(LayoutDir)) : null)
                ?? FindJournal(o.Target, disk, table, work, writableForBroken: false, copyLayoutTo: work.Combine(LayoutDir))
                ?? throw new RefusedException($"{o.Target}: no conversion journal: not a converted disk");
            if (at.Journal.State != ConvertJournal.StateDone && !WrittenThroughTheMbrSwitch(at.Journal, MbrPointsAt(disk, table)))
                throw new RefusedException($"{o.Target}: the conversion is not done (next step {Steps.FirstOrDefault(x => !at.Journal.IsDone(x))}): resume it first");
            string lp = Path.Combine(work.Combine(LayoutDir), "layout.json");
            if (!File.Exists(lp)) throw new RefusedException($"{at.Location}: the conversion recorded no layout in /boot/{ConvertJournal.DirectoryName}/{LayoutDir}");
            layout = LayoutFile.Load(lp);
        }
        var spec = layout.LogicalVolumes.First(l => l.Name == layout.Grow);
        using var rw = DiskDevice.Open(o.Target, writable: write);
        var plan = LayoutGrow.Plan(layout, rw);
        if (!write) return plan;
        string again = $"run `nativeinit grow {(o.IsImage ? "--image" : "--disk")} {o.Target} --yes` again";
        PointOfNoReturn.Run(o.Target, again, () =>
        {
            LayoutGrow.Apply(plan, rw, log.WriteLine);
            if (spec.Filesystem is null or "swap") return;
            var vg = plan.VgAfter;
            var lv = vg.FindLv(spec.Name)!;
            long size = lv.ExtentCount * vg.ExtentSizeBytes;
            // The LV as the running system has it (device-mapper, reloaded above), else through a loop device.
            string dmName = DmNames.DeviceName(vg.Name, spec.Name);
            if (rw.IsBlockDevice && NativeInit.Core.Disk.DeviceMapper.DeviceMapperControl.GetStatus(dmName) is { HasActiveTable: true } dm)
            {
                string? mounted = BlockDeviceInfo.MountPointOf($"{dm.Major}:{dm.Minor}");
                using var m = mounted is null ? VolumeMount.MountDevice(dm.NodePath, spec.Filesystem, work.Combine("grow")) : null;
                GrowFilesystem(spec.Filesystem, mounted ?? m!.Directory, dm.NodePath);
                log.WriteLine($"{spec.Filesystem} on LV {spec.Name} ({dm.NodePath}{(mounted is null ? "" : ", mounted on " + mounted)}) grown to {ByteSize.Format(size)}");
                return;
            }
            var segs = lv.Segments.OrderBy(x => x.StartExtent).ToList();
            for (int i = 1; i < segs.Count; i++)
                if (segs[i].Stripes[0].StartExtent != segs[i - 1].Stripes[0].StartExtent + segs[i - 1].ExtentCount)
                    throw new NativeInitException($"LV {spec.Name}: its extents are not contiguous on the PV and it is not active; " +
                        "activate the volume group (nativeinit lvm activate) and run grow again");
            long pe = LvmDiskFormat.Read(rw.Handle, plan.PvOffset, o.Target).PeStartBytes;
            long offset = plan.PvOffset + pe + segs[0].Stripes[0].StartExtent * vg.ExtentSizeBytes;
            using (var m = VolumeMount.Mount(o.Target, offset, size, spec.Filesystem, work.Combine("grow"), readOnly: false))
                GrowFilesystem(spec.Filesystem, m.Directory, m.Device);
            log.WriteLine($"{spec.Filesystem} on LV {spec.Name} grown to {ByteSize.Format(size)}");
        });
        return plan;
    }

    /// <summary>Grows a mounted file system to its device's size: xfs_growfs on the mount point, resize2fs (online) on
    /// the device.</summary>
    private static void GrowFilesystem(string filesystem, string mountPoint, string device)
    {
        if (filesystem == "xfs") RunTool("xfs_growfs", mountPoint);
        else RunTool("resize2fs", device);
    }

    // ---------------------------------------------------------------- helpers

    private sealed record JournalAt(ConvertJournal Journal, string Location, CarryRecord? Carry);

    /// <summary>Looks on every partition with a file system for nativeinit/journal.json (mounted read-only).</summary>
    private static JournalAt? FindJournal(string image, DiskDevice disk, GptTable table, WorkDirectory work, bool writableForBroken, string? copyLayoutTo = null,
        string? copyKeptTo = null)
    {
        int ss = disk.LogicalSectorSize;
        foreach (var p in table.Partitions)
        {
            long off = p.ByteOffset(ss), len = p.ByteLength(ss);
            if (off + len > disk.SizeBytes) continue;
            var probe = FilesystemProbe.Probe(disk, off, len);
            if (probe?.Type is not ("xfs" or "ext4" or "ext3" or "ext2")) continue;
            string dir = work.Combine($"probe{p.Number}");
            string location = $"partition {p.Number}: /{ConvertJournal.DirectoryName}/{ConvertJournal.FileName}";
            byte[]? bytes = null, carry = null;
            // A clean file system is read through a read-only device (nothing written); one a power cut left with a log
            // to replay is mounted read-only on a writable device, so the kernel replays the log (the journal's last fsync).
            VolumeMount m;
            try { m = VolumeMount.Mount(image, off, len, probe.Type, dir, readOnly: true, replayLog: true); }
            catch (NativeInitException) { m = VolumeMount.Mount(image, off, len, probe.Type, dir, readOnly: false, readOnlyMount: true); }
            using (m)
            {
                string jp = Path.Combine(dir, ConvertJournal.DirectoryName, ConvertJournal.FileName);
                if (!File.Exists(jp)) continue;
                bytes = File.ReadAllBytes(jp);
                string cp = Path.Combine(dir, ConvertJournal.DirectoryName, ConvertJournal.CarryFileName);
                if (File.Exists(cp)) carry = File.ReadAllBytes(cp);
                if (copyLayoutTo is not null) CopyLayout(Path.Combine(dir, ConvertJournal.DirectoryName), copyLayoutTo);
                string kept = Path.Combine(dir, ConvertJournal.DirectoryName, ConvertJournal.KeptBundleDirectoryName);
                if (copyKeptTo is not null && File.Exists(Path.Combine(kept, BundleManifest.FileName))) CopyTree(kept, copyKeptTo);
            }
            ConvertJournal journal;
            try { journal = ConvertJournal.Parse(bytes, location); }
            catch (InvalidDataFormatException e)
            {
                string kept = location;
                if (writableForBroken)
                {
                    using var rw = VolumeMount.Mount(image, off, len, probe.Type, dir, readOnly: false);
                    kept = $"partition {p.Number}: " + AtomicFile.KeepBroken(Path.Combine(dir, ConvertJournal.DirectoryName, ConvertJournal.FileName))[dir.Length..];
                }
                throw new NativeInitException($"{e.Message}; a conversion was under way on this disk; the journal was kept as {kept}; " +
                    "refusing to start over (see docs/recovery.md)", ExitCodes.FailedAfterPointOfNoReturn, e);
            }
            return new JournalAt(journal, location, carry is null ? null : CarryRecord.Parse(carry, $"partition {p.Number}: {ConvertJournal.CarryFileName}"));
        }
        return null;
    }

    /// <summary>On a block device: the journal on a partition of <paramref name="disk"/> that is mounted (the running
    /// converted system's /boot), read where it is mounted; null when no mounted partition holds one.</summary>
    private static JournalAt? FindJournalMounted(DiskDevice disk, GptTable table, string copyLayoutTo)
    {
        foreach (var p in table.Partitions)
        {
            if (BlockDeviceInfo.DevNumber(BlockDeviceInfo.PartitionName(disk.KernelName!, p.Number)) is not { } dev) continue;
            if (BlockDeviceInfo.MountPointOf(dev) is not { } dir) continue;
            string nd = Path.Combine(dir, ConvertJournal.DirectoryName);
            string jp = Path.Combine(nd, ConvertJournal.FileName);
            if (!File.Exists(jp)) continue;
            string location = $"partition {p.Number} (mounted on {dir}): /{ConvertJournal.DirectoryName}/{ConvertJournal.FileName}";
            var journal = ConvertJournal.Parse(File.ReadAllBytes(jp), location);
            CopyLayout(nd, copyLayoutTo);
            return new JournalAt(journal, location, null);
        }
        return null;
    }

    /// <summary>Copies the layout the conversion recorded (NATIVEINIT_DIR/layout/: the layout file and its partition
    /// table) to <paramref name="to"/>, when there is one.</summary>
    private static void CopyLayout(string nativeinitDir, string to)
    {
        string ld = Path.Combine(nativeinitDir, LayoutDir);
        if (Directory.Exists(ld)) CopyTree(ld, to);
    }

    /// <summary>Copies the files below <paramref name="from"/> to <paramref name="to"/>, leaving out the .tmp files of a
    /// write that did not finish (AtomicFile, CopyPart).</summary>
    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            if (f.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            string dest = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(f, dest, overwrite: true);
        }
    }

    private static string? FindBundle(string oldRoot, string? explicitPath)
    {
        foreach (var rel in explicitPath is null ? BundleLocations : [explicitPath.TrimStart('/')])
            if (File.Exists(Path.Combine(oldRoot, rel)) && new FileInfo(Path.Combine(oldRoot, rel)).LinkTarget is null) return rel;
        return null;
    }

    /// <summary>The bundle's bytes as runs of the disk: FIEMAP on the read-only old file system, plus the partition's offset.</summary>
    public static List<DiskRun> DiskRuns(string file, long partitionOffset, long partitionLength, string what)
    {
        long size = new FileInfo(file).Length;
        List<PhysicalExtent> extents;
        using (var handle = File.OpenHandle(file)) extents = FileMapping.Read(handle, file);
        var runs = new List<DiskRun>();
        long expect = 0;
        foreach (var e in extents)
        {
            if (e.Logical >= size) break;
            if (FileMapping.Unusable(e.Flags) is { } bad)
                throw new RefusedException($"{what}: the extent at file offset {e.Logical} ({e.Length} bytes) is {bad}: its bytes cannot be read from the disk; " +
                    "stage again (stage one writes the bundle out in full)");
            if (e.Logical != expect)
                throw new RefusedException($"{what}: has a hole at file offset {expect}..{e.Logical - 1}; stage again");
            long len = Math.Min(e.Length, size - e.Logical);
            if (e.Physical < 0 || e.Physical + len > partitionLength)
                throw new RefusedException($"{what}: extent at file offset {e.Logical} lies outside its partition");
            long at = partitionOffset + e.Physical;
            if (runs.Count > 0 && runs[^1].End == at) runs[^1] = runs[^1] with { Length = runs[^1].Length + len };
            else runs.Add(new DiskRun(at, len));
            expect = e.Logical + e.Length;
        }
        if (runs.Sum(r => r.Length) != size) throw new RefusedException($"{what}: FIEMAP maps {runs.Sum(r => r.Length)} of its {size} bytes; stage again");
        return runs;
    }

    private static VerifiedBundle VerifyThroughExtents(string image, IReadOnlyList<DiskRun> runs, string what, byte[] key, TextWriter log)
    {
        var b = BundleVerifier.VerifyStream(() => ExtentReadStream.Open(image, runs), what, key);
        log.WriteLine($"bundle {what}: signature and {b.Manifest.Parts.Count} parts verified through {runs.Count} extents on the disk");
        return b;
    }

    private static byte[] ReadPart(VerifiedBundle b, BundlePart p)
    {
        if (p.Size > 16 << 20) throw new RefusedException($"bundle part {p.Name}: {p.Size} bytes is too large for a {p.Role}");
        using var s = b.OpenPart(p);
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    private static LayoutFile LoadLayout(VerifiedBundle bundle, string dir)
    {
        Directory.CreateDirectory(dir);
        string layoutPath = Path.Combine(dir, "layout.json");
        File.WriteAllBytes(layoutPath, ReadPart(bundle, bundle.Manifest.Part(PartRoles.Layout)));
        string table = LayoutFacts.PartitionTablePath(layoutPath);
        string tablePath = Path.GetFullPath(Path.Combine(dir, table));
        if (!tablePath.StartsWith(dir + "/", StringComparison.Ordinal)) throw new RefusedException($"bundle layout: partitionTable '{table}' leaves the layout's directory");
        Directory.CreateDirectory(Path.GetDirectoryName(tablePath)!);
        File.WriteAllBytes(tablePath, ReadPart(bundle, bundle.Manifest.Part(PartRoles.PartitionTable)));
        return LayoutFile.Load(layoutPath);
    }

    private static PlannedFilesystem Planned(ConvertJournal j, string volume) =>
        j.Filesystems.FirstOrDefault(f => f.Volume == volume) ?? throw new NativeInitException($"journal: no planned file system for {volume}");

    private static void Mkfs(PlannedFilesystem fs, string device, IReadOnlyList<string> extra)
    {
        var opts = new List<string>(extra);
        if (fs.Filesystem == "xfs") opts.AddRange(["-m", "uuid=" + fs.Uuid]);
        else opts.AddRange(["-U", fs.Uuid]);
        var spec = new LayoutVolume(fs.Volume, null, fs.Filesystem, fs.MountPoint, fs.Label, opts);
        RunTool(LayoutApplier.MkfsProgram(fs.Filesystem), [.. LayoutApplier.MkfsArguments(spec, device)]);
    }

    private static void RunTool(string name, params string[] args)
    {
        string program = ProgramPath.Find(name) ?? throw new NativeInitException($"{name} is not installed");
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new NativeInitException($"cannot start {program}");
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new NativeInitException($"{name} {string.Join(' ', args)} failed (exit {p.ExitCode}): {err.Result.Trim()}");
    }

    /// <summary>MemAvailable from /proc/meminfo, in bytes.</summary>
    public static long MemAvailable() =>
        MemoryWatch.Meminfo("MemAvailable:") ?? throw new RefusedException("memory: /proc/meminfo has no MemAvailable line");

    /// <summary>BLAKE3 of <paramref name="bytes"/> in hex (the bundle's hash; no OpenSSL in the static binary).</summary>
    public static string Hash(byte[] bytes)
    {
        using var h = Blake3.Hasher.New();
        h.Update(bytes);
        return System.Convert.ToHexStringLower(h.Finalize().AsSpan());
    }
}

/// <summary>The conversion's JSON-lines log (<c>/boot/nativeinit/convert.log</c>): buffered until /boot exists.</summary>
internal sealed class ConvertLog
{
    private readonly List<string> _pending = [];
    private StreamWriter? _writer;
    private string? _path;

    public string? Path
    {
        get => _path;
        set
        {
            _path = value;
            if (value is null) return;
            // A log that cannot be written is dropped: it never stops the conversion (issue 18).
            try
            {
                _writer = new StreamWriter(new FileStream(value, FileMode.Append, FileAccess.Write), new UTF8Encoding(false));
                foreach (var l in _pending) _writer.Write(l + "\n");
                _pending.Clear();
                _writer.Flush();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _writer = null;
            }
        }
    }

    public void Write(StepEvent e)
    {
        string line = Encoding.UTF8.GetString(JsonText.ToUtf8(w =>
        {
            w.WriteStartObject();
            w.WriteString("at", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            w.WriteString("step", e.Step);
            w.WriteString("event", e.Kind);
            if (e.Detail.Length > 0) w.WriteString("detail", e.Detail);
            if (e.Kind is "done" or "failed") w.WriteNumber("milliseconds", e.Milliseconds);
            w.WriteEndObject();
        }, indented: false)).TrimEnd('\n');
        if (_writer is null) { if (_path is null) _pending.Add(line); return; }
        try
        {
            _writer.Write(line + "\n");
            _writer.Flush();
            _writer.BaseStream.Flush();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _writer = null;
        }
    }

    public void Close()
    {
        try { _writer?.Dispose(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _writer = null;
    }
}
