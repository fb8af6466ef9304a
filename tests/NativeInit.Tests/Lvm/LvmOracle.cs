using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Lvm;

/// <summary>A loop device the test attached with losetup; detached on Dispose.</summary>
public sealed class TestLoop : IDisposable
{
    public TestLoop(string image, long offset = 0, long sizeLimit = 0, int sectorSize = 0)
    {
        var args = new List<string> { "-f", "--show" };
        if (sectorSize != 0) { args.Add("-b"); args.Add(sectorSize.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
        if (offset != 0) { args.Add("-o"); args.Add(offset.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
        if (sizeLimit != 0) { args.Add("--sizelimit"); args.Add(sizeLimit.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
        args.Add(image);
        var r = Tool.Run("losetup", args);
        Assert.True(r.ExitCode == 0, r.ToString());
        Device = r.Stdout.Trim();
    }

    public string Device { get; }

    public void Dispose() => Tool.Run("losetup", "-d", Device);
}

/// <summary>A sparse image of a given size in its own temporary folder, attached to a loop device; detached and
/// removed on Dispose. <see cref="ForLvm"/> skips the test without root, lvm2 or losetup.</summary>
public sealed class LoopImage : IDisposable
{
    private LoopImage(long bytes)
    {
        string image = Dir.Combine("pv.img");
        using (var fs = File.Create(image)) fs.SetLength(bytes);
        Loop = new TestLoop(image);
    }

    public static LoopImage ForLvm(long bytes)
    {
        Tool.RequireRoot();
        Tool.Require("lvm", "losetup");
        return new LoopImage(bytes);
    }

    public TempDir Dir { get; } = new();
    public TestLoop Loop { get; }
    public string Device => Loop.Device;

    public void Dispose()
    {
        Loop.Dispose();
        Dir.Dispose();
    }
}

/// <summary>
/// Runs lvm2's read-only commands against exactly one device: a private LVM_SYSTEM_DIR whose lvm.conf accepts only
/// that device (the host's disks are never scanned), no udev, no devices file, no locking.
/// </summary>
public sealed class LvmOracle : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly Dictionary<string, string> _env;
    public string Device { get; }

    public LvmOracle(string device)
    {
        Device = device;
        File.WriteAllText(_dir.Combine("lvm.conf"), $$"""
            devices {
                filter = [ "a|^{{device}}$|", "r|.*|" ]
                global_filter = [ "a|^{{device}}$|", "r|.*|" ]
                obtain_device_list_from_udev = 0
                external_device_info_source = "none"
                use_devicesfile = 0
                md_component_detection = 0
                multipath_component_detection = 0
                fw_raid_component_detection = 0
            }
            # activation = 0: no device-mapper interaction, so lvcreate/lvextend can write metadata on this host
            global { use_lvmetad = 0 activation = 0 }
            activation { udev_sync = 0 udev_rules = 0 }
            backup { backup = 0 archive = 0 }
            """);
        Directory.CreateDirectory(_dir.Combine("backup"));
        _env = new Dictionary<string, string> { ["LVM_SYSTEM_DIR"] = _dir.Path, ["LVM_SUPPRESS_FD_WARNINGS"] = "1" };
    }

    public string Dir => _dir.Path;

    public ToolResult Run(params string[] args) => Tool.Run("lvm", args, environment: _env);

    public string Check(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    /// <summary>Report rows (--noheadings --separator '|' --units b --nosuffix), trimmed.</summary>
    public List<string[]> Report(string command, string fields, params string[] extra)
    {
        var args = new List<string> { command, "--noheadings", "--separator", "|", "--units", "b", "--nosuffix", "-o", fields };
        args.AddRange(extra);
        if (command == "pvs") args.Add(Device); // vgs/lvs: every VG on the only visible device
        string o = Check([.. args]);
        return o.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim().Split('|')).ToList();
    }

    public void Dispose() => _dir.Dispose();
}
