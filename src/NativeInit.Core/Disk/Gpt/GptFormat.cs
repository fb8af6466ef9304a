using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using NativeInit.Core.Disk.Mbr;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>The fields of one GPT header (UEFI specification 2.10, 5.3.2 "GPT Header").</summary>
public sealed record GptHeader
{
    public ulong Signature { get; init; } = GptFormat.Signature;
    public uint Revision { get; init; } = GptFormat.Revision1_0;
    public uint HeaderSize { get; init; } = GptFormat.HeaderSize;
    public uint HeaderCrc32 { get; init; }
    public ulong MyLba { get; init; }
    public ulong AlternateLba { get; init; }
    public ulong FirstUsableLba { get; init; }
    public ulong LastUsableLba { get; init; }
    public Guid DiskGuid { get; init; }
    public ulong PartitionEntryLba { get; init; }
    public uint NumberOfPartitionEntries { get; init; }
    public uint SizeOfPartitionEntry { get; init; }
    public uint PartitionEntryArrayCrc32 { get; init; }
    /// <summary>Whether <see cref="HeaderCrc32"/> matched the bytes it was read from (true for built headers).</summary>
    public bool HeaderCrcValid { get; init; } = true;

    /// <summary>Bytes of the entry array this header describes.</summary>
    public long EntryArrayBytes => (long)NumberOfPartitionEntries * SizeOfPartitionEntry;
}

/// <summary>
/// The on-disk GPT and protective MBR formats, reader and writer side by side.
/// Specification: UEFI 2.10 chapter 5 ("GUID Partition Table (GPT) Disk Layout"): 5.2.3 protective MBR,
/// 5.3.2 GPT header, 5.3.3 GPT partition entry array. CRC32 is the IEEE 802.3 CRC the spec names
/// (System.IO.Hashing.Crc32). GUIDs are stored in the spec's mixed-endian form, which is .NET's Guid byte layout.
/// </summary>
public static class GptFormat
{
    /// <summary>"EFI PART" as a little-endian u64.</summary>
    public const ulong Signature = 0x5452415020494645;
    public const uint Revision1_0 = 0x00010000;
    /// <summary>Size of the defined header fields; the rest of the header sector is zero.</summary>
    public const uint HeaderSize = 92;
    public const uint EntrySize = 128;
    public const uint DefaultEntryCount = 128;
    /// <summary>Largest entry array accepted when reading (guards against a corrupt count).</summary>
    public const long MaxEntryArrayBytes = 1 << 20;
    /// <summary>UTF-16 code units of a partition name.</summary>
    public const int NameChars = 36;

    // GPT header field offsets (5.3.2, table 5-5).
    public const int HdrSignature = 0, HdrRevision = 8, HdrHeaderSize = 12, HdrHeaderCrc32 = 16, HdrReserved = 20,
        HdrMyLba = 24, HdrAlternateLba = 32, HdrFirstUsableLba = 40, HdrLastUsableLba = 48, HdrDiskGuid = 56,
        HdrPartitionEntryLba = 72, HdrNumberOfEntries = 80, HdrSizeOfEntry = 84, HdrEntryArrayCrc32 = 88;

    // Partition entry field offsets (5.3.3, table 5-6).
    public const int EntTypeGuid = 0, EntUniqueGuid = 16, EntStartingLba = 32, EntEndingLba = 40, EntAttributes = 48,
        EntName = 56, EntNameBytes = NameChars * 2;

    // Legacy/protective MBR layout: defined once in Mbr/MbrFormat.cs (5.2.1 table 5-1, 5.2.3 table 5-4).
    public const int MbrSize = MbrFormat.MbrSize, MbrBootCode = MbrFormat.MbrBootCode, MbrBootCodeLength = MbrFormat.MbrBootCodeLength,
        MbrDiskSignature = MbrFormat.MbrDiskSignature, MbrUnknown = MbrFormat.MbrUnknown, MbrPartitionRecords = MbrFormat.MbrPartitionRecords,
        MbrPartitionRecordSize = MbrFormat.MbrPartitionRecordSize, MbrPartitionRecordCount = MbrFormat.MbrPartitionRecordCount,
        MbrSignatureOffset = MbrFormat.MbrSignatureOffset;
    public const ushort MbrBootSignature = MbrFormat.MbrBootSignature;
    // Partition record field offsets.
    public const int PrBootIndicator = MbrFormat.PrBootIndicator, PrStartChs = MbrFormat.PrStartChs, PrOsType = MbrFormat.PrOsType,
        PrEndChs = MbrFormat.PrEndChs, PrStartingLba = MbrFormat.PrStartingLba, PrSizeInLba = MbrFormat.PrSizeInLba;
    /// <summary>OS type of the protective partition record (GPT protective), as BIOS GRUB and the UEFI spec expect.</summary>
    public const byte ProtectiveOsType = MbrFormat.ProtectiveOsType;
    /// <summary>CHS geometry gptfdisk uses for the protective record (255 heads, 63 sectors per track, 1024 cylinders).</summary>
    public const uint ChsHeads = 255, ChsSectorsPerTrack = 63, ChsMaxCylinders = 1024;

