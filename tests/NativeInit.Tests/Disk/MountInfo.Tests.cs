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

    /// <summary>The disk of a mounted partition, as sysfs lays it out: /sys/dev/block/MAJOR:MINOR links to the
    /// partition's directory inside its disk's, and only a partition's has a "partition" file.</summary>
    [Fact]
    public void The_disk_of_a_mount_is_the_parent_of_its_partition_in_sysfs()
    {
        using var tmp = new NativeInit.Tests.TestSupport.TempDir();
        string sys = tmp.Combine("sys");
        string sda2 = Path.Combine(sys, "devices/pci0000:00/0000:00:05.0/virtio1/block/vda/vda2");
        Directory.CreateDirectory(sda2);
        File.WriteAllText(Path.Combine(sda2, "partition"), "2\n");
        string vda = Path.GetDirectoryName(sda2)!;
        Directory.CreateDirectory(Path.Combine(sys, "dev/block"));
        Directory.CreateSymbolicLink(Path.Combine(sys, "dev/block/253:2"), "../../devices/pci0000:00/0000:00:05.0/virtio1/block/vda/vda2");
        Directory.CreateSymbolicLink(Path.Combine(sys, "dev/block/253:0"), "../../devices/pci0000:00/0000:00:05.0/virtio1/block/vda");
        Assert.True(Directory.Exists(vda));
        var mounts = BlockDeviceInfo.ParseMountInfo([
            "22 1 253:0 / /data rw - xfs /dev/vda rw",
            "23 1 253:2 / /boot rw,relatime - xfs /dev/vda2 rw",
            "24 1 253:2 /nativeinit /srv/n rw - xfs /dev/vda2 rw",
            "25 1 0:40 / /tmp rw - tmpfs tmpfs rw",
        ]).ToList();
        Assert.Equal("vda", BlockDeviceInfo.DiskOfMount("/boot", mounts, sys));
        Assert.Equal("vda", BlockDeviceInfo.DiskOfMount("/boot/", mounts, sys));
        Assert.Null(BlockDeviceInfo.DiskOfMount("/data", mounts, sys)); // a whole disk: no partition
        Assert.Null(BlockDeviceInfo.DiskOfMount("/srv/n", mounts, sys)); // a subdirectory bound there, not the file system
        Assert.Null(BlockDeviceInfo.DiskOfMount("/tmp", mounts, sys)); // no block device
        Assert.Null(BlockDeviceInfo.DiskOfMount("/nowhere", mounts, sys));
    }
}
