using System.Buffers.Binary;
using System.Text;

namespace NativeInit.Core.Disk.Filesystems;

/// <summary>What <see cref="FilesystemProbe"/> recognised at the start of a device or byte range.</summary>
/// <param name="Type">The type in blkid's words: xfs, ext2, ext3, ext4, swap, LVM2_member, linux_raid_member,
/// btrfs, crypto_LUKS, gpt (a protective MBR), dos (an MBR partition table).</param>
/// <param name="Label">Volume label, empty when none.</param>
/// <param name="Uuid">Filesystem UUID / PV UUID as blkid prints it, empty when none.</param>
/// <param name="SignatureOffset">Byte offset of the magic inside the range.</param>
public sealed record ProbeResult(string Type, string Label, string Uuid, long SignatureOffset)
{
    /// <summary>XFS: allocation group size in bytes and count (to find the secondary superblocks). ext: group size
    /// in bytes and count. 0 otherwise.</summary>
    public long GroupBytes { get; init; }
    public long GroupCount { get; init; }
    /// <summary>ext: sparse_super (backups only in groups 0, 1 and powers of 3, 5, 7).</summary>
    public bool SparseSuper { get; init; }
    /// <summary>ext: offset of the superblock inside each backup group (1024 with 1 KiB blocks in group 0 rules, else 0).</summary>
    public long ExtBlockSize { get; init; }
    /// <summary>ext: sparse_super2 backup groups (0 when unused).</summary>
    public uint[] ExtBackupGroups { get; init; } = [];
}

/// <summary>
/// Recognises what is at the start of a partition by its superblock — read-only, used to find the old root and to
/// know what to wipe. Layouts: XFS xfs_format.h (struct xfs_dsb, big-endian), ext2/3/4 ext2_fs.h / ext4.h (struct
/// ext4_super_block at byte 1024, little-endian), swap include/linux/swap.h (union swap_header, magic at page size
/// − 10), LVM2 lib/label/label.h (label_header "LABELONE" in one of the first 4 sectors, type "LVM2 001"),
/// md/RAID md_p.h (0xa92b4efc at 0, 4 KiB, end − 8 KiB, end − 64 KiB), btrfs (magic at 64 KiB + 64), LUKS
/// (magic at 0), MBR/GPT (0x55AA, 0xEE record).
/// </summary>
public static class FilesystemProbe
{
    // XFS superblock (xfs_format.h struct xfs_dsb), big-endian.
    public const uint XfsMagic = 0x58465342; // "XFSB"
    public const int XfsBlockSize = 4, XfsDBlocks = 8, XfsUuid = 32, XfsAgBlocks = 84, XfsAgCount = 88, XfsSectSize = 102, XfsFname = 108, XfsFnameLength = 12;

    // ext2/3/4 superblock (ext4.h struct ext4_super_block), at byte 1024, little-endian.
    public const int ExtSuperblockOffset = 1024, ExtSuperblockSize = 1024;
    public const ushort ExtMagic = 0xEF53;
    public const int ExtBlocksCountLo = 4, ExtFirstDataBlock = 20, ExtLogBlockSize = 24, ExtBlocksPerGroup = 32, ExtMagicOffset = 56,
        ExtFeatureCompat = 92, ExtFeatureIncompat = 96, ExtFeatureRoCompat = 100, ExtUuid = 104, ExtVolumeName = 120, ExtBlocksCountHi = 0x150,
        ExtBackupBgs = 0x24C;
    public const uint ExtCompatHasJournal = 0x4, ExtCompatSparseSuper2 = 0x200, ExtRoCompatSparseSuper = 0x1, ExtIncompat64Bit = 0x80,
        ExtIncompatJournalDev = 0x8;
    /// <summary>Features ext3 also has; anything beyond them makes it ext4 (as libblkid decides).</summary>
    public const uint Ext3IncompatSupported = 0x2 | 0x4 | 0x10, Ext3RoCompatSupported = 0x1 | 0x2 | 0x4;

    // swap (linux/swap.h): magic in the last 10 bytes of the first page; header fields after the boot block (1024).
    public static readonly int[] SwapPageSizes = [4096, 8192, 16384, 65536];
    public const int SwapMagicLength = 10, SwapUuid = 1036, SwapLabel = 1052, SwapLabelLength = 16;

