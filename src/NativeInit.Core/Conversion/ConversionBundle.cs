using NativeInit.Core.Boot;
using NativeInit.Core.Bundle;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Layout;

namespace NativeInit.Core.Conversion;

/// <summary>
/// `nativeinit bundle create`: the bundle (<see cref="BundleCreator"/>) plus what stage two needs to make the disk
/// boot by itself while it converts: the conversion's own GRUB core.img and boot.img (<see cref="ConversionGrub"/>),
/// made here, on the vendor's machine, for the layout's /boot partition. Layouts without a BIOS boot partition (EF02)
/// or without a /boot partition get none (convert refuses those layouts anyway, naming why).
/// </summary>
public static class ConversionBundle
{
    public static BundleCreateResult Create(BundleCreateOptions o, Action<string>? log = null)
    {
        var boot = BootPartitionForGrub(o.Layout);
        if (boot is null) return BundleCreator.Create(o, log);
        var (number, filesystem) = boot.Value;
        // A conversion bundle's system must boot: its /boot needs a kernel with an initramfs (the bootloader step's
        // grub.cfg names them). Checked here, on the vendor's machine, rather than at the gateway after the point of
        // no return, where each boot would resume into the same refusal. A rootfs given as an archive is checked by
        // the names of its boot/ entries, read while bundle create checks the archive.
        string NoKernel() => $"rootfs {o.Rootfs}: /boot has no kernel with an initramfs (vmlinuz-V with initramfs-V.img or initrd.img-V): " +
            "the converted system could not boot";
        string rootfsBoot = Path.Combine(o.Rootfs, "boot");
        if (Directory.Exists(o.Rootfs) && (!Directory.Exists(rootfsBoot) || BootKernel.Find(rootfsBoot).Count == 0))
            throw new RefusedException(NoKernel());
        o = o with { CheckArchiveBoot = names => { if (BootKernel.FromNames(names).Count == 0) throw new RefusedException(NoKernel()); } };
        var tmp = Directory.CreateTempSubdirectory("nativeinit-bundle-grub.");
        try
        {
            var (core, bootImage, _) = ConversionGrub.Build(Directory.Exists(o.Rootfs) ? o.Rootfs : null, number, filesystem, log);
            string corePath = Path.Combine(tmp.FullName, "core.img"), bootPath = Path.Combine(tmp.FullName, "boot.img");
            File.WriteAllBytes(corePath, core);
            File.WriteAllBytes(bootPath, bootImage);
            return BundleCreator.Create(o with { GrubCore = corePath, GrubBoot = bootPath }, log);
        }
        finally
        {
            tmp.Delete(recursive: true);
        }
    }

    /// <summary>The /boot partition's number and file system when the layout has one and its partition table has a
    /// BIOS boot partition; null otherwise, and when the layout cannot be read (BundleCreator then names the problem).</summary>
    private static (int Number, string Filesystem)? BootPartitionForGrub(string layoutPath)
    {
        LayoutFile layout;
        SgdiskBackup table;
        try
        {
            layout = LayoutFile.Load(layoutPath);
            table = SgdiskBackup.Load(layout.PartitionTablePath);
        }
        catch (NativeInitException) { return null; }
        catch (IOException) { return null; }
        if (layout.BootPartition is not { } b) return null;
        if (!table.Table.Partitions.Any(p => p.Type == GptPartitionTypes.BiosBoot.Guid)) return null;
        return (b.Number, b.Filesystem);
    }
}
