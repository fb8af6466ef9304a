using NativeInit.Core;
using NativeInit.Core.Bundle;
using NativeInit.Core.Conversion;

namespace NativeInit.Tests.Conversion;

/// <summary>Stage two's preflight for the bootloader step: which grub-mkimage will make the system's core.img, and a
/// refusal before any write when there is none.</summary>
public class GrubPreflightTests
{
    private static RootfsInfo Rootfs(string? grub) => new("zstd", 1 << 20, 10) { GrubMkimage = grub };

    [Fact]
    public void The_rootfs_own_tool_is_preferred()
    {
        Assert.StartsWith("the rootfs's own /usr/bin/grub2-mkimage", ConvertJob.GrubPreflight(Rootfs("usr/bin/grub2-mkimage"), "/usr/bin/grub-mkimage", []));
        Assert.StartsWith("the rootfs's own /usr/bin/grub2-mkimage", ConvertJob.GrubPreflight(Rootfs("usr/bin/grub2-mkimage"), null, ["none here"]));
    }

    [Fact]
    public void Without_one_in_the_rootfs_this_environment_s_is_used()
    {
        Assert.Contains("(the rootfs has none)", ConvertJob.GrubPreflight(Rootfs(""), "/usr/bin/grub-mkimage", []));
        Assert.Contains("does not record", ConvertJob.GrubPreflight(Rootfs(null), "/usr/bin/grub-mkimage", []));
    }

    [Fact]
    public void Neither_refuses_naming_both_and_an_old_bundle_is_let_through()
    {
        var e = Assert.Throws<RefusedException>(() => ConvertJob.GrubPreflight(Rootfs(""), null, ["the host has no grub-mkimage or grub2-mkimage on PATH"]));
        Assert.Contains("the bundle's rootfs has no grub-mkimage", e.Message);
        Assert.Contains("the host has no grub-mkimage", e.Message);
        Assert.Equal(ExitCodes.Refused, e.ExitCode);
        // A bundle made before rootfs.grubMkimage existed: the rootfs may have one; the bootloader step finds out.
        Assert.Contains("the bundle does not record it", ConvertJob.GrubPreflight(Rootfs(null), null, ["none"]));
    }
}
