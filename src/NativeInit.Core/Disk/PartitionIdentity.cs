using System.Buffers.Binary;
using System.Globalization;
using NativeInit.Core.Disk.Filesystems;

namespace NativeInit.Core.Disk;

/// <summary>
/// Stable names of a partition that survive a reboot and a renumbering of disks, read from the disk itself (no udev,
/// no blkid), so that stage one can name the disk holding / and the conversion boot can find exactly that disk again
/// (<c>rd.nativeinit.disk=</c>): the PARTUUID the kernel gives a partition (MBR: the 32-bit disk signature at byte
/// 440 and the partition number, "XXXXXXXX-NN" in lower-case hex; GPT: the entry's unique partition GUID) and the
/// filesystem UUID (xfs, ext2/3/4, through <see cref="FilesystemProbe"/>).
/// </summary>
public static class PartitionIdentity
{
    public const string PartUuidPrefix = "partuuid:", UuidPrefix = "uuid:", SerialPrefix = "serial:", WwnPrefix = "wwn:";

    private const int MbrSignatureOffset = 440, MbrBootSignatureOffset = 510, MbrEntriesOffset = 446, MbrEntrySize = 16,
        MbrEntryTypeOffset = 4, MbrProtectiveType = 0xEE;
    private const int GptEntriesLbaOffset = 72, GptEntryCountOffset = 80, GptEntrySizeOffset = 84, GptEntryUniqueGuidOffset = 16,
        GptGuidLength = 16, GptMaxEntries = 1024;

    /// <summary>The PARTUUID of partition <paramref name="number"/> of the disk (device or image) at
    /// <paramref name="disk"/>, as the kernel forms it; null when the disk has no MBR/GPT or no such partition.</summary>
    public static string? PartUuid(string disk, int number, int sectorSize = 512)
    {
        using var f = new FileStream(disk, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        var mbr = new byte[512];
        if (f.Read(mbr) != mbr.Length || mbr[MbrBootSignatureOffset] != 0x55 || mbr[MbrBootSignatureOffset + 1] != 0xAA) return null;
        bool protective = false;
        for (int i = 0; i < 4; i++) protective |= mbr[MbrEntriesOffset + i * MbrEntrySize + MbrEntryTypeOffset] == MbrProtectiveType;
        if (!protective)
        {
            if (number < 1 || number > 255) return null;
            if (number <= 4 && mbr[MbrEntriesOffset + (number - 1) * MbrEntrySize + MbrEntryTypeOffset] == 0) return null;
            uint signature = BinaryPrimitives.ReadUInt32LittleEndian(mbr.AsSpan(MbrSignatureOffset));
            return signature == 0 ? null : string.Create(CultureInfo.InvariantCulture, $"{signature:x8}-{number:x2}");
        }
        var header = new byte[sectorSize];
        f.Position = sectorSize;
        if (f.Read(header) != header.Length || !header.AsSpan(0, 8).SequenceEqual("EFI PART"u8)) return null;
        long entriesLba = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(GptEntriesLbaOffset));
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(GptEntryCountOffset));
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(GptEntrySizeOffset));
        if (number < 1 || number > Math.Min(count, GptMaxEntries) || size < 128 || entriesLba < 2) return null;
        var entry = new byte[size];
        f.Position = entriesLba * sectorSize + (number - 1) * (long)size;
        if (f.Read(entry) != entry.Length || entry.AsSpan(0, GptGuidLength).IndexOfAnyExcept((byte)0) < 0) return null;
        return new Guid(entry.AsSpan(GptEntryUniqueGuidOffset, GptGuidLength)).ToString();
    }

    /// <summary>The filesystem UUID in the partition (device or image) at <paramref name="partition"/>, or null.</summary>
    public static string? FilesystemUuid(string partition)
    {
        using var f = new FileStream(partition, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        var head = new byte[FilesystemProbe.HeadBytes];
        int n = 0, r;
        while (n < head.Length && (r = f.Read(head, n, head.Length - n)) > 0) n += r;
        long length = f.CanSeek && f.Length > 0 ? f.Length : n;
        var probe = FilesystemProbe.ProbeHead(head.AsSpan(0, n), length);
        return probe is { Uuid.Length: > 0 } ? probe.Uuid : null;
    }

    /// <summary>Lower case, without a "naa."/"eui."/"0x" prefix, blanks removed: how two WWN spellings compare.</summary>
    public static string NormalizeWwn(string wwn)
    {
        var s = wwn.Trim().ToLowerInvariant();
        foreach (var p in new[] { "naa.", "eui.", "t10.", "0x" })
            if (s.StartsWith(p, StringComparison.Ordinal)) { s = s[p.Length..]; break; }
        return s.Replace(" ", "", StringComparison.Ordinal);
    }
}
