using System.Buffers.Binary;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;

namespace NativeInit.Core.Boot;

/// <summary>What to install GRUB for BIOS onto: a GPT disk with a BIOS boot (EF02) partition.</summary>
public sealed record GrubBiosTarget(
    string Disk,                 // block device or image file (whole disk)
    long BiosBootOffset,         // byte offset of the BIOS boot (EF02) partition
    long BiosBootLength,         // its length in bytes
    int BootPartitionNumber,     // GPT number of /boot (for the prefix "(,gptN)/grub2")
    string BootFilesystem,       // "xfs" or "ext2" (ext4 uses the ext2 module)
    string? TargetRoot)          // mounted new root: its /usr/lib/grub/i386-pc modules and grub-mkimage if present
{
    /// <summary>Where core.img starts inside the BIOS boot partition (a multiple of 512; 0: at its start). A conversion
    /// keeps two: its own at 0 and the converted system's at the partition's second half, so that switching from
    /// one to the other is the one-sector write of boot.img (<see cref="ConversionGrub"/>).</summary>
    public long CoreOffset { get; init; }

    /// <summary>Bytes of the BIOS boot partition from <see cref="CoreOffset"/> to its end: the room core.img has.</summary>
    public long CoreRoom => BiosBootLength - CoreOffset;
}

/// <summary>What <see cref="GrubBiosInstaller.Install"/> did.</summary>
public sealed record GrubBiosInstallResult(long CoreImageBytes, string ModuleDirectory, string MkimageTool)
{
    /// <summary>The prefix built into core.img, e.g. "(,gpt2)/grub2": GRUB reads $prefix/grub.cfg.</summary>
    public string Prefix { get; init; } = "";
    /// <summary>The GRUB directory on /boot ("grub2" or "grub"): where grub.cfg and grubenv belong.</summary>
    public string GrubDirectory { get; init; } = "";
    /// <summary>LBA of core.img's first sector (what boot.img's kernel sector holds).</summary>
    public long CoreSector { get; init; }
    /// <summary>False when the disk already held exactly these bytes (a repeated install).</summary>
    public bool Changed { get; init; }
}

/// <summary>
/// Installs GRUB for BIOS on a GPT disk without grub-install: builds core.img with grub-mkimage, writes it into the
/// BIOS boot partition and boot.img into the MBR's first 440 bytes, and patches what util/setup.c patches: in
/// boot.img the kernel sector (LBA of core.img), the boot drive (0xFF: the BIOS's DL) and the drive-check jump (two
/// nops: a hard disk); in core.img's first sector the block list (start = the LBA after it; the length grub-mkimage
/// set). The BPB bytes (3..0x59) are kept from the disk as grub-setup keeps them, the disk signature and the
/// partition table (0x1b8..0x1ff) are not written at all. No Reed-Solomon codes (grub-install --no-rs-codes).
///
/// The prefix is "(,gptN)/DIR": with the drive left out, GRUB's kernel fills in the drive it was booted from
/// (kern/main.c grub_set_prefix_and_root), so the BIOS disk number does not matter, and no search is needed: the
/// /boot partition is found by its number on the very disk the BIOS read boot.img from. A UUID search would scan
/// every disk and could pick a clone's /boot (a copied disk, the old disk image attached for recovery).
///
/// Every module GRUB needs to read /boot and boot Linux is built into core.img (normal, linux, the filesystem,
/// serial, loadenv, search, ...), so nothing has to be copied to /boot/DIR/i386-pc for the menu to work;
/// <see cref="CopyModules"/> copies the rest for grub.cfg files that insmod more.
/// </summary>
public static class GrubBiosInstaller
{
    /// <summary>Built into every core.img (besides the /boot filesystem's module).</summary>
    public static readonly string[] RequiredModules = ["biosdisk", "part_gpt", "normal", "configfile", "linux", "echo", "test"];

