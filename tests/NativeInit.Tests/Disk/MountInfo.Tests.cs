using NativeInit.Core.Disk;

namespace NativeInit.Tests.Disk;

/// <summary>/proc/self/mountinfo as <see cref="BlockDeviceInfo.Mounts"/> reads it (proc(5)).</summary>
public class MountInfoTests
{
    [Fact]
    public void Fields_around_the_optional_ones_and_escapes_undone()
    {
        string[] lines =
        [
            // no optional fields
            "22 1 8:2 / /boot rw,relatime - xfs /dev/sda2 rw,attr2",
            // two optional fields, a space in the mount point, a bind mount of a subdirectory
            "36 22 8:3 / /mnt/new\\040root rw,noatime shared:1 master:2 - xfs /dev/mapper/VA-root rw",
            "37 22 8:3 /var/log /srv/logs rw shared:3 - xfs /dev/mapper/VA-root rw",
            "38 22 0:21 / /proc rw,nosuid - proc proc rw",
            "short line",
        ];
        var m = BlockDeviceInfo.ParseMountInfo(lines).ToList();
        Assert.Equal(4, m.Count);
        Assert.Equal(new BlockDeviceInfo.MountEntry("8:2", "/", "/boot", "xfs", "/dev/sda2"), m[0]);
        Assert.Equal(new BlockDeviceInfo.MountEntry("8:3", "/", "/mnt/new root", "xfs", "/dev/mapper/VA-root"), m[1]);
        Assert.Equal("/var/log", m[2].Root);
        Assert.Equal(("proc", "proc"), (m[3].FsType, m[3].Source));
    }
}
