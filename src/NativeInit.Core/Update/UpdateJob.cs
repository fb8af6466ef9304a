using System.Globalization;
using System.Text;
using System.Text.Json;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Extraction;
using NativeInit.Core.Boot;
using NativeInit.Core.Boot.Init;
using NativeInit.Core.Bundle;
using NativeInit.Core.Carry;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Layout;
using NativeInit.Core.Lvm;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Update;

/// <summary>What `update` is asked to do.</summary>
public sealed record UpdateOptions
{
    /// <summary>The bundle (directory or single file).</summary>
    public required string Bundle { get; init; }
    public required byte[] PublicKey { get; init; }
    /// <summary>Null: the running system (<see cref="Root"/>, <see cref="BootDir"/>, /proc/cmdline, the inactive slot's
    /// /dev/mapper device). Else a converted disk image: /boot and the LVs are reached through loop devices at their
    /// offsets (no device-mapper), and <see cref="RunningSlot"/> says which slot plays the running one (its LV is
    /// mounted read-only as the running root).</summary>
    public string? Image { get; init; }
    /// <summary>Image mode: the slot that plays the running system; the running system reads nativeinit.slot=.</summary>
    public string? RunningSlot { get; init; }
    public string Root { get; init; } = "/";
    public string BootDir { get; init; } = "/boot";
    /// <summary>The kernel command line (tests give one); null: /proc/cmdline.</summary>
    public KernelCommandLine? CommandLine { get; init; }
}

/// <summary>Everything `update` checked before writing (<see cref="UpdateJob.Plan"/>); it writes nothing.</summary>
public sealed record UpdatePlan
{
    public required UpdateOptions Options { get; init; }
    public required VerifiedBundle Bundle { get; init; }
    public required LayoutFile Layout { get; init; }
    public required BootSlot Running { get; init; }
    public required BootSlot Target { get; init; }
    public required LayoutVolume TargetSpec { get; init; }
    /// <summary>The state of the slots in grubenv when planned.</summary>
    public required BootSlots Before { get; init; }
    /// <summary>The inactive slot's device on a running system, or its byte range in the image.</summary>
    public required string TargetDevice { get; init; }
    public long TargetOffset { get; init; }
    public required long TargetBytes { get; init; }
    /// <summary>Image mode: the running slot's LV (read-only, the fake running root) and the /boot partition.</summary>
    public long RunningOffset { get; init; }
    public long RunningBytes { get; init; }
    public string? RunningFilesystem { get; init; }
    public long BootOffset { get; init; }
    public long BootBytes { get; init; }
    public string? BootFilesystem { get; init; }
    /// <summary>The GRUB directory on /boot holding grubenv ("grub2" or "grub").</summary>
    public required string GrubDirectory { get; init; }
    public required CarryRecord Carry { get; init; }
    /// <summary>The running system's /etc/fstab (its volumes other than / are the ones the new slot mounts too).</summary>
    public required string RunningFstab { get; init; }
    public SelinuxSetting? Selinux { get; init; }
    public required long RootfsNeededBytes { get; init; }

    public bool IsImage => Options.Image is not null;
    public string What => Options.Image ?? "this system";
    public string ProductVersion => Bundle.Manifest.ProductVersion;

    public void WriteText(TextWriter w)
    {
        w.WriteLine($"update {DisplayText.Of(What)}: bundle {DisplayText.Of(Bundle.Manifest.ProductName)} {DisplayText.Of(ProductVersion)} ({DisplayText.Of(Bundle.Path)})");
        w.WriteLine($"  running slot {Running.Name} (LV {DisplayText.Of(Layout.VolumeGroupName)}/{DisplayText.Of(Running.Volume)}), marked good: " +
            $"ok={(Before[Running.Name].Ok ? 1 : 0)} tries={Before[Running.Name].Tries} ORDER=\"{string.Join(' ', Before.Order)}\"");
        w.WriteLine($"  writes slot {Target.Name}: LV {DisplayText.Of(Layout.VolumeGroupName)}/{DisplayText.Of(Target.Volume)} ({DisplayText.Of(TargetDevice)}, {ByteSize.Format(TargetBytes)}), " +
            $"{TargetSpec.Filesystem} made anew, rootfs of {ByteSize.Format(Bundle.Manifest.Rootfs.UncompressedSize)} streamed in");
        w.WriteLine($"  carries {Carry.Files.Count} files and {Carry.Passwords.Count} password hashes from the running system");
        w.WriteLine($"  then /boot{SlotBootConfig.SlotDirectory(Target.Name)}/ (kernel, initramfs), slot record, and last grubenv: " +
            $"ORDER=\"{Target.Name} {Running.Name}\" {Target.Name}_OK=1 {Target.Name}_TRIES={BootSlots.NewSlotTries}");
    }

