namespace NativeInit.Core.Disk.Gpt;

/// <summary>GPT partition attribute bits (UEFI spec 2.10, table 5-8).</summary>
[Flags]
public enum GptAttributes : ulong
{
    None = 0,
    /// <summary>Bit 0: required by the platform.</summary>
    RequiredPartition = 1UL << 0,
    /// <summary>Bit 1: EFI firmware must not produce a block I/O protocol for it.</summary>
    NoBlockIoProtocol = 1UL << 1,
    /// <summary>Bit 2: legacy BIOS bootable (used by some BIOS boot loaders).</summary>
    LegacyBiosBootable = 1UL << 2,
    /// <summary>Bit 60 (Microsoft basic data, discoverable partitions): read-only.</summary>
    ReadOnly = 1UL << 60,
    /// <summary>Bit 62: hidden.</summary>
    Hidden = 1UL << 62,
    /// <summary>Bit 63: do not automount.</summary>
    NoAutomount = 1UL << 63,
}

/// <summary>One used entry of a GPT partition array.</summary>
/// <param name="Number">1-based entry number (slot index + 1), as /dev/sdaN and sgdisk number it.</param>
/// <param name="Type">Partition type GUID (see <see cref="GptPartitionTypes"/>).</param>
/// <param name="UniqueGuid">Unique partition GUID (PARTUUID).</param>
/// <param name="FirstLba">First sector, inclusive.</param>
/// <param name="LastLba">Last sector, inclusive.</param>
/// <param name="Attributes">Attribute bits.</param>
/// <param name="Name">Partition name (at most 36 UTF-16 code units).</param>
public sealed record GptPartition(int Number, Guid Type, Guid UniqueGuid, ulong FirstLba, ulong LastLba, GptAttributes Attributes, string Name)
{
    /// <summary>Length in sectors.</summary>
    public ulong Sectors => LastLba - FirstLba + 1;

    /// <summary>Byte offset of the first sector on a disk with <paramref name="sectorSize"/>-byte sectors.</summary>
    public long ByteOffset(int sectorSize) => checked((long)FirstLba * sectorSize);

    /// <summary>Length in bytes on a disk with <paramref name="sectorSize"/>-byte sectors.</summary>
    public long ByteLength(int sectorSize) => checked((long)Sectors * sectorSize);

    /// <summary>The type's name from the one table, or its GUID.</summary>
    public string TypeName => GptPartitionTypes.NameOf(Type);
}

/// <summary>
/// A whole GUID partition table for a disk of <see cref="DiskSectors"/> logical sectors of <see cref="SectorSize"/>
/// bytes: the header fields both copies share, where each copy lives, and the used entries. Immutable; the methods
/// return changed copies. Written with <see cref="GptWriter"/>, read with <see cref="GptReader"/>.
/// </summary>
public sealed record GptTable
{
    /// <summary>Logical sector size in bytes (512 or 4096).</summary>
    public required int SectorSize { get; init; }
    /// <summary>Disk size in logical sectors: the backup header is at <c>DiskSectors - 1</c>.</summary>
    public required ulong DiskSectors { get; init; }
    public required Guid DiskGuid { get; init; }
    public required ulong FirstUsableLba { get; init; }
    public required ulong LastUsableLba { get; init; }
    /// <summary>Number of entries in the array (128 as usual).</summary>
    public uint EntryCount { get; init; } = GptFormat.DefaultEntryCount;
    /// <summary>Size of one entry in bytes (128, a multiple of 8).</summary>
    public uint EntrySize { get; init; } = GptFormat.EntrySize;
    /// <summary>LBA of the primary entry array (2 as usual).</summary>
    public ulong PrimaryEntriesLba { get; init; } = 2;
    /// <summary>LBA of the backup entry array (gptfdisk puts it right after the last usable LBA).</summary>
    public required ulong BackupEntriesLba { get; init; }
    /// <summary>Used entries, in entry-number order.</summary>
    public IReadOnlyList<GptPartition> Partitions { get; init; } = [];

    /// <summary>LBA of the primary header.</summary>
    public ulong PrimaryHeaderLba => 1;
    /// <summary>LBA of the backup header: the last sector of the disk.</summary>
    public ulong BackupHeaderLba => DiskSectors - 1;
    /// <summary>Bytes of one entry array.</summary>
    public long EntryArrayBytes => (long)EntryCount * EntrySize;
    /// <summary>Sectors one entry array occupies.</summary>
    public ulong EntryArraySectors => (ulong)((EntryArrayBytes + SectorSize - 1) / SectorSize);
    /// <summary>Disk size in bytes.</summary>
    public long DiskBytes => checked((long)DiskSectors * SectorSize);

