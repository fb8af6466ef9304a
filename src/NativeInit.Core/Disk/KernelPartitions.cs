using System.Text;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Disk;

/// <summary>How the kernel was told about a new partition table.</summary>
public enum KernelNotification
{
    /// <summary>An image file: nothing to tell.</summary>
    NotABlockDevice,
    /// <summary>BLKRRPART re-read the whole table.</summary>
    Reread,
    /// <summary>The disk was busy: partitions were deleted and added one by one with BLKPG.</summary>
    PartitionByPartition,
    /// <summary>The device does not carry partitions (EINVAL from BLKRRPART: a loop device without partition
    /// scanning, a device-mapper device); reach the partitions with loop devices at their offsets instead.</summary>
    NoPartitionSupport,
}

/// <summary>
/// Tells the kernel about a new partition table and waits for the partition device nodes (fs.h BLKRRPART, blkpg.h
/// BLKPG_DEL_PARTITION / BLKPG_ADD_PARTITION). Without udev (an initramfs without it) missing /dev nodes are made
/// with mknod from the major:minor in sysfs.
/// </summary>
public static class KernelPartitions
{
    /// <summary>Where device nodes are created.</summary>
    internal static string DevRoot = "/dev";

    /// <summary>
    /// BLKRRPART; when the disk is busy (EBUSY: something holds one of its partitions), deletes the partitions the
    /// kernel knows and adds those of <paramref name="table"/> with BLKPG. Then waits up to <paramref name="timeout"/>
    /// (default 10 s) for /sys/class/block and /dev to show every partition. A no-op on an image file.
    /// </summary>
    public static KernelNotification Notify(DiskDevice disk, GptTable table, TimeSpan? timeout = null)
    {
        if (!disk.IsBlockDevice || disk.KernelName is null) return KernelNotification.NotABlockDevice;
        var how = KernelNotification.Reread;
        disk.Flush();
        Libc.blk_ioctl_none(disk.RawFd, Libc.BLKFLSBUF, 0);
        if (!Retry(() => Libc.blk_ioctl_none(disk.RawFd, Libc.BLKRRPART, 0), 5, 200, out int rrErr))
        {
            int err = rrErr;
            if (err == PosixError.EINVAL) return KernelNotification.NoPartitionSupport;
            if (err != PosixError.EBUSY) PosixError.Throw("BLKRRPART", disk.Path, err);
            UpdateOneByOne(disk, table);
            how = KernelNotification.PartitionByPartition;
        }
        else if (!SysfsMatches(disk.KernelName, table, TimeSpan.FromMilliseconds(500)))
        {
            // The re-read succeeded but the kernel shows other partitions (a kernel built without the GPT parser; the
            // re-read creates the sysfs entries before BLKRRPART returns, so a short wait suffices):
            // fix them up one by one.
            UpdateOneByOne(disk, table);
            how = KernelNotification.PartitionByPartition;
        }
        WaitForNodes(disk.KernelName, table.Partitions.Select(p => p.Number), timeout ?? TimeSpan.FromSeconds(10));
        // A partition kept from before has its own page cache, which may still hold what was there before the wipes
        // (written through the whole disk): drop it so blkid, mkfs and lvm read the disk.
        foreach (var p in table.Partitions) DropCache(Path.Combine(DevRoot, BlockDeviceInfo.PartitionName(disk.KernelName, p.Number)));
        return how;
    }

    /// <summary>BLKFLSBUF on a block device node: write back and invalidate its buffer cache. Errors are ignored.</summary>
    public static void DropCache(string devicePath)
    {
        int raw = Libc.blk_open(devicePath, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (raw < 0) return;
        using var fd = new SafeFd(raw);
        Libc.blk_ioctl_none(fd.Fd, Libc.BLKFLSBUF, 0);
    }

    /// <summary>Polls sysfs until the kernel's partitions of the disk are exactly those of the table (number, start, size).</summary>
    private static bool SysfsMatches(string disk, GptTable table, TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            var have = BlockDeviceInfo.Partitions(disk);
            bool ok = have.Count == table.Partitions.Count && have.All(h =>
                table.Find(h.Number) is { } p && SysfsRange(disk, h.Name) is var (start, size)
                && start == p.ByteOffset(table.SectorSize) && size == p.ByteLength(table.SectorSize));
            if (ok) return true;
            if (DateTime.UtcNow >= deadline) return false;
            Thread.Sleep(50);
        }
    }

