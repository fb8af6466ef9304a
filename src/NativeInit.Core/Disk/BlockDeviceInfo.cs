using System.Globalization;

namespace NativeInit.Core.Disk;

/// <summary>What sysfs and /proc say about a block device: kernel name, major:minor, partitions, and whether any of
/// them is in use (mounted, active swap, or held by another device such as device-mapper or md).</summary>
public static class BlockDeviceInfo
{
    /// <summary>Root of sysfs (tests may point elsewhere).</summary>
    internal static string SysRoot = "/sys";
    internal static string ProcRoot = "/proc";

    /// <summary>Kernel name of a device path: /dev/sda → sda; a symlink (/dev/disk/by-id/…) is followed.</summary>
    public static string KernelNameOf(string devicePath)
    {
        string p = devicePath;
        try
        {
            if (new FileInfo(p).ResolveLinkTarget(returnFinalTarget: true) is { } target) p = target.FullName;
        }
        catch (IOException) { }
        return System.IO.Path.GetFileName(p);
    }

    /// <summary>"major:minor" of a kernel block device name, from /sys/class/block/NAME/dev; null when unknown.</summary>
    public static string? DevNumber(string kernelName)
    {
        string f = System.IO.Path.Combine(SysRoot, "class", "block", kernelName, "dev");
        return File.Exists(f) ? File.ReadAllText(f).Trim() : null;
    }

    /// <summary>The partitions the kernel currently knows on a whole disk: (kernel name, partition number).</summary>
    public static IReadOnlyList<(string Name, int Number)> Partitions(string diskKernelName)
    {
        var result = new List<(string, int)>();
        string dir = System.IO.Path.Combine(SysRoot, "block", diskKernelName);
        if (!Directory.Exists(dir)) return result;
        foreach (var sub in Directory.EnumerateDirectories(dir))
        {
            string pf = System.IO.Path.Combine(sub, "partition");
            if (File.Exists(pf) && int.TryParse(File.ReadAllText(pf).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n))
                result.Add((System.IO.Path.GetFileName(sub), n));
        }
        result.Sort((a, b) => a.Item2.CompareTo(b.Item2));
        return result;
    }

    /// <summary>The kernel name of partition <paramref name="number"/> of a disk: sda → sda1, nvme0n1 → nvme0n1p1,
    /// loop0 → loop0p1 (a "p" when the disk name ends in a digit).</summary>
    public static string PartitionName(string diskKernelName, int number) =>
        diskKernelName.Length > 0 && char.IsAsciiDigit(diskKernelName[^1]) ? $"{diskKernelName}p{number}" : $"{diskKernelName}{number}";

    /// <summary>Bytes written to a block device since it appeared (/sys/block/NAME/stat, write sectors × 512; the
    /// kernel counts in 512-byte units whatever the sector size), or null when the file cannot be read.</summary>
    public static long? BytesWritten(string kernelName)
    {
        try
        {
            var f = File.ReadAllText(System.IO.Path.Combine(SysRoot, "block", kernelName, "stat")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return f.Length > 6 && long.TryParse(f[6], NumberStyles.Integer, CultureInfo.InvariantCulture, out long sectors) ? sectors * 512 : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>One line of /proc/self/mountinfo: the device MAJOR:MINOR, the file system's directory mounted (its
    /// root "/" for a whole file system), where, the file system type and the mount source (escapes undone).</summary>
    public sealed record MountEntry(string Dev, string Root, string MountPoint, string FsType, string Source);

    /// <summary>The mounts of this process's mount namespace (none when mountinfo cannot be read).</summary>
    public static IEnumerable<MountEntry> Mounts()
    {
        string mountinfo = System.IO.Path.Combine(ProcRoot, "self", "mountinfo");
        return File.Exists(mountinfo) ? ParseMountInfo(File.ReadLines(mountinfo)) : [];
    }

    internal static IEnumerable<MountEntry> ParseMountInfo(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
            var f = line.Split(' ');
            if (f.Length < 5) continue;
            int dash = Array.IndexOf(f, "-", 5);
            bool tail = dash > 0 && dash + 2 < f.Length;
            yield return new MountEntry(f[2], Unescape(f[3]), Unescape(f[4]), tail ? f[dash + 1] : "", tail ? Unescape(f[dash + 2]) : "");
        }
    }

    /// <summary>Where the block device MAJOR:MINOR (<paramref name="devNumber"/>) is mounted with its file system's root
    /// (the first such line of mountinfo), or null when it is not.</summary>
    public static string? MountPointOf(string devNumber) =>
        Mounts().FirstOrDefault(m => m.Dev == devNumber && m.Root == "/")?.MountPoint;

    /// <summary>The kernel name of the whole disk whose partition is mounted on <paramref name="mountPoint"/> with its file
    /// system's root (sysfs: /sys/dev/block/MAJOR:MINOR is the partition's directory, inside its disk's), or null when
    /// nothing is mounted there or what is mounted is not a partition of a disk (a whole device, tmpfs, a loop without
    /// partitions).</summary>
    public static string? DiskOfMount(string mountPoint) => DiskOfMount(mountPoint, Mounts(), SysRoot);

    /// <summary><see cref="DiskOfMount(string)"/> over given mounts and sysfs root.</summary>
    internal static string? DiskOfMount(string mountPoint, IEnumerable<MountEntry> mounts, string sysRoot)
    {
        string full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(mountPoint));
        var m = mounts.LastOrDefault(e => e.MountPoint == full && e.Root == "/");
        if (m is null) return null;
        string link = System.IO.Path.Combine(sysRoot, "dev", "block", m.Dev);
        try
        {
            if (!File.Exists(System.IO.Path.Combine(link, "partition"))) return null;
            var dir = new DirectoryInfo(link).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? link;
            return System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(dir));
        }
        catch (IOException) { return null; }
    }