    /// <summary>The entry with 1-based number <paramref name="number"/>, or null.</summary>
    public GptPartition? Find(int number) => Partitions.FirstOrDefault(p => p.Number == number);

    /// <summary>
    /// An empty table for a disk, laid out as gptfdisk does: 128 entries of 128 bytes at LBA 2, first usable LBA
    /// right after them, last usable LBA = disk sectors − first usable LBA, backup array right after it.
    /// </summary>
    public static GptTable CreateEmpty(ulong diskSectors, int sectorSize, Guid diskGuid, uint entryCount = GptFormat.DefaultEntryCount)
    {
        GptFormat.CheckSectorSize(sectorSize);
        ulong arraySectors = (ulong)(((long)entryCount * GptFormat.EntrySize + sectorSize - 1) / sectorSize);
        ulong first = 2 + arraySectors;
        if (diskSectors < 2 * first + 1)
            throw new RefusedException($"a disk of {diskSectors} sectors is too small for a GPT");
        return new GptTable
        {
            SectorSize = sectorSize,
            DiskSectors = diskSectors,
            DiskGuid = diskGuid,
            EntryCount = entryCount,
            FirstUsableLba = first,
            LastUsableLba = diskSectors - first,
            BackupEntriesLba = diskSectors - first + 1,
        };
    }

    /// <summary>
    /// The same table moved to a disk of <paramref name="diskSectors"/> sectors the way gptfdisk's
    /// MoveSecondHeaderToEnd does it (`sgdisk -e`): backup header at the last sector, last usable LBA = disk
    /// sectors − first usable LBA, backup array right after the last usable LBA. Partitions are not moved;
    /// <see cref="Validate"/> tells whether they still fit.
    /// </summary>
    public GptTable MovedToDisk(ulong diskSectors)
    {
        if (diskSectors <= FirstUsableLba * 2)
            throw new RefusedException($"a disk of {diskSectors} sectors cannot hold this GPT (first usable LBA {FirstUsableLba})");
        ulong last = diskSectors - FirstUsableLba;
        return this with { DiskSectors = diskSectors, LastUsableLba = last, BackupEntriesLba = last + 1 };
    }

    /// <summary>A copy with one more partition (number = the first free entry unless given).</summary>
    public GptTable WithPartition(Guid type, ulong firstLba, ulong lastLba, string name = "", Guid? uniqueGuid = null,
        GptAttributes attributes = GptAttributes.None, int number = 0)
    {
        if (number == 0)
        {
            number = 1;
            while (Find(number) is not null) number++;
        }
        var p = new GptPartition(number, type, uniqueGuid ?? Guid.NewGuid(), firstLba, lastLba, attributes, name);
        return this with { Partitions = [.. Partitions.Where(x => x.Number != number), p] };
    }

    /// <summary>
    /// A copy with one more partition after the last one: it starts at the next multiple of
    /// <paramref name="alignBytes"/> (1 MiB, as sgdisk and sfdisk align) and is <paramref name="sizeBytes"/> long, or
    /// reaches the last usable LBA when <paramref name="sizeBytes"/> is 0 ("rest"). Refuses when it does not fit.
    /// </summary>
    public GptTable AppendPartition(Guid type, long sizeBytes, string name = "", Guid? uniqueGuid = null,
        GptAttributes attributes = GptAttributes.None, long alignBytes = 1 << 20)
    {
        ulong align = (ulong)Math.Max(1, alignBytes / SectorSize);
        ulong after = Partitions.Count == 0 ? FirstUsableLba : Partitions.Max(p => p.LastLba) + 1;
        ulong first = (after + align - 1) / align * align;
        ulong last = sizeBytes == 0 ? LastUsableLba : first + (ulong)((sizeBytes + SectorSize - 1) / SectorSize) - 1;
        if (sizeBytes < 0 || first > LastUsableLba || last > LastUsableLba)
            throw new RefusedException($"a partition of {(sizeBytes == 0 ? "the rest" : ByteSize.Format(sizeBytes))} from LBA {first} does not fit before the last usable LBA {LastUsableLba}");
        return WithPartition(type, first, last, name, uniqueGuid, attributes);
    }