    /// <summary>Built in when the module directory has them: what grub.cfg files of this project, of grub2-mkconfig
    /// (CentOS: linux16, gzio) and of a person at the GRUB prompt use.</summary>
    public static readonly string[] OptionalModules =
    [
        "part_msdos", "ext2", "xfs", "search", "search_fs_uuid", "search_fs_file", "search_label", "linux16", "serial",
        "terminal", "terminfo", "loadenv", "halt", "reboot", "true", "sleep", "minicmd", "ls", "cat", "gzio", "chain", "help",
    ];

    /// <summary>The GRUB directory on /boot for a target: "grub2" for the RHEL family (grub2-* tools, grubby and
    /// new-kernel-pkg edit /boot/grub2/grub.cfg), "grub" for Debian; "grub2" when the target says nothing.</summary>
    public static string GrubDirectoryName(string? targetRoot)
    {
        if (targetRoot is null) return "grub2";
        foreach (var rel in (string[])["usr/sbin/grub2-mkconfig", "usr/bin/grub2-mkimage", "usr/sbin/grub2-install", "sbin/grubby", "usr/sbin/grubby"])
            if (File.Exists(Path.Combine(targetRoot, rel))) return "grub2";
        foreach (var rel in (string[])["usr/sbin/grub-mkconfig", "usr/bin/grub-mkimage", "usr/sbin/update-grub"])
            if (File.Exists(Path.Combine(targetRoot, rel))) return "grub";
        return "grub2";
    }

    public static string Prefix(GrubBiosTarget target) => $"(,gpt{target.BootPartitionNumber})/{GrubDirectoryName(target.TargetRoot)}";

    /// <summary>Refuses (<see cref="RefusedException"/>) when the install cannot work; writes nothing.</summary>
    public static void Check(GrubBiosTarget target) => Prepare(target, null);

    /// <summary><see cref="Check(GrubBiosTarget)"/> against a host whose GRUB lies elsewhere (or nowhere): for tests.</summary>
    internal static void Check(GrubBiosTarget target, string hostModuleDirectory, IReadOnlyList<string> searchPath) =>
        Prepare(target, null, reasons => GrubImageTool.Find(target.TargetRoot, reasons, hostModuleDirectory, searchPath));

    public static GrubBiosInstallResult Install(GrubBiosTarget target, Action<string>? log = null) => Install(target, log, null);

    /// <summary><see cref="Install(GrubBiosTarget, Action{string}?)"/> against a host whose GRUB and programs lie
    /// elsewhere (or nowhere): for tests.</summary>
    internal static GrubBiosInstallResult Install(GrubBiosTarget target, Action<string>? log, string hostModuleDirectory, IReadOnlyList<string> searchPath) =>
        Install(target, log, reasons => GrubImageTool.Find(target.TargetRoot, reasons, hostModuleDirectory, searchPath));

    private static GrubBiosInstallResult Install(GrubBiosTarget target, Action<string>? log, Func<List<string>, GrubImageTool?>? findTool) =>
        Write(target, Prepare(target, log, findTool), log);

    /// <summary>Installs a core.img and boot.img made beforehand (the conversion's own, carried in the bundle:
    /// <see cref="ConversionGrub"/>) with the same checks and patches as <see cref="Install(GrubBiosTarget, Action{string}?)"/>:
    /// core.img first, then the MBR's boot code pointing at it.</summary>
    public static GrubBiosInstallResult InstallImages(GrubBiosTarget target, byte[] coreImage, byte[] bootImage, string source, string prefix, Action<string>? log = null)
    {
        var mbr = CheckDisk(target);
        return Write(target, Lay(target, coreImage, bootImage, mbr, source, prefix, moduleDirectory: ""), log);
    }

