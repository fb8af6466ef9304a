using NativeInit.Core.Lvm;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Lvm;

/// <summary>lvm2's own read-only tools judge what NativeInit writes, and NativeInit reads what lvm2 writes.</summary>
[Trait("Category", "Integration")]
public class LvmOracleTests
{
    private const long MiB = 1 << 20;

    [SkippableFact]
    public void Lvm2_tools_see_the_pv_vg_and_lvs_written_by_nativeinit()
    {
        using var loop = LoopImage.ForLvm(128 * MiB);
        LvmVolumeGroup vg;
        using (var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.ReadWrite))
            vg = LvmDiskFormatTests.WriteVa(h, 0, 128 * MiB, loop.Device);
        using var lvm = new LvmOracle(loop.Device);

        var pvs = Assert.Single(lvm.Report("pvs", "pv_name,vg_name,pv_size,pe_start,pv_pe_count,pv_pe_alloc_count,pv_uuid,dev_size"));
        Assert.Equal([loop.Device, "VA", (124 * MiB).ToString(), MiB.ToString(), "31", "31", LvmDiskFormatTests.FixedIds.PvId!, (128 * MiB).ToString()], pvs);

        var vgs = Assert.Single(lvm.Report("vgs", "vg_name,vg_extent_size,vg_extent_count,vg_free_count,lv_count,pv_count,vg_uuid,vg_seqno"));
        Assert.Equal(["VA", (4 * MiB).ToString(), "31", "0", "3", "1", LvmDiskFormatTests.FixedIds.VgId!, "1"], vgs);

        var lvs = lvm.Report("lvs", "lv_name,lv_size,seg_pe_ranges,lv_uuid,lv_attr", "--all");
        Assert.Equal(3, lvs.Count);
        string[] Row(string name) => lvs.Single(r => r[0] == name)[..4];
        Assert.Equal(["root", (60 * MiB).ToString(), $"{loop.Device}:0-14", "Root01-0000-1111-2222-3333-4444-555555"], Row("root"));
        Assert.Equal(["image", (24 * MiB).ToString(), $"{loop.Device}:15-20", "Image1-0000-1111-2222-3333-4444-555555"], Row("image"));
        Assert.Equal(["data", (40 * MiB).ToString(), $"{loop.Device}:21-30", "Data01-0000-1111-2222-3333-4444-555555"], Row("data"));
        Assert.All(lvs, l => Assert.StartsWith("-wi-", l[4]));

        var ck = lvm.Run("vgck", "VA");
        Assert.True(ck.ExitCode == 0 && !ck.Stderr.Contains("Checksum", StringComparison.OrdinalIgnoreCase), ck.ToString());
        var pvck = lvm.Run("pvck", loop.Device);
        Assert.True(pvck.ExitCode == 0, pvck.ToString());
        Assert.DoesNotContain("bad", pvck.Stdout + pvck.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    [SkippableFact]
    public void Lvm2_accepts_an_updated_metadata_copy()
    {
        using var loop = LoopImage.ForLvm(128 * MiB);
        using (var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.ReadWrite))
        {
            var vg = LvmDiskFormatTests.WriteVa(h, 0, 128 * MiB, loop.Device);
            vg.Seqno = 2;
            vg.LogicalVolumes.RemoveAt(2);
            LvmDiskFormat.UpdateMetadata(h, 0, vg, loop.Device);
        }
        using var lvm = new LvmOracle(loop.Device);
        Assert.Equal(["VA", "2", "2"], Assert.Single(lvm.Report("vgs", "vg_name,vg_seqno,lv_count")));
        Assert.Equal(0, lvm.Run("vgck", "VA").ExitCode);
    }

