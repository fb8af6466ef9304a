using System.Globalization;
using System.IO.Hashing;
using System.Text.Json;
using NativeInit.Core;
using NativeInit.Core.Disk;
using NativeInit.Core.Layout;
using NativeInit.Core.Disk.Loop;
using NativeInit.Tests.Lvm;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Layout;

/// <summary>
/// `layout plan` / `layout apply` on image files the test makes: the field layout (2 MiB BIOS boot, 1 GiB /boot,
/// the rest LVM on a 10 GiB reference disk) planned on 10 and 12 GiB images, refusals before any write, and an apply
/// judged by sgdisk, lvm2 and blkid.
/// </summary>
[Trait("Category", "Integration")]
public class LayoutPlanApplyTests
{
    private const long MiB = 1 << 20, GiB = 1L << 30;

    private const string FieldLayout = """
        {
          "partitionTable": "target.gpt",
          "volumeGroup": {
            "name": "VA", "partition": 3, "extentSize": "4MiB", "grow": "root",
            "logicalVolumes": [
              { "name": "root",  "size": "7.8GiB", "filesystem": "xfs", "mountPoint": "/", "label": "root" },
              { "name": "image", "size": "512MiB", "filesystem": "xfs", "mountPoint": "/image" },
              { "name": "data",  "size": "512MiB", "filesystem": "xfs", "mountPoint": "/data" }
            ]
          }
        }
        """;

    /// <summary>sgdisk --backup of a reference disk: 1: BIOS boot, 2: /boot, 3: LVM to the end.</summary>
    private static string MakeBackup(TempDir dir, long diskBytes, string boot, string bios = "+2M")
    {
        string reference = dir.Combine("reference.img");
        using (var fs = File.Create(reference)) fs.SetLength(diskBytes);
        Tool.Check("sgdisk", "-o", "-n", $"1:2048:{bios}", "-t", "1:EF02", "-c", "1:bios", "-n", $"2:0:{boot}", "-t", "2:8300", "-c", "2:boot",
            "-n", "3:0:0", "-t", "3:8E00", "-c", "3:lvm", reference);
        string backup = dir.Combine("target.gpt");
        Tool.Check("sgdisk", $"--backup={backup}", reference);
        File.Delete(reference);
        return backup;
    }

    private static string Sparse(TempDir dir, string name, long bytes)
    {
        string p = dir.Combine(name);
        using var fs = File.Create(p);
        fs.SetLength(bytes);
        return p;
    }

    private static long AllocatedBlocks(string path) => long.Parse(Tool.Check("stat", "-c", "%b", path).Trim(), CultureInfo.InvariantCulture);

    private static string Hash(string path)
    {
        var h = new XxHash128();
        using var fs = File.OpenRead(path);
        h.Append(fs);
        return Convert.ToHexString(h.GetCurrentHash());
    }

    private static LayoutPlan Plan(string layoutPath, string image)
    {
        var layout = LayoutFile.Load(layoutPath);
        using var disk = DiskDevice.Open(image, writable: false);
        return LayoutPlanner.Plan(layout, disk);
    }