    public void WriteJson(Utf8JsonWriter j, UpdateResult? result)
    {
        j.WriteStartObject();
        j.WriteNumber("schemaVersion", 1);
        j.WriteString("mode", IsImage ? "image" : "system");
        j.WriteString("target", What);
        j.WriteStartObject("bundle");
        j.WriteString("path", Bundle.Path);
        j.WriteString("product", Bundle.Manifest.ProductName);
        j.WriteString("version", ProductVersion);
        j.WriteEndObject();
        j.WriteString("runningSlot", Running.Name);
        j.WriteString("targetSlot", Target.Name);
        j.WriteString("targetVolume", $"{Layout.VolumeGroupName}/{Target.Volume}");
        j.WriteString("targetDevice", TargetDevice);
        j.WriteNumber("targetBytes", TargetBytes);
        j.WriteStartArray("carry");
        foreach (var f in Carry.Files) j.WriteStringValue(f.Path);
        j.WriteEndArray();
        if (result is not null)
        {
            j.WriteStartObject("result");
            j.WriteString("filesystemUuid", result.FilesystemUuid);
            j.WriteNumber("entries", result.Entries);
            j.WriteNumber("bytesWritten", result.BytesWritten);
            j.WriteString("kernel", result.Kernel);
            j.WriteString("nextBoot", result.NextBoot);
            j.WriteBoolean("reboot", result.Reboot);
            j.WriteEndObject();
        }
        j.WriteEndObject();
    }
}

/// <summary>What an update did.</summary>
public sealed record UpdateResult(string FilesystemUuid, long Entries, long BytesWritten, string Kernel, string NextBoot, bool Reboot);

/// <summary>
/// `nativeinit update BUNDLE`: the one entry point the CLI and the tests call (issue 14). The bundle goes into the
/// inactive A/B slot while the running one keeps running; GRUB is told last. <see cref="Plan"/> checks everything and
/// writes nothing (exit 3 on a refusal): the bundle verified; an A/B layout recorded on /boot by the conversion; the
/// running slot marked good (OK, first in ORDER, with tries left: GRUB decrements before booting, so a slot that has
/// not reached `mark-good` since it was written runs with 0); the inactive slot's LV found; the rootfs fits it; the
/// configuration captured from the running root. <see cref="Run"/> then, in this order:
/// <list type="number">
/// <item>grubenv: <see cref="BootSlots.BeginWrite"/> (the inactive slot not OK, last in ORDER), rewritten in place and
/// fsynced, and its old slot record removed;</item>
/// <item>mkfs of the inactive slot, the rootfs streamed in with the extractor (bounded memory, as convert), the carried
/// configuration restored, its /etc/fstab (its root by the new UUID, the running system's other volumes), SELinux
/// as the bundle says;</item>
/// <item>its kernel and initramfs to /boot/slot-X/, sync, its slot record, and /boot checkpointed (FIFREEZE+FITHAW:
/// GRUB does not replay the log, so the new files' metadata must be in place);</item>
/// <item>last, grubenv again: <see cref="BootSlots.FinishWrite"/> (first in ORDER, OK, one try).</item>
/// </list>
/// Before the last write GRUB chooses the running slot whatever else is on the disk; the last write changes only the
/// first 512-byte sector of the 1024-byte block (the variables end well before it; the rest is '#' padding), so a
/// power cut leaves either the old state or the new one. Test hooks (NATIVEINIT_TEST_KILL_AT) are the step names
/// <see cref="Steps"/> and "extract:BYTES".
/// </summary>
public static class UpdateJob
{
    public const string StepBegin = "begin", StepMkfs = "mkfs", StepExtract = "extract", StepCarry = "carry", StepFstab = "fstab",
        StepKernel = "kernel", StepRecord = "record", StepSwitch = "switch", StepDone = "done";

