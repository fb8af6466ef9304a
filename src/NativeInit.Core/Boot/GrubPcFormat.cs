namespace NativeInit.Core.Boot;

/// <summary>
/// The fields of GRUB's i386-pc boot images that an installer patches, as GRUB 2 defines them: boot.img
/// (grub-core/boot/i386/pc/boot.S, offsets in include/grub/i386/pc/boot.h as GRUB_BOOT_MACHINE_*) and the first
/// sector of core.img, which is diskboot.img (grub-core/boot/i386/pc/diskboot.S; the block list entry is
/// struct grub_pc_bios_boot_blocklist in include/grub/offsets.h / util/setup.c). All little-endian.
/// </summary>
public static class GrubPcFormat
{
    /// <summary>GRUB_DISK_SECTOR_SIZE: boot.img, diskboot.img and every block list sector count use 512-byte sectors.</summary>
    public const int SectorSize = 512;

    // ---- boot.img (the MBR code) ----

    /// <summary>GRUB_BOOT_MACHINE_BPB_START: the BIOS parameter block boot.S jumps over; grub-setup keeps the disk's bytes.</summary>
    public const int BpbOffset = 0x03;
    /// <summary>GRUB_BOOT_MACHINE_BPB_END - GRUB_BOOT_MACHINE_BPB_START.</summary>
    public const int BpbLength = 0x5a - BpbOffset;
    /// <summary>boot.S kernel_address (a word, 0x8000): where boot.img loads the first sector of core.img. Not patched.</summary>
    public const int KernelAddressOffset = BpbOffset + BpbLength;
    public const int KernelAddressLength = 2;
    /// <summary>GRUB_BOOT_MACHINE_KERNEL_SECTOR (boot.S kernel_sector): 64-bit LBA of core.img's first sector.</summary>
    public const int KernelSectorOffset = KernelAddressOffset + KernelAddressLength;
    public const int KernelSectorLength = 8;
    /// <summary>GRUB_BOOT_MACHINE_BOOT_DRIVE (boot.S boot_drive): 0xFF = use the drive the BIOS passes in DL.</summary>
    public const int BootDriveOffset = KernelSectorOffset + KernelSectorLength;
    public const int BootDriveLength = 1;
    public const byte BootDriveFromBios = 0xFF;
    /// <summary>GRUB_BOOT_MACHINE_DRIVE_CHECK (boot.S boot_drive_check): a 2-byte short jmp that skips the check of DL.
    /// One byte (cli, 0xFA) lies between it and boot_drive. grub-setup replaces the jmp with two nops on a hard disk,
    /// so a BIOS that passes 0x00/0x01 instead of 0x80 still boots from 0x80.</summary>
    public const int DriveCheckOffset = BootDriveOffset + BootDriveLength + 1;
    public const int DriveCheckLength = 2;
    public const byte Nop = 0x90;
    /// <summary>The opcode of the short jmp at <see cref="DriveCheckOffset"/> in an unpatched boot.img (jmp rel8).</summary>
    public const byte ShortJmp = 0xEB;
    /// <summary>GRUB_BOOT_MACHINE_WINDOWS_NT_MAGIC: the disk signature (4 bytes) + 2 reserved bytes, then the partition
    /// table (GRUB_BOOT_MACHINE_PART_START = 0x1be .. GRUB_BOOT_MACHINE_PART_END = 0x1fe) and 0x55AA. An installer writes
    /// boot.img only below this offset (the 440 bytes of MBR code).</summary>
    public const int DiskSignatureOffset = 0x1b8;
    public const int MbrCodeLength = DiskSignatureOffset;
    public const int PartitionTableOffset = 0x1be;
    public const int BootSignatureOffset = 0x1fe;

    // ---- core.img's first sector (diskboot.img) ----

    /// <summary>sizeof(struct grub_pc_bios_boot_blocklist) = GRUB_BOOT_MACHINE_LIST_SIZE: start (u64), len (u16),
    /// segment (u16). The list starts at the end of the sector and grows down; an entry with len 0 ends it.</summary>
    public const int BlocklistEntryLength = 12;
    /// <summary>diskboot.S firstlist / blocklist_default_start: the first (highest) entry.</summary>
    public const int FirstBlocklistOffset = SectorSize - BlocklistEntryLength;
    /// <summary>grub_pc_bios_boot_blocklist.start: LBA of the first sector of this run (core.img's second sector).</summary>
    public const int BlocklistStartOffset = 0;
    public const int BlocklistStartLength = 8;
    /// <summary>grub_pc_bios_boot_blocklist.len: sectors in the run. grub-mkimage sets it to core.img's sectors − 1.</summary>
    public const int BlocklistLenOffset = BlocklistStartOffset + BlocklistStartLength;
    public const int BlocklistLenLength = 2;
    /// <summary>grub_pc_bios_boot_blocklist.segment: real-mode segment to load the run at
    /// (GRUB_BOOT_I386_PC_KERNEL_SEG + 0x20 = 0x820 for the first run).</summary>
    public const int BlocklistSegmentOffset = BlocklistLenOffset + BlocklistLenLength;
    public const int BlocklistSegmentLength = 2;
    public const ushort FirstRunSegment = 0x0800 + (SectorSize >> 4);

    /// <summary>util/setup.c caps the embedded core at (0x78000 − GRUB_KERNEL_I386_PC_LINK_ADDR) bytes: diskboot loads it
    /// to 0x8000 upward in real mode and it must stay below 0x78000 (GRUB_KERNEL_I386_PC_LINK_ADDR = 0x9000).</summary>
    public const int MaxCoreSectors = (0x78000 - 0x9000) / SectorSize;
}
