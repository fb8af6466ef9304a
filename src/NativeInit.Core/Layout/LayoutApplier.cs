using NativeInit.Core.Disk;
using System.Diagnostics;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Disk.Loop;
using NativeInit.Core.Lvm;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Layout;

/// <summary>What apply did to one LV: the device mkfs ran on.</summary>
public sealed record AppliedVolume(string Name, string Device, string? Filesystem);

/// <summary>
/// `layout apply`: checks everything first (the plan's refusals, the mkfs programs), then wipes, writes the GPT,
/// writes the PV/VG/LVs, and makes the filesystems. On an image file each LV is reached through a loop device at its
/// byte offset (no device-mapper, no partition scanning); on a block device the kernel is told about the new
/// partitions and the LVs are activated through device-mapper ioctls, and stay active (the caller mounts them).
/// </summary>
public static class LayoutApplier
{
    /// <summary>Runs all checks that need no write: the mkfs programs the layout asks for exist, and on a block device
    /// the kernel has device-mapper (the LVs are activated through it).</summary>
    public static void Preflight(LayoutPlan plan)
    {
        if (!plan.IsImage)
        {
            try { DeviceMapperControl.GetVersion(); }
            catch (NativeInitException e) { throw new RefusedException($"{plan.Target}: the LVs could not be activated: {e.Message}", e); }
        }
        if (plan.IsImage && plan.Volumes.Any(v => v.Spec.Filesystem is not null) && !Environment.IsPrivilegedProcess)
            throw new RefusedException($"{plan.Target}: making filesystems on the LVs of an image needs loop devices, which need root");
        foreach (var v in plan.Volumes)
            if (v.Spec.Filesystem is { } fs && ProgramPath.Find(MkfsProgram(fs)) is null)
                throw new RefusedException($"LV {v.Name}: {MkfsProgram(fs)} is not installed (needed for filesystem {fs})");
    }

    /// <summary>What to do after a failure inside <see cref="Apply"/>.</summary>
    public const string HowToGoOn = "run layout apply again with the same layout: it finds the VG written so far and reuses its ids";

    /// <summary>Writes the plan. Everything after <see cref="Preflight"/> is the point of no return: any failure in
    /// it, whatever its type, is exit 4 (<see cref="PointOfNoReturn"/>).</summary>
    public static List<AppliedVolume> Apply(LayoutPlan plan, DiskDevice disk, Action<string>? log = null)
    {
        Preflight(plan);
        if (!disk.IsWritable) throw new InvalidOperationException($"{disk.Path} was opened read-only");
        return PointOfNoReturn.Run(plan.Target, HowToGoOn, () => Write(plan, disk, log ?? (_ => { })));
    }

    private static List<AppliedVolume> Write(LayoutPlan plan, DiskDevice disk, Action<string> log)
    {
        var notified = GptApply.Execute(disk, plan.Gpt);
        log($"wrote the GPT: {plan.Table.Partitions.Count} partitions, backup header at LBA {plan.Table.BackupHeaderLba}; " +
            $"wiped {plan.Gpt.WipeWrites.Count} regions of the partitions; kernel: {notified}");
        GptWriter.Execute(disk, plan.VolumeWipes);
        log($"wiped {plan.VolumeWipes.Count} regions of the LVs");
        LvmDiskFormat.WriteNewPv(disk.Handle, plan.PvOffset, plan.Geometry, plan.VolumeGroup, "pv0", plan.PvDevice);
        disk.Flush();
        log($"wrote PV {plan.PvDevice} and VG {plan.VolumeGroup.Name} with {plan.Volumes.Count} LVs");

        var result = new List<AppliedVolume>();
        if (!disk.IsBlockDevice)
        {
            foreach (var v in plan.Volumes)
            {
                if (v.Spec.Filesystem is null) { result.Add(new AppliedVolume(v.Name, "-", null)); continue; }
                using var loop = LoopDevice.Attach(disk.Path, v.DiskOffset, v.SizeBytes);
                Mkfs(v.Spec, loop.DevicePath);
                log($"made {v.Spec.Filesystem} on LV {v.Name} through {loop.DevicePath} (offset {v.DiskOffset}, {v.SizeBytes} bytes)");
                result.Add(new AppliedVolume(v.Name, loop.DevicePath, v.Spec.Filesystem));
            }
            return result;
        }

        var (vg, pvDevices, via) = ActivationTarget(plan, disk, log);
        var active = LvmActivation.Activate(vg, pvDevices);
        log($"activated {active.Count} LVs through device-mapper on {via}");
        foreach (var v in plan.Volumes)
        {
            var a = active.First(x => x.LogicalVolume == v.Name);
            if (v.Spec.Filesystem is not null)
            {
                Mkfs(v.Spec, a.MapperPath);
                log($"made {v.Spec.Filesystem} on {a.MapperPath}");
            }
            result.Add(new AppliedVolume(v.Name, a.MapperPath, v.Spec.Filesystem));
        }
        return result;
    }

    /// <summary>
    /// Image mode, after <see cref="Apply"/>: one loop device per LV at its byte offset (kept in <paramref name="set"/>,
    /// which detaches them on Dispose), so the caller can mount and fill the LVs. Returns LV name → /dev/loopN.
    /// </summary>
    public static Dictionary<string, string> AttachImageVolumes(LayoutPlan plan, LoopDeviceSet set)
    {
        if (!plan.IsImage) throw new InvalidOperationException("AttachImageVolumes is for image files; a disk's LVs are in /dev/mapper");
        var devices = new Dictionary<string, string>();
        foreach (var v in plan.Volumes) devices[v.Name] = set.Attach(plan.Target, v.DiskOffset, v.SizeBytes).DevicePath;
        return devices;
    }