    public static readonly string[] Steps = [StepBegin, StepMkfs, StepExtract, StepCarry, StepFstab, StepKernel, StepRecord, StepSwitch, StepDone];

    /// <summary>Room the slot needs beyond the unpacked rootfs: 10% + 64 MiB (file system metadata and log).</summary>
    public static long SlotNeeded(long uncompressed) => uncompressed + uncompressed / 10 + (64L << 20);

    private const string LayoutDir = "nativeinit/layout";

    // ---------------------------------------------------------------- plan (writes nothing)

    public static UpdatePlan Plan(UpdateOptions o, WorkDirectory work, TextWriter log)
    {
        if (o.Image is null && o.RunningSlot is not null)
            throw new UsageException("update: --running names the running slot of an --image only; a running system reads nativeinit.slot= from its kernel command line");
        if (o.Image is not null && o.RunningSlot is null)
            throw new UsageException("update: --image needs --running A|B (the slot that plays the running system)");
        if (o.RunningSlot is not null && !BootSlots.Names.Contains(o.RunningSlot))
            throw new UsageException($"update: --running '{o.RunningSlot}' is not one of {string.Join(", ", BootSlots.Names)}");
        if (!Environment.IsPrivilegedProcess) throw new RefusedException($"{o.Image ?? "this system"}: an update makes a file system and mounts it, which needs root");
        var bundle = BundleVerifier.Verify(o.Bundle, o.PublicKey);
        log.WriteLine($"bundle {o.Bundle}: signature and {bundle.Manifest.Parts.Count} parts verified");
        CarryPolicy? policy = bundle.Manifest.FindPart(PartRoles.CarryPolicy) is { } cp ? CarryPolicy.Parse(ReadPart(bundle, cp), $"bundle part {cp.Name}") : null;
        SelinuxSetting? selinux = bundle.Manifest.FindPart(PartRoles.SelinuxPolicy) is { } sp ? SelinuxSetting.Parse(ReadPart(bundle, sp), $"bundle part {sp.Name}") : null;
        return o.Image is { } image ? PlanImage(o, image, bundle, policy, selinux, work, log) : PlanSystem(o, bundle, policy, selinux);
    }

    private static UpdatePlan PlanSystem(UpdateOptions o, VerifiedBundle bundle, CarryPolicy? policy, SelinuxSetting? selinux)
    {
        var layout = LoadLayout(o.BootDir, o.BootDir);
        var (grubDir, before) = ReadSlots(o.BootDir, o.BootDir);
        var cmdline = o.CommandLine ?? KernelCommandLine.ReadProc();
        string running = BootSlotsStore.RunningSlot(cmdline)
            ?? throw new RefusedException($"the kernel command line has no {BootSlotsStore.SlotArgument}=A|B: this system was not booted from an A/B slot entry");
        var (run, target, spec) = Slots(layout, before, running);
        string device = SlotBootConfig.DevicePath(layout.VolumeGroupName, target);
        if (!File.Exists(device)) throw new RefusedException($"{device}: slot {target.Name}'s LV is not active (no such device)");
        long bytes;
        using (var d = DiskDevice.Open(device, writable: false)) bytes = d.SizeBytes;
        var mounted = MountedDevices();
        if (mounted.Contains(Path.GetFullPath(device)) || (new FileInfo(device).ResolveLinkTarget(true) is { } real && mounted.Contains(real.FullName)))
            throw new RefusedException($"{device}: slot {target.Name}'s LV is mounted; unmount it first");
        var carry = CarryRecord.Capture(o.Root, policy);
        string fstab = File.Exists(Path.Combine(o.Root, "etc/fstab")) ? File.ReadAllText(Path.Combine(o.Root, "etc/fstab")) : "";
        return Finish(o, bundle, layout, before, run, target, spec, grubDir, device, 0, bytes, carry, fstab, selinux);
    }

