using System.Buffers.Binary;

namespace NativeInit.Core.Platform;

/// <summary>One extent of a file as FIEMAP reports it: file offset, byte offset on the file system's device, length,
/// and the FIEMAP_EXTENT_* flags.</summary>
public readonly record struct FileExtent(long Logical, long Physical, long Length, uint Flags)
{
    public bool IsLast => (Flags & FileExtents.FlagLast) != 0;
}

/// <summary>
/// FS_IOC_FIEMAP (linux Documentation/filesystems/fiemap.rst): where a file's bytes lie on its device. Stage two
/// reads the staged bundle through these extents from the raw disk, so an extent whose bytes are not plainly there
/// (unknown, delayed allocation, encoded, encrypted, inline, tail-packed, unwritten) is named by <see cref="Unusable"/>.
/// </summary>
public static unsafe class FileExtents
{
    // struct fiemap: fm_start u64 @0, fm_length u64 @8, fm_flags u32 @16, fm_mapped_extents u32 @20,
    // fm_extent_count u32 @24, fm_reserved u32 @28; then the extents (fiemap.h).
    private const int FmStartOffset = 0, FmLengthOffset = 8, FmFlagsOffset = 16, FmMappedExtentsOffset = 20, FmExtentCountOffset = 24,
        FmHeaderLength = 32;
    // struct fiemap_extent: fe_logical u64 @0, fe_physical u64 @8, fe_length u64 @16, fe_reserved64[2] @24,
    // fe_flags u32 @40, fe_reserved[3] @44; 56 bytes.
    private const int FeLogicalOffset = 0, FePhysicalOffset = 8, FeLengthOffset = 16, FeFlagsOffset = 40, FeLength = 56;
    private const int ExtentsPerCall = 256;

    /// <summary>FIEMAP_FLAG_SYNC: write dirty data before mapping.</summary>
    public const uint FlagSync = 0x1;
    public const uint FlagLast = 0x1, FlagUnknown = 0x2, FlagDelalloc = 0x4, FlagEncoded = 0x8, FlagEncrypted = 0x80,
        FlagNotAligned = 0x100, FlagInline = 0x200, FlagTail = 0x400, FlagUnwritten = 0x800, FlagMerged = 0x1000, FlagShared = 0x2000;

    /// <summary>Every extent of the file at <paramref name="path"/>, in file order.</summary>
    public static List<FileExtent> Map(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        int fd = (int)handle.DangerousGetHandle();
        var result = new List<FileExtent>();
        var buffer = new byte[FmHeaderLength + ExtentsPerCall * FeLength];
        long start = 0;
        while (true)
        {
            Array.Clear(buffer);
            BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(FmStartOffset), (ulong)start);
            BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(FmLengthOffset), ulong.MaxValue - (ulong)start);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FmFlagsOffset), FlagSync);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(FmExtentCountOffset), ExtentsPerCall);
            fixed (byte* p = buffer)
                PosixError.Check(Libc.fiemap_ioctl(fd, Libc.FS_IOC_FIEMAP, p), "ioctl FS_IOC_FIEMAP", path);
            uint mapped = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(FmMappedExtentsOffset));
            if (mapped == 0) return result;
            bool last = false;
            for (int i = 0; i < mapped; i++)
            {
                var e = buffer.AsSpan(FmHeaderLength + i * FeLength, FeLength);
                var x = new FileExtent((long)BinaryPrimitives.ReadUInt64LittleEndian(e[FeLogicalOffset..]),
                    (long)BinaryPrimitives.ReadUInt64LittleEndian(e[FePhysicalOffset..]),
                    (long)BinaryPrimitives.ReadUInt64LittleEndian(e[FeLengthOffset..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(e[FeFlagsOffset..]));
                result.Add(x);
                start = x.Logical + x.Length;
                last |= x.IsLast;
            }
            if (last) return result;
        }
    }

    /// <summary>The names of the flags that make an extent unreadable from the raw device, or null when it is plain.</summary>
    public static string? Unusable(uint flags)
    {
        var names = new List<string>();
        if ((flags & FlagUnknown) != 0) names.Add("UNKNOWN");
        if ((flags & FlagDelalloc) != 0) names.Add("DELALLOC");
        if ((flags & FlagEncoded) != 0) names.Add("ENCODED");
        if ((flags & FlagEncrypted) != 0) names.Add("DATA_ENCRYPTED");
        if ((flags & FlagNotAligned) != 0) names.Add("NOT_ALIGNED");
        if ((flags & FlagInline) != 0) names.Add("DATA_INLINE");
        if ((flags & FlagTail) != 0) names.Add("DATA_TAIL");
        if ((flags & FlagUnwritten) != 0) names.Add("UNWRITTEN");
        return names.Count == 0 ? null : string.Join("|", names);
    }
}
