using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Mbr;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>What <c>gpt show</c> prints: the disk, its GPT (or why there is none) and else its MBR partitions with the
/// filesystem found on each.</summary>
public sealed record GptShowReport(
    string Path, bool IsBlockDevice, long SizeBytes, int LogicalSectorSize, int PhysicalSectorSize, ulong Sectors,
    GptReadResult Read, IReadOnlyList<(MbrPartition Partition, ProbeResult? Filesystem)> Mbr);

/// <summary>
/// <c>gpt show</c> and <c>gpt apply</c> as one Core call each, so the CLI only parses and prints and tests run exactly
/// what the command runs. Everything up to <see cref="GptApplyJob.Execute"/> writes nothing; a target or input that
/// cannot be opened or read is a refusal (exit 3).
/// </summary>
public static class GptJob
{
    public static GptShowReport Show(string path, int? sectorSize = null)
    {
        using var disk = OpenBeforeWriting(path, writable: false, ImageSectorSize.Choose(path, sectorSize));
        GptReadResult read;
        IReadOnlyList<MbrPartition> mbr;
        try
        {
            read = GptReader.Read(disk);
            mbr = read.Table is null ? MbrTable.Read(disk) : [];
        }
        catch (InvalidDataFormatException e) { throw new RefusedException(e.Message, e); }
        var probed = mbr.Select(p => (p, Probe(disk, p))).ToList();
        return new GptShowReport(disk.Path, disk.IsBlockDevice, disk.SizeBytes, disk.LogicalSectorSize, disk.PhysicalSectorSize,
            disk.Sectors, read, probed);
    }

    /// <summary>Loads the backup, opens the disk and plans: every check that can refuse, nothing written. With
    /// <paramref name="dryRun"/> the disk is opened read-only.</summary>
    public static GptApplyJob Prepare(string backupPath, string diskPath, int? sectorSize = null, bool dryRun = false, bool wipePartitions = true)
    {
        var backup = SgdiskBackup.Load(backupPath);
        var disk = OpenBeforeWriting(diskPath, writable: !dryRun, ImageSectorSize.Choose(diskPath, sectorSize, backup));
        try
        {
            return new GptApplyJob(backup, disk, GptApply.PlanFromBackup(disk, backup, wipePartitions));
        }
        catch
        {
            disk.Dispose();
            throw;
        }
    }

    /// <summary>Opens a disk or image before anything is written to it: failing to open it is a refusal.</summary>
    public static DiskDevice OpenBeforeWriting(string path, bool writable, int imageSectorSize)
    {
        if (Directory.Exists(path))
            throw new RefusedException($"disk {path}: {PosixError.Message(PosixError.EISDIR)} (EISDIR): not a disk or an image file");
        DiskDevice disk;
        try { disk = DiskDevice.Open(path, writable, imageSectorSize); }
        catch (PosixException e) { throw new RefusedException(e.Message, e); }
        if (disk.SizeBytes < disk.LogicalSectorSize)
        {
            disk.Dispose();
            throw new RefusedException($"disk {path}: {disk.SizeBytes} bytes, less than one sector: not a disk image");
        }
        return disk;
    }

    private static ProbeResult? Probe(DiskDevice disk, MbrPartition p) =>
        p.IsExtended || p.LastLba >= disk.Sectors ? null
        : FilesystemProbe.Probe(disk, p.ByteOffset(disk.LogicalSectorSize), p.ByteLength(disk.LogicalSectorSize));
}

/// <summary>A planned <c>gpt apply</c>: the backup, the open disk and the plan; <see cref="Execute"/> writes.</summary>
public sealed class GptApplyJob(SgdiskBackup backup, DiskDevice disk, GptApplyPlan plan) : IDisposable
{
    public SgdiskBackup Backup { get; } = backup;
    public DiskDevice Disk { get; } = disk;
    public GptApplyPlan Plan { get; } = plan;

    /// <summary>Writes the plan (<see cref="GptApply.Execute"/>: any failure in it is exit 4).</summary>
    public KernelNotification Execute() => GptApply.Execute(Disk, Plan);

    public void Dispose() => Disk.Dispose();
}
