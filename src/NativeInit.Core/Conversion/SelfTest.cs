using System.Diagnostics;
using System.Text;
using NativeInit.Core.Boot.Init;
using NativeInit.Core.Platform;

// Namespace "Conversion", folder Convert/: a namespace NativeInit.Core.Conversion would shadow System.Convert in every
// file under NativeInit.Core (Convert.ToHexString... would no longer compile).
namespace NativeInit.Core.Conversion;

/// <summary>Options of <c>nativeinit selftest</c>.</summary>
public sealed record SelfTestOptions
{
    /// <summary>The scratch disk: a path or serial:SERIAL (see <see cref="DiskLocator"/>). Required: never guessed.</summary>
    public required string Disk { get; init; }
    /// <summary>Disks larger than this are refused: a scratch disk is small, a real system disk is not.</summary>
    public long MaxDiskSize { get; init; } = 4L << 30;
    /// <summary>Where the self-test mounts its file systems.</summary>
    public string WorkDirectory { get; init; } = "/run/nativeinit-selftest";
    /// <summary>A bundle file to read through (the one rd.nativeinit.bundle= named, found by the initramfs); optional.</summary>
    public string? Bundle { get; init; }
    /// <summary>How long to wait for the disk to appear.</summary>
    public TimeSpan DiskTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Proves on a real kernel that the system calls and ioctls stage two relies on work, on a scratch disk that the
/// caller names: device-mapper control (DM_VERSION), tmpfs, raw disk writes read back, then stage two's own disk path
/// (SelfTest.Disk.cs: GPT, LVM, device-mapper activation, mkfs, mount, extraction of an archive with owners and
/// binary xattrs, read back, unmount, deactivation). Prints one line per step and ends with
/// <see cref="OkMarker"/> or <see cref="FailMarker"/> and the reason.
/// </summary>
public sealed partial class SelfTest
{
    public const string OkMarker = "NATIVEINIT-SELFTEST-OK";
    public const string FailMarker = "NATIVEINIT-SELFTEST-FAIL";

