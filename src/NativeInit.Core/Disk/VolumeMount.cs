using NativeInit.Core.Disk.Loop;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Disk;

/// <summary>A file system at a byte range of a disk image, reached through a loop device and mounted; Dispose
/// unmounts it and detaches the loop device (in that order).</summary>
public sealed class VolumeMount : IDisposable
{
    private const ulong MsRdOnly = 1;
    private LoopDevice? _loop;
    private readonly List<string> _mounted = [];

    private readonly string? _device;

    private VolumeMount(LoopDevice loop, string dir) => (_loop, Directory) = (loop, dir);

    private VolumeMount(string device, string dir) => (_device, Directory) = (device, dir);

    public string Directory { get; }
    public string Device => _loop?.DevicePath ?? _device!;

    /// <summary>Mounts a block device (e.g. /dev/mapper/VA-root_b on a running system) read-write at
    /// <paramref name="dir"/>, no loop device; Dispose unmounts it.</summary>
    public static VolumeMount MountDevice(string device, string filesystem, string dir)
    {
        System.IO.Directory.CreateDirectory(dir);
        MountExplained(device, dir, filesystem, 0, null);
        var m = new VolumeMount(device, dir);
        m._mounted.Add(dir);
        return m;
    }

    /// <param name="readOnly">Mount read-only through a read-only loop device, without replaying the file system's log
    /// (the old root: nothing may be written to it before the point of no return).</param>
    /// <param name="readOnlyMount">Mount read-only, but through a writable device so that the kernel can replay the
    /// log of a file system a power cut left dirty (the new /boot holding the journal: its last fsync'd state).</param>
    /// <param name="replayLog">With <paramref name="readOnly"/>: leave out norecovery/noload, so that a clean file
    /// system mounts as it is and a dirty one fails to mount (nothing is written either way).</param>
    public static VolumeMount Mount(string image, long offset, long length, string filesystem, string dir, bool readOnly, bool readOnlyMount = false,
        bool replayLog = false)
    {
        System.IO.Directory.CreateDirectory(dir);
        var loop = LoopDevice.Attach(image, offset, length, readOnly);
        try
        {
            string? data = readOnly && !replayLog ? filesystem == "xfs" ? "norecovery" : filesystem is "ext4" or "ext3" ? "noload" : null : null;
            MountExplained(loop.DevicePath, dir, filesystem, readOnly || readOnlyMount ? MsRdOnly : 0, data);
            var m = new VolumeMount(loop, dir);
            m._mounted.Add(dir);
            return m;
        }
        catch
        {
            loop.Dispose();
            throw;
        }
    }

    /// <summary>Mounts <paramref name="device"/> at <paramref name="dir"/> inside this file system (e.g. /boot inside the
    /// new root); Dispose unmounts it first.</summary>
    public void MountInside(string device, string dir, string filesystem)
    {
        System.IO.Directory.CreateDirectory(dir);
        MountExplained(device, dir, filesystem, 0, null);
        _mounted.Add(dir);
    }

    /// <summary>mount(2); when the kernel refuses an xfs with EINVAL because an xfs with the same UUID is mounted already
    /// (dmesg: "Filesystem has duplicate UUID"; a copied disk, or an image whose file system someone mounted by hand),
    /// the error names that mount instead of a bare EINVAL.</summary>
    private static void MountExplained(string device, string dir, string filesystem, ulong flags, string? data)
    {
        try { BootCalls.Mount(device, dir, filesystem, flags, data); }
        catch (PosixException e) when (e.Errno == PosixError.EINVAL && filesystem == "xfs" && SameUuidMounted(device) is { } other)
        {
            throw new NativeInitException($"{e.Message}: an xfs with the same UUID ({other.Uuid}) is mounted from {other.Source} on {other.MountPoint}, " +
                "and the kernel mounts no second xfs with a UUID it has; unmount that one first", e.ExitCode, e);
        }
    }

