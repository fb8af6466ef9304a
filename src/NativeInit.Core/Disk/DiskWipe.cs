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
    public static IReadOnlyList<DiskWrite> Plan(DiskDevice disk, long offset, long length, string what) =>
        Plan(disk, offset, length, what, null);

    /// <summary>As <see cref="Plan(DiskDevice, long, long, string)"/>; an old filesystem's secondary superblocks that
    /// lie beyond the range are zeroed too where <paramref name="mayZeroOutside"/>(absolute offset, length) allows.</summary>
    internal static IReadOnlyList<DiskWrite> Plan(DiskDevice disk, long offset, long length, string what, Func<long, long, bool>? mayZeroOutside)
    {
        if (length <= 0 || offset < 0 || offset + length > disk.SizeBytes)
            throw new RefusedException($"{disk.Path}: {what} (bytes {offset}+{length}) lies outside the disk ({disk.SizeBytes} bytes)");
        var writes = new List<DiskWrite>();
        var old = FilesystemProbe.Probe(disk, offset, length);
        long head = Math.Min(length, EdgeBytes);
        writes.Add(new DiskWrite($"zero the start of {what}" + (old is null ? "" : $" (old {old.Type} signature)"), offset, head, null));
        long tailStart = Math.Max(head, length - EdgeBytes);
        if (length > head) writes.Add(new DiskWrite($"zero the end of {what}", offset + tailStart, length - tailStart, null));
        if (old is not null)
        {
            int n = 0;
            foreach (long at in SecondarySuperblocks(old))
            {
                long abs = offset + at;
                if (abs + SuperblockBytes > disk.SizeBytes) break;
                bool inside = at + SuperblockBytes <= length;
                if (inside && (at < head || at >= tailStart)) continue; // already zeroed with the edges
                if (!inside && mayZeroOutside?.Invoke(abs, SuperblockBytes) != true) continue;
                writes.Add(new DiskWrite($"zero old {old.Type} secondary superblock (from {what})", abs, SuperblockBytes, null));
                if (++n >= MaxSecondaryWrites) break;
            }
        }
        return writes;
    }

    /// <summary>Bytes zeroed at each secondary superblock (a 4 KiB block holds the whole XFS or ext superblock).</summary>
    public const long SuperblockBytes = 4096;
    private const int MaxSecondaryWrites = 65536;

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

    /// <summary>
    /// The writes that wipe every partition of <paramref name="table"/> on <paramref name="disk"/> except those in
    /// <paramref name="keep"/> (partitions that stay as they are). Secondary superblocks of an old filesystem found at a
    /// partition start are zeroed wherever they lie in the usable range, outside kept partitions.
    /// </summary>
    public static IReadOnlyList<DiskWrite> PlanPartitions(DiskDevice disk, GptTable table, IReadOnlyCollection<int>? keep = null)
    {
        int ss = table.SectorSize;
        var kept = table.Partitions.Where(p => keep?.Contains(p.Number) == true)
            .Select(p => (Start: p.ByteOffset(ss), End: p.ByteOffset(ss) + p.ByteLength(ss))).ToList();
        long usableStart = (long)table.FirstUsableLba * ss, usableEnd = ((long)table.LastUsableLba + 1) * ss;
        bool MayZero(long abs, long len) =>
            abs >= usableStart && abs + len <= usableEnd && !kept.Any(k => abs < k.End && abs + len > k.Start);
        var writes = new List<DiskWrite>();
        foreach (var p in table.Partitions.OrderBy(p => p.FirstLba))
            if (keep?.Contains(p.Number) != true)
                writes.AddRange(Plan(disk, p.ByteOffset(ss), p.ByteLength(ss), $"partition {p.Number}", MayZero));
        return writes;
    }

    /// <summary>Byte offsets, from the start of the old filesystem, of the copies of its superblock beyond the first.</summary>
    private static IEnumerable<long> SecondarySuperblocks(ProbeResult old)
    {
        if (old.GroupBytes <= 0 || old.GroupCount <= 1) yield break;
        if (old.Type == "xfs")
        {
            for (long ag = 1; ag < old.GroupCount; ag++) yield return ag * old.GroupBytes;
        }
        else if (old.Type.StartsWith("ext", StringComparison.Ordinal))
        {
            // Group g starts at block first_data_block + g × blocks_per_group; with 1 KiB blocks first_data_block is 1,
            // so the copy is at byte 1024 + g × group bytes; with larger blocks at g × group bytes.
            long baseOffset = old.ExtBlockSize == 1024 ? 1024 : 0;
            IEnumerable<long> groups = old.ExtBackupGroups.Length > 0 ? old.ExtBackupGroups.Where(g => g > 0 && g < old.GroupCount).Select(g => (long)g)
                : old.SparseSuper ? SparseGroups(old.GroupCount) : Enumerable.Range(1, (int)Math.Min(old.GroupCount - 1, int.MaxValue - 1)).Select(g => (long)g);
            foreach (long g in groups) yield return baseOffset + g * old.GroupBytes;
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
