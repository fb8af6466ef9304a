using NativeInit.Core.Platform;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>
/// An `sgdisk --backup` file, as gptfdisk's GPTData::SaveGPTBackup writes it (gpt.cc): in 512-byte units, the
/// MBR (unit 0), the primary header (unit 1), the backup header (unit 2), and the primary entry array from unit 3.
/// A "short" backup (a dd copy of MBR, primary header and array: 1024 + array bytes) is accepted as LoadGPTBackup
/// accepts it. Parsing checks everything and refuses (<see cref="RefusedException"/>) a file that is not sound,
/// so nothing is written from a bad file.
/// </summary>
public sealed class SgdiskBackup
{
    /// <summary>Unit size of the file: gptfdisk writes it through a 512-byte-sector file.</summary>
    public const int UnitSize = 512;
    public const int MbrUnit = 0, PrimaryHeaderUnit = 1, BackupHeaderUnit = 2, EntriesUnit = 3, ShortEntriesUnit = 2;

    private SgdiskBackup(byte[] mbr, GptHeader primary, GptHeader backup, GptTable table, bool isShort)
    {
        Mbr = mbr;
        PrimaryHeader = primary;
        BackupHeader = backup;
        Table = table;
        IsShortFormat = isShort;
    }

    /// <summary>The MBR saved in the file (512 bytes).</summary>
    public byte[] Mbr { get; }
    public GptHeader PrimaryHeader { get; }
    /// <summary>The backup header saved in the file (rebuilt from the primary for a short backup).</summary>
    public GptHeader BackupHeader { get; }
    /// <summary>The table as it was on the source disk (its <see cref="GptTable.DiskSectors"/> is the source size).</summary>
    public GptTable Table { get; }
    public bool IsShortFormat { get; }