    /// <summary>An xfs mounted from a block device whose UUID equals the one on <paramref name="device"/>, if any.</summary>
    private static (string Uuid, string Source, string MountPoint)? SameUuidMounted(string device)
    {
        try
        {
            string? uuid;
            using (var d = DiskDevice.Open(device, writable: false)) uuid = Filesystems.FilesystemProbe.Probe(d)?.Uuid;
            if (uuid is null) return null;
            foreach (var m in BlockDeviceInfo.Mounts())
            {
                if (m.FsType != "xfs" || !m.Source.StartsWith("/dev/", StringComparison.Ordinal) || m.Source == device) continue;
                try
                {
                    using var other = DiskDevice.Open(m.Source, writable: false);
                    if (Filesystems.FilesystemProbe.Probe(other)?.Uuid == uuid) return (uuid, m.Source, m.MountPoint);
                }
                catch (Exception x) when (x is NativeInitException or IOException or UnauthorizedAccessException) { }
            }
        }
        catch (Exception x) when (x is NativeInitException or IOException or UnauthorizedAccessException) { }
        return null;
    }

    public void Unmount(string dir)
    {
        if (!_mounted.Remove(dir)) return;
        BootCalls.Unmount(dir);
    }

    /// <summary>umount; while it is busy (EBUSY: another process has a file open or its working directory in it),
    /// tries again for up to 10 s before detaching it lazily, saying on stderr which processes held it. A lazily
    /// detached xfs stays alive until its last user goes, and the kernel refuses to mount a second xfs with its UUID
    /// meanwhile (EINVAL, "duplicate UUID" in the kernel log): the next step that mounts the same volume would fail.
    /// (2 s were not always enough: a CI run's extract step waited them out, and its carry step's mount was refused.)</summary>
    private static void UnmountPatiently(string dir)
    {
        for (int attempt = 0; ; attempt++)
        {
            try { BootCalls.Unmount(dir); return; }
            catch (PosixException e) when (e.Errno == PosixError.EBUSY && attempt < 100) { Thread.Sleep(100); }
            catch (NativeInitException e)
            {
                Console.Error.WriteLine($"nativeinit: {e.Message}; held by {Holders(dir)}; detached lazily " +
                    "(a second mount of this file system is refused until they let go)");
                BootCalls.Unmount(dir, detach: true);
                return;
            }
        }
    }

    /// <summary>The processes with their working directory, root or an open file under <paramref name="dir"/>
    /// ("PID (COMM)", from /proc), or "no process found".</summary>
    private static string Holders(string dir)
    {
        var found = new List<string>();
        try
        {
            foreach (var p in System.IO.Directory.EnumerateDirectories("/proc"))
            {
                string pid = Path.GetFileName(p);
                if (!int.TryParse(pid, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)) continue;
                try
                {
                    var links = new[] { Path.Combine(p, "cwd"), Path.Combine(p, "root") }
                        .Concat(System.IO.Directory.Exists(Path.Combine(p, "fd")) ? System.IO.Directory.EnumerateFileSystemEntries(Path.Combine(p, "fd")) : []);
                    if (links.Any(l => new FileInfo(l).LinkTarget is { } t && (t == dir || t.StartsWith(dir + "/", StringComparison.Ordinal))))
                        found.Add($"{pid} ({File.ReadAllText(Path.Combine(p, "comm")).Trim()})");
                }
                catch (Exception x) when (x is IOException or UnauthorizedAccessException) { }
            }
        }
        catch (Exception x) when (x is IOException or UnauthorizedAccessException) { }
        return found.Count > 0 ? string.Join(", ", found) : "no process found";
    }

    public void Dispose()
    {
        for (int i = _mounted.Count - 1; i >= 0; i--) UnmountPatiently(_mounted[i]);
        _mounted.Clear();
        _loop?.Dispose();
        _loop = null;
    }
}
