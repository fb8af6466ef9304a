using System.Buffers.Binary;
using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

public class GrubPcFormatTests
{
    private const string Modules = "/usr/lib/grub/i386-pc";

    [Fact]
    public void Fields_are_contiguous_where_grub_lays_them_out_and_match_grubs_numbers()
    {
        // boot.S: BPB [3, 0x5a), kernel_address (word), kernel_sector (u64), boot_drive (byte), cli, boot_drive_check.
        Assert.Equal(0x5a, GrubPcFormat.BpbOffset + GrubPcFormat.BpbLength);
        Assert.Equal(GrubPcFormat.KernelAddressOffset + GrubPcFormat.KernelAddressLength, GrubPcFormat.KernelSectorOffset);
        Assert.Equal(GrubPcFormat.KernelSectorOffset + GrubPcFormat.KernelSectorLength, GrubPcFormat.BootDriveOffset);
        Assert.Equal(GrubPcFormat.BootDriveOffset + GrubPcFormat.BootDriveLength + 1, GrubPcFormat.DriveCheckOffset);
        // include/grub/i386/pc/boot.h, typed here independently.
        Assert.Equal(0x5c, GrubPcFormat.KernelSectorOffset);
        Assert.Equal(0x64, GrubPcFormat.BootDriveOffset);
        Assert.Equal(0x66, GrubPcFormat.DriveCheckOffset);
        Assert.Equal(0x1b8, GrubPcFormat.DiskSignatureOffset);
        Assert.Equal(440, GrubPcFormat.MbrCodeLength);
        // struct grub_pc_bios_boot_blocklist: start, len, segment fill the 12 bytes at the end of the sector.
        Assert.Equal(GrubPcFormat.BlocklistEntryLength,
            GrubPcFormat.BlocklistStartLength + GrubPcFormat.BlocklistLenLength + GrubPcFormat.BlocklistSegmentLength);
        Assert.Equal(GrubPcFormat.BlocklistSegmentOffset + GrubPcFormat.BlocklistSegmentLength, GrubPcFormat.BlocklistEntryLength);
        Assert.Equal(512, GrubPcFormat.FirstBlocklistOffset + GrubPcFormat.BlocklistEntryLength);
        Assert.Equal(0x820, GrubPcFormat.FirstRunSegment);
        Assert.Equal(888, GrubPcFormat.MaxCoreSectors);
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void The_offsets_hold_grubs_default_values_in_the_installed_images()
    {
        Skip.IfNot(File.Exists(Path.Combine(Modules, "boot.img")), $"{Modules} missing (tools/setup installs grub-pc-bin)");
        var boot = File.ReadAllBytes(Path.Combine(Modules, "boot.img"));
        Assert.Equal(0x8000, BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(GrubPcFormat.KernelAddressOffset)));
        Assert.Equal(1UL, BinaryPrimitives.ReadUInt64LittleEndian(boot.AsSpan(GrubPcFormat.KernelSectorOffset)));
        Assert.Equal(GrubPcFormat.BootDriveFromBios, boot[GrubPcFormat.BootDriveOffset]);
        Assert.Equal(0xFA, boot[GrubPcFormat.BootDriveOffset + 1]); // cli
        Assert.Equal(GrubPcFormat.ShortJmp, boot[GrubPcFormat.DriveCheckOffset]);
        Assert.Equal(0xAA55, BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(GrubPcFormat.BootSignatureOffset)));
        var diskboot = File.ReadAllBytes(Path.Combine(Modules, "diskboot.img"));
        Assert.Equal(512, diskboot.Length);
        var entry = diskboot.AsSpan(GrubPcFormat.FirstBlocklistOffset);
        Assert.Equal(2UL, BinaryPrimitives.ReadUInt64LittleEndian(entry[GrubPcFormat.BlocklistStartOffset..]));   // blocklist_default_start
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(entry[GrubPcFormat.BlocklistLenOffset..]));       // blocklist_default_len
        Assert.Equal(GrubPcFormat.FirstRunSegment, BinaryPrimitives.ReadUInt16LittleEndian(entry[GrubPcFormat.BlocklistSegmentOffset..]));
    }
}