    /// <summary>
    /// What <see cref="InstallImages"/> will refuse of images made beforehand, checked before the disk has its GPT:
    /// everything but what only the written disk can show (its GPT, its MBR's BPB bytes). The sector size, the /boot
    /// file system, the core offset, the sizes, the block list and boot.img's drive check depend on the images and the
    /// planned layout alone; refused after the first write, they left a conversion that neither the old system nor a
    /// resume could boot. Writes nothing.
    /// </summary>
    public static void CheckImages(GrubBiosTarget target, int sectorSize, byte[] coreImage, byte[] bootImage, string source)
    {
        if (sectorSize != GrubPcFormat.SectorSize)
            throw new RefusedException($"grub: {target.Disk} has {sectorSize}-byte sectors; GRUB for BIOS is installed on 512-byte-sector disks only");
        CheckTarget(target);
        _ = Lay(target, coreImage, bootImage, new byte[GrubPcFormat.SectorSize], source, prefix: "", moduleDirectory: "");
    }

    private static GrubBiosInstallResult Write(GrubBiosTarget target, Plan plan, Action<string>? log)
    {
        using var disk = DiskDevice.Open(target.Disk, writable: true);
        var existingCore = new byte[plan.Core.Length];
        disk.ReadAt(target.BiosBootOffset + target.CoreOffset, existingCore);
        var existingMbr = new byte[GrubPcFormat.MbrCodeLength];
        disk.ReadAt(0, existingMbr);
        bool coreChanged = !existingCore.AsSpan().SequenceEqual(plan.Core);
        bool mbrChanged = !existingMbr.AsSpan().SequenceEqual(plan.MbrCode);
        // core.img first: the MBR must never point at a half-written core.
        if (coreChanged)
        {
            disk.WriteAt(target.BiosBootOffset + target.CoreOffset, plan.Core);
            disk.Flush();
        }
        if (mbrChanged)
        {
            disk.WriteAt(0, plan.MbrCode);
            disk.Flush();
        }
        log?.Invoke(coreChanged || mbrChanged
            ? $"grub: core.img ({plan.CoreBytes} bytes, {plan.Core.Length / GrubPcFormat.SectorSize} sectors) at LBA {plan.CoreSector}" +
              $"{(coreChanged ? "" : " (unchanged)")}, boot.img in the MBR{(mbrChanged ? "" : " (unchanged)")}, prefix {plan.Prefix}"
            : $"grub: {target.Disk} already holds this core.img and boot.img: nothing written");
        return new GrubBiosInstallResult(plan.CoreBytes, plan.ModuleDirectory, plan.Source)
        {
            Prefix = plan.Prefix, GrubDirectory = plan.Prefix[(plan.Prefix.IndexOf(")/", StringComparison.Ordinal) + 2)..], CoreSector = plan.CoreSector,
            Changed = coreChanged || mbrChanged,
        };
    }

    /// <summary>Copies the module directory's *.mod, *.lst and *.o... files GRUB loads at run time into
    /// <paramref name="grubDirectory"/>/i386-pc (the mounted /boot/grub2), as grub-install does. Returns the count.</summary>
    public static int CopyModules(GrubBiosInstallResult installed, string grubDirectory)
    {
        var dest = Path.Combine(grubDirectory, "i386-pc");
        Directory.CreateDirectory(dest);
        int n = 0;
        foreach (var f in Directory.EnumerateFiles(installed.ModuleDirectory))
        {
            var ext = Path.GetExtension(f);
            if (ext is not (".mod" or ".lst")) continue;
            File.Copy(f, Path.Combine(dest, Path.GetFileName(f)), overwrite: true);
            n++;
        }
        return n;
    }

    /// <summary>What an install writes. <paramref name="Source"/> names where core.img came from (the grub-mkimage run, or
    /// the bundle), <paramref name="ModuleDirectory"/> the modules it was made from (empty for images made beforehand).</summary>
    internal sealed record Plan(string Source, string ModuleDirectory, string Prefix, byte[] Core, long CoreBytes, long CoreSector, byte[] MbrCode);

