namespace NativeInit.Core.Boot;

/// <summary>
/// The conversion's own GRUB, which makes a converted disk boot by itself from the first moments of stage two on:
/// a core.img with the prefix "(,gptN)/nativeinit/grub" (N: the new /boot partition) and every module it needs built
/// in, made by <c>bundle create</c> on the vendor's machine (the target root's own grub-mkimage when the rootfs is a
/// directory with GRUB, else the host's) and carried, signed, in the bundle with its boot.img. Stage two installs it
/// right after /boot holds the conversion kernel, initramfs and <see cref="ConfigPath"/> (a grub.cfg whose default
/// entry is <c>rd.nativeinit=resume</c>), long before the root file system is written; a power cut after that boots
/// into the resume.
///
/// The BIOS boot partition holds two core.img: the conversion's at its start (<see cref="ConversionCoreOffset"/>) and
/// the converted system's in its second half (<see cref="SystemCoreOffset"/>). The final switch from one to the other
/// is the MBR's boot code (boot.img with the LBA of the core.img to load): one 512-byte sector written in one
/// write, after the system's core.img and grub.cfg are on the disk and flushed. There is no moment at which boot.img
/// points at a core.img being written.
/// </summary>
public static class ConversionGrub
{
    /// <summary>The GRUB directory on the /boot file system that the conversion core.img reads (grub.cfg, grubenv).</summary>
    public const string Directory = "nativeinit/grub";
    public const string ConfigPath = Directory + "/grub.cfg";
    /// <summary>Paths on /boot of the conversion kernel and initramfs (stage two copies them from the bundle).</summary>
    public const string Kernel = "/nativeinit/vmlinuz", Initramfs = "/nativeinit/initramfs.img";
    public const long ConversionCoreOffset = 0;

    public static string Prefix(int bootPartitionNumber) => $"(,gpt{bootPartitionNumber})/{Directory}";

    /// <summary>Where the converted system's core.img goes in a BIOS boot partition of <paramref name="biosBootLength"/>
    /// bytes: its second half (sector-aligned). Each core.img has that half; GRUB for BIOS loads at most
    /// <see cref="GrubPcFormat.MaxCoreSectors"/> sectors (444 KiB), so a partition of 1 MiB or more always has room.</summary>
    public static long SystemCoreOffset(long biosBootLength) => biosBootLength / 2 / GrubPcFormat.SectorSize * GrubPcFormat.SectorSize;

    /// <summary>Null when a conversion core.img of <paramref name="coreBytes"/> leaves the converted system's core.img the
    /// second half of the BIOS boot partition; else why not.</summary>
    public static string? RoomProblem(long coreBytes, long biosBootLength)
    {
        long half = SystemCoreOffset(biosBootLength);
        long maxSystem = (long)GrubPcFormat.MaxCoreSectors * GrubPcFormat.SectorSize;
        if (coreBytes > half)
            return $"the conversion's core.img ({coreBytes} bytes) does not fit the first half of the BIOS boot partition ({biosBootLength} bytes)";
        if (biosBootLength - half < maxSystem)
            return $"the BIOS boot partition ({biosBootLength} bytes) leaves {biosBootLength - half} bytes for the converted system's core.img, " +
                $"which may be as large as GRUB loads ({maxSystem} bytes): the partition needs {2 * maxSystem} bytes or more (1 MiB is enough)";
        return null;
    }

    /// <summary>Builds the conversion core.img and takes boot.img of the same GRUB (for <c>bundle create</c>):
    /// the GRUB of <paramref name="targetRoot"/> when it has one, else the host's (Debian grub-pc-bin). Refuses,
    /// naming what was looked at, when there is none.</summary>
    public static (byte[] Core, byte[] BootImage, string Tool) Build(string? targetRoot, int bootPartitionNumber, string bootFilesystem, Action<string>? log = null)
    {
        var reasons = new List<string>();
        var tool = GrubImageTool.Find(targetRoot, reasons);
        if (tool is null)
            throw new RefusedException($"conversion GRUB: no grub-mkimage with i386-pc modules ({string.Join("; ", reasons)}); " +
                "install grub-pc-bin (Debian) or grub2-tools + grub2-pc-modules, or give a --rootfs directory that has them");
        foreach (var r in reasons) log?.Invoke($"conversion GRUB: {r}; using {tool.Description}");
        string prefix = Prefix(bootPartitionNumber);
        var (core, boot, modules) = GrubBiosInstaller.MakeImages(tool, prefix, bootFilesystem);
        if (core.Length > (long)GrubPcFormat.MaxCoreSectors * GrubPcFormat.SectorSize)
            throw new RefusedException($"conversion GRUB: {tool.Description} made a core.img of {core.Length} bytes; GRUB for BIOS loads at most {GrubPcFormat.MaxCoreSectors * GrubPcFormat.SectorSize}");
        log?.Invoke($"conversion GRUB: core.img {core.Length} bytes, prefix {prefix}, by {tool.Description} ({string.Join(' ', modules)})");
        return (core, boot, tool.Description);
    }
}