    /// <summary>
    /// On a block device whose PV <paramref name="plan"/> has written: the VG and the PV's device number to build the
    /// LVs' device-mapper tables from (<see cref="LvmActivation"/>), and the device named for messages. A PV reached
    /// through the whole disk (<see cref="PvDeviceNumber"/>) maps with the partition's offset added to its pe_start.
    /// </summary>
    public static (LvmVolumeGroup Vg, Dictionary<string, (uint Major, uint Minor)> PvDevices, string Via) ActivationTarget(LayoutPlan plan, DiskDevice disk, Action<string> log)
    {
        var (major, minor, offsetSectors, via) = PvDeviceNumber(plan, disk, log);
        var pvDevices = new Dictionary<string, (uint, uint)> { [plan.VolumeGroup.PhysicalVolumes[0].Name] = (major, minor) };
        var vg = plan.VolumeGroup;
        if (offsetSectors != 0)
        {
            vg = LvmMetadataText.Read(LvmMetadataText.Write(plan.VolumeGroup));
            vg.PhysicalVolumes[0].PeStart += offsetSectors;
        }
        return (vg, pvDevices, via);
    }

    /// <summary>
    /// The device the PV is reached through: the partition node after telling the kernel (BLKRRPART), or — when the
    /// kernel cannot re-read the table (disk busy) or the node does not appear — the whole disk with the partition's
    /// offset, which device-mapper maps just as well.
    /// </summary>
    private static (uint Major, uint Minor, long OffsetSectors, string Via) PvDeviceNumber(LayoutPlan plan, DiskDevice disk, Action<string> log)
    {
        string kernel = disk.KernelName ?? throw new NativeInitException($"{disk.Path}: no kernel name for a block device");
        // GptApply.Execute told the kernel (BLKRRPART, else BLKPG) and waited for the nodes.
        string partName = BlockDeviceInfo.PartitionName(kernel, plan.PvPartition.Number);
        for (int i = 0; i < 50; i++)
        {
            if (BlockDeviceInfo.DevNumber(partName) is { } dev && PartitionMatches(partName, plan))
            {
                var (ma, mi) = ParseDev(dev, partName);
                return (ma, mi, 0, "/dev/" + partName);
            }
            Thread.Sleep(100);
        }
        log($"{partName} does not show the PV partition; mapping the LVs through the whole disk");
        string diskDev = BlockDeviceInfo.DevNumber(kernel) ?? throw new NativeInitException($"{disk.Path}: no device number in sysfs");
        var (dma, dmi) = ParseDev(diskDev, kernel);
        return (dma, dmi, plan.PvOffset / LvmConstants.SectorSize, $"{disk.Path} at sector {plan.PvOffset / LvmConstants.SectorSize}");
    }

    private static bool PartitionMatches(string partName, LayoutPlan plan)
    {
        string dir = Path.Combine(BlockDeviceInfo.SysRoot, "class", "block", partName);
        try
        {
            long start = long.Parse(File.ReadAllText(Path.Combine(dir, "start")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            long size = long.Parse(File.ReadAllText(Path.Combine(dir, "size")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            return start * 512 == plan.PvOffset && size * 512 == plan.PvSize;
        }
        catch (IOException) { return false; }
        catch (FormatException) { return false; }
    }

    private static (uint, uint) ParseDev(string dev, string name)
    {
        var parts = dev.Split(':');
        if (parts.Length == 2 && uint.TryParse(parts[0], out uint ma) && uint.TryParse(parts[1], out uint mi)) return (ma, mi);
        throw new NativeInitException($"{name}: device number '{dev}' is not MAJOR:MINOR");
    }

    public static string MkfsProgram(string fs) => fs == "swap" ? "mkswap" : "mkfs." + fs;

    /// <summary>The mkfs command line for an LV (forcing over whatever was there: the plan wiped it anyway).</summary>
    public static List<string> MkfsArguments(LayoutVolume v, string device)
    {
        var args = new List<string>();
        switch (v.Filesystem)
        {
            case "xfs": args.Add("-f"); break;
            case "ext2" or "ext3" or "ext4": args.Add("-F"); args.Add("-q"); break;
            case "swap": args.Add("-f"); break;
        }
        if (v.Label is not null) { args.Add("-L"); args.Add(v.Label); }
        args.AddRange(v.MkfsOptions);
        args.Add(device);
        return args;
    }

    /// <summary>Runs mkfs for <paramref name="v"/> on <paramref name="device"/> (<see cref="MkfsArguments"/>); a failure names the command and its message.</summary>
    public static void Mkfs(LayoutVolume v, string device)
    {
        string program = ProgramPath.Find(MkfsProgram(v.Filesystem!)) ?? throw new NativeInitException($"{MkfsProgram(v.Filesystem!)} is not installed");
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in MkfsArguments(v, device)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new NativeInitException($"cannot start {program}");
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new NativeInitException($"{program} {string.Join(' ', psi.ArgumentList)} failed (exit {p.ExitCode}): {stderr.Result.Trim()}");
    }
}
