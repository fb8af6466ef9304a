using NativeInit.Core;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.VolumeMount;

[Trait("Category", "Integration")]
public class VolumeMountTests
{
    /// <summary>The kernel refuses a second xfs with a UUID it has mounted (EINVAL; only dmesg says why). A copied
    /// image is the usual case: the error names the mount that holds the UUID.</summary>
    [SkippableFact]
    public void A_second_xfs_with_a_mounted_uuid_is_refused_naming_the_mount()
    {
        Tool.RequireRoot();
        Tool.Require("mkfs.xfs", "losetup", "mount", "umount");
        using var dir = new TempDir();
        string a = Sparse(dir, "a.img", 320 * MiB);
        Tool.Check("mkfs.xfs", "-q", "-f", a);
        string b = dir.Combine("b.img");
        Tool.Check("cp", "--sparse=always", a, b);
        string held = dir.Combine("held");
        Directory.CreateDirectory(held);
        Tool.Check("mount", "-o", "loop", a, held);
        try
        {
            var e = Assert.ThrowsAny<NativeInitException>(() =>
                Core.Disk.VolumeMount.Mount(b, 0, 320 * MiB, "xfs", dir.Combine("copy"), readOnly: false).Dispose());
            Assert.Contains("EINVAL", e.Message);
            Assert.Contains("an xfs with the same UUID", e.Message);
            Assert.Contains("on " + held, e.Message);
        }
        finally { Tool.Check("umount", held); }
        // Once the other is gone, the copy mounts.
        using (var m = Core.Disk.VolumeMount.Mount(b, 0, 320 * MiB, "xfs", dir.Combine("copy"), readOnly: false))
            Assert.True(Directory.Exists(m.Directory));
    }
}
