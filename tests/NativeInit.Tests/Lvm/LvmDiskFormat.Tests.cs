using Microsoft.Win32.SafeHandles;
using NativeInit.Core.Lvm;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Lvm;

public class LvmDiskFormatTests
{
    private const long MiB = 1 << 20;

    internal static readonly LvmIdentity FixedIds = new()
    {
        VgId = "Vgid01-aaaa-bbbb-cccc-dddd-eeee-ffffff",
        PvId = "Pvid01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFFFF",
        LvIds = new Dictionary<string, string>
        {
            ["root"] = "Root01-0000-1111-2222-3333-4444-555555",
            ["image"] = "Image1-0000-1111-2222-3333-4444-555555",
            ["data"] = "Data01-0000-1111-2222-3333-4444-555555",
        },
        Time = 1_790_000_000,
        Host = "testhost",
    };

    internal static LvmVolumeGroup WriteVa(SafeFileHandle h, long offset, long pvSize, string hint)
    {
        var (vg, g) = LvmBuilder.Create("VA", 4 * MiB, pvSize, hint,
            [new("root", 60 * MiB), new("image", 22 * MiB), new("data", null)], identity: FixedIds);
        LvmDiskFormat.WriteNewPv(h, offset, g, vg, "pv0", hint);
        return vg;
    }

    [Theory]
    [InlineData(null, 1L << 20)]
    [InlineData(512L << 10, 1L << 20)]
    [InlineData(1L << 20, 2L << 20)]
    [InlineData(2L << 20, 3L << 20)]
    [InlineData(4L << 20, 5L << 20)]
    public void Geometry_matches_pvcreate_metadatasize(long? metadataSize, long peStart)
    {
        // pvcreate --metadatasize M on lvm2 2.03: pe_start = 4096 + M rounded up to 1 MiB, the area fills the gap.
        var g = LvmDiskFormat.Geometry(100 * MiB, 4 * MiB, metadataSize);
        Assert.Equal(peStart, g.PeStartBytes);
        Assert.Equal(peStart - 4096, g.MetadataAreaSize);
        Assert.Equal((100 * MiB - peStart) / (4 * MiB), g.PeCount);
    }

    [Fact]
    public void Crc_matches_lvm2_initial_value_semantics()
    {
        // calc_crc over nothing returns the initial value; over bytes it is the reflected CRC-32 without final xor:
        // zlib crc32 ("123456789") = 0xCBF43926 = ~calc_crc(0xFFFFFFFF, ...).
        Assert.Equal(LvmCrc.Initial, LvmCrc.Compute([]));
        Assert.Equal(0xCBF43926u, ~LvmCrc.Compute("123456789"u8, 0xFFFFFFFF));
    }

    [Fact]
    public void Ids_are_32_chars_printed_6_4_4_4_4_4_6()
    {
        string id = LvmId.New();
        Assert.Matches("^[A-Za-z0-9]{6}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{6}$", id);
        Assert.NotEqual(id, LvmId.New());
        Assert.Equal(id, LvmId.Format(LvmId.Raw(id)));
        Assert.Throws<NativeInit.Core.InvalidDataFormatException>(() => LvmId.Raw("short"));
    }