    [SkippableFact]
    public void Lvm2_reads_a_metadata_copy_that_wraps_around_the_circular_area()
    {
        using var loop = LoopImage.ForLvm(64 * MiB);
        long seqno = 1;
        using (var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.ReadWrite))
        {
            var (vg, g) = LvmBuilder.Create("wrapvg", MiB, 64 * MiB, loop.Device,
                Enumerable.Range(0, 60).Select(i => new LvmVolumeRequest($"lv{i}", MiB)).ToList());
            LvmDiskFormat.WriteNewPv(h, 0, g, vg, "pv0", loop.Device);
            long last = 0;
            while (true)
            {
                vg.Seqno = ++seqno;
                LvmDiskFormat.UpdateMetadata(h, 0, vg, loop.Device);
                var loc = LvmDiskFormat.Read(h, 0, loop.Device).MetadataArea!.Locations[0];
                if (loc.Offset + loc.Size > g.MetadataAreaSize) break; // this copy runs past the end and continues after the header
                Assert.True(loc.Offset > last && seqno < 500, "the copy never wrapped");
                last = loc.Offset;
            }
        }
        using var lvm = new LvmOracle(loop.Device);
        Assert.Equal(["wrapvg", seqno.ToString(), "60"], Assert.Single(lvm.Report("vgs", "vg_name,vg_seqno,lv_count")));
        var ck = lvm.Run("vgck", "wrapvg");
        Assert.True(ck.ExitCode == 0, ck.ToString());
    }

    [SkippableFact]
    public void Nativeinit_reads_what_pvcreate_vgcreate_and_vgcfgrestore_write()
    {
        using var loop = LoopImage.ForLvm(100 * MiB);
        using var lvm = new LvmOracle(loop.Device);

        lvm.Check("pvcreate", "--metadatasize", "2m", loop.Device);
        using (var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.Read))
        {
            var pv = LvmDiskFormat.Read(h, 0, loop.Device);
            Assert.Null(pv.VolumeGroup);
            Assert.Equal(lvm.Report("pvs", "pv_uuid")[0][0], pv.Label.PvId);
            Assert.Equal(long.Parse(lvm.Report("pvs", "pe_start")[0][0]), pv.PeStartBytes);
        }

        lvm.Check("vgcreate", "-s", "2m", "test-vg", loop.Device);
        string vgId = lvm.Report("vgs", "vg_uuid")[0][0];
        using (var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.Read))
        {
            var vg = LvmDiskFormat.Read(h, 0, loop.Device).VolumeGroup!;
            Assert.Equal("test-vg", vg.Name);
            Assert.Equal(vgId, vg.Id);
            Assert.Equal(4096, vg.ExtentSize);
            Assert.Empty(vg.LogicalVolumes);
            Assert.Equal(long.Parse(lvm.Report("pvs", "pv_pe_count")[0][0]), vg.PhysicalVolumes[0].PeCount);
        }

        // A backup file as vgcfgbackup writes it, with two LVs added (one of two segments), restored by vgcfgrestore.
        string backup = loop.Dir.Combine("test-vg.vg");
        lvm.Check("vgcfgbackup", "-f", backup, "test-vg");
        string text = File.ReadAllText(backup);
        int end = text.LastIndexOf('}');
        string lvText = """

            	logical_volumes {

            		first {
            			id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"
            			status = ["READ", "WRITE", "VISIBLE"]
            			flags = []
            			creation_time = 1700000000	# 2023-11-14 22:13:20 +0000
            			creation_host = "elsewhere"
            			segment_count = 1

            			segment1 {
            				start_extent = 0
            				extent_count = 5	# 10 Megabytes

            				type = "striped"
            				stripe_count = 1	# linear

            				stripes = [
            					"pv0", 3
            				]
            			}
            		}

            		second-lv {
            			id = "hhhhhh-iiii-jjjj-kkkk-llll-mmmm-nnnnnn"
            			status = ["READ", "WRITE", "VISIBLE"]
            			flags = []
            			segment_count = 2

            			segment1 {
            				start_extent = 0
            				extent_count = 3

            				type = "striped"
            				stripe_count = 1

            				stripes = [
            					"pv0", 0
            				]
            			}
            			segment2 {
            				start_extent = 3
            				extent_count = 4

            				type = "striped"
            				stripe_count = 1

            				stripes = [
            					"pv0", 8
            				]
            			}
            		}
            	}

            """;
        File.WriteAllText(backup, text[..end] + lvText + text[end..]);
        lvm.Check("vgcfgrestore", "-f", backup, "test-vg");
        var seg = lvm.Report("lvs", "lv_name,seg_pe_ranges", "--segments");
        Assert.Equal(3, seg.Count);

        using (var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.Read))
        {
            var pv = LvmDiskFormat.Read(h, 0, loop.Device);
            var vg = pv.VolumeGroup!;
            Assert.Equal(["first", "second-lv"], vg.LogicalVolumes.Select(l => l.Name));
            var first = vg.FindLv("first")!;
            Assert.Equal(5, first.ExtentCount);
            Assert.Equal($"{loop.Device}:3-7", seg.Single(r => r[0] == "first")[1]);
            Assert.Equal(("pv0", 3L), first.Segments[0].Stripes[0]);
            var second = vg.FindLv("second-lv")!;
            Assert.Equal(7, second.ExtentCount);
            Assert.Equal([("pv0", 0L), ("pv0", 8L)], second.Segments.Select(s => s.Stripes[0]));
            Assert.Equal(long.Parse(lvm.Report("vgs", "vg_seqno")[0][0]), vg.Seqno);
            Assert.Equal("test--vg-second--lv", NativeInit.Core.Lvm.DmNames.DeviceName(vg.Name, second.Name));
        }
    }

    [SkippableFact]
    public void Nativeinit_reads_what_lvcreate_writes()
    {
        using var loop = LoopImage.ForLvm(100 * MiB);
        using var lvm = new LvmOracle(loop.Device);
        lvm.Check("pvcreate", loop.Device);
        lvm.Check("vgcreate", "vg-x", loop.Device);
        lvm.Check("lvcreate", "-an", "-Zn", "-L", "7m", "-n", "lv-one", "vg-x"); // rounded up to 2 extents
        lvm.Check("lvcreate", "-an", "-Zn", "-l", "100%FREE", "-n", "two", "vg-x");
        var ranges = lvm.Report("lvs", "lv_name,lv_uuid,seg_pe_ranges").ToDictionary(r => r[0], r => (Id: r[1], Range: r[2]));

        using var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.Read);
        var vg = LvmDiskFormat.Read(h, 0, loop.Device).VolumeGroup!;
        Assert.Equal(["lv-one", "two"], vg.LogicalVolumes.Select(l => l.Name));
        foreach (var lv in vg.LogicalVolumes)
        {
            Assert.Equal(ranges[lv.Name].Id, lv.Id);
            var s = Assert.Single(lv.Segments);
            Assert.Equal($"{loop.Device}:{s.Stripes[0].StartExtent}-{s.Stripes[0].StartExtent + s.ExtentCount - 1}", ranges[lv.Name].Range);
            Assert.NotNull(lv.CreationTime);
            Assert.False(string.IsNullOrEmpty(lv.CreationHost));
        }
        Assert.Equal(2, vg.FindLv("lv-one")!.ExtentCount);
        Assert.Equal(22, vg.FindLv("two")!.ExtentCount);
        Assert.Equal(3, vg.Seqno);
    }

    [SkippableFact]
    public void Lvm2_extends_an_lv_in_a_vg_written_by_nativeinit_and_nativeinit_reads_the_result()
    {
        using var loop = LoopImage.ForLvm(128 * MiB);
        using (var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.ReadWrite))
        {
            var (vg, g) = LvmBuilder.Create("VA", 4 * MiB, 128 * MiB, loop.Device,
                [new("root", 40 * MiB), new("image", 16 * MiB), new("data", 16 * MiB)], identity: LvmDiskFormatTests.FixedIds);
            LvmDiskFormat.WriteNewPv(h, 0, g, vg, "pv0", loop.Device);
        }
        using var lvm = new LvmOracle(loop.Device);
        // What the system does after a successful conversion: the "grow" LV takes the rest.
        lvm.Check("lvextend", "-l", "+100%FREE", "VA/root");

        using var r = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.Read);
        var pv = LvmDiskFormat.Read(r, 0, loop.Device);
        var back = pv.VolumeGroup!;
        Assert.Equal(2, back.Seqno);
        Assert.True(pv.MetadataArea!.Locations[0].Offset > 512); // lvm2 wrote its copy after NativeInit's
        var root = back.FindLv("root")!;
        Assert.Equal(31 - 4 - 4, root.ExtentCount);
        Assert.Equal([(0L, 10L, 0L), (10L, 13L, 18L)], root.Segments.Select(s => (s.StartExtent, s.ExtentCount, s.Stripes[0].StartExtent)));
        var table = NativeInit.Core.Layout.LvmActivation.Table(back, root, new Dictionary<string, (uint, uint)> { ["pv0"] = (8, 3) });
        Assert.Equal([(0UL, 10UL * 8192, 2048UL), (10UL * 8192, 13UL * 8192, 2048UL + 18 * 8192)],
            table.Select(t => (t.StartSector, t.LengthSectors, t.DeviceOffsetSectors)));
        Assert.Equal(LvmDiskFormatTests.FixedIds.LvIds!["root"], root.Id);
    }

    [SkippableFact]
    public void Allocation_matches_lvcreate_for_the_field_layout()
    {
        long pvBytes = 18868191L * 512; // partition 3 of the 10 GiB field disk
        using var loop = LoopImage.ForLvm(pvBytes);
        using var lvm = new LvmOracle(loop.Device);
        lvm.Check("pvcreate", loop.Device);
        lvm.Check("vgcreate", "-s", "4m", "VA", loop.Device);
        lvm.Check("lvcreate", "-an", "-Zn", "-L", "7.8g", "-n", "root", "VA");
        lvm.Check("lvcreate", "-an", "-Zn", "-L", "512m", "-n", "image", "VA");
        lvm.Check("lvcreate", "-an", "-Zn", "-L", "512m", "-n", "data", "VA");
        var theirs = lvm.Report("lvs", "lv_name,lv_size,seg_pe_ranges").ToDictionary(r => r[0], r => (Size: long.Parse(r[1]), Range: r[2]));
        var pvs = lvm.Report("pvs", "pe_start,pv_pe_count")[0];

        var (vg, g) = LvmBuilder.Create("VA", 4 * MiB, pvBytes, loop.Device,
            [new("root", (long)(7.8 * (1L << 30))), new("image", 512 * MiB), new("data", 512 * MiB)]);
        Assert.Equal([g.PeStartBytes.ToString(), g.PeCount.ToString()], pvs);
        foreach (var lv in vg.LogicalVolumes)
        {
            long start = lv.Segments[0].Stripes[0].StartExtent;
            Assert.Equal((lv.ExtentCount * 4 * MiB, $"{loop.Device}:{start}-{start + lv.ExtentCount - 1}"), theirs[lv.Name]);
        }
    }

    [SkippableTheory]
    [InlineData("root", "0-9 15-30")]   // the new extents follow data: root gets a second segment
    [InlineData("data", "14-30")]       // the new extents follow data: its segment grows
    public void Grown_pv_and_lv_are_what_lvm2_sees(string grow, string expectedRanges)
    {
        using var loop = LoopImage.ForLvm(128 * MiB);
        LvmVolumeGroup grown;
        using (var h = File.OpenHandle(loop.Device, FileMode.Open, FileAccess.ReadWrite))
        {
            // Written for a 64 MiB partition (15 extents), then the partition grows to 128 MiB (31 extents).
            var (vg, g) = LvmBuilder.Create("VA", 4 * MiB, 64 * MiB, loop.Device,
                [new("root", 40 * MiB), new("image", 16 * MiB), new("data", 4 * MiB)], identity: LvmDiskFormatTests.FixedIds);
            LvmDiskFormat.WriteNewPv(h, 0, g, vg, "pv0", loop.Device);
            Assert.Empty(LvmGrow.FreeRanges(vg, "pv0")); // 15 extents: root 0-9, image 10-13, data 14
            grown = LvmGrow.Plan(vg, g.PeStartBytes, 128 * MiB, grow);
            LvmGrow.Write(h, 0, grown, 128 * MiB, loop.Device);
            Assert.Equal(128 * MiB, LvmDiskFormat.Read(h, 0, loop.Device).Label.DeviceSize);
        }
        using var lvm = new LvmOracle(loop.Device);
        Assert.Equal(["31", "31", (128 * MiB).ToString(), "2"], Assert.Single(lvm.Report("pvs", "pv_pe_count,pv_pe_alloc_count,dev_size,vg_seqno")));
        var seg = lvm.Report("lvs", "lv_name,seg_pe_ranges", "--segments").Where(r => r[0] == grow).Select(r => r[1][(r[1].LastIndexOf(':') + 1)..]);
        Assert.Equal(expectedRanges, string.Join(' ', seg));
        Assert.Equal(grown.FindLv(grow)!.ExtentCount * 4 * MiB, long.Parse(lvm.Report("lvs", "lv_name,lv_size").Single(r => r[0] == grow)[1]));
        Assert.Equal(0, lvm.Run("vgck", "VA").ExitCode);
        var pvck = lvm.Run("pvck", loop.Device);
        Assert.True(pvck.ExitCode == 0, pvck.ToString());
    }
}