    [SkippableTheory]
    [InlineData(10L)]
    [InlineData(12L)]
    public void Field_layout_plan_on_10_and_12_GiB_images_writes_nothing(long gib)
    {
        Tool.Require("sgdisk");
        using var dir = new TempDir();
        MakeBackup(dir, 10 * GiB, "+1G");
        string layout = dir.Combine("layout.json");
        File.WriteAllText(layout, FieldLayout);
        string image = Sparse(dir, "disk.img", gib * GiB);
        Assert.Equal(0, AllocatedBlocks(image));

        var plan = Plan(layout, image);

        Assert.Equal(0, AllocatedBlocks(image)); // not a single block written
        // The table: partition 3 as on the reference disk, the backup GPT at the end of this disk.
        var p3 = plan.Table.Find(3)!;
        Assert.Equal([2048UL, 6144UL, 2103296UL], plan.Table.Partitions.Select(p => p.FirstLba));
        Assert.Equal(10 * GiB / 512 - 34, (long)p3.LastLba); // sgdisk's last usable LBA of the 10 GiB reference
        Assert.Equal((ulong)(gib * GiB / 512 - 1), plan.Table.BackupHeaderLba);
        Assert.Equal((ulong)(gib * GiB / 512 - 34), plan.Table.LastUsableLba);
        // The PV and the LVs: extents rounded up, allocated in order from pe_start.
        long pvBytes = (long)p3.Sectors * 512;
        Assert.Equal(2048, plan.Geometry.PeStartSectors);
        Assert.Equal((pvBytes - MiB) / (4 * MiB), plan.Geometry.PeCount);
        long rootExtents = (long)Math.Ceiling(7.8 * GiB / (4 * MiB));
        Assert.Equal([rootExtents, 128L, 128L], plan.Volumes.Select(v => v.Extents));
        Assert.Equal([0L, rootExtents, rootExtents + 128], plan.Volumes.Select(v => v.PvStartExtent));
        long pvOffset = 2103296L * 512;
        Assert.Equal([pvOffset + MiB, pvOffset + MiB + rootExtents * 4 * MiB, pvOffset + MiB + (rootExtents + 128) * 4 * MiB],
            plan.Volumes.Select(v => v.DiskOffset));
        Assert.Equal(["VA-root", "VA-image", "VA-data"], plan.Volumes.Select(v => v.DmName));

        var text = new StringWriter();
        plan.WriteText(text);
        Assert.Contains($"pe_count {plan.Geometry.PeCount}", text.ToString());
        Assert.Contains($"root: byte offset {pvOffset + MiB} on the disk", text.ToString());

        using var ms = new MemoryStream();
        using (var j = new Utf8JsonWriter(ms)) plan.WriteJson(j);
        using var doc = JsonDocument.Parse(ms.ToArray());
        var lvs = doc.RootElement.GetProperty("vg").GetProperty("logicalVolumes");
        Assert.Equal(rootExtents, lvs[0].GetProperty("extents").GetInt64());
        Assert.Equal(pvOffset + MiB, lvs[0].GetProperty("diskOffset").GetInt64());
        Assert.Equal(plan.Geometry.PeCount, doc.RootElement.GetProperty("pv").GetProperty("peCount").GetInt64());
        Assert.Equal(gib * GiB, doc.RootElement.GetProperty("diskBytes").GetInt64());
    }

    /// <summary>A small field-like layout (64 MiB reference disk) so that hashing the whole image is cheap.</summary>
    private static (TempDir Dir, string Layout) Mini(string lvs)
    {
        var dir = new TempDir();
        MakeBackup(dir, 64 * MiB, "+8M", bios: "+1M");
        string layout = dir.Combine("layout.json");
        File.WriteAllText(layout, $$"""
            { "partitionTable": "target.gpt",
              "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "1MiB", "logicalVolumes": [ {{lvs}} ] } }
            """);
        return (dir, layout);
    }

    private const string MiniLvs = """{ "name": "root", "size": "30MiB", "filesystem": "ext4", "label": "root" }, { "name": "data", "size": "rest", "filesystem": "ext4" }""";

    [SkippableTheory]
    [InlineData(32, MiniLvs, "too small")]
    [InlineData(64, """{ "name": "root", "size": "60MiB" }""", "extents")]
    [InlineData(64, """{ "name": "root", "size": "30MiB" }, { "name": "data", "size": "30MiB" }""", "extents")]
    public void Refusals_happen_before_any_write(int diskMiB, string lvs, string expected)
    {
        Tool.Require("sgdisk");
        var (dir, layout) = Mini(lvs);
        using (dir)
        {
            string image = Sparse(dir, "disk.img", diskMiB * MiB);
            File.WriteAllBytes(image, Enumerable.Range(0, (int)(diskMiB * MiB)).Select(i => (byte)(i * 7 + i / 4096)).ToArray());
            string before = Hash(image);
            var e = Assert.Throws<RefusedException>(() =>
            {
                var plan = Plan(layout, image);
                using var disk = DiskDevice.Open(image, writable: true);
                LayoutApplier.Apply(plan, disk);
            });
            Assert.Contains(expected, e.Message);
            Assert.Equal(before, Hash(image));
        }
    }