    // LVM2 label (label.h, layout.h).
    public const int LvmLabelScanSectors = 4, LvmLabelType = 24, LvmLabelOffsetXl = 20, LvmPvUuidLength = 32;

    public const uint MdMagic = 0xa92b4efc;
    /// <summary>"LUKS" 0xBA 0xBE at byte 0 (LUKS1 and LUKS2).</summary>
    public static ReadOnlySpan<byte> LuksMagic => [0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE];
    public const long BtrfsMagicOffset = 0x10040;

    /// <summary>Bytes read from the start of the range (enough for every start signature above).</summary>
    public const int HeadBytes = 128 * 1024;

    /// <summary>Probes [offset, offset+length) of <paramref name="disk"/> (length 0: to the end). Null when nothing is recognised.</summary>
    public static ProbeResult? Probe(DiskDevice disk, long offset = 0, long length = 0)
    {
        if (length <= 0) length = disk.SizeBytes - offset;
        int n = (int)Math.Min(length, HeadBytes);
        var head = new byte[n];
        disk.ReadAt(offset, head);
        var r = ProbeHead(head, length);
        if (r is not null) return r;
        // md 0.90 (end − 64 KiB, 64 KiB aligned) and 1.0 (end − 8 KiB, 4 KiB aligned) superblocks.
        Span<byte> magic = stackalloc byte[4];
        foreach (long at in (long[])[(length & ~0xFFFFL) - 0x10000, ((length - 8192) & ~4095L)])
        {
            if (at < 0 || at + 4 > length) continue;
            disk.ReadAt(offset + at, magic);
            if (BinaryPrimitives.ReadUInt32LittleEndian(magic) == MdMagic) return new ProbeResult("linux_raid_member", "", "", at);
        }
        return null;
    }

