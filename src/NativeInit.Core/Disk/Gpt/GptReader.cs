using System.Buffers.Binary;

namespace NativeInit.Core.Disk.Gpt;

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