    [SkippableFact]
    public void Missing_pv_partition_and_bad_key_are_refused_before_any_write()
    {
        Tool.Require("sgdisk");
        var (dir, layout) = Mini(MiniLvs);
        using (dir)
        {
            string image = Sparse(dir, "disk.img", 64 * MiB);
            File.WriteAllText(layout, File.ReadAllText(layout).Replace("\"partition\": 3", "\"partition\": 5", StringComparison.Ordinal));
            var e = Assert.Throws<RefusedException>(() => Plan(layout, image));
            Assert.Contains("volumeGroup.partition 5 is not in the partition table", e.Message);
            File.WriteAllText(layout, File.ReadAllText(layout).Replace("\"partition\": 5", "\"partition\": 3, \"extent\": 1", StringComparison.Ordinal));
            e = Assert.Throws<RefusedException>(() => Plan(layout, image));
            Assert.Contains("volumeGroup.extent: unknown key", e.Message);
            Assert.Equal(0, AllocatedBlocks(image));
        }
    }

    [SkippableFact]
    public void Mounted_target_is_refused_before_any_write()
    {
        Tool.RequireRoot();
        Tool.Require("sgdisk", "mkfs.ext4", "mount", "umount", "losetup");
        var (dir, layout) = Mini(MiniLvs);
        using (dir)
        {
            string image = Sparse(dir, "disk.img", 64 * MiB);
            var plan = Plan(layout, image);
            using (var disk = DiskDevice.Open(image, writable: true)) LayoutApplier.Apply(plan, disk);
            var root = plan.Volumes[0];
            string mnt = dir.Combine("mnt");
            Directory.CreateDirectory(mnt);
            using (var loop = new TestLoop(image, root.DiskOffset, root.SizeBytes))
            {
                Tool.Check("mount", "-t", "ext4", loop.Device, mnt);
                try
                {
                    string before = Hash(image);
                    var e = Assert.Throws<RefusedException>(() => Plan(layout, image));
                    Assert.Contains("is mounted on " + mnt, e.Message);
                    Assert.Equal(before, Hash(image));
                }
                finally { Tool.Run("umount", mnt); }
            }
        }
    }

    [SkippableFact]
    public void Apply_on_an_image_is_judged_by_sgdisk_lvm2_and_blkid()
    {
        Tool.RequireRoot();
        Tool.Require("sgdisk", "mkfs.xfs", "blkid", "lvm", "losetup");
        using var dir = new TempDir();
        MakeBackup(dir, 10 * GiB, "+1G");
        string layoutPath = dir.Combine("layout.json");
        File.WriteAllText(layoutPath, FieldLayout);
        string image = Sparse(dir, "disk.img", 12 * GiB);
        var plan = Plan(layoutPath, image);
        using (var disk = DiskDevice.Open(image, writable: true)) LayoutApplier.Apply(plan, disk);

        var v = Tool.Run("sgdisk", "-v", image);
        Assert.True(v.ExitCode == 0 && v.Stdout.Contains("No problems found", StringComparison.Ordinal), v.ToString());

        var p3 = plan.Table.Find(3)!;
        long pvOffset = (long)p3.FirstLba * 512;
        long extent, peStart;
        Dictionary<string, (long Size, long FirstExtent, long LastExtent)> lvs;
        using (var pvLoop = new TestLoop(image, pvOffset, (long)p3.Sectors * 512))
        using (var lvm = new LvmOracle(pvLoop.Device))
        {
            Assert.Equal(0, lvm.Run("vgck", "VA").ExitCode);
            peStart = long.Parse(lvm.Report("pvs", "pe_start")[0][0], CultureInfo.InvariantCulture);
            extent = long.Parse(lvm.Report("vgs", "vg_extent_size")[0][0], CultureInfo.InvariantCulture);
            lvs = lvm.Report("lvs", "lv_name,lv_size,seg_pe_ranges").ToDictionary(r => r[0], r =>
            {
                var range = r[2][(r[2].LastIndexOf(':') + 1)..].Split('-');
                return (long.Parse(r[1], CultureInfo.InvariantCulture), long.Parse(range[0], CultureInfo.InvariantCulture), long.Parse(range[1], CultureInfo.InvariantCulture));
            });
        }
        long rootExtents = (long)Math.Ceiling(7.8 * GiB / (4 * MiB));
        Assert.Equal(4 * MiB, extent);
        Assert.Equal((rootExtents * 4 * MiB, 0L, rootExtents - 1), lvs["root"]);
        Assert.Equal((512 * MiB, rootExtents, rootExtents + 127), lvs["image"]);
        Assert.Equal((512 * MiB, rootExtents + 128, rootExtents + 255), lvs["data"]);

        // The root LV, reached by a loop at the offset lvm2's numbers give, holds the xfs NativeInit made.
        long rootOffset = pvOffset + peStart + lvs["root"].FirstExtent * extent;
        using (var rootLoop = new TestLoop(image, rootOffset, lvs["root"].Size))
        {
            string blkid = Tool.Check("blkid", "-p", "-o", "export", rootLoop.Device);
            Assert.Contains("TYPE=xfs", blkid);
            Assert.Contains("LABEL=root", blkid);
        }

        // A marker written through NativeInit's own loop device for the image LV lands where lvm2 says the LV is.
        byte[] marker = System.Text.Encoding.ASCII.GetBytes("NativeInit marker in LV image ".PadRight(512, '#'));
        using (var loops = new LoopDeviceSet())
        using (var dev = DiskDevice.Open(LayoutApplier.AttachImageVolumes(plan, loops)["image"], writable: true))
        {
            Assert.Equal(512 * MiB, dev.SizeBytes);
            dev.WriteAt(4096, marker);
            dev.Flush();
        }
        long expectedAt = pvOffset + peStart + lvs["image"].FirstExtent * extent + 4096;
        var found = new byte[512];
        using (var fs = File.OpenRead(image))
        {
            fs.Position = expectedAt;
            fs.ReadExactly(found);
        }
        Assert.Equal(marker, found);
    }