    /// <summary>Every check and the exact bytes to write; writes nothing.</summary>
    internal static Plan Prepare(GrubBiosTarget target, Action<string>? log, Func<List<string>, GrubImageTool?>? findTool = null)
    {
        var mbr = CheckDisk(target);
        var reasons = new List<string>();
        var tool = (findTool is null ? GrubImageTool.Find(target.TargetRoot, reasons) : findTool(reasons))
            ?? throw new RefusedException($"grub: no grub-mkimage with i386-pc modules: {string.Join("; ", reasons)}");
        foreach (var r in reasons) log?.Invoke($"grub: {r}; using {tool.Description}");
        string prefix = Prefix(target);
        var (image, bootImg, modules) = MakeImages(tool, prefix, target.BootFilesystem);
        log?.Invoke($"grub: {tool.Description} -d {tool.ModuleDirectory} -p {prefix}: core.img {image.Length} bytes ({string.Join(' ', modules)})");
        return Lay(target, image, bootImg, mbr, tool.Description, prefix, tool.ModuleDirectory);
    }

    /// <summary>GRUB's module for reading /boot.</summary>
    public static string FilesystemModule(string bootFilesystem) => bootFilesystem switch
    {
        "xfs" => "xfs",
        "ext2" or "ext3" or "ext4" => "ext2",
        _ => throw new RefusedException($"grub: /boot filesystem '{bootFilesystem}' is not xfs, ext2, ext3 or ext4"),
    };

    /// <summary>core.img (grub-mkimage's output, not yet patched for a disk) with <see cref="RequiredModules"/>, the
    /// /boot filesystem's module and those of <see cref="OptionalModules"/> the tool has, and the tool's boot.img.</summary>
    public static (byte[] Core, byte[] BootImage, IReadOnlyList<string> Modules) MakeImages(GrubImageTool tool, string prefix, string bootFilesystem)
    {
        string fsModule = FilesystemModule(bootFilesystem);
        string[] images = GrubPaths.RequiredImages;
        var missing = images.Where(i => !File.Exists(Path.Combine(tool.ModuleDirectory, i)))
            .Concat(RequiredModules.Append(fsModule).Where(m => !File.Exists(Path.Combine(tool.ModuleDirectory, m + ".mod"))).Select(m => m + ".mod"))
            .ToList();
        if (missing.Count > 0)
            throw new RefusedException($"grub: {tool.ModuleDirectory} lacks {string.Join(", ", missing)}");
        var modules = RequiredModules.Append(fsModule)
            .Concat(OptionalModules.Where(m => File.Exists(Path.Combine(tool.ModuleDirectory, m + ".mod"))))
            .Distinct(StringComparer.Ordinal).ToList();
        var bootImg = File.ReadAllBytes(Path.Combine(tool.ModuleDirectory, "boot.img"));
        return (tool.MakeImage(prefix, modules), bootImg, modules);
    }