    private static UpdatePlan PlanImage(UpdateOptions o, string image, VerifiedBundle bundle, CarryPolicy? policy, SelinuxSetting? selinux, WorkDirectory work, TextWriter log)
    {
        if (!File.Exists(image)) throw new RefusedException($"{image}: no such image file");
        LayoutPlanner.RefuseIfImageInUse(image);
        using var disk = DiskDevice.Open(image, writable: false);
        if (disk.IsBlockDevice) throw new UsageException($"{image} is a block device: --image takes a disk image file");
        var table = GptReader.Read(disk).Table ?? throw new RefusedException($"{image}: no GPT: not a converted disk");
        int ss = disk.LogicalSectorSize;
        // /boot: the partition whose file system holds the layout the conversion recorded (read-only mounts).
        LayoutFile? layout = null;
        (BootSlots, string)? slots = null;
        long bootOff = 0, bootLen = 0;
        string? bootFs = null;
        foreach (var p in table.Partitions)
        {
            long off = p.ByteOffset(ss), len = p.ByteLength(ss);
            if (off + len > disk.SizeBytes) continue;
            string? fs = FilesystemProbe.Probe(disk, off, len)?.Type;
            if (fs is not ("xfs" or "ext4" or "ext3" or "ext2")) continue;
            string dir = work.Combine($"probe{p.Number}");
            // A clean file system through a read-only device; one a power cut left with a log to replay is mounted
            // read-only on a writable device, so that the kernel replays the log (as convert reads its journal).
            VolumeMount m;
            try { m = VolumeMount.Mount(image, off, len, fs, dir, readOnly: true, replayLog: true); }
            catch (NativeInitException) { m = VolumeMount.Mount(image, off, len, fs, dir, readOnly: false, readOnlyMount: true); }
            using var mounted = m;
            if (!File.Exists(Path.Combine(dir, LayoutDir, "layout.json"))) continue;
            string copy = work.Combine("layout");
            Directory.CreateDirectory(copy);
            foreach (var f in Directory.EnumerateFiles(Path.Combine(dir, LayoutDir))) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)), overwrite: true);
            string where = $"{image}: partition {p.Number}";
            layout = LoadLayout(work.Path, where, copy);
            var (grub, state) = ReadSlots(dir, where);
            slots = (state, grub);
            (bootOff, bootLen, bootFs) = (off, len, fs);
            break;
        }
        if (layout is null || slots is null)
            throw new RefusedException($"{image}: no partition holds /{LayoutDir}/layout.json: not a disk converted by nativeinit");
        var (before, grubDir) = slots.Value;
        var (run, target, spec) = Slots(layout, before, o.RunningSlot!);
        var pvPart = table.Find(layout.Partition) ?? throw new RefusedException($"{image}: the GPT has no partition {layout.Partition} (the layout's PV)");
        long pvOff = pvPart.ByteOffset(ss);
        var pv = LvmDiskFormat.Read(disk.Handle, pvOff, image);
        var vg = pv.VolumeGroup ?? throw new RefusedException($"{image}: the PV on partition {layout.Partition} belongs to no volume group");
        var (tOff, tLen) = Range(vg, pv.PeStartBytes, pvOff, target.Volume, image);
        var (rOff, rLen) = Range(vg, pv.PeStartBytes, pvOff, run.Volume, image);
        var runSpec = layout.SlotVolume(run.Name)!;
        CarryRecord carry;
        string fstab;
        using (var root = VolumeMount.Mount(image, rOff, rLen, runSpec.Filesystem!, work.Combine("running"), readOnly: true, replayLog: true))
        {
            carry = CarryRecord.Capture(root.Directory, policy);
            string f = Path.Combine(root.Directory, "etc/fstab");
            fstab = File.Exists(f) ? File.ReadAllText(f) : "";
        }
        log.WriteLine($"captured {carry.Files.Count} files and {carry.Passwords.Count} password hashes from slot {run.Name} (read-only)");
        return Finish(o, bundle, layout, before, run, target, spec, grubDir, $"{image} at bytes {tOff}..{tOff + tLen - 1}", tOff, tLen, carry, fstab, selinux) with
        {
            RunningOffset = rOff, RunningBytes = rLen, RunningFilesystem = runSpec.Filesystem, BootOffset = bootOff, BootBytes = bootLen, BootFilesystem = bootFs,
        };
    }

    private static UpdatePlan Finish(UpdateOptions o, VerifiedBundle bundle, LayoutFile layout, BootSlots before, BootSlot run, BootSlot target, LayoutVolume spec,
        string grubDir, string device, long offset, long bytes, CarryRecord carry, string fstab, SelinuxSetting? selinux)
    {
        long needed = SlotNeeded(bundle.Manifest.Rootfs.UncompressedSize);
        if (needed > bytes)
            throw new RefusedException($"slot {target.Name} (LV {layout.VolumeGroupName}/{target.Volume}) has {ByteSize.Format(bytes)}; the bundle's rootfs needs " +
                $"{ByteSize.Format(needed)} ({ByteSize.Format(bundle.Manifest.Rootfs.UncompressedSize)} unpacked + 10% + 64 MiB)");
        if (ProgramPath.Find(LayoutApplier.MkfsProgram(spec.Filesystem!)) is null)
            throw new RefusedException($"slot {target.Name}: {LayoutApplier.MkfsProgram(spec.Filesystem!)} is not installed");
        return new UpdatePlan
        {
            Options = o, Bundle = bundle, Layout = layout, Running = run, Target = target, TargetSpec = spec, Before = before,
            TargetDevice = device, TargetOffset = offset, TargetBytes = bytes, GrubDirectory = grubDir, Carry = carry, RunningFstab = fstab,
            Selinux = selinux, RootfsNeededBytes = needed,
        };
    }

    /// <summary>The layout the conversion recorded on /boot (<c>nativeinit/layout/layout.json</c>); refuses one without slots.</summary>
    private static LayoutFile LoadLayout(string bootDir, string where, string? copiedTo = null)
    {
        string path = Path.Combine(copiedTo ?? Path.Combine(bootDir, LayoutDir), "layout.json");
        if (!File.Exists(path))
            throw new RefusedException($"{where}: no /{LayoutDir}/layout.json on /boot: not a system converted by nativeinit");
        var layout = LayoutFile.Load(path);
        if (!layout.HasSlots)
            throw new RefusedException($"{where}: the layout recorded by the conversion has no A/B slots (no logical volume with \"slot\"): " +
                "update writes the inactive slot of an A/B layout; this system has one root");
        return layout;
    }

    /// <summary>grubenv's slot state and the GRUB directory name it lies in.</summary>
    private static (string GrubDir, BootSlots State) ReadSlots(string bootDir, string where)
    {
        string env;
        try { env = BootSlotsStore.EnvPath(bootDir); }
        catch (RefusedException) { throw new RefusedException($"{where}: no grub2/grubenv or grub/grubenv on /boot: no A/B boot state"); }
        var e = GrubEnv.Parse(File.ReadAllBytes(env), env);
        if (e[BootSlots.OrderVariable] is null)
            throw new RefusedException($"{where}: grubenv has no {BootSlots.OrderVariable}: the A/B boot counting was never written (not converted to an A/B layout)");
        return (Path.GetFileName(Path.GetDirectoryName(env)!), BootSlots.Read(e));
    }

    /// <summary>The running slot (refused unless marked good) and the inactive one, which the update writes.</summary>
    private static (BootSlot Running, BootSlot Target, LayoutVolume TargetSpec) Slots(LayoutFile layout, BootSlots state, string running)
    {
        var slots = SlotBootConfig.SlotsOf(layout.LogicalVolumes)!;
        var run = slots.First(s => s.Name == running);
        var target = slots.First(s => s.Name != running);
        var s = state[running];
        string now = $"{running}_OK={(s.Ok ? 1 : 0)} {running}_TRIES={s.Tries} ORDER=\"{string.Join(' ', state.Order)}\"";
        if (state.Order.FirstOrDefault() == target.Name && state[target.Name].Bootable)
            throw new RefusedException($"slot {target.Name} is already set to boot next ({target.Name}_OK=1 {target.Name}_TRIES={state[target.Name].Tries} " +
                $"ORDER=\"{string.Join(' ', state.Order)}\"): an update is waiting for its reboot. Reboot, and once slot {target.Name} is marked good update again");
        if (!s.Ok || s.Tries == 0 || state.Order.FirstOrDefault() != running)
            throw new RefusedException($"slot {running} is running but not marked good ({now}): a new slot is proven by `nativeinit mark-good` once its " +
                $"system is up; updating slot {target.Name} now could leave no good slot to fall back to. Run `nativeinit mark-good` (or reboot into the good slot) first");
        return (run, target, layout.SlotVolume(target.Name)!);
    }

    private static (long Offset, long Bytes) Range(LvmVolumeGroup vg, long peStart, long pvOffset, string lvName, string image)
    {
        var lv = vg.FindLv(lvName) ?? throw new RefusedException($"{image}: VG {vg.Name} has no LV {lvName}");
        var segs = lv.Segments.OrderBy(x => x.StartExtent).ToList();
        if (segs.Count == 0 || segs.Any(x => !x.IsLinear)) throw new RefusedException($"{image}: LV {lvName} is not a linear LV");
        for (int i = 1; i < segs.Count; i++)
            if (segs[i].Stripes[0].StartExtent != segs[i - 1].Stripes[0].StartExtent + segs[i - 1].ExtentCount)
                throw new RefusedException($"{image}: LV {lvName}'s extents are not contiguous on the PV; an image's LV is reached through one loop device");
        long ext = vg.ExtentSizeBytes;
        return (pvOffset + peStart + segs[0].Stripes[0].StartExtent * ext, lv.ExtentCount * ext);
    }

    private static HashSet<string> MountedDevices()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        if (!File.Exists("/proc/mounts")) return set;
        foreach (var line in File.ReadLines("/proc/mounts"))
        {
            var dev = line.Split(' ')[0];
            if (!dev.StartsWith('/')) continue;
            set.Add(dev);
            try { if (new FileInfo(dev).ResolveLinkTarget(true) is { } t) set.Add(t.FullName); } catch (IOException) { }
        }
        return set;
    }

    private static byte[] ReadPart(VerifiedBundle b, BundlePart p)
    {
        if (p.Size > 16 << 20) throw new RefusedException($"bundle part {p.Name}: {p.Size} bytes is too large for a {p.Role}");
        using var s = b.OpenPart(p);
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    // ---------------------------------------------------------------- run

    /// <summary>Executes <paramref name="plan"/>. Any failure after the first write is exit 4; the running slot still
    /// boots (the inactive one is not OK in grubenv until the last write), and `update` may simply be run again.</summary>
    public static UpdateResult Run(UpdatePlan plan, WorkDirectory work, bool reboot, TextWriter output, TextWriter progress, bool progressIsTty)
    {
        if (reboot && plan.IsImage) throw new UsageException("update: --reboot reboots the running system; it makes no sense with --image");
        var t = plan.Target;
        string how = $"slot {plan.Running.Name} still boots (slot {t.Name} is not OK in grubenv); run the same `nativeinit update` again";
        VolumeMount? bootMount = null;
        try
        {
            string boot = plan.Options.BootDir;
            if (plan.IsImage)
            {
                bootMount = VolumeMount.Mount(plan.Options.Image!, plan.BootOffset, plan.BootBytes, plan.BootFilesystem!, work.Combine("boot"), readOnly: false);
                boot = bootMount.Directory;
            }
            string envPath = Path.Combine(boot, plan.GrubDirectory, "grubenv");
            TestHooks.KillAtStep(StepBegin);
            return PointOfNoReturn.Run(plan.What, how, () =>
            {
                // 1. The inactive slot is not bootable while it is written.
                var env = GrubEnv.Parse(File.ReadAllBytes(envPath), envPath);
                var state = BootSlots.Read(env);
                state.BeginWrite(t.Name);
                state.WriteTo(env);
                BootSlotsStore.WriteInPlace(envPath, env.ToBytes());
                string record = BootSlotsStore.RecordPath(boot, t.Name);
                if (File.Exists(record)) { File.Delete(record); AtomicFile.SyncDirectory(Path.GetDirectoryName(record)!); }
                output.WriteLine($"update: grubenv: slot {t.Name} not OK while it is written (ORDER=\"{string.Join(' ', state.Order)}\")");

                // 2. The file system and the system.
                TestHooks.KillAtStep(StepMkfs);
                string uuid = Guid.NewGuid().ToString();
                var spec = plan.TargetSpec;
                var mkfs = spec with { MkfsOptions = [.. spec.MkfsOptions, .. spec.Filesystem == "xfs" ? new[] { "-m", "uuid=" + uuid } : ["-U", uuid]] };
                VolumeMount mount;
                if (plan.IsImage)
                {
                    using (var loop = Disk.Loop.LoopDevice.Attach(plan.Options.Image!, plan.TargetOffset, plan.TargetBytes))
                        LayoutApplier.Mkfs(mkfs, loop.DevicePath);
                    mount = VolumeMount.Mount(plan.Options.Image!, plan.TargetOffset, plan.TargetBytes, spec.Filesystem!, work.Combine("slot"), readOnly: false);
                }
                else
                {
                    LayoutApplier.Mkfs(mkfs, plan.TargetDevice);
                    mount = VolumeMount.MountDevice(plan.TargetDevice, spec.Filesystem!, work.Combine("slot"));
                }
                output.WriteLine($"update: {spec.Filesystem} on slot {t.Name} (UUID {uuid})");
                ExtractionReport report;
                BootKernel kernel;
                using (mount)
                {
                    TestHooks.KillAtStep(StepExtract);
                    report = Extract(plan, mount.Directory, progress, progressIsTty);
                    output.WriteLine($"update: {report.Stats.Entries} entries, {ByteSize.Format(report.Stats.BytesWritten)} extracted into slot {t.Name}");
                    TestHooks.KillAtStep(StepCarry);
                    var r = CarryRestore.Apply(mount.Directory, plan.Carry, m => output.WriteLine("update: " + m));
                    output.WriteLine($"update: carried {r.Summary()}");
                    TestHooks.KillAtStep(StepFstab);
                    WriteFstab(mount.Directory, plan, uuid);
                    if (plan.Selinux is { } se) output.WriteLine("update: " + se.Apply(mount.Directory));
                    // 3. Its kernel and initramfs on /boot under its own names.
                    TestHooks.KillAtStep(StepKernel);
                    string slotBoot = Path.Combine(mount.Directory, "boot");
                    kernel = BootKernel.Find(slotBoot).FirstOrDefault() ?? throw new NativeInitException(
                        $"the bundle's rootfs has no kernel with an initramfs in /boot (vmlinuz-V with initramfs-V.img or initrd.img-V): slot {t.Name} could not boot");
                    SlotBootConfig.InstallKernel(boot, t.Name, Path.Combine(slotBoot, kernel.Kernel), Path.Combine(slotBoot, kernel.Initramfs));
                    output.WriteLine($"update: /boot{SlotBootConfig.KernelPath(t.Name)} from {kernel.Kernel}, /boot{SlotBootConfig.InitramfsPath(t.Name)} from {kernel.Initramfs}");
                    BootCalls.Sync();
                }
                BootCalls.Sync();
                TestHooks.KillAtStep(StepRecord);
                BootSlotsStore.WriteRecord(boot, t.Name, new SlotRecord(plan.ProductVersion, DateTimeOffset.UtcNow));
                // GRUB reads /boot without replaying its log: the new kernel pair's inodes and extents must be in place
                // before grubenv points GRUB at them (grubenv itself is rewritten in place: no metadata changes).
                FilesystemCheckpoint.Run(boot);

                // 4. Last: boot the new slot next, once.
                TestHooks.KillAtStep(StepSwitch);
                env = GrubEnv.Parse(File.ReadAllBytes(envPath), envPath);
                state = BootSlots.Read(env);
                state.FinishWrite(t.Name);
                state.WriteTo(env);
                BootSlotsStore.WriteInPlace(envPath, env.ToBytes());
                string next = $"slot {t.Name} once (ORDER=\"{string.Join(' ', state.Order)}\", {t.Name}_TRIES={state[t.Name].Tries}); " +
                    $"slot {plan.Running.Name} again if it does not reach `nativeinit mark-good`";
                output.WriteLine($"update: grubenv: next boot {next}");
                TestHooks.KillAtStep(StepDone);
                if (reboot)
                {
                    output.WriteLine("update: rebooting");
                    output.Flush();
                    SystemReboot.Request(plan.Options.Root);
                }
                return new UpdateResult(uuid, report.Stats.Entries, report.Stats.BytesWritten, kernel.Kernel, next, reboot);
            });
        }
        finally
        {
            bootMount?.Dispose();
        }
    }

    private static ExtractionReport Extract(UpdatePlan plan, string dir, TextWriter progress, bool tty)
    {
        var part = plan.Bundle.Manifest.Part(PartRoles.Rootfs);
        using var input = ArchiveExtraction.Input.FromStream(plan.Bundle.OpenPart(part), part.Size);
        using var extractor = TarExtractor.Open(dir, restoreOwners: true);
        var reporter = new ProgressReporter(progress, tty, "update: extract", part.Size, () => input.BytesRead);
        bool hook = TestHooks.WantsBytes(StepExtract);
        try
        {
            var report = ArchiveExtraction.Run(input, extractor, new DecoderOptions { Threads = 2 }, () =>
            {
                reporter.Tick();
                if (hook) TestHooks.KillAfterBytes(StepExtract, input.BytesRead);
            });
            reporter.Done();
            return report;
        }
        catch
        {
            reporter.Abort();
            throw;
        }
    }

    /// <summary>The new slot's /etc/fstab: its root by the new UUID; the running system's other mounts (/boot, /data,
    /// swap...: the volumes both slots share) as they are; the bundle's lines that name no device (tmpfs and the like)
    /// and no mount point already listed.</summary>
    public static string Fstab(string runningFstab, string bundleFstab, string filesystem, string uuid)
    {
        var sb = new StringBuilder();
        sb.Append("# /etc/fstab written by nativeinit update: this slot's root by UUID, the shared volumes as the running slot mounts them\n");
        sb.Append(CultureInfo.InvariantCulture, $"UUID={uuid} / {filesystem} defaults 0 1\n");
        var points = new HashSet<string>(StringComparer.Ordinal) { "/" };
        foreach (var line in runningFstab.Split('\n'))
        {
            var f = line.Trim().Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2 || f[0].StartsWith('#') || !FstabFile.NamesDevice(f[0]) || f[1] == "/") continue;
            if (!points.Add(f[1]) && f[1] != "swap") continue;
            sb.Append(line.Trim()).Append('\n');
        }
        foreach (var line in bundleFstab.Split('\n'))
        {
            var f = line.Trim().Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2 || f[0].StartsWith('#') || FstabFile.NamesDevice(f[0]) || !points.Add(f[1])) continue;
            sb.Append(line.Trim()).Append('\n');
        }
        return sb.ToString();
    }

    private static void WriteFstab(string root, UpdatePlan plan, string uuid)
    {
        FstabFile.Write(root, Fstab(plan.RunningFstab, FstabFile.ReadTree(root), plan.TargetSpec.Filesystem!, uuid));
    }
}
