using System.Globalization;
using System.Text.Json;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Mbr;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>Puts a GPT on a disk the way stage two needs it: refuse first, then table, wipes, and the kernel.</summary>
public static class GptApply
{
    /// <summary>
    /// Plans writing <paramref name="desired"/> (already sized for this disk) on <paramref name="disk"/>. Refuses
    /// (<see cref="RefusedException"/>, nothing written) when the disk or a partition of it is in use, or the table
    /// does not fit. With <paramref name="wipePartitions"/> the start and end of every new partition are zeroed.
    /// </summary>
    public static GptApplyPlan Plan(DiskDevice disk, GptTable desired, bool wipePartitions = true, IReadOnlySet<string>? releasedHolders = null)
    {
        BlockDeviceInfo.RefuseIfInUse(disk, releasedHolders);
        var tableWrites = GptWriter.Plan(disk, desired);
        var current = GptReader.Read(disk);
        var mbr = current.Table is null ? MbrTable.Read(disk).Where(p => p.Type != GptFormat.ProtectiveOsType).ToList() : [];
        string kind = current.Table is not null ? "gpt" : mbr.Count > 0 ? "mbr" : "none";
        int ss = disk.LogicalSectorSize;
        var changes = new List<PartitionChange>();
        var numbers = desired.Partitions.Select(p => p.Number)
            .Concat(current.Table?.Partitions.Select(p => p.Number) ?? mbr.Select(p => p.Number)).Distinct().Order();
        foreach (int n in numbers)
        {
            var want = desired.Find(n);
            string? curDesc = null;
            string? old = null;
            if (current.Table?.Find(n) is { } cg)
            {
                curDesc = $"GPT LBA {cg.FirstLba}..{cg.LastLba} {cg.TypeName}";
                old = ProbeDescription(disk, cg.ByteOffset(ss), cg.ByteLength(ss));
                bool same = want is not null && want.FirstLba == cg.FirstLba && want.LastLba == cg.LastLba && want.Type == cg.Type
                    && want.UniqueGuid == cg.UniqueGuid && want.Name == cg.Name && want.Attributes == cg.Attributes;
                changes.Add(new(n, want is null ? "remove" : same ? "keep" : "change", curDesc, want, old));
                continue;
            }
            if (mbr.FirstOrDefault(p => p.Number == n) is { } cm)
            {
                curDesc = $"MBR LBA {cm.FirstLba}..{cm.LastLba} {MbrTable.TypeName(cm.Type)}";
                if (!cm.IsExtended && cm.LastLba < disk.Sectors) old = ProbeDescription(disk, cm.ByteOffset(ss), cm.ByteLength(ss));
            }
            changes.Add(new(n, want is null ? "remove" : curDesc is null ? "add" : "change", curDesc, want, old));
        }
        // Partitions that stay exactly as they are keep their contents (a re-run after a power cut must not wipe
        // what a later step already wrote).
        var keep = changes.Where(c => c.Action == "keep").Select(c => c.Number).ToList();
        var wipes = wipePartitions ? DiskWipe.PlanPartitions(disk, desired, keep).ToList() : [];
        if (kind == "mbr")
        {
            // The old logical partitions' boot records (EBRs) would still describe the old layout.
            foreach (ulong ebr in MbrTable.ExtendedBootRecords(disk))
                if (ebr >= desired.FirstUsableLba && ebr <= desired.LastUsableLba)
                    wipes.Add(new DiskWrite($"zero old extended boot record (LBA {ebr})", (long)ebr * ss, GptFormat.MbrSize, null));
        }
        return new GptApplyPlan
        {
            DiskPath = disk.Path, IsBlockDevice = disk.IsBlockDevice, DiskBytes = disk.SizeBytes, SectorSize = ss, Desired = desired,
            CurrentKind = kind, CurrentGpt = current.Table, CurrentMbr = mbr, Changes = changes, TableWrites = tableWrites, WipeWrites = wipes,
        };
    }

    /// <summary>Plans applying an `sgdisk --backup` file: the table moved to this disk's size as `sgdisk --load-backup`
    /// + `sgdisk -e` would leave it; refuses when it does not fit.</summary>
    public static GptApplyPlan PlanFromBackup(DiskDevice disk, SgdiskBackup backup, bool wipePartitions = true, IReadOnlySet<string>? releasedHolders = null) =>
        Plan(disk, backup.ForDisk(disk.Sectors, disk.LogicalSectorSize, disk.Path), wipePartitions, releasedHolders);

    /// <summary>What to do after a failure inside <see cref="Execute"/>.</summary>
    public const string HowToGoOn = "run gpt apply again with the same backup file: it rewrites the whole table";

    /// <summary>Writes the table, then the wipes, flushes, and tells the kernel (BLKRRPART, else BLKPG; no-op on an
    /// image). The first write is the point of no return: any failure after it is exit 4.</summary>
    public static KernelNotification Execute(DiskDevice disk, GptApplyPlan plan)
    {
        if (plan.DiskPath != disk.Path || plan.DiskBytes != disk.SizeBytes) throw new InvalidOperationException("the plan was made for another disk");
        return PointOfNoReturn.Run(disk.Path, HowToGoOn, () =>
        {
            GptWriter.Execute(disk, plan.TableWrites);
            GptWriter.Execute(disk, plan.WipeWrites);
            return KernelPartitions.Notify(disk, plan.Desired);
        });
    }

    private static string? ProbeDescription(DiskDevice disk, long offset, long length)
    {
        if (length <= 0 || offset + length > disk.SizeBytes) return null;
        var r = FilesystemProbe.Probe(disk, offset, length);
        return r is null ? null : r.Label.Length > 0 ? $"{r.Type} \"{r.Label}\"" : r.Type;
    }
}
