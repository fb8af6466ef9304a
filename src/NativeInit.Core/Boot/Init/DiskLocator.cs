using System.Diagnostics;
using System.Globalization;
using NativeInit.Core.Disk;

namespace NativeInit.Core.Boot.Init;

/// <summary>
/// Finds a whole disk from an explicit description, never by guessing:
/// "/dev/vdb" (a path); "serial:TEXT" (the serial number the hypervisor gives the disk: /sys/block/NAME/serial for
/// virtio, /sys/block/NAME/device/serial for SCSI); "wwn:ID" (/sys/block/NAME/wwid or device/wwid, compared without a
/// naa./eui./0x prefix); "partuuid:ID" (a partition's PARTUUID as the kernel forms it: the uevent's PARTUUID when the
/// kernel gives one, else read from the disk's MBR — "XXXXXXXX-NN", disk signature and partition number — or GPT entry);
/// "uuid:ID" (a filesystem UUID in one of the disk's partitions or on the whole disk). The last two give the disk that
/// holds that partition. Stage one writes one of them into the conversion entry as rd.nativeinit.disk= (issue 12).
/// Without udev, a node is created from /sys/block/NAME/dev when devtmpfs has not made it yet.
/// </summary>
public static class DiskLocator
{
    public const string SerialPrefix = PartitionIdentity.SerialPrefix, WwnPrefix = PartitionIdentity.WwnPrefix,
        PartUuidPrefix = PartitionIdentity.PartUuidPrefix, UuidPrefix = PartitionIdentity.UuidPrefix;

    private static readonly string[] Prefixes = [SerialPrefix, WwnPrefix, PartUuidPrefix, UuidPrefix];

    /// <summary>The device path for <paramref name="spec"/>, or null when no such disk is present (yet).
    /// <paramref name="sysBlock"/> and <paramref name="devDir"/> are the kernel's directories; tests point them at
    /// a fake tree holding image files as devices.</summary>
    public static string? Find(string spec, string sysBlock = "/sys/block", string devDir = "/dev")
    {
        if (spec.StartsWith('/')) return File.Exists(spec) ? spec : null;
        var prefix = Prefixes.FirstOrDefault(p => spec.StartsWith(p, StringComparison.Ordinal))
            ?? throw new UsageException($"disk '{spec}': give a device path (/dev/vdb), serial:SERIAL, wwn:WWN, partuuid:PARTUUID or uuid:UUID");
        string value = spec[prefix.Length..].Trim();
        if (value.Length == 0) throw new UsageException($"disk '{spec}': empty {prefix.TrimEnd(':')}");
        if (!Directory.Exists(sysBlock)) return null;
        var matches = new List<string>();
        foreach (var dir in Directory.GetDirectories(sysBlock).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            bool match = prefix switch
            {
                SerialPrefix => ReadFirst(dir, "serial", "device/serial") == value,
                WwnPrefix => ReadFirst(dir, "wwid", "device/wwid") is { } w && PartitionIdentity.NormalizeWwn(w) == PartitionIdentity.NormalizeWwn(value),
                PartUuidPrefix => HoldsPartUuid(dir, name, devDir, value),
                _ => HoldsFilesystemUuid(dir, name, devDir, value),
            };
            if (match) matches.Add(name);
        }
        if (matches.Count > 1)
            throw new NativeInitException($"disk '{spec}' names {matches.Count} disks ({string.Join(", ", matches)}): a cloned disk? refusing to guess");
        if (matches.Count == 0) return null;
        string dev = Path.Combine(devDir, matches[0]);
        EnsureNode(dev, Path.Combine(sysBlock, matches[0], "dev"));
        return dev;
    }

    /// <summary>Polls until the disk appears or <paramref name="timeout"/> passes; throws with what was present.</summary>
    public static string Wait(string spec, TimeSpan timeout, Action<string>? log = null)
    {
        var clock = Stopwatch.StartNew();
        bool told = false;
        while (true)
        {
            if (Find(spec) is { } dev) return dev;
            if (clock.Elapsed > timeout)
            {
                var present = Directory.Exists("/sys/block") ? string.Join(", ", Directory.GetDirectories("/sys/block").Select(Path.GetFileName)) : "(no /sys/block)";
                throw new NativeInitException($"disk '{spec}' did not appear within {timeout.TotalSeconds:0} s; block devices present: {present}");
            }
            if (!told && clock.Elapsed > TimeSpan.FromSeconds(1)) { log?.Invoke($"waiting for disk {spec}"); told = true; }
            Thread.Sleep(100);
        }
    }

    private static string? ReadFirst(string dir, params string[] files)
    {
        foreach (var f in files)
        {
            try
            {
                var p = Path.Combine(dir, f);
                if (File.Exists(p)) return File.ReadAllText(p).Trim();
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }

    /// <summary>The partitions of a disk in sysfs: (kernel name, number).</summary>
    private static IEnumerable<(string Name, int Number, string Dir)> Partitions(string diskDir)
    {
        foreach (var p in Directory.GetDirectories(diskDir).Order(StringComparer.Ordinal))
            if (ReadFirst(p, "partition") is { } n && int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
                yield return (Path.GetFileName(p), number, p);
    }

    private static bool HoldsPartUuid(string diskDir, string name, string devDir, string partUuid)
    {
        var parts = Partitions(diskDir).ToList();
        foreach (var p in parts)
        {
            var uevent = ReadFirst(p.Dir, "uevent");
            var line = uevent?.Split('\n').FirstOrDefault(l => l.StartsWith("PARTUUID=", StringComparison.Ordinal));
            if (line is not null && string.Equals(line["PARTUUID=".Length..].Trim(), partUuid, StringComparison.OrdinalIgnoreCase)) return true;
        }
        string dev = Path.Combine(devDir, name);
        if (!File.Exists(dev) || parts.Count == 0) return false;
        int sectorSize = int.TryParse(ReadFirst(diskDir, "queue/logical_block_size"), NumberStyles.None, CultureInfo.InvariantCulture, out int ss) ? ss : 512;
        try
        {
            return parts.Any(p => string.Equals(PartitionIdentity.PartUuid(dev, p.Number, sectorSize), partUuid, StringComparison.OrdinalIgnoreCase));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    private static bool HoldsFilesystemUuid(string diskDir, string name, string devDir, string uuid)
    {
        var candidates = Partitions(diskDir).Select(p => p.Name).Prepend(name);
        foreach (var c in candidates)
        {
            string dev = Path.Combine(devDir, c);
            if (!File.Exists(dev)) continue;
            try
            {
                if (string.Equals(PartitionIdentity.FilesystemUuid(dev), uuid, StringComparison.OrdinalIgnoreCase)) return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return false;
    }

    private static void EnsureNode(string dev, string devFile)
    {
        if (File.Exists(dev) || !File.Exists(devFile)) return;
        var parts = File.ReadAllText(devFile).Trim().Split(':');
        if (parts.Length == 2 && uint.TryParse(parts[0], out var major) && uint.TryParse(parts[1], out var minor))
            Platform.BootCalls.MakeNode(dev, block: true, major, minor);
    }
}
