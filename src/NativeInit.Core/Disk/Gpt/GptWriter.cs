using System.Buffers.Binary;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>Writes a <see cref="GptTable"/> to a disk: protective MBR, both headers, both entry arrays (UEFI 2.10, 5.3).</summary>
public static class GptWriter
{
    /// <summary>
    /// Every write that puts <paramref name="table"/> on <paramref name="disk"/>, in order, changing nothing:
    /// zeroing a stale backup GPT left by an earlier table (at the alternate LBA its primary header names), then the
    /// backup array and header, the primary array and header, and the protective MBR (boot code kept).
    /// Refuses (before any write) a table that does not fit the disk.
    /// </summary>
    public static IReadOnlyList<DiskWrite> Plan(DiskDevice disk, GptTable table)
    {
        int ss = disk.LogicalSectorSize;
        if (table.SectorSize != ss)
            throw new RefusedException($"{disk.Path}: the table is for {table.SectorSize}-byte sectors, the disk has {ss}-byte sectors");
        if (table.DiskSectors != disk.Sectors)
            throw new RefusedException($"{disk.Path}: the table is for a disk of {table.DiskSectors} sectors, the disk has {disk.Sectors} (move it with GptTable.MovedToDisk)");
        table.EnsureValid(disk.Path);

        var writes = new List<DiskWrite>();
        writes.AddRange(StaleGptAreas(disk, table));

        var array = new byte[(long)table.EntryArraySectors * ss];
        uint arrayCrc = GptFormat.WriteEntries(table.Partitions, table.EntryCount, table.EntrySize, array);
        var primary = new GptHeader
        {
            MyLba = table.PrimaryHeaderLba, AlternateLba = table.BackupHeaderLba,
            FirstUsableLba = table.FirstUsableLba, LastUsableLba = table.LastUsableLba, DiskGuid = table.DiskGuid,
            PartitionEntryLba = table.PrimaryEntriesLba, NumberOfPartitionEntries = table.EntryCount,
            SizeOfPartitionEntry = table.EntrySize, PartitionEntryArrayCrc32 = arrayCrc,
        };
        var backup = primary with { MyLba = table.BackupHeaderLba, AlternateLba = table.PrimaryHeaderLba, PartitionEntryLba = table.BackupEntriesLba };
        var primarySector = new byte[ss];
        var backupSector = new byte[ss];
        GptFormat.WriteHeader(primary, primarySector);
        GptFormat.WriteHeader(backup, backupSector);

        var mbr = new byte[GptFormat.MbrSize];
        disk.ReadAt(0, mbr);
        GptFormat.WriteProtectiveMbr(mbr, table.DiskSectors);

        writes.Add(new("backup GPT entry array", (long)table.BackupEntriesLba * ss, array.Length, array));
        writes.Add(new("backup GPT header", (long)table.BackupHeaderLba * ss, ss, backupSector));
        writes.Add(new("primary GPT entry array", (long)table.PrimaryEntriesLba * ss, array.Length, array));
        writes.Add(new("primary GPT header", (long)table.PrimaryHeaderLba * ss, ss, primarySector));
        writes.Add(new("protective MBR (boot code kept)", 0, GptFormat.MbrSize, mbr));
        return writes;
    }

    /// <summary>Carries out <paramref name="writes"/> (from <see cref="Plan"/>) and flushes the disk.</summary>
    public static void Execute(DiskDevice disk, IReadOnlyList<DiskWrite> writes)
    {
        foreach (var w in writes)
        {
            if (w.Data is null) disk.ZeroRange(w.Offset, w.Length);
            else disk.WriteAt(w.Offset, w.Data.AsSpan(0, (int)w.Length));
        }
        disk.Flush();
    }

    /// <summary>Plans and writes <paramref name="table"/>; returns what was written.</summary>
    public static IReadOnlyList<DiskWrite> Write(DiskDevice disk, GptTable table)
    {
        var writes = Plan(disk, table);
        Execute(disk, writes);
        return writes;
    }

    /// <summary>The areas of an old GPT that the new table will not overwrite: the backup header and array an old
    /// primary header points to (e.g. from when the disk was smaller), and an old header in the last sector.</summary>
    private static IEnumerable<DiskWrite> StaleGptAreas(DiskDevice disk, GptTable table)
    {
        int ss = disk.LogicalSectorSize;
        var sector = new byte[ss];
        disk.ReadAt(ss, sector);
        var old = GptFormat.ReadHeader(sector);
        if (old is null || old.AlternateLba == table.BackupHeaderLba || old.AlternateLba >= disk.Sectors || old.AlternateLba < 2) yield break;
        disk.ReadAt((long)old.AlternateLba * ss, sector);
        var oldBackup = GptFormat.ReadHeader(sector);
        yield return new DiskWrite($"zero stale backup GPT header (LBA {old.AlternateLba})", (long)old.AlternateLba * ss, ss, null);
        if (oldBackup is not null && oldBackup.EntryArrayBytes <= GptFormat.MaxEntryArrayBytes
            && oldBackup.PartitionEntryLba > 1 && (long)oldBackup.PartitionEntryLba * ss + oldBackup.EntryArrayBytes <= disk.SizeBytes)
            yield return new DiskWrite($"zero stale backup GPT entry array (LBA {oldBackup.PartitionEntryLba})",
                (long)oldBackup.PartitionEntryLba * ss, oldBackup.EntryArrayBytes, null);
    }
}
