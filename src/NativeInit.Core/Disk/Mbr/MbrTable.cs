using System.Buffers.Binary;

namespace NativeInit.Core.Disk.Mbr;

/// <summary>One partition of a legacy MBR layout.</summary>
/// <param name="Number">Linux numbering: 1–4 primary, 5… logical in chain order.</param>
/// <param name="Type">The one-byte system ID (0x83 Linux, 0x8E LVM, 0x82 swap, 0x05/0x0F/0x85 extended, 0xEE GPT).</param>
/// <param name="FirstLba">First sector (absolute).</param>
/// <param name="Sectors">Length in sectors.</param>
public sealed record MbrPartition(int Number, bool Bootable, byte Type, ulong FirstLba, ulong Sectors)
{
    public bool IsExtended => MbrTable.IsExtendedType(Type);
    public bool IsLogical => Number > 4;
    public ulong LastLba => FirstLba + Sectors - 1;
    public long ByteOffset(int sectorSize) => checked((long)FirstLba * sectorSize);
    public long ByteLength(int sectorSize) => checked((long)Sectors * sectorSize);
}

/// <summary>
/// Reads a legacy (DOS) MBR partition table with its extended/logical chain. Read-only. Layout: the MBR as the UEFI
/// spec 5.2.1 describes it (records at 446, 16 bytes each, 0x55AA at 510); each extended boot record (EBR) holds the
/// logical partition (start relative to the EBR) and a link to the next EBR (start relative to the extended partition).
/// </summary>
public static class MbrTable
{
    /// <summary>Guard against EBR loops.</summary>
    public const int MaxLogicalPartitions = 128;

    public static bool IsExtendedType(byte type) => type is 0x05 or 0x0F or 0x85;

    /// <summary>Reads every primary and logical partition; empty when sector 0 carries no 0x55AA.</summary>
    public static IReadOnlyList<MbrPartition> Read(DiskDevice disk) => Read(disk, null);

    /// <summary>The LBAs of the extended boot records of the logical-partition chain (to wipe them).</summary>
    public static IReadOnlyList<ulong> ExtendedBootRecords(DiskDevice disk)
    {
        var ebrs = new List<ulong>();
        Read(disk, ebrs);
        return ebrs;
    }

    private static IReadOnlyList<MbrPartition> Read(DiskDevice disk, List<ulong>? ebrs)
    {
        int ss = disk.LogicalSectorSize;
        var sector = new byte[ss];
        disk.ReadAt(0, sector);
        var result = new List<MbrPartition>();
        if (BinaryPrimitives.ReadUInt16LittleEndian(sector.AsSpan(MbrFormat.MbrSignatureOffset)) != MbrFormat.MbrBootSignature) return result;
        var primaries = ReadRecords(sector);
        for (int i = 0; i < 4; i++)
        {
            var (boot, type, start, size) = primaries[i];
            if (type == 0 || size == 0) continue;
            result.Add(new MbrPartition(i + 1, boot, type, start, size));
        }
        foreach (var ext in result.Where(p => p.IsExtended).ToList())
        {
            ulong ebr = ext.FirstLba;
            int number = 5;
            for (int guard = 0; guard < MaxLogicalPartitions && ebr != 0 && ebr < disk.Sectors; guard++)
            {
                disk.ReadAt((long)ebr * ss, sector);
                if (BinaryPrimitives.ReadUInt16LittleEndian(sector.AsSpan(MbrFormat.MbrSignatureOffset)) != MbrFormat.MbrBootSignature) break;
                ebrs?.Add(ebr);
                var recs = ReadRecords(sector);
                var (b0, t0, s0, n0) = recs[0];
                if (t0 != 0 && n0 != 0) result.Add(new MbrPartition(number++, b0, t0, ebr + s0, n0));
                var (_, t1, s1, n1) = recs[1];
                if (!IsExtendedType(t1) || n1 == 0) break;
                ulong next = ext.FirstLba + s1;
                if (next <= ebr) break;
                ebr = next;
            }
            break; // only one extended partition is meaningful
        }
        return result;
    }

    private static (bool Boot, byte Type, ulong Start, ulong Size)[] ReadRecords(ReadOnlySpan<byte> sector)
    {
        var recs = new (bool, byte, ulong, ulong)[4];
        for (int i = 0; i < 4; i++)
        {
            var r = sector.Slice(MbrFormat.MbrPartitionRecords + i * MbrFormat.MbrPartitionRecordSize, MbrFormat.MbrPartitionRecordSize);
            recs[i] = (r[MbrFormat.PrBootIndicator] == 0x80, r[MbrFormat.PrOsType],
                BinaryPrimitives.ReadUInt32LittleEndian(r[MbrFormat.PrStartingLba..]), BinaryPrimitives.ReadUInt32LittleEndian(r[MbrFormat.PrSizeInLba..]));
        }
        return recs;
    }

    /// <summary>Heuristic for a probe: the boot indicators are 0x00/0x80 and at least one record is used and inside the device.</summary>
    public static bool LooksLikePartitionTable(ReadOnlySpan<byte> mbr, long deviceBytes)
    {
        bool any = false;
        for (int i = 0; i < 4; i++)
        {
            var r = mbr.Slice(MbrFormat.MbrPartitionRecords + i * MbrFormat.MbrPartitionRecordSize, MbrFormat.MbrPartitionRecordSize);
            if (r[0] is not (0 or 0x80)) return false;
            uint start = BinaryPrimitives.ReadUInt32LittleEndian(r[MbrFormat.PrStartingLba..]);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(r[MbrFormat.PrSizeInLba..]);
            if (r[MbrFormat.PrOsType] == 0 || size == 0) continue;
            if (start == 0 || ((long)start + size) * 512 > deviceBytes * 8) return false;
            any = true;
        }
        return any;
    }

    /// <summary>The usual name of an MBR system ID.</summary>
    public static string TypeName(byte type) => type switch
    {
        0x05 or 0x0F or 0x85 => "Extended",
        0x07 => "HPFS/NTFS/exFAT",
        0x0B or 0x0C => "W95 FAT32",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8E => "Linux LVM",
        0xEE => "GPT",
        0xEF => "EFI (FAT-12/16/32)",
        0xFD => "Linux raid autodetect",
        _ => $"type 0x{type:x2}",
    };
}