    /// <summary>Every way the disk or one of its partitions is in use, each as a sentence naming the device
    /// ("sda2 (8:2) is mounted on /boot"). Empty when the disk may be rewritten.</summary>
    public static IReadOnlyList<string> FindUsers(string diskKernelName, IReadOnlySet<string>? releasedHolders = null)
    {
        var devices = new List<(string Name, string? Dev)> { (diskKernelName, DevNumber(diskKernelName)) };
        foreach (var (name, _) in Partitions(diskKernelName)) devices.Add((name, DevNumber(name)));
        var users = new List<string>();

        foreach (var m in Mounts())
            foreach (var (name, dev) in devices)
                if (dev is not null && m.Dev == dev) users.Add($"{name} ({dev}) is mounted on {m.MountPoint}");
        string swaps = System.IO.Path.Combine(ProcRoot, "swaps");
        if (File.Exists(swaps))
        {
            foreach (var line in File.ReadLines(swaps).Skip(1))
            {
                string dev = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
                if (dev.StartsWith("/dev/", StringComparison.Ordinal))
                {
                    string kn = KernelNameOf(dev);
                    foreach (var (name, _) in devices) if (kn == name) users.Add($"{name} is an active swap device");
                }
            }
        }
        foreach (var (name, _) in devices)
        {
            string holders = name == diskKernelName
                ? System.IO.Path.Combine(SysRoot, "block", diskKernelName, "holders")
                : System.IO.Path.Combine(SysRoot, "block", diskKernelName, name, "holders");
            if (!Directory.Exists(holders)) continue;
            foreach (var h in Directory.EnumerateFileSystemEntries(holders))
                if (releasedHolders?.Contains(System.IO.Path.GetFileName(h)) != true) users.Add($"{name} is held by {System.IO.Path.GetFileName(h)}");
        }
        return users;
    }

    /// <summary>Throws <see cref="RefusedException"/> when the disk or one of its partitions is in use.
    /// <paramref name="releasedHolders"/>: holders (kernel names, e.g. dm-0) the caller removes before it writes.</summary>
    public static void RefuseIfInUse(DiskDevice disk, IReadOnlySet<string>? releasedHolders = null)
    {
        if (!disk.IsBlockDevice || disk.KernelName is null)
        {
            // An image file: in use when a loop device shows it and that device (or a partition of it) is in use.
            var imageUsers = new List<string>();
            foreach (var loop in LoopDevicesOf(disk.Path)) imageUsers.AddRange(FindUsers(loop));
            if (imageUsers.Count > 0)
                throw new RefusedException($"{disk.Path}: refusing to rewrite an image in use through a loop device: {string.Join("; ", imageUsers)}");
            return;
        }
        var users = FindUsers(disk.KernelName, releasedHolders);
        if (users.Count > 0)
            throw new RefusedException($"{disk.Path}: refusing to rewrite a disk in use: {string.Join("; ", users)}");
    }

    /// <summary>Kernel names of the loop devices whose backing file is <paramref name="imagePath"/>.</summary>
    public static IReadOnlyList<string> LoopDevicesOf(string imagePath)
    {
        var result = new List<string>();
        string full = System.IO.Path.GetFullPath(imagePath);
        string block = System.IO.Path.Combine(SysRoot, "block");
        if (!Directory.Exists(block)) return result;
        foreach (var dir in Directory.EnumerateDirectories(block, "loop*"))
        {
            string f = System.IO.Path.Combine(dir, "loop", "backing_file");
            try
            {
                if (File.Exists(f) && File.ReadAllText(f).Trim() == full) result.Add(System.IO.Path.GetFileName(dir));
            }
            catch (IOException) { } // detached meanwhile
        }
        return result;
    }

    private static string Unescape(string s) => s.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
        .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);
}
