using System.Globalization;

namespace NativeInit.Core.Stage;

/// <summary>
/// The figures stage one checks, read from a system's own files under a root directory, so tests can fake them:
/// RAM from ROOT/proc/meminfo (MemTotal); the disk holding "/" from ROOT/proc/self/mountinfo (the device number of
/// the last mount on "/") and ROOT/sys/dev/block/MAJ:MIN (a symlink into ROOT/sys/devices/...; a partition has a
/// "partition" file and its disk is the parent directory; a device-mapper device is followed through its first
/// "slaves" entry), the disk's "size" file counting 512-byte sectors. On a running system with --root / these are the
/// kernel's own files. A fake root provides e.g.
/// <code>
/// proc/meminfo                 MemTotal:        8000000 kB
/// proc/self/mountinfo          22 1 253:1 / / rw,relatime shared:1 - xfs /dev/vda1 rw
/// sys/devices/virtual/block/vda/size          20971520
/// sys/devices/virtual/block/vda/vda1/partition 1
/// sys/dev/block/253:1 -> ../../devices/virtual/block/vda/vda1
/// </code>
/// </summary>
public static class SystemFacts
{
    public const int SysfsSectorSize = 512;

    public static long MemTotalBytes(string root)
    {
        var path = Path.Combine(root, "proc/meminfo");
        if (!File.Exists(path)) throw new RefusedException($"cannot read the RAM size: {path} is missing");
        foreach (var line in File.ReadLines(path))
        {
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
            var parts = line["MemTotal:".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb))
                return kb * (parts.Length > 1 && parts[1] == "kB" ? 1024 : 1);
        }
        throw new RefusedException($"cannot read the RAM size: no MemTotal line in {path}");
    }

    /// <summary>The disk holding the root filesystem: its name and size in bytes.</summary>
    public static (string Name, long Bytes) RootDisk(string root)
    {
        var r = RootDevice(root);
        return (r.DiskName, r.DiskBytes);
    }

    /// <summary>Where the root filesystem lies: the disk (name, sysfs directory, size) and the partition of it that
    /// holds / (directly, or under device-mapper: the first slave's, e.g. the LVM PV's): name, sysfs directory, number.</summary>
    public sealed record RootLocation(string DiskName, string DiskDir, long DiskBytes, string? PartitionName, string? PartitionDir, int? PartitionNumber);

    public static RootLocation RootDevice(string root)
    {
        var mountinfo = Path.Combine(root, "proc/self/mountinfo");
        var dev = MountDevice(root, "/") ?? throw new RefusedException($"cannot find the disk holding /: no mount on / in {mountinfo}");
        var dir = Resolve(Path.Combine(root, "sys/dev/block", dev))
            ?? throw new RefusedException($"cannot find the disk holding /: {Path.Combine(root, "sys/dev/block", dev)} is missing (device {dev})");
        string? partDir = File.Exists(Path.Combine(dir, "partition")) ? dir : null;
        for (int depth = 0; depth < 8; depth++)
        {
            var slaves = Path.Combine(dir, "slaves");
            if (!File.Exists(Path.Combine(dir, "partition")) && Directory.Exists(slaves) &&
                Directory.EnumerateFileSystemEntries(slaves).Order(StringComparer.Ordinal).FirstOrDefault() is { } s)
            {
                dir = Resolve(s) ?? throw new RefusedException($"cannot find the disk holding /: {s} does not resolve");
                continue;
            }
            break;
        }
        if (File.Exists(Path.Combine(dir, "partition")))
        {
            // A root on device-mapper (CentOS 7's LVM install) is named by the partition under it (the PV's).
            partDir ??= dir;
            dir = Path.GetDirectoryName(dir)!;
        }
        var sizeFile = Path.Combine(dir, "size");
        if (!File.Exists(sizeFile) || !long.TryParse(File.ReadAllText(sizeFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var sectors))
            throw new RefusedException($"cannot read the size of the disk holding /: {sizeFile}");
        int? number = partDir is not null && int.TryParse(File.ReadAllText(Path.Combine(partDir, "partition")).Trim(), NumberStyles.None,
            CultureInfo.InvariantCulture, out int n) ? n : null;
        return new RootLocation(Path.GetFileName(dir), dir, sectors * SysfsSectorSize, partDir is null ? null : Path.GetFileName(partDir), partDir, number);
    }

    /// <summary>The device number ("MAJ:MIN") of the filesystem holding <paramref name="path"/> (a path as the
    /// system sees it, e.g. "/boot"): the last mount whose mount point is the longest prefix of it.</summary>
    public static string? MountDevice(string root, string path)
    {
        var mountinfo = Path.Combine(root, "proc/self/mountinfo");
        if (!File.Exists(mountinfo)) throw new RefusedException($"cannot find the disk holding /: {mountinfo} is missing");
        path = "/" + path.Trim('/');
        string? dev = null;
        int best = -1;
        foreach (var line in File.ReadLines(mountinfo))
        {
            var f = line.Split(' ');
            if (f.Length <= 4) continue;
            string mp = f[4];
            bool under = mp == "/" || path == mp || path.StartsWith(mp + "/", StringComparison.Ordinal);
            if (under && mp.Length >= best) { best = mp.Length; dev = f[2]; }
        }
        return dev;
    }

    /// <summary>The byte offset on its disk of the partition holding the filesystem of <paramref name="path"/>
    /// (sysfs "start", in 512-byte sectors); null when that filesystem is not on a partition (device-mapper, a whole
    /// disk) or the kernel does not say.</summary>
    public static long? PartitionOffset(string root, string path)
    {
        if (MountDevice(root, path) is not { } dev) return null;
        var dir = Resolve(Path.Combine(root, "sys/dev/block", dev));
        if (dir is null || !File.Exists(Path.Combine(dir, "partition"))) return null;
        var start = Path.Combine(dir, "start");
        return File.Exists(start) && long.TryParse(File.ReadAllText(start).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var s)
            ? s * SysfsSectorSize : null;
    }

    /// <summary>
    /// A stable identity of the disk holding / for rd.nativeinit.disk= (issue 12), never a /dev/sdX name that may
    /// change: in order, the root partition's PARTUUID (the kernel's uevent, else read from the disk's MBR — disk
    /// signature and partition number — or GPT), the root filesystem's UUID (read from the partition), the disk's
    /// serial, its WWN. Devices are read at ROOT/dev/NAME (on the running system, /dev). Null when there is none;
    /// <paramref name="tried"/> then says what was looked at.
    /// </summary>
    public static string? RootDiskIdentity(string root, RootLocation where, out string tried)
    {
        var looked = new List<string>();
        string disk = Path.Combine(root, "dev", where.DiskName);
        if (where.PartitionDir is { } pd && where.PartitionNumber is { } number)
        {
            var uevent = Path.Combine(pd, "uevent");
            if (File.Exists(uevent) && File.ReadLines(uevent).FirstOrDefault(l => l.StartsWith("PARTUUID=", StringComparison.Ordinal)) is { } line
                && line["PARTUUID=".Length..].Trim() is { Length: > 0 } pu)
            {
                tried = "";
                return Disk.PartitionIdentity.PartUuidPrefix + pu.ToLowerInvariant();
            }
            looked.Add($"no PARTUUID in {uevent}");
            int sectorSize = ReadInt(Path.Combine(where.DiskDir, "queue/logical_block_size")) ?? 512;
            if (TryRead(() => Disk.PartitionIdentity.PartUuid(disk, number, sectorSize), disk, looked) is { } partUuid)
            {
                tried = "";
                return Disk.PartitionIdentity.PartUuidPrefix + partUuid;
            }
            string part = Path.Combine(root, "dev", where.PartitionName!);
            if (TryRead(() => Disk.PartitionIdentity.FilesystemUuid(part), part, looked) is { } uuid)
            {
                tried = "";
                return Disk.PartitionIdentity.UuidPrefix + uuid;
            }
        }
        else looked.Add("/ is not on a partition of the disk (a whole disk): no PARTUUID");
        foreach (var (file, prefix) in new[] { ("serial", Disk.PartitionIdentity.SerialPrefix), ("device/serial", Disk.PartitionIdentity.SerialPrefix),
                     ("wwid", Disk.PartitionIdentity.WwnPrefix), ("device/wwid", Disk.PartitionIdentity.WwnPrefix) })
        {
            var p = Path.Combine(where.DiskDir, file);
            if (File.Exists(p) && File.ReadAllText(p).Trim() is { Length: > 0 } v && !v.Any(char.IsWhiteSpace))
            {
                tried = "";
                return prefix + v;
            }
        }
        looked.Add($"no serial or wwid under {where.DiskDir}");
        tried = string.Join("; ", looked);
        return null;
    }

    private static string? TryRead(Func<string?> read, string what, List<string> looked)
    {
        if (!File.Exists(what)) { looked.Add($"{what} is missing"); return null; }
        try
        {
            var v = read();
            if (v is null) looked.Add($"{what}: nothing found");
            return v;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            looked.Add($"{what}: {e.Message}");
            return null;
        }
    }

    private static int? ReadInt(string path) =>
        File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : null;

    private static string? Resolve(string path)
    {
        var di = new DirectoryInfo(path);
        if (!di.Exists && di.LinkTarget is null) return null;
        var target = di.LinkTarget is null ? di : di.ResolveLinkTarget(returnFinalTarget: true);
        return target is { Exists: true } ? Path.GetFullPath(target.FullName) : null;
    }

    /// <summary>Path of <paramref name="dir"/> on the filesystem that holds it, as GRUB names files there: walks up
    /// while the parent is on the same device, not above <paramref name="root"/>. "/boot" when /boot is part of the
    /// root filesystem, "" when /boot is a filesystem of its own.</summary>
    public static string PathOnItsFilesystem(string root, string dir)
    {
        root = Path.GetFullPath(root).TrimEnd('/');
        dir = Path.GetFullPath(dir).TrimEnd('/');
        if (!Platform.PosixPath.TryStat(dir, out var st)) throw new NativeInitException($"{dir}: cannot stat");
        var top = dir;
        while (true)
        {
            var parent = Path.GetDirectoryName(top);
            if (parent is null || parent.TrimEnd('/').Length < root.Length) break;
            if (!Platform.PosixPath.TryStat(parent, out var ps) || ps.Dev != st.Dev) break;
            top = parent;
        }
        top = top.TrimEnd('/');
        return dir.Length == top.Length ? "" : dir[top.Length..];
    }
}
