using System.Text;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Disk.Loop;

/// <summary>
/// A loop device bound to a byte range of a file (or block device): <c>/dev/loopN</c> shows bytes
/// [<see cref="Offset"/>, <see cref="Offset"/> + <see cref="SizeLimit"/>) of the backing file. This reaches a whole
/// disk image, one partition or one linear LV with neither partition scanning nor device-mapper.
/// <para>Attach: LOOP_CTL_GET_FREE on /dev/loop-control, then LOOP_CONFIGURE (Linux 5.8); when the kernel does not
/// know it (ENOTTY/EINVAL, e.g. CentOS 7's 3.10) the fallback is LOOP_SET_FD + LOOP_SET_STATUS64. The offset and size
/// limit are read back with LOOP_GET_STATUS64 and the device is detached again when the kernel did not take them.
/// LO_FLAGS_AUTOCLEAR is set, so even a killed process leaves no device behind once its descriptor closes.</para>
/// <para>Dispose detaches (LOOP_CLR_FD) and closes; it never throws.</para>
/// </summary>
public sealed class LoopDevice : IDisposable
{
    /// <summary>Where the device nodes are (tests of a chroot may point elsewhere).</summary>
    internal static string DevRoot = "/dev";
    private const int MaxAttempts = 16;
    /// <summary>Tests set this to exercise the LOOP_SET_FD + LOOP_SET_STATUS64 path a 3.10 kernel takes.</summary>
    [ThreadStatic] internal static bool SkipLoopConfigure;
    private SafeFd? _fd;

    private LoopDevice(int number, SafeFd fd, string backing, long offset, long sizeLimit, int sectorSize, bool usedConfigure)
    {
        Number = number;
        _fd = fd;
        BackingFile = backing;
        Offset = offset;
        SizeLimit = sizeLimit;
        SectorSize = sectorSize;
        UsedLoopConfigure = usedConfigure;
    }

    /// <summary>N of /dev/loopN.</summary>
    public int Number { get; }
    /// <summary>The device node, e.g. /dev/loop3.</summary>
    public string DevicePath => $"{DevRoot}/loop{Number}";
    public string BackingFile { get; }
    /// <summary>Byte offset into the backing file.</summary>
    public long Offset { get; }
    /// <summary>Bytes visible through the device; 0 means up to the end of the backing file.</summary>
    public long SizeLimit { get; }
    /// <summary>Logical sector size of the device (512 unless asked otherwise).</summary>
    public int SectorSize { get; }
    /// <summary>True when LOOP_CONFIGURE was used, false when the LOOP_SET_FD + LOOP_SET_STATUS64 fallback was.</summary>
    public bool UsedLoopConfigure { get; }
    /// <summary>False once detached.</summary>
    public bool IsAttached => _fd is not null;

    /// <summary>
    /// Attaches <paramref name="backingFile"/> from byte <paramref name="offset"/> for <paramref name="sizeLimit"/>
    /// bytes (0: to the end). <paramref name="sectorSize"/> other than 0/512 sets the device's logical block size
    /// (LOOP_CONFIGURE or LOOP_SET_BLOCK_SIZE, Linux 4.14+; refused on older kernels). <paramref name="partitionScan"/>
    /// sets LO_FLAGS_PARTSCAN so the kernel (BLKRRPART, BLKPG) may carry partitions on the device.
    /// </summary>
    public static LoopDevice Attach(string backingFile, long offset = 0, long sizeLimit = 0, bool readOnly = false, int sectorSize = 0,
        bool partitionScan = false)
    {
        if (offset < 0 || sizeLimit < 0) throw new ArgumentOutOfRangeException(nameof(offset), "offset and size limit must not be negative");
        if (offset % 512 != 0 || sizeLimit % 512 != 0)
            throw new NativeInitException($"{backingFile}: loop offset {offset} and size {sizeLimit} must be multiples of 512");
        using var backing = OpenFd(backingFile, readOnly ? Libc.O_RDONLY : Libc.O_RDWR, "open loop backing file");
        using var control = OpenControl();
        for (int attempt = 0; ; attempt++)
        {
            int n = Libc.blk_ioctl_none(control.Fd, Libc.LOOP_CTL_GET_FREE, 0);
            if (n < 0) PosixError.Throw("LOOP_CTL_GET_FREE", $"{DevRoot}/loop-control");
            string path = $"{DevRoot}/loop{n}";
            EnsureNode(path, n);
            var fd = OpenFd(path, readOnly ? Libc.O_RDONLY : Libc.O_RDWR, "open");
            try
            {
                if (TryBind(fd, backing, path, offset, sizeLimit, readOnly, sectorSize, partitionScan, out bool configured, out int busyErrno))
                {
                    var dev = new LoopDevice(n, fd, backingFile, offset, sizeLimit, sectorSize == 0 ? 512 : sectorSize, configured);
                    try { dev.Verify(); }
                    catch { dev.Dispose(); throw; }
                    return dev;
                }
                fd.Dispose();
                // Another process took this device between GET_FREE and SET_FD: try the next free one.
                if (attempt + 1 >= MaxAttempts) PosixError.Throw("attach loop device", path, busyErrno);
            }
            catch
            {
                fd.Dispose();
                throw;
            }
        }
    }