    [SkippableFact]
    public void A_repeated_apply_resumes_from_the_vg_on_disk()
    {
        Tool.Require("sgdisk");
        var (dir, layout) = Mini("""{ "name": "root", "size": "30MiB" }, { "name": "data", "size": "rest" }""");
        using (dir)
        {
            string image = Sparse(dir, "disk.img", 64 * MiB);
            var first = Plan(layout, image);
            using (var disk = DiskDevice.Open(image, writable: true)) LayoutApplier.Apply(first, disk);

            using (var disk = DiskDevice.Open(image, writable: false))
            {
                var again = LayoutPlanner.Plan(LayoutFile.Load(layout), disk);
                Assert.NotEqual(first.VolumeGroup.Id, again.VolumeGroup.Id); // fresh ids unless resumed
                var onDisk = LayoutResume.ReadExisting(again, disk);
                Assert.Empty(LayoutResume.Differences(again, onDisk));
                var same = LayoutResume.IdentityFrom(again, onDisk)!;
                var resumed = LayoutPlanner.Plan(LayoutFile.Load(layout), disk, same);
                Assert.Equal(onDisk!.MetadataText, NativeInit.Core.Lvm.LvmMetadataText.Write(resumed.VolumeGroup));
                Assert.Equal(first.Volumes.Select(v => v.DmUuid), resumed.Volumes.Select(v => v.DmUuid));
            }

            // What `layout apply` runs (LayoutJob.Apply): the repeated apply finds the VG and writes the same ids again.
            var log = new List<string>();
            using (var target = LayoutJob.Open(layout, image, isImage: true, writable: true))
                Assert.Equal(2, LayoutJob.Apply(target, LayoutWriteMode.Write, _ => { }, log.Add).Count);
            Assert.Contains(log, l => l.Contains("reusing its ids", StringComparison.Ordinal));
            using (var disk = DiskDevice.Open(image, writable: false))
                Assert.Equal(first.VolumeGroup.Id, LayoutResume.ReadExisting(first, disk)!.VolumeGroup!.Id);

            File.WriteAllText(layout, File.ReadAllText(layout).Replace("30MiB", "20MiB", StringComparison.Ordinal));
            using (var disk = DiskDevice.Open(image, writable: false))
            {
                var changed = LayoutPlanner.Plan(LayoutFile.Load(layout), disk);
                var diffs = LayoutResume.Differences(changed, LayoutResume.ReadExisting(changed, disk));
                Assert.Contains(diffs, d => d.StartsWith("LVs are [root:0+30@0", StringComparison.Ordinal));
                Assert.Null(LayoutResume.IdentityFrom(changed, LayoutResume.ReadExisting(changed, disk)));
            }
        }
    }

