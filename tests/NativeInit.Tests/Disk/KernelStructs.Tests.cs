using System.Globalization;
using System.Runtime.CompilerServices;
using NativeInit.Core.Platform;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Disk;

/// <summary>The loop and blkpg structures and ioctl numbers of Platform/ against the kernel's own headers
/// (linux/loop.h, linux/blkpg.h, linux/fs.h), compiled with gcc.</summary>
public class KernelStructsTests
{
    private static unsafe long Offset<T>(ref T s, void* field) where T : unmanaged => (byte*)field - (byte*)Unsafe.AsPointer(ref s);

    [SkippableFact]
    [Trait("Category", "Integration")]
    public unsafe void Layouts_and_numbers_match_the_kernel_headers()
    {
        Tool.Require("gcc");
        Skip.IfNot(File.Exists("/usr/include/linux/loop.h"), "linux-libc-dev is not installed");
        using var dir = new TempDir();
        File.WriteAllText(dir.Combine("s.c"), """
            #include <stdio.h>
            #include <stddef.h>
            #include <linux/loop.h>
            #include <linux/blkpg.h>
            #include <linux/fs.h>
            #define P(name, v) printf("%s=%lu\n", name, (unsigned long)(v))
            int main(void) {
              P("loop_info64", sizeof(struct loop_info64));
              P("lo_offset", offsetof(struct loop_info64, lo_offset));
              P("lo_sizelimit", offsetof(struct loop_info64, lo_sizelimit));
              P("lo_flags", offsetof(struct loop_info64, lo_flags));
              P("lo_file_name", offsetof(struct loop_info64, lo_file_name));
              P("lo_init", offsetof(struct loop_info64, lo_init));
            #ifdef LOOP_CONFIGURE
              P("loop_config", sizeof(struct loop_config));
              P("lc_info", offsetof(struct loop_config, info));
              P("LOOP_CONFIGURE", LOOP_CONFIGURE);
            #endif
              P("blkpg_partition", sizeof(struct blkpg_partition));
              P("pno", offsetof(struct blkpg_partition, pno));
              P("devname", offsetof(struct blkpg_partition, devname));
              P("volname", offsetof(struct blkpg_partition, volname));
              P("blkpg_ioctl_arg", sizeof(struct blkpg_ioctl_arg));
              P("data", offsetof(struct blkpg_ioctl_arg, data));
              P("LOOP_SET_FD", LOOP_SET_FD); P("LOOP_CLR_FD", LOOP_CLR_FD);
              P("LOOP_SET_STATUS64", LOOP_SET_STATUS64); P("LOOP_GET_STATUS64", LOOP_GET_STATUS64);
              P("LOOP_SET_BLOCK_SIZE", LOOP_SET_BLOCK_SIZE); P("LOOP_CTL_GET_FREE", LOOP_CTL_GET_FREE);
              P("LO_FLAGS_AUTOCLEAR", LO_FLAGS_AUTOCLEAR); P("LO_FLAGS_PARTSCAN", LO_FLAGS_PARTSCAN);
              P("BLKRRPART", BLKRRPART); P("BLKGETSIZE64", BLKGETSIZE64); P("BLKSSZGET", BLKSSZGET);
              P("BLKPBSZGET", BLKPBSZGET); P("BLKPG", BLKPG); P("BLKFLSBUF", BLKFLSBUF);
              P("BLKPG_ADD_PARTITION", BLKPG_ADD_PARTITION); P("BLKPG_DEL_PARTITION", BLKPG_DEL_PARTITION);
              return 0;
            }
            """);
        Tool.Check("gcc", "-o", dir.Combine("s"), dir.Combine("s.c"));
        var k = Tool.Check(dir.Combine("s")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=')).ToDictionary(p => p[0], p => ulong.Parse(p[1], CultureInfo.InvariantCulture));

        var info = new LoopInfo64();
        Assert.Equal(k["loop_info64"], (ulong)sizeof(LoopInfo64));
        Assert.Equal(k["lo_offset"], (ulong)Offset(ref info, &info.Offset));
        Assert.Equal(k["lo_sizelimit"], (ulong)Offset(ref info, &info.SizeLimit));
        Assert.Equal(k["lo_flags"], (ulong)Offset(ref info, &info.Flags));
        Assert.Equal(k["lo_file_name"], (ulong)Offset(ref info, info.FileName));
        Assert.Equal(k["lo_init"], (ulong)Offset(ref info, info.Init));
        if (k.TryGetValue("loop_config", out var lc))
        {
            var config = new LoopConfig();
            Assert.Equal(lc, (ulong)sizeof(LoopConfig));
            Assert.Equal(k["lc_info"], (ulong)Offset(ref config, &config.Info));
            Assert.Equal((ulong)Libc.LOOP_CONFIGURE, k["LOOP_CONFIGURE"]);
        }
        var part = new BlkpgPartition();
        Assert.Equal(k["blkpg_partition"], (ulong)sizeof(BlkpgPartition));
        Assert.Equal(k["pno"], (ulong)Offset(ref part, &part.PartitionNumber));
        Assert.Equal(k["devname"], (ulong)Offset(ref part, part.DevName));
        Assert.Equal(k["volname"], (ulong)Offset(ref part, part.VolName));
        var arg = new BlkpgIoctlArg();
        Assert.Equal(k["blkpg_ioctl_arg"], (ulong)sizeof(BlkpgIoctlArg));
        Assert.Equal(k["data"], (ulong)Offset(ref arg, &arg.Data));
        Assert.Equal((ulong)Libc.LOOP_SET_FD, k["LOOP_SET_FD"]);
        Assert.Equal((ulong)Libc.LOOP_CLR_FD, k["LOOP_CLR_FD"]);
        Assert.Equal((ulong)Libc.LOOP_SET_STATUS64, k["LOOP_SET_STATUS64"]);
        Assert.Equal((ulong)Libc.LOOP_GET_STATUS64, k["LOOP_GET_STATUS64"]);
        Assert.Equal((ulong)Libc.LOOP_SET_BLOCK_SIZE, k["LOOP_SET_BLOCK_SIZE"]);
        Assert.Equal((ulong)Libc.LOOP_CTL_GET_FREE, k["LOOP_CTL_GET_FREE"]);
        Assert.Equal((ulong)Libc.LO_FLAGS_AUTOCLEAR, k["LO_FLAGS_AUTOCLEAR"]);
        Assert.Equal((ulong)Libc.LO_FLAGS_PARTSCAN, k["LO_FLAGS_PARTSCAN"]);
        Assert.Equal((ulong)Libc.BLKRRPART, k["BLKRRPART"]);
        Assert.Equal((ulong)Libc.BLKGETSIZE64, k["BLKGETSIZE64"]);
        Assert.Equal((ulong)Libc.BLKSSZGET, k["BLKSSZGET"]);
        Assert.Equal((ulong)Libc.BLKPBSZGET, k["BLKPBSZGET"]);
        Assert.Equal((ulong)Libc.BLKPG, k["BLKPG"]);
        Assert.Equal((ulong)Libc.BLKFLSBUF, k["BLKFLSBUF"]);
        Assert.Equal((ulong)Libc.BLKPG_ADD_PARTITION, k["BLKPG_ADD_PARTITION"]);
        Assert.Equal((ulong)Libc.BLKPG_DEL_PARTITION, k["BLKPG_DEL_PARTITION"]);
    }
}
