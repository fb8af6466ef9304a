using System.Globalization;
using NativeInit.Core.Platform;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Platform;

/// <summary>The FIEMAP argument layout and flags of <see cref="FileMapping"/> against linux/fiemap.h and linux/fs.h,
/// compiled with gcc (the same oracle as Disk/KernelStructs.Tests.cs).</summary>
public class FileMappingTests
{
    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Layout_flags_and_request_match_the_kernel_headers()
    {
        Tool.Require("gcc");
        using var dir = new TempDir();
        File.WriteAllText(dir.Combine("s.c"), """
            #include <stdio.h>
            #include <stddef.h>
            #include <linux/fs.h>
            #include <linux/fiemap.h>
            #define P(name, v) printf("%s=%lu\n", name, (unsigned long)(v))
            int main(void) {
              P("fm_start", offsetof(struct fiemap, fm_start));
              P("fm_length", offsetof(struct fiemap, fm_length));
              P("fm_flags", offsetof(struct fiemap, fm_flags));
              P("fm_mapped_extents", offsetof(struct fiemap, fm_mapped_extents));
              P("fm_extent_count", offsetof(struct fiemap, fm_extent_count));
              P("fm_extents", offsetof(struct fiemap, fm_extents));
              P("fe_logical", offsetof(struct fiemap_extent, fe_logical));
              P("fe_physical", offsetof(struct fiemap_extent, fe_physical));
              P("fe_length", offsetof(struct fiemap_extent, fe_length));
              P("fe_flags", offsetof(struct fiemap_extent, fe_flags));
              P("fiemap_extent", sizeof(struct fiemap_extent));
              P("FS_IOC_FIEMAP", FS_IOC_FIEMAP);
              P("FIEMAP_FLAG_SYNC", FIEMAP_FLAG_SYNC);
              P("LAST", FIEMAP_EXTENT_LAST); P("UNKNOWN", FIEMAP_EXTENT_UNKNOWN); P("DELALLOC", FIEMAP_EXTENT_DELALLOC);
              P("ENCODED", FIEMAP_EXTENT_ENCODED); P("ENCRYPTED", FIEMAP_EXTENT_DATA_ENCRYPTED);
              P("NOT_ALIGNED", FIEMAP_EXTENT_NOT_ALIGNED); P("INLINE", FIEMAP_EXTENT_DATA_INLINE); P("TAIL", FIEMAP_EXTENT_DATA_TAIL);
              P("UNWRITTEN", FIEMAP_EXTENT_UNWRITTEN); P("MERGED", FIEMAP_EXTENT_MERGED); P("SHARED", FIEMAP_EXTENT_SHARED);
              return 0;
            }
            """);
        Tool.Check("gcc", "-o", dir.Combine("s"), dir.Combine("s.c"));
        var c = Tool.Check(dir.Combine("s")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=')).ToDictionary(p => p[0], p => ulong.Parse(p[1], CultureInfo.InvariantCulture));
        Assert.Equal((ulong)FileMapping.FiemapStartOffset, c["fm_start"]);
        Assert.Equal((ulong)FileMapping.FiemapLengthOffset, c["fm_length"]);
        Assert.Equal((ulong)FileMapping.FiemapFlagsOffset, c["fm_flags"]);
        Assert.Equal((ulong)FileMapping.FiemapMappedExtentsOffset, c["fm_mapped_extents"]);
        Assert.Equal((ulong)FileMapping.FiemapExtentCountOffset, c["fm_extent_count"]);
        Assert.Equal((ulong)FileMapping.FiemapExtentsOffset, c["fm_extents"]);
        Assert.Equal((ulong)FileMapping.FiemapExtentLogicalOffset, c["fe_logical"]);
        Assert.Equal((ulong)FileMapping.FiemapExtentPhysicalOffset, c["fe_physical"]);
        Assert.Equal((ulong)FileMapping.FiemapExtentLengthOffset, c["fe_length"]);
        Assert.Equal((ulong)FileMapping.FiemapExtentFlagsOffset, c["fe_flags"]);
        Assert.Equal((ulong)FileMapping.FiemapExtentSize, c["fiemap_extent"]);
        Assert.Equal((ulong)Libc.FS_IOC_FIEMAP, c["FS_IOC_FIEMAP"]);
        Assert.Equal((ulong)FileMapping.FIEMAP_FLAG_SYNC, c["FIEMAP_FLAG_SYNC"]);
        Assert.Equal((ulong)FileMapping.ExtentLast, c["LAST"]);
        Assert.Equal((ulong)FileMapping.ExtentUnknown, c["UNKNOWN"]);
        Assert.Equal((ulong)FileMapping.ExtentDelalloc, c["DELALLOC"]);
        Assert.Equal((ulong)FileMapping.ExtentEncoded, c["ENCODED"]);
        Assert.Equal((ulong)FileMapping.ExtentDataEncrypted, c["ENCRYPTED"]);
        Assert.Equal((ulong)FileMapping.ExtentNotAligned, c["NOT_ALIGNED"]);
        Assert.Equal((ulong)FileMapping.ExtentDataInline, c["INLINE"]);
        Assert.Equal((ulong)FileMapping.ExtentDataTail, c["TAIL"]);
        Assert.Equal((ulong)FileMapping.ExtentUnwritten, c["UNWRITTEN"]);
        Assert.Equal((ulong)FileMapping.ExtentMerged, c["MERGED"]);
        Assert.Equal((ulong)FileMapping.ExtentShared, c["SHARED"]);
    }
}
