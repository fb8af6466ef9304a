using System.Globalization;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Mbr;

namespace NativeInit.Core.Conversion;

/// <summary>An old (legacy) disk layout that `convert` knows how to read: where its root file system is.</summary>
/// <param name="OldVg">(c): the old volume group (its LVs may be active in device-mapper) and the partition of its PV.</param>
public sealed record LegacyLayout(string Kind, string Description, long RootOffset, long RootLength, string RootFilesystem,
    long? BootOffset = null, long? BootLength = null, string? BootFilesystem = null, (Lvm.LvmVolumeGroup Vg, int PvPartition)? OldVg = null)
{
    /// <summary>(a) MBR with one root partition.</summary>
    public const string MbrRoot = "a";
    /// <summary>(b) MBR with a /boot partition and a root partition (which is which is decided by their contents:
    /// <see cref="ConvertJob"/> mounts both read-only; the one with /etc is the root).</summary>
    public const string MbrBootRoot = "b";
    /// <summary>(c) CentOS 7's default: MBR with an xfs /boot and an LVM PV holding VG centos (root, swap); the old root
    /// is read through the project's LVM reader (a linear LV at its byte offset), never through lvm2.</summary>
    public const string CentosLvm = "c";

    /// <summary>The same layout with root and /boot swapped (when the contents say so).</summary>
    public LegacyLayout Swapped() => this with
    {
        RootOffset = BootOffset!.Value, RootLength = BootLength!.Value, RootFilesystem = BootFilesystem!,
        BootOffset = RootOffset, BootLength = RootLength, BootFilesystem = RootFilesystem,
    };

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
        var pvs = found.Where(f => f.Probe?.Type == "LVM2_member").ToList();
        if (found.Count == 2 && linux.Count == 1 && pvs.Count == 1)
        {
            var (b, bp) = linux[0];
            var (pv, _) = pvs[0];
            var onDisk = Lvm.LvmDiskFormat.Read(disk.Handle, pv.ByteOffset(ss), $"{disk.Path} partition {pv.Number}");
            var vg = onDisk.VolumeGroup;
            var root = vg?.FindLv("root");
            if (vg is null || vg.Name != "centos" || root is null)
                throw new RefusedException($"{disk.Path}: {Describe()}; the PV holds {(vg is null ? "no VG" : $"VG {vg.Name} with LVs {string.Join(", ", vg.LogicalVolumes.Select(l => l.Name))}")}: " +
                    "not an old layout this conversion knows ((c) is VG centos with LV root)");
            if (root.Segments.Count != 1 || !root.Segments[0].IsLinear)
                throw new RefusedException($"{disk.Path}: LV centos/root has {root.Segments.Count} segments: only a linear LV in one piece is read");
            long offset = pv.ByteOffset(ss) + onDisk.PeStartBytes + root.Segments[0].Stripes[0].StartExtent * vg.ExtentSizeBytes;
            long length = root.ExtentCount * vg.ExtentSizeBytes;
            var rp = FilesystemProbe.Probe(disk, offset, length);
            if (rp?.Type is not ("xfs" or "ext4" or "ext3" or "ext2"))
                throw new RefusedException($"{disk.Path}: LV centos/root holds {rp?.Type ?? "no file system found"}, not xfs or ext2/3/4");
            return new LegacyLayout(CentosLvm, $"(c) CentOS default: /boot partition {b.Number} ({bp!.Type}) and PV partition {pv.Number} with VG centos " +
                $"(LVs {string.Join(", ", vg.LogicalVolumes.Select(l => l.Name))}); root LV {ByteSize.Format(length)} {rp.Type} at byte {offset}",
                offset, length, rp.Type, b.ByteOffset(ss), b.ByteLength(ss), bp.Type, (vg, pv.Number));
        }
        if (found.Count == 2 && linux.Count == 2)
        {
            // The first is taken as /boot for now; the caller swaps them when the contents say otherwise.
            var (b, bp) = linux[0];
            var (r, rp) = linux[1];
            return new LegacyLayout(MbrBootRoot, $"(b) MBR with a /boot and a root partition: partitions {b.Number} ({bp!.Type}, {ByteSize.Format(b.ByteLength(ss))}) " +
                $"and {r.Number} ({rp!.Type}, {ByteSize.Format(r.ByteLength(ss))})",
                r.ByteOffset(ss), r.ByteLength(ss), rp.Type, b.ByteOffset(ss), b.ByteLength(ss), bp.Type);
        }
        throw new RefusedException($"{disk.Path}: {Describe()}: not an old layout this conversion knows " +
            "(it converts (a) MBR with one xfs/ext4 root partition, (b) MBR with a /boot and a root partition, " +
            "(c) MBR with an xfs /boot and an LVM PV holding VG centos)");
    }
}
