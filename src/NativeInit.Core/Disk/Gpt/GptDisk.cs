using System.Buffers.Binary;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>One write of a plan: <see cref="Length"/> bytes at <see cref="Offset"/>; <see cref="Data"/> null means zeros.</summary>
/// <param name="What">What is written ("primary GPT header", "zero stale backup GPT header").</param>
public sealed record DiskWrite(string What, long Offset, long Length, byte[]? Data)
{
    /// <summary>First logical sector touched on a disk with <paramref name="sectorSize"/>-byte sectors.</summary>
    public long FirstSector(int sectorSize) => Offset / sectorSize;
    /// <summary>Last logical sector touched.</summary>
    public long LastSector(int sectorSize) => (Offset + Length - 1) / sectorSize;
}

/// <summary>What <see cref="GptReader.Read"/> found on a disk.</summary>
public sealed record GptReadResult
{
    /// <summary>The first 512 bytes of the disk.</summary>
    public required byte[] Mbr { get; init; }
    public GptHeader? Primary { get; init; }
    public bool PrimaryEntriesCrcValid { get; init; }
    public GptHeader? Backup { get; init; }
    public bool BackupEntriesCrcValid { get; init; }
    /// <summary>The table from the primary copy when it is sound, else from the backup copy; null when neither is.</summary>
    public GptTable? Table { get; init; }
    /// <summary>Which copy <see cref="Table"/> came from: "primary", "backup" or null.</summary>
    public string? Source { get; init; }
    /// <summary>Every inconsistency found (bad CRCs, copies that disagree, backup not at the end of the disk).</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];
    /// <summary>True when the MBR has a 0xEE record.</summary>
    public bool HasProtectiveMbr => GptFormat.HasProtectiveRecord(Mbr);
}

/// <summary>Reads a GPT from a disk or an image (UEFI 2.10, 5.3). Paired with <see cref="GptWriter"/>.</summary>
public static class GptReader
{
    /// <summary>Reads both copies, checks every CRC, and picks the sound copy.</summary>
    public static GptReadResult Read(DiskDevice disk)
    {
        int ss = disk.LogicalSectorSize;
        var problems = new List<string>();
        var mbr = new byte[GptFormat.MbrSize];
        if (disk.SizeBytes >= GptFormat.MbrSize) disk.ReadAt(0, mbr);
        if (disk.Sectors < 3) return new GptReadResult { Mbr = mbr, Problems = ["disk too small for a GPT"] };

        var sector = new byte[ss];
        disk.ReadAt(ss, sector);
        var primary = GptFormat.ReadHeader(sector);
        bool primaryArrayOk = false;
        byte[]? primaryArray = null;
        if (primary is not null)
        {
            if (!primary.HeaderCrcValid) problems.Add("primary header CRC is wrong");
            primaryArray = ReadArray(disk, primary, problems, "primary");
            primaryArrayOk = primaryArray is not null && GptFormat.ArrayCrc(primaryArray) == primary.PartitionEntryArrayCrc32;
            if (primaryArray is not null && !primaryArrayOk) problems.Add("primary entry array CRC is wrong");
        }

        ulong backupLba = primary is not null && primary.AlternateLba < disk.Sectors ? primary.AlternateLba : disk.Sectors - 1;
        disk.ReadAt((long)backupLba * ss, sector);
        var backup = GptFormat.ReadHeader(sector);
        if (backup is null && backupLba != disk.Sectors - 1)
        {
            disk.ReadAt((long)(disk.Sectors - 1) * ss, sector);
            backup = GptFormat.ReadHeader(sector);
        }
        bool backupArrayOk = false;
        byte[]? backupArray = null;
        if (backup is not null)
        {
            if (!backup.HeaderCrcValid) problems.Add("backup header CRC is wrong");
            backupArray = ReadArray(disk, backup, problems, "backup");
            backupArrayOk = backupArray is not null && GptFormat.ArrayCrc(backupArray) == backup.PartitionEntryArrayCrc32;
            if (backupArray is not null && !backupArrayOk) problems.Add("backup entry array CRC is wrong");
            if (backup.MyLba != disk.Sectors - 1) problems.Add($"backup header at LBA {backup.MyLba} is not at the end of the disk (LBA {disk.Sectors - 1})");
        }
        else if (primary is not null) problems.Add("no backup header");
        if (primary is null && backup is null) return new GptReadResult { Mbr = mbr, Problems = problems };
        if (primary is not null && backup is not null)
        {
            if (primary.DiskGuid != backup.DiskGuid) problems.Add("primary and backup disk GUIDs differ");
            if (primary.LastUsableLba != backup.LastUsableLba || primary.FirstUsableLba != backup.FirstUsableLba)
                problems.Add("primary and backup usable ranges differ");
            if (primary.PartitionEntryArrayCrc32 != backup.PartitionEntryArrayCrc32) problems.Add("primary and backup entry arrays differ");
        }
        if (!GptFormat.HasProtectiveRecord(mbr)) problems.Add("no protective MBR (0xEE record)");

        GptTable? table = null;
        string? source = null;
        if (primary is not null && primary.HeaderCrcValid && primaryArrayOk)
        {
            table = ToTable(primary, primaryArray!, disk.Sectors, ss, backup);
            source = "primary";
        }
        else if (backup is not null && backup.HeaderCrcValid && backupArrayOk)
        {
            table = ToTable(backup, backupArray!, disk.Sectors, ss, backup);
            source = "backup";
        }
        return new GptReadResult
        {
            Mbr = mbr, Primary = primary, PrimaryEntriesCrcValid = primaryArrayOk, Backup = backup,
            BackupEntriesCrcValid = backupArrayOk, Table = table, Source = source, Problems = problems,
        };
    }