    [SkippableFact]
    public void Block_device_preflight_asks_device_mapper_and_refuses_without_it_before_any_write()
    {
        Tool.RequireRoot();
        Tool.Require("sgdisk", "losetup");
        bool hasDm = File.Exists("/dev/mapper/control") && File.Exists("/proc/misc")
            && File.ReadAllText("/proc/misc").Contains("device-mapper", StringComparison.Ordinal);
        var (dir, layout) = Mini("""{ "name": "root", "size": "30MiB" }, { "name": "data", "size": "rest" }""");
        using (dir)
        {
            string image = Sparse(dir, "disk.img", 64 * MiB);
            File.WriteAllBytes(image, Enumerable.Range(0, (int)(64 * MiB)).Select(i => (byte)(i * 13 + i / 512)).ToArray());
            string before = Hash(image);
            using var loop = new TestLoop(image);
            if (hasDm)
            {
                // With device-mapper the preflight passes (nothing else in this layout can refuse) and writes nothing.
                using (var disk = DiskDevice.Open(loop.Device, writable: false))
                    LayoutApplier.Preflight(LayoutPlanner.Plan(LayoutFile.Load(layout), disk));
                Assert.Equal(before, Hash(image));
                return;
            }
            var e = Assert.Throws<RefusedException>(() =>
            {
                using var disk = DiskDevice.Open(loop.Device, writable: true);
                Assert.True(disk.IsBlockDevice);
                var plan = LayoutPlanner.Plan(LayoutFile.Load(layout), disk);
                Assert.Equal("/dev/mapper/VA-root", plan.Volumes[0].Device);
                LayoutApplier.Apply(plan, disk);
            });
            Assert.Contains("device-mapper", e.Message);
            Assert.Equal(before, Hash(image));
        }
    }

    /// <summary>Exit 4 covers every failure after the first write, whatever its type: apply and grow on a disk opened
    /// read-only fail at their first write (EBADF, no NativeInitException) and come out as the point-of-no-return
    /// failure with how to go on.</summary>
    [SkippableFact]
    public void A_failure_inside_apply_or_grow_is_exit_4_whatever_its_type()
    {
        Tool.Require("sgdisk");
        var (dir, layout) = Mini("""{ "name": "root", "size": "30MiB" }, { "name": "data", "size": "rest" }""");
        using (dir)
        {
            File.WriteAllText(layout, File.ReadAllText(layout).Replace("\"extentSize\"", "\"grow\": \"root\", \"extentSize\"", StringComparison.Ordinal));
            string image = Sparse(dir, "disk.img", 64 * MiB);
            using (var disk = DiskDevice.Open(image, writable: true)) LayoutApplier.Apply(LayoutPlanner.Plan(LayoutFile.Load(layout), disk), disk);
            using (var fs = new FileStream(image, FileMode.Open)) fs.SetLength(96 * MiB);
            using (var disk = DiskDevice.Open(image, writable: false))
            {
                var plan = LayoutGrow.Plan(LayoutFile.Load(layout), disk);
                Assert.False(plan.NothingToDo);
                var e = Assert.Throws<FailedAfterPointOfNoReturnException>(() => LayoutGrow.Apply(plan, disk));
                Assert.Equal(ExitCodes.FailedAfterPointOfNoReturn, e.ExitCode);
                Assert.Contains(LayoutGrow.HowToGoOn, e.Message);
            }
            // Apply refuses a read-only disk before its first write: a caller's error, not exit 4.
            using (var disk = DiskDevice.Open(image, writable: false))
                Assert.Throws<InvalidOperationException>(() => LayoutApplier.Apply(LayoutPlanner.Plan(LayoutFile.Load(layout), disk), disk));
        }
    }

