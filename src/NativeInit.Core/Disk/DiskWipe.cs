using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Gpt;

namespace NativeInit.Core.Disk;

/// <summary>
/// Wipes what must not survive a repartitioning, so that blkid/udev/lvm never detect a stale signature later:
/// the first and last <see cref="EdgeBytes"/> of a partition or LV (every start signature blkid knows — xfs, ext,
/// swap, LVM2 label and metadata area, md 1.1/1.2, btrfs, LUKS — and the end ones — md 0.90/1.0, a GPT backup),
/// plus the secondary superblocks of an old XFS (one per allocation group) or ext2/3/4 (backup groups) found at the
/// start of the range, which xfs_repair / e2fsck would otherwise find. Old MBR entries and old GPT backups are
/// handled by <see cref="GptWriter"/> (protective MBR written over them, stale backup zeroed).
/// </summary>
public static class DiskWipe
{
    /// <summary>Bytes zeroed at each end of a range (1 MiB).</summary>
    public const long EdgeBytes = 1 << 20;

    /// <summary>The writes that wipe [offset, offset+length) of <paramref name="disk"/>; <paramref name="what"/> names
    /// the range in their descriptions. Reads only.</summary>
    public static IReadOnlyList<DiskWrite> Plan(DiskDevice disk, long offset, long length, string what)
    {
        if (length <= 0 || offset < 0 || offset + length > disk.SizeBytes)
            throw new RefusedException($"{disk.Path}: {what} (bytes {offset}+{length}) lies outside the disk ({disk.SizeBytes} bytes)");
        var writes = new List<DiskWrite>();
        var old = FilesystemProbe.Probe(disk, offset, length);
        long head = Math.Min(length, EdgeBytes);
        writes.Add(new DiskWrite($"zero the start of {what}" + (old is null ? "" : $" (old {old.Type} signature)"), offset, head, null));
        if (length > head)
        {
            long tailStart = Math.Max(head, length - EdgeBytes);
            writes.Add(new DiskWrite($"zero the end of {what}", offset + tailStart, length - tailStart, null));
        }
        if (old is not null)
        {
            int n = 0;
            foreach (long at in SecondarySuperblocks(old, length))
            {
                if (at < head || at >= length - EdgeBytes) continue;
                writes.Add(new DiskWrite($"zero {old.Type} secondary superblock of {what}", offset + at, Math.Min(4096, length - at), null));
                if (++n >= 4096) break;
            }
        }
        return writes;
    }

    /// <summary>Wipes [offset, offset+length) of an open disk (see <see cref="Plan"/>) and flushes.</summary>
    public static IReadOnlyList<DiskWrite> Wipe(DiskDevice disk, long offset, long length, string what)
    {
        var writes = Plan(disk, offset, length, what);
        GptWriter.Execute(disk, writes);
        return writes;
    }

    /// <summary>Wipes a whole device — an LV's /dev/mapper node or a loop device on it — by path.</summary>
    public static IReadOnlyList<DiskWrite> WipeDevice(string devicePath)
    {
        using var dev = DiskDevice.Open(devicePath, writable: true);
        return Wipe(dev, 0, dev.SizeBytes, devicePath);
    }

    /// <summary>The writes that wipe every partition of <paramref name="table"/> on <paramref name="disk"/>.</summary>
    public static IReadOnlyList<DiskWrite> PlanPartitions(DiskDevice disk, GptTable table)
    {
        var writes = new List<DiskWrite>();
        foreach (var p in table.Partitions.OrderBy(p => p.FirstLba))
            writes.AddRange(Plan(disk, p.ByteOffset(table.SectorSize), p.ByteLength(table.SectorSize), $"partition {p.Number}"));
        return writes;
    }

    /// <summary>Byte offsets (inside the range) of the copies of an old superblock beyond the first.</summary>
    private static IEnumerable<long> SecondarySuperblocks(ProbeResult old, long length)
    {
        if (old.GroupBytes <= 0 || old.GroupCount <= 1) yield break;
        if (old.Type == "xfs")
        {
            for (long ag = 1; ag < old.GroupCount; ag++)
            {
                long at = ag * old.GroupBytes;
                if (at >= length) yield break;
                yield return at;
            }
        }
        else if (old.Type.StartsWith("ext", StringComparison.Ordinal))
        {
            // Group g starts at block first_data_block + g × blocks_per_group; with 1 KiB blocks first_data_block is 1,
            // so the copy is at byte 1024 + g × group bytes; with larger blocks at g × group bytes.
            long baseOffset = old.ExtBlockSize == 1024 ? 1024 : 0;
            IEnumerable<long> groups = old.ExtBackupGroups.Length > 0 ? old.ExtBackupGroups.Where(g => g > 0).Select(g => (long)g)
                : old.SparseSuper ? SparseGroups(old.GroupCount) : Enumerable.Range(1, (int)Math.Min(old.GroupCount - 1, int.MaxValue - 1)).Select(g => (long)g);
            foreach (long g in groups)
            {
                long at = baseOffset + g * old.GroupBytes;
                if (at >= length) continue;
                yield return at;
            }
        }
    }

    /// <summary>Groups 1 and the powers of 3, 5 and 7 below <paramref name="count"/> (ext sparse_super).</summary>
    private static IEnumerable<long> SparseGroups(long count)
    {
        var set = new SortedSet<long>();
        if (count > 1) set.Add(1);
        foreach (long b in (long[])[3, 5, 7])
            for (long g = b; g < count; g *= b) set.Add(g);
        return set;
    }
}