    [Fact]
    public void Written_pv_reads_back_and_is_deterministic()
    {
        using var dir = new TempDir();
        string a = dir.Combine("a.img"), b = dir.Combine("b.img");
        foreach (var p in new[] { a, b })
        {
            using var fs = File.Create(p);
            fs.SetLength(128 * MiB);
        }
        LvmVolumeGroup vg;
        using (var h = File.OpenHandle(a, FileMode.Open, FileAccess.ReadWrite)) vg = WriteVa(h, 0, 128 * MiB, "/dev/sda3");
        using (var h = File.OpenHandle(b, FileMode.Open, FileAccess.ReadWrite)) WriteVa(h, 0, 128 * MiB, "/dev/sda3");
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));

        using var r = File.OpenHandle(a, FileMode.Open, FileAccess.Read);
        var pv = LvmDiskFormat.Read(r, 0, a);
        Assert.Equal(FixedIds.PvId, pv.Label.PvId);
        Assert.Equal(128 * MiB, pv.Label.DeviceSize);
        Assert.Equal(MiB, pv.PeStartBytes);
        Assert.Equal(2u, pv.Label.ExtensionVersion);
        var back = pv.VolumeGroup!;
        Assert.Equal("VA", back.Name);
        Assert.Equal(FixedIds.VgId, back.Id);
        Assert.Equal(8192, back.ExtentSize);
        Assert.Equal(31, back.PhysicalVolumes[0].PeCount); // (128 MiB - 1 MiB) / 4 MiB
        Assert.Equal(["root", "image", "data"], back.LogicalVolumes.Select(l => l.Name));
        Assert.Equal([15L, 6L, 10L], back.LogicalVolumes.Select(l => l.ExtentCount)); // 60 MiB, 22 MiB -> 6 extents, rest
        Assert.Equal([0L, 15L, 21L], back.LogicalVolumes.Select(l => l.Segments[0].Stripes[0].StartExtent));
        Assert.Equal(LvmMetadataText.Write(vg), pv.MetadataText);
    }

    [Fact]
    public void Corrupt_label_and_metadata_are_detected()
    {
        using var dir = new TempDir();
        string a = dir.Combine("a.img");
        using (var fs = File.Create(a)) fs.SetLength(128 * MiB);
        using (var h = File.OpenHandle(a, FileMode.Open, FileAccess.ReadWrite)) WriteVa(h, 0, 128 * MiB, "x");
        var bytes = File.ReadAllBytes(a);
        bytes[512 + 40] ^= 1; // pv uuid byte
        File.WriteAllBytes(a, bytes);
        using (var h = File.OpenHandle(a, FileMode.Open, FileAccess.Read))
            Assert.Contains("label CRC", Assert.Throws<NativeInit.Core.InvalidDataFormatException>(() => LvmDiskFormat.Read(h, 0, a)).Message);
        bytes[512 + 40] ^= 1;
        bytes[4096 + 512 + 3] ^= 1; // metadata text
        File.WriteAllBytes(a, bytes);
        using (var h = File.OpenHandle(a, FileMode.Open, FileAccess.Read))
            Assert.Contains("metadata text CRC", Assert.Throws<NativeInit.Core.InvalidDataFormatException>(() => LvmDiskFormat.Read(h, 0, a)).Message);
    }

    [Fact]
    public void Update_writes_after_the_current_copy_and_wraps()
    {
        using var dir = new TempDir();
        string a = dir.Combine("a.img");
        using (var fs = File.Create(a)) fs.SetLength(64 * MiB);
        using var h = File.OpenHandle(a, FileMode.Open, FileAccess.ReadWrite);
        // 60 LVs make a ~25 KB text, so the 1 MiB circular area wraps after a few dozen commits.
        var (vg, g) = LvmBuilder.Create("vg", MiB, 64 * MiB, "x", Enumerable.Range(0, 60).Select(i => new LvmVolumeRequest($"lv{i}", MiB)).ToList(),
            metadataSize: 8192, identity: FixedIds);
        Assert.Equal(MiB, g.PeStartBytes);
        LvmDiskFormat.WriteNewPv(h, 0, g, vg, "pv0", a);
        long lastOffset = 0;
        bool wrapped = false;
        for (int i = 2; i < 2000; i++)
        {
            vg.Seqno = i;
            LvmDiskFormat.UpdateMetadata(h, 0, vg, a);
            var pv = LvmDiskFormat.Read(h, 0, a);
            Assert.Equal(i, pv.VolumeGroup!.Seqno);
            long off = pv.MetadataArea!.Locations[0].Offset;
            if (off < lastOffset) { wrapped = true; break; }
            lastOffset = off;
        }
        Assert.True(wrapped);
        vg.Seqno = 1;
        Assert.Throws<NativeInit.Core.NativeInitException>(() => LvmDiskFormat.UpdateMetadata(h, 0, vg, a));
    }

    [Fact]
    public void Parser_reads_lvm2_backup_syntax_with_comments_escapes_and_floats()
    {
        string text = """
            # Generated by LVM2 version 2.03.16(2) (2022-05-18): Fri Nov 27 17:26:38 2026

            contents = "Text Format Volume Group"
            version = 1

            description = "Created *after* executing 'vgcreate \"x\" /dev/loop0'"

            creation_host = "vm"	# Linux vm 6.1 x86_64
            creation_time = 1795800398	# Fri Nov 27 17:26:38 2026

            my-vg {
            	id = "npBudw-rW9h-Rjd3-p1ep-mL8B-3gvp-I6d3uh"
            	seqno = 3
            	format = "lvm2"			# informational
            	status = ["RESIZEABLE", "READ", "WRITE"]
            	flags = []
            	extent_size = 8192		# 4 Megabytes
            	max_lv = 0
            	max_pv = 0
            	metadata_copies = 0
            	some_float = 1.5

            	physical_volumes {

            		pv0 {
            			id = "1B9dKg-L2Yq-pVY1-jBFw-umMq-Jvtk-qJTKwD"
            			device = "/dev/loop0"	# Hint only

            			status = ["ALLOCATABLE"]
            			flags = []
            			dev_size = 204800	# 100 Megabytes
            			pe_start = 2048
            			pe_count = 24	# 96 Megabytes
            		}
            	}

            	logical_volumes {

            		lv-1 {
            			id = "abcdef-ABCD-0123-4567-89ab-cdef-ghijkl"
            			status = ["READ", "WRITE", "VISIBLE"]
            			flags = []
            			segment_count = 2

            			segment1 {
            				start_extent = 0
            				extent_count = 2	# 8 Megabytes

            				type = "striped"
            				stripe_count = 1	# linear

            				stripes = [
            					"pv0", 10
            				]
            			}
            			segment2 {
            				start_extent = 2
            				extent_count = 3

            				type = "striped"
            				stripe_count = 1

            				stripes = [
            					"pv0", 0
            				]
            			}
            		}
            	}
            }
            """;
        var vg = LvmMetadataText.Read(text);
        Assert.Equal("my-vg", vg.Name);
        Assert.Equal(3, vg.Seqno);
        Assert.Equal("Created *after* executing 'vgcreate \"x\" /dev/loop0'", vg.Description);
        Assert.Equal(1795800398, vg.CreationTime);
        var lv = Assert.Single(vg.LogicalVolumes);
        Assert.Equal(5, lv.ExtentCount);
        Assert.Equal(("pv0", 10L), lv.Segments[0].Stripes[0]);
        Assert.Equal(2, lv.Segments[1].StartExtent);
        Assert.Equal(MiB + 10 * 4 * MiB, LvmReport.LinearOffset(vg, lv)); // pe_start 2048 sectors + extent 10
    }

    [Theory]
    [InlineData("vg {", "not closed")]
    [InlineData("vg { id = }", "value")]
    [InlineData("vg { id = [\"a\", ] }", "value")]
    [InlineData("vg { id = \"abc }", "not closed")]
    public void Parser_errors_name_the_problem(string text, string expected)
    {
        var e = Assert.Throws<NativeInit.Core.InvalidDataFormatException>(() => LvmConfigParser.Parse(text));
        Assert.Contains(expected, e.Message);
    }
}