    [SkippableFact]
    public void Grow_gives_the_rest_of_a_larger_disk_to_the_grow_lv()
    {
        Tool.RequireRoot();
        Tool.Require("sgdisk", "lvm", "losetup");
        var (dir, layout) = Mini("""{ "name": "root", "size": "30MiB" }, { "name": "data", "size": "rest" }""");
        using (dir)
        {
            File.WriteAllText(layout, File.ReadAllText(layout).Replace("\"extentSize\"", "\"grow\": \"root\", \"extentSize\"", StringComparison.Ordinal));
            string image = Sparse(dir, "disk.img", 64 * MiB);
            LayoutPlan applied;
            using (var disk = DiskDevice.Open(image, writable: true))
            {
                applied = LayoutPlanner.Plan(LayoutFile.Load(layout), disk);
                LayoutApplier.Apply(applied, disk);
                Assert.True(LayoutGrow.Plan(LayoutFile.Load(layout), disk).NothingToDo);
            }
            using (var fs = new FileStream(image, FileMode.Open)) fs.SetLength(96 * MiB); // the VM's disk was enlarged
            LayoutGrowPlan plan;
            using (var disk = DiskDevice.Open(image, writable: true))
            {
                plan = LayoutGrow.Plan(LayoutFile.Load(layout), disk);
                Assert.False(plan.NothingToDo);
                LayoutGrow.Apply(plan, disk);
            }
            var v = Tool.Run("sgdisk", "-v", image);
            Assert.True(v.Stdout.Contains("No problems found", StringComparison.Ordinal), v.ToString());
            var p3 = plan.After.Find(3)!;
            Assert.Equal(96 * MiB / 512 - 34, (long)p3.LastLba);
            long pvBytes = (long)p3.Sectors * 512;
            using var loop = new TestLoop(image, (long)p3.FirstLba * 512, pvBytes);
            using var lvm = new LvmOracle(loop.Device);
            long peCount = (pvBytes - MiB) / MiB;
            Assert.Equal([peCount.ToString(CultureInfo.InvariantCulture), peCount.ToString(CultureInfo.InvariantCulture)],
                Assert.Single(lvm.Report("pvs", "pv_pe_count,pv_pe_alloc_count")));
            long dataExtents = applied.Volumes[1].Extents;
            var root = lvm.Report("lvs", "lv_name,lv_size,seg_pe_ranges", "--segments").Where(r => r[0] == "root").Select(r => r[2][(r[2].LastIndexOf(':') + 1)..]).ToList();
            Assert.Equal(["0-29", $"{30 + dataExtents}-{peCount - 1}"], root);
            Assert.Equal(0, lvm.Run("vgck", "VA").ExitCode);
        }
    }

    [SkippableFact]
    public void Apply_with_4096_byte_sectors_keeps_lvm_in_512_byte_units()
    {
        Tool.RequireRoot();
        Tool.Require("sgdisk", "lvm", "losetup", "mkfs.ext4", "blkid");
        using var dir = new TempDir();
        string reference = Sparse(dir, "ref.img", 256 * MiB);
        using (var refLoop = new TestLoop(reference, sectorSize: 4096))
        {
            Tool.Check("sgdisk", "-o", "-n", "1:256:+2M", "-t", "1:EF02", "-n", "2:0:+32M", "-n", "3:0:0", "-t", "3:8E00", refLoop.Device);
            Tool.Check("sgdisk", "--backup=" + dir.Combine("t.gpt"), refLoop.Device);
        }
        string layout = dir.Combine("layout.json");
        File.WriteAllText(layout, """
            { "partitionTable": "t.gpt", "volumeGroup": { "name": "VA", "partition": 3,
              "logicalVolumes": [ { "name": "root", "size": "100MiB", "filesystem": "ext4" }, { "name": "data", "size": "rest" } ] } }
            """);
        string image = Sparse(dir, "disk.img", 300 * MiB);
        LayoutPlan plan;
        using (var disk = DiskDevice.Open(image, writable: true, imageSectorSize: 4096))
        {
            plan = LayoutPlanner.Plan(LayoutFile.Load(layout), disk);
            Assert.Equal(4096, plan.SectorSize);
            LayoutApplier.Apply(plan, disk);
        }
        var p3 = plan.Table.Find(3)!;
        Assert.Equal((long)p3.FirstLba * 4096, plan.PvOffset);
        Assert.Equal(2048, plan.Geometry.PeStartSectors); // LVM counts 512-byte sectors whatever the disk's
        using (var pvLoop = new TestLoop(image, plan.PvOffset, plan.PvSize, sectorSize: 4096))
        using (var lvm = new LvmOracle(pvLoop.Device))
        {
            Assert.Equal(0, lvm.Run("vgck", "VA").ExitCode);
            var lvs = lvm.Report("lvs", "lv_name,lv_size,seg_pe_ranges").ToDictionary(r => r[0], r => (r[1], r[2]));
            Assert.Equal(((100 * MiB).ToString(CultureInfo.InvariantCulture), $"{pvLoop.Device}:0-24"), lvs["root"]);
        }
        using (var rootLoop = new TestLoop(image, plan.Volumes[0].DiskOffset, plan.Volumes[0].SizeBytes, sectorSize: 4096))
            Assert.Contains("TYPE=ext4", Tool.Check("blkid", "-p", "-o", "export", rootLoop.Device));
    }
}