    /// <summary>The checks of the disk (GPT, protective MBR, the BIOS boot partition where the target says, /boot's
    /// partition); returns the disk's first sector.</summary>
    private static byte[] CheckDisk(GrubBiosTarget target)
    {
        CheckTarget(target);

        byte[] mbr = new byte[GrubPcFormat.SectorSize];
        using (var disk = OpenForCheck(target.Disk))
        {
            if (disk.LogicalSectorSize != GrubPcFormat.SectorSize)
                throw new RefusedException($"grub: {target.Disk} has {disk.LogicalSectorSize}-byte sectors; GRUB for BIOS is installed on 512-byte-sector disks only");
            var gpt = GptReader.Read(disk);
            if (gpt.Table is null || !gpt.HasProtectiveMbr)
                throw new RefusedException($"grub: {target.Disk} is not a GPT disk with a protective MBR" +
                    (gpt.Problems.Count > 0 ? $" ({string.Join("; ", gpt.Problems)})" : ""));
            var table = gpt.Table;
            int ss = disk.LogicalSectorSize;
            var biosBoot = table.Partitions.Where(p => p.Type == GptPartitionTypes.BiosBoot.Guid).ToList();
            if (biosBoot.Count == 0)
                throw new RefusedException($"grub: {target.Disk} has no BIOS boot partition (type EF02)");
            var bios = table.Partitions.FirstOrDefault(p => p.ByteOffset(ss) == target.BiosBootOffset);
            string found = string.Join(", ", biosBoot.Select(p => $"partition {p.Number} at bytes {p.ByteOffset(ss)}+{p.ByteLength(ss)}"));
            if (bios is null)
                throw new RefusedException($"grub: no partition of {target.Disk} starts at byte {target.BiosBootOffset} as asked (BIOS boot: {found})");
            if (bios.Type != GptPartitionTypes.BiosBoot.Guid)
                throw new RefusedException($"grub: partition {bios.Number} of {target.Disk} at byte {target.BiosBootOffset} is {bios.TypeName}, " +
                    $"not a BIOS boot partition (EF02; BIOS boot: {found})");
            if (bios.ByteLength(ss) != target.BiosBootLength)
                throw new RefusedException($"grub: the BIOS boot partition {bios.Number} of {target.Disk} is {bios.ByteLength(ss)} bytes long, " +
                    $"not {target.BiosBootLength} as asked");
            if (table.Find(target.BootPartitionNumber) is null)
                throw new RefusedException($"grub: {target.Disk} has no GPT partition {target.BootPartitionNumber} for /boot");
            disk.ReadAt(0, mbr);
        }
        return mbr;
    }

    /// <summary>The target's own fields: /boot's file system, its partition number, the core offset.</summary>
    private static void CheckTarget(GrubBiosTarget target)
    {
        FilesystemModule(target.BootFilesystem);
        if (target.BootPartitionNumber < 1)
            throw new RefusedException($"grub: /boot partition number {target.BootPartitionNumber} is not a GPT partition number");
        if (target.CoreOffset < 0 || target.CoreOffset % GrubPcFormat.SectorSize != 0 || target.CoreOffset >= target.BiosBootLength)
            throw new RefusedException($"grub: core.img offset {target.CoreOffset} is not a sector inside the BIOS boot partition ({target.BiosBootLength} bytes)");
    }

    /// <summary>The exact bytes to write for <paramref name="image"/> and <paramref name="bootImg"/> at the target's
    /// core offset: the block list and boot.img patched. Writes nothing.</summary>
    private static Plan Lay(GrubBiosTarget target, byte[] image, byte[] bootImg, byte[] mbr, string source, string prefix, string moduleDirectory)
    {
        if (bootImg.Length != GrubPcFormat.SectorSize)
            throw new RefusedException($"grub: boot.img from {source} is {bootImg.Length} bytes, not {GrubPcFormat.SectorSize}");
        int coreSectors = (image.Length + GrubPcFormat.SectorSize - 1) / GrubPcFormat.SectorSize;
        if (image.Length < GrubPcFormat.SectorSize)
            throw new RefusedException($"grub: core.img from {source} is {image.Length} bytes, less than one sector");
        if (coreSectors > GrubPcFormat.MaxCoreSectors)
            throw new RefusedException($"grub: core.img is {image.Length} bytes; GRUB for BIOS loads at most {GrubPcFormat.MaxCoreSectors * GrubPcFormat.SectorSize}");
        if ((long)coreSectors * GrubPcFormat.SectorSize > target.CoreRoom)
            throw new RefusedException($"grub: core.img ({image.Length} bytes, {coreSectors} sectors) does not fit the BIOS boot partition of " +
                $"{target.Disk} ({target.BiosBootLength} bytes{(target.CoreOffset > 0 ? $", {target.CoreRoom} from byte {target.CoreOffset} of it" : "")})");

        long coreSector = (target.BiosBootOffset + target.CoreOffset) / GrubPcFormat.SectorSize;
        var core = new byte[coreSectors * GrubPcFormat.SectorSize];
        image.CopyTo(core, 0);
        PatchBlocklist(core, coreSector, coreSectors, source);
        var mbrCode = PatchBootImage(bootImg, mbr, coreSector);
        return new Plan(source, moduleDirectory, prefix, core, image.Length, coreSector, mbrCode);
    }

