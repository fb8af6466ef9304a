using Microsoft.Win32.SafeHandles;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Disk;

/// <summary>
/// A disk to read or write: a block device (/dev/sda, /dev/loop3) or a disk image file. Size and sector sizes come
/// from BLKGETSIZE64 / BLKSSZGET / BLKPBSZGET for a block device, from the file length and the sector size the caller
/// names (512 by default) for an image.
/// </summary>
public sealed class DiskDevice : IDisposable
{
    private readonly SafeFileHandle _handle;

    private DiskDevice(string path, SafeFileHandle handle, bool isBlock, long size, int logical, int physical, bool writable)
    {
        Path = path;
        _handle = handle;
        IsBlockDevice = isBlock;
        SizeBytes = size;
        LogicalSectorSize = logical;
        PhysicalSectorSize = physical;
        IsWritable = writable;
        if (isBlock) KernelName = BlockDeviceInfo.KernelNameOf(path);
    }

    /// <summary>The path given to <see cref="Open"/>.</summary>
    public string Path { get; }
    /// <summary>True for a block device, false for an image file.</summary>
    public bool IsBlockDevice { get; }
    public bool IsWritable { get; }
    /// <summary>Size in bytes.</summary>
    public long SizeBytes { get; }
    /// <summary>Logical sector size: the unit of every LBA.</summary>
    public int LogicalSectorSize { get; }
    public int PhysicalSectorSize { get; }
    /// <summary>Whole logical sectors on the disk.</summary>
    public ulong Sectors => (ulong)(SizeBytes / LogicalSectorSize);
    /// <summary>Kernel name of a block device (sda, loop3, nvme0n1), null for an image file.</summary>
    public string? KernelName { get; }
    /// <summary>The open descriptor (for ioctls in Disk/).</summary>
    internal SafeFileHandle Handle => _handle;

    /// <summary>Opens <paramref name="path"/>. <paramref name="imageSectorSize"/> is the logical sector size used for an
    /// image file (a block device reports its own and the value is ignored).</summary>
    public static DiskDevice Open(string path, bool writable, int imageSectorSize = 512)
    {
        if (imageSectorSize is not (512 or 1024 or 2048 or 4096))
            throw new UsageException($"{path}: sector size {imageSectorSize} is not 512, 1024, 2048 or 4096");
        int fd = Libc.blk_open(path, (writable ? Libc.O_RDWR : Libc.O_RDONLY) | Libc.O_CLOEXEC, 0);
        if (fd < 0) PosixError.Throw(writable ? "open for writing" : "open", path);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            if (Libc.blk_ioctl_u64(fd, Libc.BLKGETSIZE64, out ulong size) == 0)
            {
                PosixError.Check(Libc.blk_ioctl_int(fd, Libc.BLKSSZGET, out int logical), "BLKSSZGET", path);
                int physical = Libc.blk_ioctl_int(fd, Libc.BLKPBSZGET, out int p) == 0 && p > 0 ? p : logical;
                return new DiskDevice(path, handle, true, (long)size, logical, physical, writable);
            }
            if (PosixError.Last is not (Libc.ENOTTY or PosixError.EINVAL)) PosixError.Throw("BLKGETSIZE64", path);
            if (Directory.Exists(path)) throw new NativeInitException($"{path}: is a directory, not a disk or an image file");
            long length = RandomAccess.GetLength(handle);
            return new DiskDevice(path, handle, false, length, imageSectorSize, imageSectorSize, writable);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes the BSD lock (flock(2), LOCK_EX) on a whole-disk block device for as long as this handle is open, as
    /// systemd's "Locking Block Device Access" asks of a program that rewrites a disk: udev then does not re-read its
    /// partition table when one of our writers closes it. Such a re-read removes and adds the partitions; with the PV's
    /// partition gone a device-mapper table load failed (ENOENT), and one loaded just before it failed every write
    /// (EIO): both seen in a dracut conversion in QEMU, where udev runs. udev itself holds the lock (shared) while it
    /// probes, so it is tried again for up to 10 s. Nothing for an image file. Our own opens of the same disk (GRUB's
    /// install, loop devices over it) do not lock and are not held up by it.
    /// </summary>
    public void LockAgainstRescans()
    {
        if (!IsBlockDevice) return;
        for (int attempt = 0; !BootCalls.TryLock(_handle, exclusive: true); attempt++)
        {
            if (attempt >= 100) throw new NativeInitException($"{Path}: another process holds a lock on the disk (flock) for more than 10 s");
            Thread.Sleep(100);
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>.</summary>
    public void ReadAt(long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset + buffer.Length > SizeBytes) ThrowOutside(offset, buffer.Length);
        while (buffer.Length > 0)
        {
            int n = RandomAccess.Read(_handle, buffer, offset);
            if (n <= 0) throw new NativeInitException($"{Path}: short read at byte {offset}");
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> (inside the disk).</summary>
    public void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        if (!IsWritable) throw new InvalidOperationException($"{Path} was opened read-only");
        if (offset < 0 || offset + data.Length > SizeBytes) ThrowOutside(offset, data.Length);
        RandomAccess.Write(_handle, data, offset);
    }

    /// <summary>Writes zeros over [offset, offset+length), clipped to the disk.</summary>
    public void ZeroRange(long offset, long length)
    {
        if (offset < 0) { length += offset; offset = 0; }
        if (offset + length > SizeBytes) length = SizeBytes - offset;
        if (length <= 0) return;
        byte[] zeros = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(length, 1 << 20));
        try
        {
            Array.Clear(zeros);
            while (length > 0)
            {
                int n = (int)Math.Min(length, zeros.Length);
                WriteAt(offset, zeros.AsSpan(0, n));
                offset += n;
                length -= n;
            }
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(zeros); }
    }

    /// <summary>fsync: the data written so far is on the disk (or in the image file).</summary>
    public void Flush()
    {
        bool added = false;
        _handle.DangerousAddRef(ref added);
        try { PosixError.Check(Libc.blk_fsync((int)_handle.DangerousGetHandle()), "fsync", Path); }
        finally { if (added) _handle.DangerousRelease(); }
    }

    internal int RawFd => (int)_handle.DangerousGetHandle();

    private void ThrowOutside(long offset, long length) =>
        throw new NativeInitException($"{Path}: bytes {offset}..{offset + length} lie outside the disk ({SizeBytes} bytes)");

    public void Dispose() => _handle.Dispose();
}
