using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

// Block device ioctls and the few libc calls the disk layer needs.
// Specifications: linux include/uapi/linux/fs.h (BLKRRPART, BLKGETSIZE64, BLKSSZGET, BLKPBSZGET, BLKFLSBUF, BLKPG),
// include/uapi/linux/blkpg.h (struct blkpg_ioctl_arg, struct blkpg_partition).
// The P/Invoke names carry a "blk_" prefix (EntryPoint names the libc symbol) so that they cannot collide with
// declarations of the same libc function in other areas' Libc.*.cs files (ioctl is variadic: one typed entry per use).
internal static partial class Libc
{
    /// <summary>_IO(0x12,95): re-read the partition table (fs.h).</summary>
    internal const uint BLKRRPART = 0x125F;
    /// <summary>_IO(0x12,97): flush buffers (fs.h).</summary>
    internal const uint BLKFLSBUF = 0x1261;
    /// <summary>_IO(0x12,104): logical sector size, int (fs.h).</summary>
    internal const uint BLKSSZGET = 0x1268;
    /// <summary>_IO(0x12,105): partition add/delete, struct blkpg_ioctl_arg (fs.h, blkpg.h).</summary>
    internal const uint BLKPG = 0x1269;
    /// <summary>_IO(0x12,123): physical sector size, unsigned int (fs.h).</summary>
    internal const uint BLKPBSZGET = 0x127B;
    /// <summary>_IOR(0x12,114,size_t): device size in bytes, u64 (fs.h).</summary>
    internal const uint BLKGETSIZE64 = 0x80081272;

    /// <summary>blkpg.h op codes.</summary>
    internal const int BLKPG_ADD_PARTITION = 1, BLKPG_DEL_PARTITION = 2, BLKPG_RESIZE_PARTITION = 3;

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int blk_ioctl_none(int fd, nuint request, nint zero);

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int blk_ioctl_u64(int fd, nuint request, out ulong value);

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int blk_ioctl_int(int fd, nuint request, out int value);

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int blk_ioctl_ptr(int fd, nuint request, void* arg);

    [LibraryImport(Name, EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int blk_mknod(string path, uint mode, ulong dev);

    [LibraryImport(Name, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int blk_open(string path, int flags, uint mode);

    /// <summary>flock(2) operations (sys/file.h).</summary>
    internal const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;

    [LibraryImport(Name, EntryPoint = "flock", SetLastError = true)]
    internal static partial int blk_flock(int fd, int operation);

    // open(2) flags and S_IF* file types are declared once, in Libc.File.cs.

    /// <summary>gnu_dev_makedev as glibc encodes it (12-bit major / 20-bit minor split).</summary>
    internal static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfff) << 8) | ((ulong)(major & ~0xfffu) << 32) | (minor & 0xff) | ((ulong)(minor & ~0xffu) << 12);
}

/// <summary>struct blkpg_partition (blkpg.h): long long start, length; int pno; char devname[64], volname[64].</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct BlkpgPartition
{
    internal const int Size = 152; // 8 + 8 + 4 + 64 + 64 = 148, padded to the alignment of long long
    [FieldOffset(0)] public long Start;
    [FieldOffset(8)] public long Length;
    [FieldOffset(16)] public int PartitionNumber;
    [FieldOffset(20)] public fixed byte DevName[64];
    [FieldOffset(84)] public fixed byte VolName[64];
}

/// <summary>struct blkpg_ioctl_arg (blkpg.h): int op, flags, datalen; void *data.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct BlkpgIoctlArg
{
    internal const int Size = 24;
    [FieldOffset(0)] public int Op;
    [FieldOffset(4)] public int Flags;
    [FieldOffset(8)] public int DataLength;
    [FieldOffset(16)] public void* Data;
}

internal static partial class Libc
{
    [LibraryImport(Name, EntryPoint = "fsync", SetLastError = true)]
    internal static partial int blk_fsync(int fd);
}