    /// <summary>Builds the table model from a sound header and its entry array.</summary>
    internal static GptTable ToTable(GptHeader h, byte[] array, ulong diskSectors, int sectorSize, GptHeader? backup)
    {
        bool isBackup = h.MyLba != 1;
        ulong primaryEntries = isBackup ? 2 : h.PartitionEntryLba;
        ulong backupEntries = isBackup ? h.PartitionEntryLba
            : backup is not null && backup.HeaderCrcValid ? backup.PartitionEntryLba : h.LastUsableLba + 1;
        return new GptTable
        {
            SectorSize = sectorSize,
            DiskSectors = isBackup ? h.MyLba + 1 : h.AlternateLba + 1,
            DiskGuid = h.DiskGuid,
            FirstUsableLba = h.FirstUsableLba,
            LastUsableLba = h.LastUsableLba,
            EntryCount = h.NumberOfPartitionEntries,
            EntrySize = h.SizeOfPartitionEntry,
            PrimaryEntriesLba = primaryEntries,
            BackupEntriesLba = backupEntries,
            Partitions = GptFormat.ReadEntries(array, h.NumberOfPartitionEntries, h.SizeOfPartitionEntry),
        };
    }

    private static byte[]? ReadArray(DiskDevice disk, GptHeader h, List<string> problems, string which)
    {
        if (h.SizeOfPartitionEntry < GptFormat.EntrySize || h.SizeOfPartitionEntry % 8 != 0 || h.NumberOfPartitionEntries == 0
            || h.EntryArrayBytes > GptFormat.MaxEntryArrayBytes)
        {
            problems.Add($"{which} header: entry array of {h.NumberOfPartitionEntries} × {h.SizeOfPartitionEntry} bytes is not sane");
            return null;
        }
        long offset = (long)h.PartitionEntryLba * disk.LogicalSectorSize;
        if (h.PartitionEntryLba == 0 || offset + h.EntryArrayBytes > disk.SizeBytes)
        {
            problems.Add($"{which} entry array at LBA {h.PartitionEntryLba} lies outside the disk");
            return null;
        }
        var array = new byte[h.EntryArrayBytes];
        disk.ReadAt(offset, array);
        return array;
    }

    /// <summary>For an image file of unknown sector size: 512 or 4096, whichever has "EFI PART" at LBA 1 (512 if none).</summary>
    public static int DetectSectorSize(string imagePath)
    {
        using var f = File.OpenHandle(imagePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> sig = stackalloc byte[8];
        foreach (int ss in (int[])[512, 4096])
            if (RandomAccess.Read(f, sig, ss) == 8 && BinaryPrimitives.ReadUInt64LittleEndian(sig) == GptFormat.Signature) return ss;
        return 512;
    }
}

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