    /// <summary>security.capability v2 with cap_net_raw (bit 13) permitted: the binary xattr that tar tools corrupt.</summary>
    public static readonly byte[] CapabilityValue =
        [0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    private readonly SelfTestOptions _options;
    private readonly TextWriter _out;
    private readonly List<Action> _cleanup = [];
    private readonly List<(string Name, string Detail, long Milliseconds)> _steps = [];

    /// <summary>The steps that passed, in order: name, what was checked, duration.</summary>
    public IReadOnlyList<(string Name, string Detail, long Milliseconds)> Steps => _steps;

    /// <summary>The failure reason of the last <see cref="Run"/>, or null when it passed.</summary>
    public string? FailureReason { get; private set; }

    public SelfTest(SelfTestOptions options, TextWriter output) => (_options, _out) = (options, output);

    /// <summary>Runs every step; returns 0 when all passed. Never throws: a failure is printed with its marker.</summary>
    public int Run()
    {
        var clock = Stopwatch.StartNew();
        try
        {
            string disk = Step("disk", () =>
            {
                var (dev, size) = CheckDisk(_options, DiskLocator.Wait(_options.Disk, _options.DiskTimeout));
                return (dev, $"{dev}, {size >> 20} MiB");
            });
            Step("kernel", () => ((object?)null, KernelSummary()));
            if (_options.Bundle is { } bundle) Step("bundle", () => ((object?)null, ReadThrough(bundle)));
            Step("raw-io", () => ((object?)null, RawReadWrite(disk)));
            Step("tmpfs", () => ((object?)null, Tmpfs()));
            Step("device-mapper", () => ((object?)null, DeviceMapperProbe()));
            RunDiskSteps(disk);
            RunCleanup();
            _out.WriteLine($"selftest: all steps passed in {clock.Elapsed.TotalSeconds:0.0} s");
            _out.WriteLine(OkMarker);
            _out.Flush();
            return ExitCodes.Success;
        }
        catch (Exception e)
        {
            string reason = e is NativeInitException ? e.Message : IoErrors.IsFileError(e) ? IoErrors.Describe(e) : e.GetType().Name + ": " + IoErrors.Readable(e.Message);
            try { RunCleanup(); } catch (Exception c) { reason += $" (cleanup: {c.Message})"; }
            FailureReason = reason.ReplaceLineEndings(" ");
            _out.WriteLine($"{FailMarker}: {reason.ReplaceLineEndings(" ")}");
            _out.Flush();
            return e is NativeInitException n ? n.ExitCode : ExitCodes.Failure;
        }
    }

    /// <summary>The checks that make a disk a scratch disk (exit 3 when one fails, nothing written): present, not a
    /// directory, no smaller than <see cref="MinDiskSize"/>, no larger than <see cref="SelfTestOptions.MaxDiskSize"/>, not mounted. <paramref name="found"/>
    /// is the device already waited for; null looks it up once (the dry run).</summary>
    public static (string Device, long Size) CheckDisk(SelfTestOptions options, string? found = null)
    {
        if (found is null && Directory.Exists(options.Disk))
            throw new RefusedException($"disk {options.Disk}: {PosixError.Message(PosixError.EISDIR)} (EISDIR): the self-test needs a scratch block device");
        string dev = found ?? DiskLocator.Find(options.Disk)
            ?? throw new RefusedException($"disk {options.Disk}: {PosixError.Message(PosixError.ENOENT)} (ENOENT)");
        if (Directory.Exists(dev))
            throw new RefusedException($"disk {dev}: {PosixError.Message(PosixError.EISDIR)} (EISDIR): the self-test needs a scratch block device");
        long size;
        try { size = DeviceSize(dev); }
        catch (Exception e) when (IoErrors.IsFileError(e)) { throw IoErrors.Refuse("disk", dev, e); }
        if (size < MinDiskSize)
            throw new RefusedException($"disk {dev} ({options.Disk}) is {size} bytes, less than {MinDiskSize >> 20} MiB: too small for a scratch disk, refused");
        if (size > options.MaxDiskSize)
            throw new RefusedException($"{dev} ({options.Disk}) is {size >> 20} MiB, more than {options.MaxDiskSize >> 20} MiB: not a scratch disk, refused");
        if (IsMounted(dev)) throw new RefusedException($"{dev} is mounted: not a scratch disk, refused");
        return (dev, size);
    }

    /// <summary>The smallest scratch disk (or image) the self-test takes.</summary>
    public const long MinDiskSize = 1L << 20;

    private T Step<T>(string name, Func<(T Value, string Detail)> body)
    {
        var clock = Stopwatch.StartNew();
        _out.WriteLine($"selftest: {name} ...");
        _out.Flush();
        try
        {
            var (value, detail) = body();
            _out.WriteLine($"selftest: {name}: ok ({detail}) [{clock.ElapsedMilliseconds} ms]");
            _steps.Add((name, detail, clock.ElapsedMilliseconds));
            _out.Flush();
            return value;
        }
        catch (NativeInitException e)
        {
            throw new NativeInitException($"step {name}: {e.Message}", e.ExitCode, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new NativeInitException($"step {name}: {(IoErrors.IsFileError(e) ? IoErrors.Describe(e) : IoErrors.Readable(e.Message))}", ExitCodes.Failure, e);
        }
    }

    private void Step(string name, Func<(object? Value, string Detail)> body) => Step<object?>(name, body);

    private static string KernelSummary()
    {
        string release = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "?";
        var fs = File.Exists("/proc/filesystems") ? File.ReadAllText("/proc/filesystems") : "";
        var missing = new[] { "ext4", "tmpfs" }.Where(f => !fs.Contains("\t" + f + "\n", StringComparison.Ordinal)).ToList();
        if (missing.Count > 0)
            throw new NativeInitException($"file systems not available in kernel {release}: {string.Join(", ", missing)} (module not loaded?)");
        return $"kernel {release}, ext4 and tmpfs available";
    }

    /// <summary>Reads the whole bundle file (the initramfs found and mounted its file system).</summary>
    private static string ReadThrough(string path)
    {
        if (!File.Exists(path)) throw new NativeInitException($"bundle {path}: not found");
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        var buffer = new byte[1 << 16];
        long total = 0;
        int n;
        while ((n = f.Read(buffer)) > 0) total += n;
        if (total != f.Length) throw new NativeInitException($"bundle {path}: read {total} of {f.Length} bytes");
        return $"{path}: {total} bytes read";
    }

    /// <summary>Writes a pattern into the last MiB of the disk, syncs, reads it back and compares.</summary>
    private static string RawReadWrite(string dev)
    {
        const int length = 1 << 20;
        long size = DeviceSize(dev);
        long offset = size - length;
        var pattern = new byte[length];
        new Random(20261127).NextBytes(pattern);
        using (var h = BootCalls.OpenForRandomAccess(dev, write: true))
        {
            RandomAccess.Write(h, pattern, offset);
            BootCalls.Fsync(h, dev);
        }
        var back = new byte[length];
        using (var h = BootCalls.OpenForRandomAccess(dev, write: false))
        {
            int n = RandomAccess.Read(h, back, offset);
            if (n != length) throw new NativeInitException($"{dev}: short read of {n} bytes at {offset}");
        }
        if (!back.AsSpan().SequenceEqual(pattern)) throw new NativeInitException($"{dev}: the 1 MiB written at {offset} reads back different");
        return $"1 MiB written at offset {offset} and read back";
    }

    private string Tmpfs()
    {
        string dir = Path.Combine(_options.WorkDirectory, "tmpfs");
        Directory.CreateDirectory(dir);
        BootCalls.Mount("tmpfs", dir, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "size=16m,mode=0700");
        try
        {
            string f = Path.Combine(dir, "probe");
            File.WriteAllText(f, "nativeinit");
            if (File.ReadAllText(f) != "nativeinit") throw new NativeInitException($"{f}: reads back different");
        }
        finally { BootCalls.Unmount(dir); }
        return $"mounted, written, read and unmounted at {dir}";
    }

    /// <summary>The expected tree: path, uid, gid, mode, content, xattrs.</summary>
    public static readonly (string Path, int Uid, int Gid, int Mode, string Content, (string Name, byte[] Value)[] Xattrs)[] Tree =
    [
        ("etc/hostname", 0, 0, 0x1A4, "selftest-gateway\n", [("user.nativeinit", "selftest"u8.ToArray())]),
        ("usr/bin/ping", 0, 0, 0x9ED /* 04755 */, "not really ping\n", [("security.capability", CapabilityValue)]),
        ("home/user/notes.txt", 1000, 1000, 0x180, "owned by 1000:1000\n", []),
        ("var/lib/snapd/state.json", 4242, 4343, 0x1A4, "{}\n", [("user.snap", [0x00, 0xff, 0x10, 0x80])]),
    ];

    public static void Populate(string root)
    {
        foreach (var e in Tree)
        {
            string p = Path.Combine(root, e.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            File.WriteAllText(p, e.Content);
            // chown before setxattr: chown clears security.capability.
            BootCalls.Lchown(p, e.Uid, e.Gid);
            File.SetUnixFileMode(p, (UnixFileMode)e.Mode);
            foreach (var (name, value) in e.Xattrs) BootCalls.SetXattr(p, name, value);
        }
    }

    /// <summary>Reads the tree back: owners, modes, contents, xattrs byte for byte; with <paramref name="withSymlink"/>
    /// (the archive's tree) also the symlink and its target.</summary>
    public static string Verify(string root, bool withSymlink = false)
    {
        int xattrs = 0;
        foreach (var e in Tree)
        {
            string p = Path.Combine(root, e.Path);
            var st = BootCalls.Lstat(p);
            if (st.Uid != e.Uid || st.Gid != e.Gid)
                throw new NativeInitException($"{p}: owner {st.Uid}:{st.Gid}, expected {e.Uid}:{e.Gid}");
            if ((st.Mode & 0xFFF) != e.Mode)
                throw new NativeInitException($"{p}: mode {Convert(st.Mode & 0xFFF)}, expected {Convert((uint)e.Mode)}");
            if (File.ReadAllText(p) != e.Content) throw new NativeInitException($"{p}: content differs");
            foreach (var (name, value) in e.Xattrs)
            {
                // (xattrs are compared byte for byte: a tar tool that decodes pax values as text breaks the binary ones)
                var got = BootCalls.GetXattr(p, name) ?? throw new NativeInitException($"{p}: xattr {name} missing");
                if (!got.AsSpan().SequenceEqual(value))
                    throw new NativeInitException($"{p}: xattr {name} is {System.Convert.ToHexString(got)}, expected {System.Convert.ToHexString(value)}");
                xattrs++;
            }
        }
        if (withSymlink)
        {
            string link = Path.Combine(root, SelfTestArchive.SymlinkPath);
            string? target = new FileInfo(link).LinkTarget;
            if (target != SelfTestArchive.SymlinkTarget)
                throw new NativeInitException($"{link}: symlink to '{target ?? "(not a symlink)"}', expected '{SelfTestArchive.SymlinkTarget}'");
        }
        return $"{Tree.Length} files{(withSymlink ? " and a symlink" : "")}: owners, modes (setuid incl.), contents and {xattrs} xattrs (binary security.capability incl.) read back";

        static string Convert(uint mode) => "0" + System.Convert.ToString(mode, 8);
    }

    private void RunCleanup()
    {
        for (int i = _cleanup.Count - 1; i >= 0; i--)
        {
            var a = _cleanup[i];
            _cleanup.RemoveAt(i);
            a();
        }
    }

    /// <summary>Size in bytes of a block device (/sys/class/block/NAME/size, in 512-byte sectors) or a file.</summary>
    internal static long DeviceSize(string dev)
    {
        string sys = $"/sys/class/block/{Path.GetFileName(dev)}/size";
        if (File.Exists(sys)) return long.Parse(File.ReadAllText(sys).Trim(), System.Globalization.CultureInfo.InvariantCulture) * 512;
        return new FileInfo(dev).Length;
    }

    private static bool IsMounted(string dev)
    {
        if (!File.Exists("/proc/mounts")) return false;
        string name = Path.GetFileName(dev);
        return File.ReadLines("/proc/mounts").Select(l => l.Split(' ')[0])
            .Any(s => s == dev || (s.StartsWith("/dev/" + name, StringComparison.Ordinal)));
    }

    internal static string Hex(ReadOnlySpan<byte> b) => System.Convert.ToHexString(b);
    internal static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
