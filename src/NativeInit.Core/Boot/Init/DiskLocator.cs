using System.Diagnostics;

namespace NativeInit.Core.Boot.Init;

/// <summary>
/// Finds a whole disk from an explicit description, never by guessing: "/dev/vdb" (a path), or "serial:TEXT"
/// (the serial number the hypervisor gives the disk: /sys/block/NAME/serial for virtio, /sys/block/NAME/device/serial
/// for SCSI). Without udev, the node is created from /sys/block/NAME/dev when devtmpfs has not made it yet.
/// </summary>
public static class DiskLocator
{
    public const string SerialPrefix = "serial:";

    /// <summary>The device path for <paramref name="spec"/>, or null when no such disk is present (yet).</summary>
    public static string? Find(string spec, string sysBlock = "/sys/block")
    {
        if (spec.StartsWith('/')) return File.Exists(spec) ? spec : null;
        if (!spec.StartsWith(SerialPrefix, StringComparison.Ordinal))
            throw new UsageException($"disk '{spec}': give a device path (/dev/vdb) or serial:SERIAL");
        string serial = spec[SerialPrefix.Length..];
        if (serial.Length == 0) throw new UsageException($"disk '{spec}': empty serial");
        if (!Directory.Exists(sysBlock)) return null;
        foreach (var dir in Directory.GetDirectories(sysBlock).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            foreach (var f in new[] { Path.Combine(dir, "serial"), Path.Combine(dir, "device", "serial") })
            {
                string? value = null;
                try { if (File.Exists(f)) value = File.ReadAllText(f).Trim(); } catch (IOException) { }
                if (value != serial) continue;
                string dev = "/dev/" + name;
                EnsureNode(dev, Path.Combine(dir, "dev"));
                return dev;
            }
        }
        return null;
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

    private static void EnsureNode(string dev, string devFile)
    {
        if (File.Exists(dev) || !File.Exists(devFile)) return;
        var parts = File.ReadAllText(devFile).Trim().Split(':');
        if (parts.Length == 2 && uint.TryParse(parts[0], out var major) && uint.TryParse(parts[1], out var minor))
            Platform.BootCalls.MakeNode(dev, block: true, major, minor);
    }
}
