using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>
/// A throw-away VM for tests that need a real kernel (device-mapper, a block device in use): the cached Debian kernel
/// with a busybox initramfs holding nativeinit, the kernel modules asked for, and host programs with their shared
/// libraries, which runs a shell script with the image as /dev/vda and powers off. Shared by the device-mapper tests,
/// `grow --disk`, `convert --disk` and `update` on a VM's disk; the A/B VM's slot initramfs is built the same way.
/// </summary>
public static class BusyboxVm
{
    /// <summary>virtio block and device-mapper, always loaded (paths under the kernel's modules folder "kernel/").</summary>
    private static readonly string[] BaseModules =
    [
        "drivers/virtio/virtio_ring", "drivers/virtio/virtio", "drivers/virtio/virtio_pci_legacy_dev",
        "drivers/virtio/virtio_pci_modern_dev", "drivers/virtio/virtio_pci", "drivers/block/virtio_blk", "drivers/md/dm-mod",
    ];

    /// <summary>xfs and what it needs (crc32c for its checksums), for <see cref="Run"/>'s extraModules.</summary>
    public static readonly string[] XfsModules = ["crypto/crc32c_generic", "lib/libcrc32c", "fs/xfs/xfs"];

    /// <summary>ext4 and what it needs, for the module lists.</summary>
    public static readonly string[] Ext4Modules = ["lib/crc16", "fs/mbcache", "fs/jbd2/jbd2", "fs/ext4/ext4"];

    /// <summary>
    /// Builds a busybox initramfs (gzip'd cpio) in <paramref name="dir"/> and returns its path: nativeinit is
    /// /nativeinit, each of <paramref name="files"/> (name → host path) is at /NAME, each of <paramref name="programs"/>
    /// (host paths) at the same path with its libraries (ldd), found on PATH before busybox's applets (a folder among
    /// them is copied whole). Its /init mounts /proc, /sys and devtmpfs, loads virtio, device-mapper and
    /// <paramref name="extraModules"/> (a module that does not load prints <c>INSMOD-FAILED NAME</c>), then runs
    /// <paramref name="body"/> (busybox sh).
    /// </summary>
    public static string BuildInitramfs(string dir, string nativeinit, string body, IReadOnlyDictionary<string, string> files,
        IReadOnlyList<string>? extraModules = null, IReadOnlyList<string>? programs = null)
    {
        string kernelDir = KernelCache.FolderOrSkip();
        string modules = Path.Combine(kernelDir, "lib", "modules", KernelCache.Version(kernelDir), "kernel");
        string root = Path.Combine(dir, "initramfs-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var d in new[] { "bin", "proc", "sys", "dev", "mods", "tmp", "mnt" }) Directory.CreateDirectory(Path.Combine(root, d));
        var names = new List<string>();
        foreach (var m in BaseModules.Concat(extraModules ?? []))
        {
            string src = Path.Combine(modules, m + ".ko");
            Skip.IfNot(File.Exists(src), $"{src} missing (modules built into this kernel?)");
            File.Copy(src, Path.Combine(root, "mods", Path.GetFileName(m) + ".ko"));
            names.Add(Path.GetFileName(m));
        }
        File.Copy("/usr/bin/busybox", Path.Combine(root, "bin", "busybox"));
        File.Copy(nativeinit, Path.Combine(root, "nativeinit"));
        foreach (var (name, source) in files) File.Copy(source, Path.Combine(root, name));
        foreach (var program in programs ?? [])
        {
            if (Directory.Exists(program)) // e.g. GRUB's module folder
            {
                string to = Path.Combine(root, program.TrimStart('/'));
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                Tool.Check("cp", "-a", program, to);
            }
            else CopyWithLibraries(program, root);
        }
        string init = $$"""
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/usr/sbin:/usr/bin:/sbin:/bin
            mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
            for m in {{string.Join(' ', names)}}; do insmod /mods/$m.ko || echo "INSMOD-FAILED $m"; done

            """ + body;
        File.WriteAllText(Path.Combine(root, "init"), init.Replace("\r", "", StringComparison.Ordinal));
        File.SetUnixFileMode(Path.Combine(root, "init"), (UnixFileMode)0x1ed);
        string initrd = root + ".gz";
        Tool.Sh($"cd {Tool.Quote(root)} && find . | cpio -o -H newc 2>/dev/null | gzip -1 > {Tool.Quote(initrd)}");
        return initrd;
    }

    /// <summary>
    /// Runs <paramref name="commands"/> (busybox sh) in a VM booted with <see cref="BuildInitramfs"/>'s initramfs, once
    /// /dev/vda (<paramref name="image"/>) is there, then powers off. <paramref name="append"/> is added to the kernel
    /// command line. Returns the console output; fails on a timeout, a kernel panic, or a module that did not load.
    /// </summary>
    public static string Run(TempDir dir, string nativeinit, string image, string commands, IReadOnlyDictionary<string, string> files,
        IReadOnlyList<string>? extraModules = null, IReadOnlyList<string>? programs = null, int memoryMiB = 512, string append = "",
        TimeSpan? timeout = null)
    {
        string kernelDir = KernelCache.FolderOrSkip();
        string initrd = BuildInitramfs(dir.Path, nativeinit,
            "for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done\n\n" + commands + "\nsync\npoweroff -f\n",
            files, extraModules, programs);
        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Kernel = KernelCache.KernelImage(kernelDir), Initrd = initrd, Append = ("console=ttyS0 quiet panic=-1 " + append).Trim(),
            Timeout = timeout ?? TimeSpan.FromMinutes(5), MemoryMiB = memoryMiB,
            Drives = [new QemuDrive(image, Interface: "virtio", Serial: QemuRunner.ScratchSerial, Id: "scratch")],
            FailureMarkers = QemuOptions.SelftestFailureMarkers,
        });
        Assert.False(outcome.TimedOut || outcome.Failure is not null, outcome.Report());
        string o = outcome.Console;
        Assert.DoesNotContain("INSMOD-FAILED", o);
        return o;
    }

    /// <summary>Copies a dynamically linked host program and every library ldd names (with the loader) into
    /// <paramref name="root"/> at the same paths.</summary>
    public static void CopyWithLibraries(string program, string root)
    {
        var paths = new List<string> { program };
        foreach (var line in Tool.Check("ldd", program).Split('\n'))
        {
            string t = line.Trim();
            int arrow = t.IndexOf("=> ", StringComparison.Ordinal);
            string p = (arrow >= 0 ? t[(arrow + 3)..] : t).Split(' ')[0];
            if (p.StartsWith('/')) paths.Add(p);
        }
        foreach (var p in paths)
        {
            string to = Path.Combine(root, p.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(p, to, overwrite: true);
            File.SetUnixFileMode(to, File.GetUnixFileMode(p));
        }
    }
}
