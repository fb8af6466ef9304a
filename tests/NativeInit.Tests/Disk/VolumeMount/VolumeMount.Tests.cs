using NativeInit.Core;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.VolumeMount;

[Trait("Category", "Integration")]
public class VolumeMountTests
{
    /// <summary>A 320 MiB image holding a fresh xfs (root, mkfs.xfs and the mount tools required).</summary>
    private static string Xfs(TempDir dir)
    {
        Tool.RequireRoot();
        Tool.Require("mkfs.xfs", "losetup", "mount", "umount");
        string a = Sparse(dir, "a.img", 320 * MiB);
        Tool.Check("mkfs.xfs", "-q", "-f", a);
        return a;
    }

    /// <summary>The kernel refuses a second xfs with a UUID it has mounted (EINVAL; only dmesg says why). A copied
    /// image is the usual case: the error names the mount that holds the UUID.</summary>
    [SkippableFact]
    public void A_second_xfs_with_a_mounted_uuid_is_refused_naming_the_mount()
    {
        using var dir = new TempDir();
        string a = Xfs(dir);
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

    /// <summary>A mount another process holds for 5 s (its working directory in it) is unmounted once it lets go, not
    /// detached lazily after 2 s as before: a lazily detached xfs keeps its UUID registered, and the next mount of the
    /// same file system (the next step's) was refused, as in a CI run.</summary>
    [SkippableFact]
    public void A_mount_held_for_a_few_seconds_is_unmounted_when_let_go_and_mounts_again()
    {
        using var dir = new TempDir();
        string a = Xfs(dir);
        string mnt = dir.Combine("mnt");
        var m = Core.Disk.VolumeMount.Mount(a, 0, 320 * MiB, "xfs", mnt, readOnly: false);
        using var holder = System.Diagnostics.Process.Start("bash", ["-c", $"cd {Tool.Quote(mnt)} && sleep 5"])!;
        var until = DateTime.UtcNow.AddSeconds(10);
        while (new FileInfo($"/proc/{holder.Id}/cwd").LinkTarget != mnt && DateTime.UtcNow < until) Thread.Sleep(20);
        Assert.Equal(mnt, new FileInfo($"/proc/{holder.Id}/cwd").LinkTarget);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        m.Dispose();
        Assert.True(holder.HasExited, $"unmounted after {clock.ElapsedMilliseconds} ms while the holder still ran: not by a plain umount");
        Assert.DoesNotContain($" {mnt} ", File.ReadAllText("/proc/self/mounts"));
        // The same file system mounts again at once: its UUID is free.
        Core.Disk.VolumeMount.Mount(a, 0, 320 * MiB, "xfs", mnt, readOnly: false).Dispose();
    }
}
