using System.Buffers.Binary;

namespace NativeInit.Core.Disk.Mbr;

/// <summary>
/// The legacy MBR sector (UEFI 2.10, 5.2.1 table 5-1 and 5.2.3 table 5-4): boot code, disk signature, four partition
/// records and the 0xAA55 signature. The MBR reader uses it, and so does the GPT side for the protective MBR
/// (GPT builds on MBR, never the other way round).
/// </summary>
public static class MbrFormat
{
    public const int MbrSize = 512, MbrBootCode = 0, MbrBootCodeLength = 440, MbrDiskSignature = 440, MbrUnknown = 444,
        MbrPartitionRecords = 446, MbrPartitionRecordSize = 16, MbrPartitionRecordCount = 4, MbrSignatureOffset = 510;
    public const ushort MbrBootSignature = 0xAA55;
    // Partition record field offsets.
    public const int PrBootIndicator = 0, PrStartChs = 1, PrOsType = 4, PrEndChs = 5, PrStartingLba = 8, PrSizeInLba = 12;
    /// <summary>OS type of the protective partition record (GPT protective), as BIOS GRUB and the UEFI spec expect.</summary>
    public const byte ProtectiveOsType = 0xEE;

    /// <summary>True when <paramref name="mbr"/> carries the 0xAA55 signature and a 0xEE record (protective or hybrid).</summary>
    public static bool HasProtectiveRecord(ReadOnlySpan<byte> mbr)
    {
        if (mbr.Length < MbrSize || BinaryPrimitives.ReadUInt16LittleEndian(mbr[MbrSignatureOffset..]) != MbrBootSignature) return false;
        for (int i = 0; i < MbrPartitionRecordCount; i++)
            if (mbr[MbrPartitionRecords + i * MbrPartitionRecordSize + PrOsType] == ProtectiveOsType) return true;
        return false;
    }
}