    /// <summary>Reads and checks a backup file.</summary>
    public static SgdiskBackup Load(string path)
    {
        IoErrors.RequireReadableFile("GPT backup", path);
        var info = new FileInfo(path);
        if (info.Length > 4 * GptFormat.MaxEntryArrayBytes) throw new RefusedException($"{path}: {info.Length} bytes is too large for an sgdisk backup file");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Checks and parses the bytes of a backup file; <paramref name="name"/> names it in messages.</summary>
    public static SgdiskBackup Parse(ReadOnlySpan<byte> file, string name = "GPT backup")
    {
        if (file.Length < 2 * UnitSize)
            throw new RefusedException($"{name}: truncated: {file.Length} bytes, an sgdisk backup has at least {3 * UnitSize + GptFormat.EntrySize}");
        var mbr = file[..UnitSize].ToArray();
        var primary = GptFormat.ReadHeader(file.Slice(PrimaryHeaderUnit * UnitSize, UnitSize))
            ?? throw new RefusedException($"{name}: no GPT header signature (\"EFI PART\") at byte {PrimaryHeaderUnit * UnitSize}: not an sgdisk backup file");
        CheckHeader(primary, name, "primary");
        long arrayBytes = primary.EntryArrayBytes;
        bool isShort = file.Length == 2 * UnitSize + arrayBytes;
        GptHeader backup;
        int entriesOffset;
        if (isShort)
        {
            backup = primary with { MyLba = primary.AlternateLba, AlternateLba = primary.MyLba, PartitionEntryLba = primary.LastUsableLba + 1 };
            entriesOffset = ShortEntriesUnit * UnitSize;
        }
        else
        {
            if (file.Length < EntriesUnit * UnitSize + arrayBytes)
                throw new RefusedException($"{name}: truncated: {file.Length} bytes, the headers announce {EntriesUnit * UnitSize + arrayBytes} ({primary.NumberOfPartitionEntries} entries of {primary.SizeOfPartitionEntry} bytes after 3 sectors)");
            backup = GptFormat.ReadHeader(file.Slice(BackupHeaderUnit * UnitSize, UnitSize))
                ?? throw new RefusedException($"{name}: no backup GPT header signature at byte {BackupHeaderUnit * UnitSize}");
            CheckHeader(backup, name, "backup");
            if (backup.DiskGuid != primary.DiskGuid || backup.FirstUsableLba != primary.FirstUsableLba
                || backup.NumberOfPartitionEntries != primary.NumberOfPartitionEntries || backup.SizeOfPartitionEntry != primary.SizeOfPartitionEntry)
                throw new RefusedException($"{name}: the primary and backup headers disagree (disk GUID, first usable LBA or entry array shape)");
            entriesOffset = EntriesUnit * UnitSize;
        }
        if (file.Length > entriesOffset + arrayBytes + UnitSize)
            throw new RefusedException($"{name}: {file.Length - entriesOffset - arrayBytes} unexpected bytes after the entry array");
        var array = file.Slice(entriesOffset, (int)arrayBytes).ToArray();
        uint crc = GptFormat.ArrayCrc(array);
        if (crc != primary.PartitionEntryArrayCrc32)
            throw new RefusedException($"{name}: entry array CRC32 is {crc:X8}, the primary header says {primary.PartitionEntryArrayCrc32:X8}: the file is corrupt");
        if (!isShort && backup.PartitionEntryArrayCrc32 != primary.PartitionEntryArrayCrc32)
            throw new RefusedException($"{name}: the backup header's entry array CRC32 {backup.PartitionEntryArrayCrc32:X8} differs from the primary's {primary.PartitionEntryArrayCrc32:X8}");

        var table = GptReader.ToTable(primary, array, primary.AlternateLba + 1, InferSectorSize(primary), backup);
        // The source table must be sound in itself (partitions inside its usable range, no overlaps).
        var problems = table.Validate().Where(p => !p.StartsWith("backup entry array", StringComparison.Ordinal)).ToList();
        if (problems.Count > 0) throw new RefusedException($"{name}: {string.Join("; ", problems)}");
        return new SgdiskBackup(mbr, primary, backup, table, isShort);
    }

    private static void CheckHeader(GptHeader h, string name, string which)
    {
        if (h.Revision != GptFormat.Revision1_0) throw new RefusedException($"{name}: {which} header revision {h.Revision:X8} is not 1.0");
        if (h.HeaderSize < GptFormat.HeaderSize || h.HeaderSize > UnitSize) throw new RefusedException($"{name}: {which} header size {h.HeaderSize} is not sane");
        if (!h.HeaderCrcValid) throw new RefusedException($"{name}: {which} header CRC32 {h.HeaderCrc32:X8} does not match its contents: the file is corrupt");
        if (h.SizeOfPartitionEntry < GptFormat.EntrySize || h.SizeOfPartitionEntry % 8 != 0 || h.NumberOfPartitionEntries == 0
            || h.EntryArrayBytes > GptFormat.MaxEntryArrayBytes)
            throw new RefusedException($"{name}: {which} header entry array of {h.NumberOfPartitionEntries} × {h.SizeOfPartitionEntry} bytes is not sane");
        if (h.LastUsableLba < h.FirstUsableLba) throw new RefusedException($"{name}: {which} header usable range {h.FirstUsableLba}..{h.LastUsableLba} is empty");
    }

    /// <summary>The sector size the source disk had: the smallest that lets the entry array fit between its LBA and
    /// the first usable LBA (512 for the usual 128 × 128 bytes at LBA 2..33, 4096 for LBA 2..5).</summary>
    private static int InferSectorSize(GptHeader h)
    {
        foreach (int ss in (int[])[512, 1024, 2048, 4096])
            if ((long)(h.FirstUsableLba - h.PartitionEntryLba) * ss >= h.EntryArrayBytes) return ss;
        return 4096;
    }

    /// <summary>The sector size the file was made on (inferred from where the first usable LBA lies).</summary>
    public int SourceSectorSize => Table.SectorSize;

    /// <summary>
    /// The table to write on a disk of <paramref name="diskSectors"/> sectors of <paramref name="sectorSize"/> bytes:
    /// what `sgdisk --load-backup` followed by `sgdisk -e` leaves (gptfdisk's MoveSecondHeaderToEnd). Refuses when
    /// the sector size differs from the source's (LBAs would mean other bytes) or a partition does not fit.
    /// </summary>
    public GptTable ForDisk(ulong diskSectors, int sectorSize, string diskName = "disk")
    {
        bool inferredExact = Table.FirstUsableLba - Table.PrimaryEntriesLba == Table.EntryArraySectors;
        if (sectorSize != Table.SectorSize && (inferredExact || sectorSize < Table.SectorSize))
            throw new RefusedException($"{diskName}: has {sectorSize}-byte sectors, the GPT backup was made on a disk with {Table.SectorSize}-byte sectors");
        var src = Table with { SectorSize = sectorSize };
        if (diskSectors < src.MinimumDiskSectors)
            throw new RefusedException($"{diskName}: {diskSectors} sectors of {sectorSize} bytes are too small for the GPT backup, which needs at least {src.MinimumDiskSectors} sectors ({ByteSize.Format(checked((long)src.MinimumDiskSectors * sectorSize))})");
        var moved = src.MovedToDisk(diskSectors);
        moved.EnsureValid(diskName);
        return moved;
    }

    /// <summary>The bytes of an sgdisk backup file of <paramref name="table"/>, as SaveGPTBackup writes them
    /// (protective MBR with zero boot code, primary header, backup header, entry array).</summary>
    public static byte[] Save(GptTable table, ReadOnlySpan<byte> mbrBootCode = default)
    {
        var file = new byte[EntriesUnit * UnitSize + table.EntryArrayBytes];
        var mbr = file.AsSpan(0, UnitSize);
        if (!mbrBootCode.IsEmpty) mbrBootCode[..Math.Min(mbrBootCode.Length, GptFormat.MbrBootCodeLength)].CopyTo(mbr);
        GptFormat.WriteProtectiveMbr(mbr, table.DiskSectors);
        uint crc = GptFormat.WriteEntries(table.Partitions, table.EntryCount, table.EntrySize, file.AsSpan(EntriesUnit * UnitSize));
        var primary = new GptHeader
        {
            MyLba = table.PrimaryHeaderLba, AlternateLba = table.BackupHeaderLba, FirstUsableLba = table.FirstUsableLba,
            LastUsableLba = table.LastUsableLba, DiskGuid = table.DiskGuid, PartitionEntryLba = table.PrimaryEntriesLba,
            NumberOfPartitionEntries = table.EntryCount, SizeOfPartitionEntry = table.EntrySize, PartitionEntryArrayCrc32 = crc,
        };
        GptFormat.WriteHeader(primary, file.AsSpan(PrimaryHeaderUnit * UnitSize, UnitSize));
        GptFormat.WriteHeader(primary with { MyLba = table.BackupHeaderLba, AlternateLba = table.PrimaryHeaderLba, PartitionEntryLba = table.BackupEntriesLba },
            file.AsSpan(BackupHeaderUnit * UnitSize, UnitSize));
        return file;
    }
}
