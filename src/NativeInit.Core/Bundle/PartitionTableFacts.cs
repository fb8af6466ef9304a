using System.Buffers.Binary;

namespace NativeInit.Core.Bundle;

/// <summary>
/// What the bundle needs from the layout's partition table, an sgdisk backup file (gptfdisk gpt.cc, SaveGPTBackup):
/// protective MBR (512 bytes), main GPT header (512), backup GPT header (512), then the partition entry array. Header fields per UEFI 2.x, "GPT Header"; entry fields per
/// "GPT Partition Entry". Read-only here: only what the minimum disk size needs.
/// </summary>
public static class PartitionTableFacts
{
    public const int SectorSize = 512;
    public const int MainHeaderOffset = 512, EntriesOffset = 1536;
    public const int HeaderSignatureOffset = 0, HeaderEntryCountOffset = 80, HeaderEntrySizeOffset = 84;
    public const int EntryFirstLbaOffset = 32, EntryLastLbaOffset = 40;
    /// <summary>The backup entry array (16 KiB = 32 sectors) and the backup header after the last partition.</summary>
    public const int BackupTrailerSectors = 33;
    public static ReadOnlySpan<byte> Signature => "EFI PART"u8;

    /// <summary>Bytes of the smallest disk holding every partition plus the backup GPT: (last LBA + 1 + 33) × 512.</summary>
    public static long MinimumDiskBytes(ReadOnlySpan<byte> file, string what)
    {
        if (file.Length < EntriesOffset || !file.Slice(MainHeaderOffset, 8).SequenceEqual(Signature))
            throw new InvalidDataFormatException($"{what}: not an sgdisk backup file (no 'EFI PART' header at offset {MainHeaderOffset})");
        var h = file.Slice(MainHeaderOffset, SectorSize);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(h[HeaderEntryCountOffset..]);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(h[HeaderEntrySizeOffset..]);
        if (size < 128 || count > 4096 || EntriesOffset + (long)count * size > file.Length)
            throw new InvalidDataFormatException($"{what}: the partition entry array ({count} × {size} bytes) does not fit the file ({file.Length} bytes)");
        ulong last = 0;
        for (int i = 0; i < count; i++)
        {
            var e = file.Slice(EntriesOffset + i * (int)size, (int)size);
            if (e[..16].IndexOfAnyExcept((byte)0) < 0) continue; // unused entry: zero type GUID
            last = Math.Max(last, BinaryPrimitives.ReadUInt64LittleEndian(e[EntryLastLbaOffset..]));
        }
        if (last == 0) throw new InvalidDataFormatException($"{what}: holds no partition");
        return checked((long)(last + 1 + BackupTrailerSectors) * SectorSize);
    }
}