    /// <summary>A copy where partition <paramref name="number"/> ends right before the next partition, or at the last
    /// usable LBA when it is the last one (giving it the free space after it). Its start does not move.</summary>
    public GptTable GrowPartition(int number)
    {
        var p = Find(number) ?? throw new NativeInitException($"the partition table has no partition {number}");
        ulong limit = Partitions.Where(x => x.FirstLba > p.FirstLba).Select(x => x.FirstLba - 1).DefaultIfEmpty(LastUsableLba).Min();
        return this with { Partitions = [.. Partitions.Select(x => x.Number == number ? x with { LastLba = limit } : x)] };
    }

    /// <summary>The smallest disk (in sectors) that holds every partition with the gptfdisk layout at its end.</summary>
    public ulong MinimumDiskSectors
    {
        get
        {
            ulong lastUsed = Partitions.Count == 0 ? FirstUsableLba : Partitions.Max(p => p.LastLba);
            // last usable = disk - FirstUsableLba >= lastUsed
            return Math.Max(lastUsed + FirstUsableLba, FirstUsableLba * 2 + 1);
        }
    }

    /// <summary>
    /// Every reason the table cannot be written as it is: structures overlapping, a partition outside the usable
    /// range or the disk, overlapping partitions, an entry number beyond the array, a name too long. Empty when fine.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (SectorSize is not (512 or 1024 or 2048 or 4096)) problems.Add($"sector size {SectorSize} is not supported");
        if (EntrySize < GptFormat.EntrySize || EntrySize % 8 != 0) problems.Add($"entry size {EntrySize} is not a multiple of 8 of at least 128");
        if (EntryCount == 0 || EntryArrayBytes > GptFormat.MaxEntryArrayBytes) problems.Add($"entry count {EntryCount} is out of range");
        if (PrimaryEntriesLba < 2) problems.Add($"primary entry array at LBA {PrimaryEntriesLba} overlaps the headers");
        if (PrimaryEntriesLba + EntryArraySectors > FirstUsableLba)
            problems.Add($"primary entry array (LBA {PrimaryEntriesLba}+{EntryArraySectors}) runs past the first usable LBA {FirstUsableLba}");
        if (LastUsableLba < FirstUsableLba) problems.Add($"last usable LBA {LastUsableLba} is before the first usable LBA {FirstUsableLba}");
        if (BackupEntriesLba <= LastUsableLba) problems.Add($"backup entry array at LBA {BackupEntriesLba} overlaps the usable range (last usable {LastUsableLba})");
        if (BackupEntriesLba + EntryArraySectors > BackupHeaderLba)
            problems.Add($"backup entry array (LBA {BackupEntriesLba}+{EntryArraySectors}) does not fit before the backup header at LBA {BackupHeaderLba} (disk of {DiskSectors} sectors)");
        var sorted = Partitions.OrderBy(p => p.FirstLba).ToList();
        foreach (var p in Partitions)
        {
            if (p.Number < 1 || p.Number > EntryCount) problems.Add($"partition {p.Number}: entry number outside 1..{EntryCount}");
            if (p.Type == Guid.Empty) problems.Add($"partition {p.Number}: the zero type GUID marks an unused entry");
            if (p.LastLba < p.FirstLba) problems.Add($"partition {p.Number}: last LBA {p.LastLba} is before first LBA {p.FirstLba}");
            if (p.FirstLba < FirstUsableLba || p.LastLba > LastUsableLba)
                problems.Add($"partition {p.Number} (LBA {p.FirstLba}..{p.LastLba}) lies outside the usable range {FirstUsableLba}..{LastUsableLba} of a disk of {DiskSectors} sectors");
            if (p.Name.Length > GptFormat.NameChars) problems.Add($"partition {p.Number}: name longer than {GptFormat.NameChars} UTF-16 units");
            if (Partitions.Count(x => x.Number == p.Number) > 1) problems.Add($"partition {p.Number} is given twice");
        }
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].FirstLba <= sorted[i - 1].LastLba)
                problems.Add($"partitions {sorted[i - 1].Number} and {sorted[i].Number} overlap");
        return problems.Distinct().ToList();
    }

    /// <summary>Throws <see cref="RefusedException"/> naming every problem <see cref="Validate"/> finds.</summary>
    public void EnsureValid(string what)
    {
        var problems = Validate();
        if (problems.Count > 0) throw new RefusedException($"{what}: {string.Join("; ", problems)}");
    }
}
