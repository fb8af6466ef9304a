using System.Globalization;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Mbr;

namespace NativeInit.Core.Conversion;

/// <summary>An old (legacy) disk layout that `convert` knows how to read: where its root file system is.</summary>
public sealed record LegacyLayout(string Kind, string Description, long RootOffset, long RootLength, string RootFilesystem,
    long? BootOffset = null, long? BootLength = null, string? BootFilesystem = null)
{
    /// <summary>(a) MBR with one root partition.</summary>
    public const string MbrRoot = "a";

    /// <summary>
    /// Recognises the old layout of <paramref name="disk"/> from its MBR and the file systems' signatures, reading
    /// nothing else. (a) one Linux partition (type 83) holding xfs or ext2/3/4. Anything else is refused before any
    /// write (<see cref="RefusedException"/>), naming what was found.
    /// </summary>
    public static LegacyLayout Recognise(DiskDevice disk)
    {
        var head = new byte[512];
        disk.ReadAt(0, head);
        if (!MbrTable.LooksLikePartitionTable(head, disk.SizeBytes))
            throw new RefusedException($"{disk.Path}: no MBR partition table and no conversion journal: not a legacy disk this conversion knows");
        var parts = MbrTable.Read(disk);
        int ss = disk.LogicalSectorSize;
        var found = parts.Select(p => (Part: p, Probe: p.IsExtended ? null : FilesystemProbe.Probe(disk, p.ByteOffset(ss), p.ByteLength(ss)))).ToList();
        string Describe() => found.Count == 0 ? "an MBR with no partitions" : "an MBR with " + string.Join("; ", found.Select(f =>
            string.Create(CultureInfo.InvariantCulture, $"partition {f.Part.Number} type {f.Part.Type:x2} ({MbrTable.TypeName(f.Part.Type)}), {ByteSize.Format(f.Part.ByteLength(ss))}, ") +
            (f.Probe?.Type ?? "no file system found")));
        var linux = found.Where(f => f.Part.Type == 0x83 && f.Probe?.Type is "xfs" or "ext4" or "ext3" or "ext2").ToList();
        if (found.Count == 1 && linux.Count == 1)
        {
            var (p, probe) = linux[0];
            return new LegacyLayout(MbrRoot, $"(a) MBR with one root partition: partition {p.Number}, {probe!.Type}, {ByteSize.Format(p.ByteLength(ss))}",
                p.ByteOffset(ss), p.ByteLength(ss), probe.Type);
        }
        throw new RefusedException($"{disk.Path}: {Describe()}: not an old layout this conversion knows " +
            "(it converts (a) MBR with one xfs/ext4 root partition)");
    }
}
