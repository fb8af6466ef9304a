using NativeInit.Core.Lvm;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Conversion;

/// <summary>
/// Issue 12, step 7: `nativeinit grow --disk` on a converted disk that is in use, as on the converted system after its
/// first boot (the host has no device-mapper, so in a VM): the disk is converted on the host (`convert --image`), made
/// 512 MiB larger, and a busybox VM activates VG VA, mounts /boot and the data volume, and runs `grow --disk /dev/vda`.
/// The GPT, the PV and LV data grow on the disk, the kernel's partition and the dm table of VA-data grow while /data
/// stays mounted, and xfs fills the grown LV; a second run has nothing to grow.
/// </summary>
[Trait("Category", "Qemu")]
public class GrowDiskQemuTests(LegacyImageFixture fx) : IClassFixture<LegacyImageFixture>
{
    private const long MiB = 1 << 20;

    [SkippableFact]
    public void Grow_on_a_disk_in_use_grows_partition_pv_lv_and_the_mounted_xfs_online()
    {
        Tool.RequireRoot();
        string ni = Tool.RequireNativeInit();
        Tool.Require("qemu-system-x86_64", "sgdisk", "mkfs.xfs", "xfs_growfs", "xfs_db", "mkswap", "cpio", "gzip", "/usr/bin/busybox", "ldd");
        KernelCache.FolderOrSkip();
        using var dir = new TempDir("/var/tmp");
        string img = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", fx.Image, img);
        var c = Tool.Run(ni, ["convert", "--image", img, "--key", fx.Public, "--yes"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(c.ExitCode == 0, c.ToString());
        var (_, dataBefore, _) = DataLv(img);
        using (var f = new FileStream(img, FileMode.Open)) f.SetLength(LegacyImageFixture.DiskBytes + 512 * MiB);

        string script = """
            mkdir -p /boot /data /var/log
            /nativeinit lvm activate /dev/vda3 >/dev/null; echo "ACTIVATE-RC=$?"
            mount -t xfs /dev/vda2 /boot; echo "BOOT-MOUNT-RC=$?"
            mount -t xfs /dev/mapper/VA-data /data; echo "DATA-MOUNT-RC=$?"
            echo "PART-BEFORE $(cat /sys/block/vda/vda3/size)"
            /nativeinit grow --disk /dev/vda --dry-run; echo "DRY-RC=$?"
            /nativeinit grow --disk /dev/vda --yes; echo "GROW-RC=$?"
            echo "PART-AFTER $(cat /sys/block/vda/vda3/size)"
            for d in /sys/block/dm-*; do echo "DM $(cat $d/dm/name) $(cat $d/size)"; done
            echo "STILL-MOUNTED $(grep -c ' /data ' /proc/mounts)"
            echo "DF $(df -k /data | tail -1)"
            /nativeinit grow --disk /dev/vda --yes; echo "AGAIN-RC=$?"
            echo "LOG-LINES $(grep -c . /var/log/nativeinit.log)"
            umount /data; umount /boot
            /nativeinit lvm deactivate /dev/vda3; echo "DEACTIVATE-RC=$?"
            """;
        string o = BusyboxVm.Run(dir, ni, img, script, new Dictionary<string, string>(), BusyboxVm.XfsModules,
            ["/usr/sbin/xfs_growfs"]);

        foreach (var rc in new[] { "ACTIVATE-RC=0", "BOOT-MOUNT-RC=0", "DATA-MOUNT-RC=0", "DRY-RC=0", "GROW-RC=0", "AGAIN-RC=0", "DEACTIVATE-RC=0" })
            Assert.True(o.Contains(rc, StringComparison.Ordinal), $"{rc} not seen:\n{o}");
        // Online: the plan and the grow ran with /data mounted (xfs_growfs on the mount point), and it stayed mounted.
        Assert.Contains("mounted on /data) grown to", o);
        Assert.Contains("STILL-MOUNTED 1", o);
        Assert.Contains("nothing to grow", o);

        // The disk: the GPT reaches the new end; the PV partition and LV data took the 512 MiB.
        var v = Tool.Run("sgdisk", "-v", img);
        Assert.True(v.Stdout.Contains("No problems found", StringComparison.Ordinal), v.ToString());
        var (pvOffset, dataAfter, extent) = DataLv(img);
        long lastUsable = (LegacyImageFixture.DiskBytes + 512 * MiB) / 512 - 34;
        long p3Sectors = lastUsable - pvOffset / 512 + 1;
        Assert.Contains($"PART-AFTER {p3Sectors}", o);
        Assert.True(dataAfter.ExtentCount - dataBefore.ExtentCount >= 512 * MiB / extent - 1,
            $"LV data grew from {dataBefore.ExtentCount} to {dataAfter.ExtentCount} extents only");
        long lvBytes = dataAfter.ExtentCount * extent;
        // The kernel's view while in use: partition and dm table reloaded to the new sizes.
        Assert.Contains($"DM VA-data {lvBytes / 512}", o);
        // The file system (read on the host at the LV's place on the disk) fills the grown LV.
        long dblocks = XfsDataBlocks(img, pvOffset, dataAfter, extent);
        Assert.Equal(lvBytes / 4096, dblocks);
        // The log the command keeps for a disk (issue 18) holds both runs.
        Assert.Matches(@"LOG-LINES [1-9]\d*", o);
    }

    /// <summary>The PV's byte offset, LV data, and the extent size, read from the image's LVM metadata.</summary>
    private static (long PvOffset, LvmLogicalVolume Data, long Extent) DataLv(string img)
    {
        string sg = Tool.Check("sgdisk", "-i", "3", img);
        long first = long.Parse(System.Text.RegularExpressions.Regex.Match(sg, @"First sector: (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        using var h = File.OpenHandle(img);
        var pv = LvmDiskFormat.Read(h, first * 512, img);
        var vg = pv.VolumeGroup!;
        return (first * 512, vg.FindLv("data")!, vg.ExtentSizeBytes);
    }

    private static long XfsDataBlocks(string img, long pvOffset, LvmLogicalVolume lv, long extent)
    {
        using var h = File.OpenHandle(img);
        long pe = LvmDiskFormat.Read(h, pvOffset, img).PeStartBytes;
        var seg = lv.Segments.OrderBy(s => s.StartExtent).First();
        long offset = pvOffset + pe + seg.Stripes[0].StartExtent * extent;
        string loop = Tool.Check("losetup", "-r", "-f", "--show", "-o", offset.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--sizelimit", (lv.ExtentCount * extent).ToString(System.Globalization.CultureInfo.InvariantCulture), img).Trim();
        try
        {
            string p = Tool.Check("xfs_db", "-r", "-c", "sb 0", "-c", "p dblocks", loop);
            return long.Parse(p.Trim().Split('=')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        finally { Tool.Run("losetup", "-d", loop); }
    }
}