    private static unsafe bool TryBind(SafeFd fd, SafeFd backing, string path, long offset, long sizeLimit, bool readOnly,
        int sectorSize, bool partitionScan, out bool configured, out int busyErrno)
    {
        configured = false;
        busyErrno = 0;
        uint flags = Libc.LO_FLAGS_AUTOCLEAR | (readOnly ? Libc.LO_FLAGS_READ_ONLY : 0) | (partitionScan ? Libc.LO_FLAGS_PARTSCAN : 0);
        var config = new LoopConfig { Fd = (uint)backing.Fd, BlockSize = sectorSize is 0 or 512 ? 0u : (uint)sectorSize };
        FillInfo(ref config.Info, offset, sizeLimit, flags, path);
        int err = Libc.ENOTTY;
        if (!SkipLoopConfigure)
        {
            if (Libc.blk_ioctl_ptr(fd.Fd, Libc.LOOP_CONFIGURE, &config) == 0)
            {
                configured = true;
                return true;
            }
            err = PosixError.Last;
        }
        if (err == PosixError.EBUSY) { busyErrno = err; return false; }
        if (err is not (Libc.ENOTTY or PosixError.EINVAL)) PosixError.Throw("LOOP_CONFIGURE", path, err);

        // Fallback for kernels before 5.8: LOOP_SET_FD, then LOOP_SET_STATUS64 (both in 3.10).
        if (Libc.blk_ioctl_none(fd.Fd, Libc.LOOP_SET_FD, backing.Fd) < 0)
        {
            err = PosixError.Last;
            if (err == PosixError.EBUSY) { busyErrno = err; return false; }
            PosixError.Throw("LOOP_SET_FD", path, err);
        }
        var info = new LoopInfo64();
        FillInfo(ref info, offset, sizeLimit, flags & ~Libc.LO_FLAGS_READ_ONLY, path);
        if (Libc.blk_ioctl_ptr(fd.Fd, Libc.LOOP_SET_STATUS64, &info) < 0)
        {
            err = PosixError.Last;
            Libc.blk_ioctl_none(fd.Fd, Libc.LOOP_CLR_FD, 0);
            PosixError.Throw("LOOP_SET_STATUS64", path, err);
        }
        if (sectorSize is not (0 or 512) && Libc.blk_ioctl_none(fd.Fd, Libc.LOOP_SET_BLOCK_SIZE, sectorSize) < 0)
        {
            err = PosixError.Last;
            Libc.blk_ioctl_none(fd.Fd, Libc.LOOP_CLR_FD, 0);
            PosixError.Throw($"LOOP_SET_BLOCK_SIZE {sectorSize}", path, err);
        }
        return true;
    }

    private static unsafe void FillInfo(ref LoopInfo64 info, long offset, long sizeLimit, uint flags, string path)
    {
        info.Offset = (ulong)offset;
        info.SizeLimit = (ulong)sizeLimit;
        info.Flags = flags;
        var name = Encoding.UTF8.GetBytes(path);
        fixed (byte* p = info.FileName)
            name.AsSpan(0, Math.Min(name.Length, LoopInfo64.NameSize - 1)).CopyTo(new Span<byte>(p, LoopInfo64.NameSize));
    }

    /// <summary>LOOP_GET_STATUS64: the kernel took the offset and size limit asked for.</summary>
    private unsafe void Verify()
    {
        var info = new LoopInfo64();
        if (Libc.blk_ioctl_ptr(_fd!.Fd, Libc.LOOP_GET_STATUS64, &info) < 0) PosixError.Throw("LOOP_GET_STATUS64", DevicePath);
        if (info.Offset != (ulong)Offset || info.SizeLimit != (ulong)SizeLimit)
            throw new NativeInitException($"{DevicePath}: the kernel took offset {info.Offset} and size limit {info.SizeLimit}, not {Offset} and {SizeLimit}");
        // The capacity must follow too (some kernels update it only on the next open or never for a size limit).
        if (SizeLimit > 0 && Offset + SizeLimit <= new FileInfo(BackingFile).Length && DeviceSize != SizeLimit)
            throw new NativeInitException($"{DevicePath}: shows {DeviceSize} bytes, not the size limit {SizeLimit}");
    }

