using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace NativeInit.Core.Platform;

/// <summary>One extent of a file as FS_IOC_FIEMAP reports it: <paramref name="Logical"/> is the offset in the file,
/// <paramref name="Physical"/> the offset on the filesystem's block device, <paramref name="Flags"/> the
/// FIEMAP_EXTENT_* bits (see <see cref="FileMapping"/>).</summary>
public readonly record struct PhysicalExtent(long Logical, long Physical, long Length, uint Flags);

/// <summary>The FS_IOC_FIEMAP ioctl (Libc.Fiemap.cs): where a file's bytes lie on its block device. Layout of the
/// argument per linux include/uapi/linux/fiemap.h.</summary>
public static unsafe class FileMapping
{
    /// <summary>struct fiemap: fm_start u64 @0, fm_length u64 @8, fm_flags u32 @16, fm_mapped_extents u32 @20,
    /// fm_extent_count u32 @24, fm_reserved u32 @28, fm_extents[] @32.</summary>
    internal const int FiemapStartOffset = 0, FiemapLengthOffset = FiemapStartOffset + 8, FiemapFlagsOffset = FiemapLengthOffset + 8,
        FiemapMappedExtentsOffset = FiemapFlagsOffset + 4, FiemapExtentCountOffset = FiemapMappedExtentsOffset + 4,
        FiemapReservedOffset = FiemapExtentCountOffset + 4, FiemapExtentsOffset = FiemapReservedOffset + 4;

    /// <summary>struct fiemap_extent: fe_logical u64 @0, fe_physical u64 @8, fe_length u64 @16, fe_reserved64[2] @24,
    /// fe_flags u32 @40, fe_reserved[3] @44; 56 bytes.</summary>
    internal const int FiemapExtentLogicalOffset = 0, FiemapExtentPhysicalOffset = FiemapExtentLogicalOffset + 8,
        FiemapExtentLengthOffset = FiemapExtentPhysicalOffset + 8, FiemapExtentReserved64Offset = FiemapExtentLengthOffset + 8,
        FiemapExtentFlagsOffset = FiemapExtentReserved64Offset + 16, FiemapExtentReservedOffset = FiemapExtentFlagsOffset + 4,
        FiemapExtentSize = FiemapExtentReservedOffset + 12;

    /// <summary>FIEMAP_FLAG_SYNC: write the file's dirty pages out first, so delayed allocations get their place.</summary>
    internal const uint FIEMAP_FLAG_SYNC = 0x1;

    /// <summary>FIEMAP_EXTENT_* flags (fiemap.h).</summary>
    public const uint ExtentLast = 0x1, ExtentUnknown = 0x2, ExtentDelalloc = 0x4, ExtentEncoded = 0x8,
        ExtentDataEncrypted = 0x80, ExtentNotAligned = 0x100, ExtentDataInline = 0x200, ExtentDataTail = 0x400,
        ExtentUnwritten = 0x800, ExtentMerged = 0x1000, ExtentShared = 0x2000;

    private const int Batch = 256;

    /// <summary>Every extent of the open file, in file order, after syncing its dirty pages (FIEMAP_FLAG_SYNC).
    /// Throws <see cref="PosixException"/> (EOPNOTSUPP, ENOTTY on filesystems without FIEMAP, such as tmpfs).</summary>
    public static List<PhysicalExtent> Read(SafeFileHandle file, string what)
    {
        var result = new List<PhysicalExtent>();
        var buffer = new byte[FiemapExtentsOffset + Batch * FiemapExtentSize];
        ulong start = 0;
        while (true)
        {
            buffer.AsSpan().Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(FiemapStartOffset), start);
            BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(FiemapLengthOffset), ulong.MaxValue - start);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FiemapFlagsOffset), FIEMAP_FLAG_SYNC);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FiemapExtentCountOffset), Batch);
            int rc;
            bool added = false;
            file.DangerousAddRef(ref added);
            try
            {
                fixed (byte* p = buffer) rc = Libc.fiemap_ioctl((int)file.DangerousGetHandle(), Libc.FS_IOC_FIEMAP, p);
            }
            finally { if (added) file.DangerousRelease(); }
            if (rc < 0) PosixError.Throw("ioctl FS_IOC_FIEMAP", what);
            uint mapped = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(FiemapMappedExtentsOffset));
            if (mapped == 0) return result;
            bool last = false;
            for (int i = 0; i < mapped; i++)
            {
                var e = buffer.AsSpan(FiemapExtentsOffset + i * FiemapExtentSize, FiemapExtentSize);
                var x = new PhysicalExtent(
                    (long)BinaryPrimitives.ReadUInt64LittleEndian(e[FiemapExtentLogicalOffset..]),
                    (long)BinaryPrimitives.ReadUInt64LittleEndian(e[FiemapExtentPhysicalOffset..]),
                    (long)BinaryPrimitives.ReadUInt64LittleEndian(e[FiemapExtentLengthOffset..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(e[FiemapExtentFlagsOffset..]));
                result.Add(x);
                last |= (x.Flags & ExtentLast) != 0;
                start = (ulong)(x.Logical + x.Length);
            }
            if (last) return result;
        }
    }

    /// <summary>The names of the set FIEMAP_EXTENT_* flags ("last" left out), e.g. "unwritten, shared".</summary>
    public static string FlagNames(uint flags)
    {
        var names = new List<string>();
        foreach (var (bit, name) in new (uint, string)[]
                 {
                     (ExtentUnknown, "unknown"), (ExtentDelalloc, "delalloc"), (ExtentEncoded, "encoded"),
                     (ExtentDataEncrypted, "encrypted"), (ExtentNotAligned, "not_aligned"), (ExtentDataInline, "inline"),
                     (ExtentDataTail, "tail"), (ExtentUnwritten, "unwritten"), (ExtentMerged, "merged"), (ExtentShared, "shared"),
                 })
            if ((flags & bit) != 0) names.Add(name);
        return string.Join(", ", names);
    }
}