    private static unsafe void UpdateOneByOne(DiskDevice disk, GptTable table)
    {
        int ss = table.SectorSize;
        foreach (var (name, number) in BlockDeviceInfo.Partitions(disk.KernelName!))
        {
            var want = table.Find(number);
            var have = SysfsRange(disk.KernelName!, name);
            if (want is not null && have is var (start, size) && start == want.ByteOffset(ss))
            {
                if (size == want.ByteLength(ss)) continue; // unchanged
                // Same start, other end (a partition grown into the free space, perhaps in use): resize in place
                // (BLKPG_RESIZE_PARTITION, Linux 3.6+).
                var grown = new BlkpgPartition { Start = start, Length = want.ByteLength(ss), PartitionNumber = number };
                var rarg = new BlkpgIoctlArg { Op = Libc.BLKPG_RESIZE_PARTITION, DataLength = BlkpgPartition.Size, Data = &grown };
                if (Libc.blk_ioctl_ptr(disk.RawFd, Libc.BLKPG, &rarg) == 0) continue;
                if (PosixError.Last != PosixError.EINVAL) PosixError.Throw($"BLKPG resize partition {number} ({name})", disk.Path);
            }
            var part = new BlkpgPartition { PartitionNumber = number };
            var arg = new BlkpgIoctlArg { Op = Libc.BLKPG_DEL_PARTITION, DataLength = BlkpgPartition.Size, Data = &part };
            var argPtr = &arg;
            if (!Retry(() => Libc.blk_ioctl_ptr(disk.RawFd, Libc.BLKPG, argPtr), 10, 100, out int delErr))
                PosixError.Throw($"BLKPG delete partition {number} ({name})", disk.Path, delErr);
        }
        var present = BlockDeviceInfo.Partitions(disk.KernelName!).Select(p => p.Number).ToHashSet();
        foreach (var p in table.Partitions)
        {
            if (present.Contains(p.Number)) continue;
            var part = new BlkpgPartition { Start = p.ByteOffset(ss), Length = p.ByteLength(ss), PartitionNumber = p.Number };
            var devname = Encoding.UTF8.GetBytes(BlockDeviceInfo.PartitionName(disk.KernelName!, p.Number));
            devname.AsSpan(0, Math.Min(devname.Length, 63)).CopyTo(new Span<byte>(part.DevName, 64));
            var arg = new BlkpgIoctlArg { Op = Libc.BLKPG_ADD_PARTITION, DataLength = BlkpgPartition.Size, Data = &part };
            if (Libc.blk_ioctl_ptr(disk.RawFd, Libc.BLKPG, &arg) < 0) PosixError.Throw($"BLKPG add partition {p.Number}", disk.Path);
        }
    }

    /// <summary>Runs an ioctl until it succeeds or fails with something other than EBUSY (udev's short-lived probes
    /// hold partitions open for a moment after every change).</summary>
    private static bool Retry(Func<int> ioctl, int attempts, int sleepMs, out int errno)
    {
        for (int i = 0; ; i++)
        {
            if (ioctl() == 0) { errno = 0; return true; }
            errno = PosixError.Last;
            if (errno != PosixError.EBUSY || i + 1 >= attempts) return false;
            Thread.Sleep(sleepMs);
        }
    }

    /// <summary>(start, size) in bytes of a partition as sysfs shows it (in 512-byte units there).</summary>
    private static (long Start, long Size)? SysfsRange(string disk, string part)
    {
        string dir = Path.Combine(BlockDeviceInfo.SysRoot, "block", disk, part);
        try
        {
            long start = long.Parse(File.ReadAllText(Path.Combine(dir, "start")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            long size = long.Parse(File.ReadAllText(Path.Combine(dir, "size")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            return (start * 512, size * 512);
        }
        catch (IOException) { return null; }
        catch (FormatException) { return null; }
    }

    /// <summary>Polls until every partition of <paramref name="diskKernelName"/> in <paramref name="numbers"/> is in
    /// /sys/class/block and has a /dev node (made with mknod when udev does not make it within a second).</summary>
    public static void WaitForNodes(string diskKernelName, IEnumerable<int> numbers, TimeSpan timeout)
    {
        var names = numbers.Select(n => BlockDeviceInfo.PartitionName(diskKernelName, n)).ToList();
        var deadline = DateTime.UtcNow + timeout;
        var mknodAfter = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        while (true)
        {
            var missing = new List<string>();
            foreach (var name in names)
            {
                string? dev = BlockDeviceInfo.DevNumber(name);
                string node = Path.Combine(DevRoot, name);
                if (dev is null) { missing.Add($"{name} (not in sysfs)"); continue; }
                if (File.Exists(node)) continue;
                if (DateTime.UtcNow >= mknodAfter && TryMknod(node, dev)) continue;
                missing.Add($"{node} (no device node)");
            }
            if (missing.Count == 0) return;
            if (DateTime.UtcNow >= deadline)
                throw new NativeInitException($"{diskKernelName}: partitions did not appear within {timeout.TotalSeconds:0} s: {string.Join(", ", missing)}");
            Thread.Sleep(50);
        }
    }

    private static bool TryMknod(string node, string majorMinor)
    {
        var parts = majorMinor.Split(':');
        if (parts.Length != 2 || !uint.TryParse(parts[0], out uint major) || !uint.TryParse(parts[1], out uint minor)) return false;
        return Libc.blk_mknod(node, Libc.S_IFBLK | 0x1B0, Libc.MakeDev(major, minor)) == 0 || PosixError.Last == PosixError.EEXIST;
    }
}