    /// <summary>Size of the device in bytes as the kernel reports it (BLKGETSIZE64).</summary>
    public long DeviceSize
    {
        get
        {
            if (_fd is null) throw new ObjectDisposedException(DevicePath);
            PosixError.Check(Libc.blk_ioctl_u64(_fd.Fd, Libc.BLKGETSIZE64, out ulong size), "BLKGETSIZE64", DevicePath);
            return (long)size;
        }
    }

    /// <summary>Detaches (LOOP_CLR_FD) and closes the descriptor. Idempotent; errors are swallowed (with
    /// LO_FLAGS_AUTOCLEAR the kernel detaches on the last close anyway).</summary>
    public void Detach()
    {
        var fd = Interlocked.Exchange(ref _fd, null);
        if (fd is null) return;
        for (int i = 0; i < 50; i++)
        {
            if (Libc.blk_ioctl_none(fd.Fd, Libc.LOOP_CLR_FD, 0) == 0 || PosixError.Last != PosixError.EBUSY) break;
            Thread.Sleep(20); // a short-lived opener (udev's blkid) still holds it
        }
        fd.Dispose();
        // While another process (udev's blkid, an lvm scan) holds the device open the kernel defers the detach to its
        // last close: wait a little for it so that callers see the device gone.
        string bound = Path.Combine(SysBlock, $"loop{Number}", "loop");
        for (int i = 0; i < 100 && Directory.Exists(bound); i++) Thread.Sleep(20);
    }

    /// <summary>/sys/block (tests may point elsewhere).</summary>
    internal static string SysBlock = "/sys/block";

    public void Dispose() => Detach();

    private static SafeFd OpenControl()
    {
        string path = $"{DevRoot}/loop-control";
        if (!File.Exists(path))
        {
            // devtmpfs without the node: misc major 10, minor 237 (LOOP_CTRL_MINOR).
            if (Libc.blk_mknod(path, 0x2000 /*S_IFCHR*/ | 0x180, Libc.MakeDev(10, 237)) < 0 && PosixError.Last != PosixError.EEXIST)
                PosixError.Throw("mknod", path);
        }
        return OpenFd(path, Libc.O_RDWR, "open");
    }

    private static void EnsureNode(string path, int n)
    {
        if (File.Exists(path)) return;
        if (Libc.blk_mknod(path, Libc.S_IFBLK | 0x1B0 /*0660*/, Libc.MakeDev(Libc.LoopMajor, (uint)n)) < 0 && PosixError.Last != PosixError.EEXIST)
            PosixError.Throw("mknod", path);
    }

    private static SafeFd OpenFd(string path, int flags, string what)
    {
        int fd = Libc.blk_open(path, flags | Libc.O_CLOEXEC, 0);
        if (fd < 0) PosixError.Throw(what, path);
        return new SafeFd(fd);
    }

    public override string ToString() => $"{DevicePath} ({BackingFile} @{Offset}+{(SizeLimit == 0 ? "end" : SizeLimit.ToString(System.Globalization.CultureInfo.InvariantCulture))})";
}

/// <summary>Owns several loop devices (the whole disk, each partition, each LV) and detaches them all, in reverse
/// order, on Dispose — on errors too.</summary>
public sealed class LoopDeviceSet : IDisposable
{
    private readonly List<LoopDevice> _devices = [];

    public IReadOnlyList<LoopDevice> Devices => _devices;

    /// <summary>Attaches one more device and keeps it (see <see cref="LoopDevice.Attach"/>).</summary>
    public LoopDevice Attach(string backingFile, long offset = 0, long sizeLimit = 0, bool readOnly = false, int sectorSize = 0,
        bool partitionScan = false)
    {
        var d = LoopDevice.Attach(backingFile, offset, sizeLimit, readOnly, sectorSize, partitionScan);
        _devices.Add(d);
        return d;
    }

    /// <summary>Attaches partition <paramref name="number"/> of <paramref name="table"/> inside the image file
    /// <paramref name="image"/> (offset and size from the table; the device keeps the table's sector size).</summary>
    public LoopDevice AttachPartition(string image, Gpt.GptTable table, int number, bool readOnly = false)
    {
        var p = table.Find(number) ?? throw new NativeInitException($"{image}: the partition table has no partition {number}");
        return Attach(image, p.ByteOffset(table.SectorSize), p.ByteLength(table.SectorSize), readOnly,
            table.SectorSize == 512 ? 0 : table.SectorSize);
    }

    public void Dispose()
    {
        for (int i = _devices.Count - 1; i >= 0; i--) _devices[i].Dispose();
        _devices.Clear();
    }
}
