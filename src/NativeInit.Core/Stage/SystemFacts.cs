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
        var mountinfo = Path.Combine(root, "proc/self/mountinfo");
        if (!File.Exists(mountinfo)) throw new RefusedException($"cannot find the disk holding /: {mountinfo} is missing");
        string? dev = null;
        foreach (var line in File.ReadLines(mountinfo))
        {
            var f = line.Split(' ');
            if (f.Length > 4 && f[4] == "/") dev = f[2];
        }
        if (dev is null) throw new RefusedException($"cannot find the disk holding /: no mount on / in {mountinfo}");
        var dir = Resolve(Path.Combine(root, "sys/dev/block", dev))
            ?? throw new RefusedException($"cannot find the disk holding /: {Path.Combine(root, "sys/dev/block", dev)} is missing (device {dev})");
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
        if (File.Exists(Path.Combine(dir, "partition"))) dir = Path.GetDirectoryName(dir)!;
        var sizeFile = Path.Combine(dir, "size");
        if (!File.Exists(sizeFile) || !long.TryParse(File.ReadAllText(sizeFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var sectors))
            throw new RefusedException($"cannot read the size of the disk holding /: {sizeFile}");
        return (Path.GetFileName(dir), sectors * SysfsSectorSize);
    }

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
