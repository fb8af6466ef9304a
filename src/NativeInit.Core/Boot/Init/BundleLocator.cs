using NativeInit.Core.Platform;

namespace NativeInit.Core.Boot.Init;

/// <summary>
/// Finds the file rd.nativeinit.bundle= names. Stage one writes the path as seen on the file system that holds it
/// (e.g. /nativeinit/bundle.tar when /boot is its own partition; GRUB finds it the same way, with search --file), so
/// the initramfs looks for it on every block device: each is mounted read-only (trying the file systems the kernel
/// knows), and the first that holds the file stays mounted. A path that exists as given (in the initramfs, or
/// under /run) is used as is.
/// </summary>
public static class BundleLocator
{
    public const string MountPoint = "/run/nativeinit/bundle-fs";

    /// <summary>The path to hand to the command, with the file system holding it mounted; throws naming what was tried.</summary>
    public static string Locate(string path, Action<string> log, string mountPoint = MountPoint)
    {
        if (File.Exists(path)) return path;
        if (!path.StartsWith('/')) throw new UsageException($"rd.nativeinit.bundle={path}: give an absolute path");
        Directory.CreateDirectory(mountPoint);
        var types = FileSystemTypes();
        var tried = new List<string>();
        foreach (var dev in Candidates())
        {
            foreach (var type in types)
            {
                if (!BootCalls.Mount(dev, mountPoint, type, Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV, null, toleratedErrno: AnyMountError))
                    continue;
                string inside = mountPoint + path;
                if (File.Exists(inside))
                {
                    log($"bundle {path} found on {dev} ({type}), mounted read-only at {mountPoint}");
                    return inside;
                }
                tried.Add($"{dev} ({type})");
                BootCalls.Unmount(mountPoint);
                break;
            }
        }
        throw new NativeInitException($"bundle {path}: not found on any block device (looked in: {(tried.Count == 0 ? "no mountable device" : string.Join(", ", tried))})");
    }

    /// <summary>Sentinel meaning "tolerate every mount error" (wrong type, no file system, busy).</summary>
    private const int AnyMountError = -1;

    /// <summary>Partitions first (the usual home of /boot), then whole disks, then device-mapper devices; no loop,
    /// ram, zram or optical devices.</summary>
    public static IEnumerable<string> Candidates(string sysBlock = "/sys/class/block")
    {
        if (!Directory.Exists(sysBlock)) return [];
        var names = Directory.GetFileSystemEntries(sysBlock).Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith("loop", StringComparison.Ordinal) && !n.StartsWith("ram", StringComparison.Ordinal) &&
                        !n.StartsWith("zram", StringComparison.Ordinal) && !n.StartsWith("sr", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        bool IsPartition(string n) => File.Exists(Path.Combine(sysBlock, n, "partition"));
        return names.Where(IsPartition)
            .Concat(names.Where(n => !IsPartition(n) && !n.StartsWith("dm-", StringComparison.Ordinal)))
            .Concat(names.Where(n => n.StartsWith("dm-", StringComparison.Ordinal)))
            .Select(n => "/dev/" + n);
    }

    /// <summary>Block file systems the kernel can mount now (/proc/filesystems without "nodev"), common ones first.</summary>
    public static List<string> FileSystemTypes(string procFilesystems = "/proc/filesystems")
    {
        var all = File.Exists(procFilesystems)
            ? File.ReadAllLines(procFilesystems).Where(l => !l.StartsWith("nodev", StringComparison.Ordinal)).Select(l => l.Trim()).Where(l => l.Length > 0).ToList()
            : [];
        string[] preferred = ["xfs", "ext4", "ext3", "ext2", "vfat", "btrfs"];
        return preferred.Where(all.Contains).Concat(all.Where(t => !preferred.Contains(t) && t is not "iso9660" and not "fuseblk")).ToList();
    }
}