    /// <summary>Probes the first bytes of a range whose total length is <paramref name="length"/>.</summary>
    public static ProbeResult? ProbeHead(ReadOnlySpan<byte> head, long length)
    {
        if (head.Length >= 512 && BinaryPrimitives.ReadUInt32BigEndian(head) == XfsMagic)
        {
            uint bs = BinaryPrimitives.ReadUInt32BigEndian(head[XfsBlockSize..]);
            uint agBlocks = BinaryPrimitives.ReadUInt32BigEndian(head[XfsAgBlocks..]);
            return new ProbeResult("xfs", Text(head.Slice(XfsFname, XfsFnameLength)), FormatUuid(head.Slice(XfsUuid, 16)), 0)
            {
                GroupBytes = (long)bs * agBlocks,
                GroupCount = BinaryPrimitives.ReadUInt32BigEndian(head[XfsAgCount..]),
            };
        }
        if (head.Length >= ExtSuperblockOffset + ExtSuperblockSize)
        {
            var sb = head.Slice(ExtSuperblockOffset, ExtSuperblockSize);
            if (BinaryPrimitives.ReadUInt16LittleEndian(sb[ExtMagicOffset..]) == ExtMagic)
            {
                uint compat = BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtFeatureCompat..]);
                uint incompat = BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtFeatureIncompat..]);
                uint ro = BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtFeatureRoCompat..]);
                string type = (incompat & ExtIncompatJournalDev) != 0 ? "jbd"
                    : (incompat & ~Ext3IncompatSupported) != 0 || (ro & ~Ext3RoCompatSupported) != 0 ? "ext4"
                    : (compat & ExtCompatHasJournal) != 0 ? "ext3" : "ext2";
                long blockSize = 1024L << (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtLogBlockSize..]), 16);
                ulong blocks = BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtBlocksCountLo..]);
                if ((incompat & ExtIncompat64Bit) != 0) blocks |= (ulong)BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtBlocksCountHi..]) << 32;
                uint perGroup = BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtBlocksPerGroup..]);
                uint firstData = BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtFirstDataBlock..]);
                long groups = perGroup == 0 || blocks <= firstData ? 0 : (long)Math.Min((blocks - firstData + perGroup - 1) / perGroup, int.MaxValue);
                uint[] backups = (compat & ExtCompatSparseSuper2) != 0
                    ? [BinaryPrimitives.ReadUInt32LittleEndian(sb[ExtBackupBgs..]), BinaryPrimitives.ReadUInt32LittleEndian(sb[(ExtBackupBgs + 4)..])]
                    : [];
                return new ProbeResult(type, Text(sb.Slice(ExtVolumeName, 16)), FormatUuid(sb.Slice(ExtUuid, 16)), ExtSuperblockOffset + ExtMagicOffset)
                {
                    GroupBytes = (long)perGroup * blockSize,
                    GroupCount = groups,
                    SparseSuper = (ro & ExtRoCompatSparseSuper) != 0,
                    ExtBlockSize = blockSize,
                    ExtBackupGroups = backups,
                };
            }
        }
        foreach (int page in SwapPageSizes)
        {
            if (head.Length < page) break;
            var m = head.Slice(page - SwapMagicLength, SwapMagicLength);
            if (m.SequenceEqual("SWAPSPACE2"u8) || m.SequenceEqual("SWAP-SPACE"u8))
                return new ProbeResult("swap", Text(head.Slice(SwapLabel, SwapLabelLength)), FormatUuid(head.Slice(SwapUuid, 16)), page - SwapMagicLength);
        }
        for (int s = 0; s < LvmLabelScanSectors && (s + 1) * 512 <= head.Length; s++)
        {
            var sec = head.Slice(s * 512, 512);
            if (sec[..8].SequenceEqual("LABELONE"u8) && sec.Slice(LvmLabelType, 8).SequenceEqual("LVM2 001"u8))
            {
                uint off = BinaryPrimitives.ReadUInt32LittleEndian(sec[LvmLabelOffsetXl..]);
                string uuid = off + LvmPvUuidLength <= 512 ? FormatLvmUuid(sec.Slice((int)off, LvmPvUuidLength)) : "";
                return new ProbeResult("LVM2_member", "", uuid, s * 512);
            }
        }
        if (head.Length >= 6 && head[..6].SequenceEqual(LuksMagic)) return new ProbeResult("crypto_LUKS", "", "", 0);
        foreach (int at in (int[])[0, 4096])
            if (head.Length >= at + 4 && BinaryPrimitives.ReadUInt32LittleEndian(head[at..]) == MdMagic) return new ProbeResult("linux_raid_member", "", "", at);
        if (head.Length >= BtrfsMagicOffset + 8 && head.Slice((int)BtrfsMagicOffset, 8).SequenceEqual("_BHRfS_M"u8)) return new ProbeResult("btrfs", "", "", BtrfsMagicOffset);
        if (head.Length >= 512 && BinaryPrimitives.ReadUInt16LittleEndian(head[510..]) == 0xAA55)
        {
            if (Mbr.MbrFormat.HasProtectiveRecord(head)) return new ProbeResult("gpt", "", "", 510);
            if (Mbr.MbrTable.LooksLikePartitionTable(head[..512], length)) return new ProbeResult("dos", "", "", 510);
        }
        return null;
    }

    private static string Text(ReadOnlySpan<byte> b)
    {
        int n = b.IndexOf((byte)0);
        return Encoding.UTF8.GetString(n < 0 ? b : b[..n]).Trim();
    }

    /// <summary>A 16-byte UUID as blkid prints it (bytes in order, lower case, dashed).</summary>
    public static string FormatUuid(ReadOnlySpan<byte> u)
    {
        bool allZero = true;
        foreach (var b in u) if (b != 0) allZero = false;
        if (allZero) return "";
        string h = Convert.ToHexStringLower(u);
        return $"{h[..8]}-{h[8..12]}-{h[12..16]}-{h[16..20]}-{h[20..]}";
    }

    /// <summary>LVM's 32-character id in its printed form (6-4-4-4-4-4-6).</summary>
    public static string FormatLvmUuid(ReadOnlySpan<byte> id)
    {
        string s = Encoding.ASCII.GetString(id);
        return $"{s[..6]}-{s[6..10]}-{s[10..14]}-{s[14..18]}-{s[18..22]}-{s[22..26]}-{s[26..]}";
    }
}