    internal static void CheckSectorSize(int sectorSize)
    {
        if (sectorSize is not (512 or 1024 or 2048 or 4096))
            throw new ArgumentOutOfRangeException(nameof(sectorSize), sectorSize, "sector size must be 512, 1024, 2048 or 4096");
    }

    // ---------------------------------------------------------------- header

    /// <summary>Reads a header from the start of <paramref name="sector"/> (a whole logical sector, or at least
    /// <see cref="HeaderSize"/> bytes). Returns null when the signature is not "EFI PART".</summary>
    public static GptHeader? ReadHeader(ReadOnlySpan<byte> sector)
    {
        if (sector.Length < HeaderSize) return null;
        if (BinaryPrimitives.ReadUInt64LittleEndian(sector[HdrSignature..]) != Signature) return null;
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(sector[HdrHeaderSize..]);
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(sector[HdrHeaderCrc32..]);
        bool crcOk = size >= HeaderSize && size <= sector.Length && HeaderCrc(sector[..(int)size]) == crc;
        return new GptHeader
        {
            Signature = Signature,
            Revision = BinaryPrimitives.ReadUInt32LittleEndian(sector[HdrRevision..]),
            HeaderSize = size,
            HeaderCrc32 = crc,
            MyLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[HdrMyLba..]),
            AlternateLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[HdrAlternateLba..]),
            FirstUsableLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[HdrFirstUsableLba..]),
            LastUsableLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[HdrLastUsableLba..]),
            DiskGuid = new Guid(sector.Slice(HdrDiskGuid, 16)),
            PartitionEntryLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[HdrPartitionEntryLba..]),
            NumberOfPartitionEntries = BinaryPrimitives.ReadUInt32LittleEndian(sector[HdrNumberOfEntries..]),
            SizeOfPartitionEntry = BinaryPrimitives.ReadUInt32LittleEndian(sector[HdrSizeOfEntry..]),
            PartitionEntryArrayCrc32 = BinaryPrimitives.ReadUInt32LittleEndian(sector[HdrEntryArrayCrc32..]),
            HeaderCrcValid = crcOk,
        };
    }

    /// <summary>Writes <paramref name="h"/> into <paramref name="sector"/> (cleared first), computing the header CRC
    /// over <see cref="GptHeader.HeaderSize"/> bytes; returns the CRC written.</summary>
    public static uint WriteHeader(GptHeader h, Span<byte> sector)
    {
        sector.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(sector[HdrSignature..], Signature);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HdrRevision..], h.Revision);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HdrHeaderSize..], h.HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[HdrMyLba..], h.MyLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[HdrAlternateLba..], h.AlternateLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[HdrFirstUsableLba..], h.FirstUsableLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[HdrLastUsableLba..], h.LastUsableLba);
        h.DiskGuid.TryWriteBytes(sector.Slice(HdrDiskGuid, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(sector[HdrPartitionEntryLba..], h.PartitionEntryLba);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HdrNumberOfEntries..], h.NumberOfPartitionEntries);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HdrSizeOfEntry..], h.SizeOfPartitionEntry);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HdrEntryArrayCrc32..], h.PartitionEntryArrayCrc32);
        uint crc = HeaderCrc(sector[..(int)h.HeaderSize]);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HdrHeaderCrc32..], crc);
        return crc;
    }

    /// <summary>CRC32 of a header with its CRC field taken as zero (5.3.2).</summary>
    public static uint HeaderCrc(ReadOnlySpan<byte> header)
    {
        var crc = new Crc32();
        crc.Append(header[..HdrHeaderCrc32]);
        crc.Append([0, 0, 0, 0]);
        crc.Append(header[(HdrHeaderCrc32 + 4)..]);
        return crc.GetCurrentHashAsUInt32();
    }

    /// <summary>CRC32 of an entry array.</summary>
    public static uint ArrayCrc(ReadOnlySpan<byte> entries) => Crc32.HashToUInt32(entries);

    // ---------------------------------------------------------------- entries

    /// <summary>Reads the used entries (type GUID not zero) of an entry array.</summary>
    public static List<GptPartition> ReadEntries(ReadOnlySpan<byte> array, uint count, uint entrySize)
    {
        var list = new List<GptPartition>();
        for (int i = 0; i < count; i++)
        {
            var e = array.Slice(i * (int)entrySize, (int)EntrySize);
            var type = new Guid(e.Slice(EntTypeGuid, 16));
            if (type == Guid.Empty) continue;
            var nameBytes = e.Slice(EntName, EntNameBytes);
            int len = 0;
            while (len < NameChars && BinaryPrimitives.ReadUInt16LittleEndian(nameBytes[(len * 2)..]) != 0) len++;
            list.Add(new GptPartition(
                i + 1, type, new Guid(e.Slice(EntUniqueGuid, 16)),
                BinaryPrimitives.ReadUInt64LittleEndian(e[EntStartingLba..]),
                BinaryPrimitives.ReadUInt64LittleEndian(e[EntEndingLba..]),
                (GptAttributes)BinaryPrimitives.ReadUInt64LittleEndian(e[EntAttributes..]),
                Encoding.Unicode.GetString(nameBytes[..(len * 2)])));
        }
        return list;
    }

    /// <summary>Writes the entries into <paramref name="array"/> (cleared first; count × entrySize bytes) and returns
    /// the array CRC.</summary>
    public static uint WriteEntries(IReadOnlyList<GptPartition> partitions, uint count, uint entrySize, Span<byte> array)
    {
        array.Clear();
        foreach (var p in partitions)
        {
            if (p.Number < 1 || p.Number > count) throw new ArgumentOutOfRangeException(nameof(partitions), $"partition {p.Number} outside 1..{count}");
            var e = array.Slice((p.Number - 1) * (int)entrySize, (int)entrySize);
            p.Type.TryWriteBytes(e.Slice(EntTypeGuid, 16));
            p.UniqueGuid.TryWriteBytes(e.Slice(EntUniqueGuid, 16));
            BinaryPrimitives.WriteUInt64LittleEndian(e[EntStartingLba..], p.FirstLba);
            BinaryPrimitives.WriteUInt64LittleEndian(e[EntEndingLba..], p.LastLba);
            BinaryPrimitives.WriteUInt64LittleEndian(e[EntAttributes..], (ulong)p.Attributes);
            if (p.Name.Length > NameChars) throw new ArgumentException($"partition {p.Number}: name longer than {NameChars} UTF-16 units");
            Encoding.Unicode.GetBytes(p.Name, e.Slice(EntName, EntNameBytes));
        }
        return ArrayCrc(array[..(int)(count * entrySize)]);
    }

    // ---------------------------------------------------------------- protective MBR

    /// <summary>
    /// Writes the protective MBR fields into <paramref name="mbr"/> (512 bytes): the boot code (bytes 0..439) is left
    /// as it is, so GRUB's boot.img survives; disk signature and bytes 444..445 zero; one record of type 0xEE,
    /// not bootable, from LBA 1 over the disk (size capped at 0xFFFFFFFF), with CHS values as gptfdisk computes them;
    /// the other three records zero; signature 0xAA55.
    /// </summary>
    public static void WriteProtectiveMbr(Span<byte> mbr, ulong diskSectors)
    {
        mbr[MbrDiskSignature..MbrPartitionRecords].Clear();
        var records = mbr.Slice(MbrPartitionRecords, MbrPartitionRecordSize * MbrPartitionRecordCount);
        records.Clear();
        uint size = diskSectors - 1 >= uint.MaxValue ? uint.MaxValue : (uint)(diskSectors - 1);
        var r = records[..MbrPartitionRecordSize];
        r[PrBootIndicator] = 0;
        LbaToChs(1, r.Slice(PrStartChs, 3));
        r[PrOsType] = ProtectiveOsType;
        LbaToChs((ulong)size, r.Slice(PrEndChs, 3));
        BinaryPrimitives.WriteUInt32LittleEndian(r[PrStartingLba..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(r[PrSizeInLba..], size);
        BinaryPrimitives.WriteUInt16LittleEndian(mbr[MbrSignatureOffset..], MbrBootSignature);
    }

    /// <summary>LBA to the 3-byte MBR CHS form with <see cref="ChsHeads"/>/<see cref="ChsSectorsPerTrack"/>;
    /// beyond 1024 cylinders FF FF FF (what gptfdisk 1.0.9 writes).</summary>
    public static void LbaToChs(ulong lba, Span<byte> chs)
    {
        if (lba == 0) { chs[0] = chs[1] = chs[2] = 0; return; }
        if (lba >= ChsHeads * ChsSectorsPerTrack * ChsMaxCylinders) { chs[0] = chs[1] = chs[2] = 0xFF; return; }
        ulong cylinder = lba / (ChsHeads * ChsSectorsPerTrack);
        ulong rem = lba % (ChsHeads * ChsSectorsPerTrack);
        ulong head = rem / ChsSectorsPerTrack;
        ulong sector = rem % ChsSectorsPerTrack + 1;
        chs[0] = (byte)head;
        chs[1] = (byte)(sector | ((cylinder >> 2) & 0xC0));
        chs[2] = (byte)(cylinder & 0xFF);
    }

    /// <summary>True when <paramref name="mbr"/> carries the 0xAA55 signature and a 0xEE record (protective or hybrid).</summary>
    public static bool HasProtectiveRecord(ReadOnlySpan<byte> mbr) => MbrFormat.HasProtectiveRecord(mbr);
}