    /// <summary>util/setup.c's save_blocklists for a core.img in consecutive sectors: one run starting right after the
    /// first sector, then the terminator. The run's length and segment are grub-mkimage's (checked, not changed).</summary>
    internal static void PatchBlocklist(Span<byte> core, long coreSector, int coreSectors, string what)
    {
        var entry = core.Slice(GrubPcFormat.FirstBlocklistOffset, GrubPcFormat.BlocklistEntryLength);
        ushort len = BinaryPrimitives.ReadUInt16LittleEndian(entry[GrubPcFormat.BlocklistLenOffset..]);
        ushort segment = BinaryPrimitives.ReadUInt16LittleEndian(entry[GrubPcFormat.BlocklistSegmentOffset..]);
        if (len != coreSectors - 1 || segment != GrubPcFormat.FirstRunSegment)
            throw new RefusedException($"grub: core.img from {what} is not an i386-pc diskboot image: its block list says " +
                $"{len} sectors at segment 0x{segment:x}, expected {coreSectors - 1} at 0x{GrubPcFormat.FirstRunSegment:x}");
        var terminator = core.Slice(GrubPcFormat.FirstBlocklistOffset - GrubPcFormat.BlocklistEntryLength, GrubPcFormat.BlocklistEntryLength);
        if (terminator.IndexOfAnyExcept((byte)0) >= 0)
            throw new RefusedException($"grub: core.img from {what} has a second block list entry; expected one run and a terminator");
        BinaryPrimitives.WriteUInt64LittleEndian(entry.Slice(GrubPcFormat.BlocklistStartOffset, GrubPcFormat.BlocklistStartLength), (ulong)coreSector + 1);
    }

    /// <summary>The 440 bytes of MBR code: boot.img with the disk's BPB bytes, the kernel sector, boot drive 0xFF and the
    /// drive check turned into nops (util/setup.c write_rootdev and the hard-disk workaround).</summary>
    internal static byte[] PatchBootImage(ReadOnlySpan<byte> bootImg, ReadOnlySpan<byte> diskMbr, long coreSector)
    {
        var code = bootImg[..GrubPcFormat.MbrCodeLength].ToArray();
        if (code[GrubPcFormat.DriveCheckOffset] != GrubPcFormat.ShortJmp && code[GrubPcFormat.DriveCheckOffset] != GrubPcFormat.Nop)
            throw new RefusedException($"grub: boot.img has 0x{code[GrubPcFormat.DriveCheckOffset]:x2} at the drive check (offset 0x{GrubPcFormat.DriveCheckOffset:x}), " +
                "not a jmp: not a GRUB 2 i386-pc boot.img");
        diskMbr.Slice(GrubPcFormat.BpbOffset, GrubPcFormat.BpbLength).CopyTo(code.AsSpan(GrubPcFormat.BpbOffset));
        BinaryPrimitives.WriteUInt64LittleEndian(code.AsSpan(GrubPcFormat.KernelSectorOffset, GrubPcFormat.KernelSectorLength), (ulong)coreSector);
        code[GrubPcFormat.BootDriveOffset] = GrubPcFormat.BootDriveFromBios;
        code.AsSpan(GrubPcFormat.DriveCheckOffset, GrubPcFormat.DriveCheckLength).Fill(GrubPcFormat.Nop);
        return code;
    }

    private static DiskDevice OpenForCheck(string path)
    {
        try { return DiskDevice.Open(path, writable: false); }
        catch (NativeInitException e) { throw new RefusedException($"grub: cannot open {path}: {e.Message}", e); }
        catch (IOException e) { throw new RefusedException($"grub: cannot open {path}: {e.Message}", e); }
    }
}
