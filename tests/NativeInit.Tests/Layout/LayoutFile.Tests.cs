using NativeInit.Core;
using NativeInit.Core.Layout;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Layout;

public class LayoutFileTests
{
    private const string IssueExample = """
        {
          "partitionTable": "target.gpt",
          "volumeGroup": {
            "name": "VA",
            "partition": 3,
            "extentSize": "4MiB",
            "logicalVolumes": [
              { "name": "root",  "size": "7.8GiB", "filesystem": "xfs", "mountPoint": "/" },
              { "name": "image", "size": "512MiB", "filesystem": "xfs", "mountPoint": "/image" },
              { "name": "data",  "size": "512MiB", "filesystem": "xfs", "mountPoint": "/data" }
            ]
          }
        }
        """;

    [Fact]
    public void The_issue_example_parses()
    {
        var l = LayoutFile.Parse(IssueExample, "/bundle/layout.json");
        Assert.Equal("/bundle/target.gpt", l.PartitionTablePath);
        Assert.Equal("VA", l.VolumeGroupName);
        Assert.Equal(3, l.Partition);
        Assert.Equal(4L << 20, l.ExtentSize);
        Assert.Equal(["root", "image", "data"], l.LogicalVolumes.Select(v => v.Name));
        Assert.Equal((long)(7.8 * (1L << 30)), l.LogicalVolumes[0].SizeBytes);
        Assert.Equal("/image", l.LogicalVolumes[1].MountPoint);
        Assert.All(l.LogicalVolumes, v => Assert.Equal("xfs", v.Filesystem));
    }

    [Fact]
    public void Optional_keys_parse()
    {
        var l = LayoutFile.Parse("""
            { "partitionTable": "/abs/t.gpt",
              "volumeGroup": { "name": "vg-1", "partition": 2, "metadataSize": "2MiB", "grow": "root",
                "logicalVolumes": [
                  { "name": "root", "size": 1073741824, "filesystem": "ext4", "label": "rootfs", "mkfsOptions": ["-E", "lazy_itable_init=0"] },
                  { "name": "swap", "size": "1GiB", "filesystem": "swap" },
                  { "name": "free", "size": "rest" } ] } }
            """, "l.json");
        Assert.Equal("/abs/t.gpt", l.PartitionTablePath);
        Assert.Equal(2L << 20, l.MetadataSize);
        Assert.Equal("root", l.Grow);
        Assert.Equal(LayoutFile.DefaultExtentSize, l.ExtentSize);
        Assert.Equal(["-E", "lazy_itable_init=0"], l.LogicalVolumes[0].MkfsOptions);
        Assert.Equal("rootfs", l.LogicalVolumes[0].Label);
        Assert.True(l.LogicalVolumes[2].IsRest);
        Assert.Null(l.LogicalVolumes[2].Filesystem);
    }

    [Theory]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "root", "sise": "1GiB" } ] } }""", "volumeGroup.logicalVolumes[0].sise")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "root", "size": "1 parsec" } ] } }""", "volumeGroup.logicalVolumes[0].size")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 0, "logicalVolumes": [ { "name": "root", "size": "1GiB" } ] } }""", "volumeGroup.partition")]
    [InlineData("""{ "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "root", "size": "1GiB" } ] } }""", "partitionTable: is missing")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "partition": 3, "logicalVolumes": [ { "name": "root", "size": "1GiB" } ] } }""", "volumeGroup.name: is missing")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "V/A", "partition": 3, "logicalVolumes": [ { "name": "root", "size": "1GiB" } ] } }""", "volumeGroup.name")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "a", "size": "rest" }, { "name": "b", "size": "rest" } ] } }""", "only one logical volume")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "a", "size": "1G" }, { "name": "a", "size": "1G" } ] } }""", "volumeGroup.logicalVolumes[1].name")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "3000", "logicalVolumes": [ { "name": "a", "size": "1G" } ] } }""", "volumeGroup.extentSize")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "grow": "nope", "logicalVolumes": [ { "name": "a", "size": "1G" } ] } }""", "volumeGroup.grow")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "a", "size": "1G", "filesystem": "ntfs" } ] } }""", "volumeGroup.logicalVolumes[0].filesystem")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "a", "size": "1G", "filesystem": "xfs", "mkfsOptions": "-f" } ] } }""", "volumeGroup.logicalVolumes[0].mkfsOptions")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [] } }""", "volumeGroup.logicalVolumes")]
    [InlineData("""{ "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "a" "size": "1G" } ] } }""", "not valid JSON")]
    [InlineData("""{ "partitionTable": "t", "volumeGroups": {} }""", "volumeGroups")]
    public void Errors_name_the_key_and_refuse(string json, string expected)
    {
        var e = Assert.Throws<RefusedException>(() => LayoutFile.Parse(json, "layout.json"));
        Assert.Contains(expected, e.Message);
        Assert.Equal(ExitCodes.Refused, e.ExitCode);
    }

    // ---------------------------------------------------------------- A/B slots (issue 14)

    private const string AbVolumes = """
        { "partitionTable": "t", "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [
          { "name": "root_a", "size": "1GiB", "filesystem": "xfs", "mountPoint": "/", "slot": "A" },
          { "name": "root_b", "size": "1GiB", "filesystem": "xfs", "slot": "B" },
          { "name": "data", "size": "rest", "filesystem": "xfs", "mountPoint": "/data" } ] } }
        """;

    [Fact]
    public void Slots_parse_and_a_layout_without_them_has_none()
    {
        var l = LayoutFile.Parse(AbVolumes, "ab.json");
        Assert.True(l.HasSlots);
        Assert.Equal("root_a", l.SlotVolume("A")!.Name);
        Assert.Equal("root_b", l.SlotVolume("B")!.Name);
        Assert.Null(l.LogicalVolumes[2].Slot);
        var plain = LayoutFile.Parse(IssueExample, "l.json");
        Assert.False(plain.HasSlots);
        Assert.Null(plain.SlotVolume("A"));
        Assert.All(plain.LogicalVolumes, v => Assert.Null(v.Slot));
    }

    [Theory]
    [InlineData("\"slot\": \"B\" }", "\"slot\": \"C\" }", "logicalVolumes[1].slot: 'C' is not one of A, B")]
    [InlineData("\"slot\": \"B\" }", "\"slot\": \"A\" }", "slot A is already LV root_a")]
    [InlineData("{ \"name\": \"root_b\", \"size\": \"1GiB\", \"filesystem\": \"xfs\", \"slot\": \"B\" },", "", "needs both slots; no LV has \"slot\": \"B\"")]
    [InlineData("\"filesystem\": \"xfs\", \"slot\": \"B\"", "\"slot\": \"B\"", "logicalVolumes[1].slot: a root slot needs filesystem")]
    [InlineData("\"size\": \"1GiB\", \"filesystem\": \"xfs\", \"slot\": \"B\"", "\"size\": \"1GiB\", \"filesystem\": \"xfs\", \"mountPoint\": \"/b\", \"slot\": \"B\"", "logicalVolumes[1].mountPoint: slot B is not mounted")]
    [InlineData("\"mountPoint\": \"/\", \"slot\": \"A\"", "\"mountPoint\": \"/a\", \"slot\": \"A\"", "its mountPoint must be \"/\"")]
    [InlineData("{ \"name\": \"root_b\", \"size\": \"1GiB\"", "{ \"name\": \"root_b\", \"size\": \"rest\"", "a fixed size")]
    [InlineData("\"partition\": 3,", "\"partition\": 3, \"grow\": \"root_b\",", "volumeGroup.grow: 'root_b' is root slot B")]
    public void Bad_slots_are_refused_naming_the_key(string from, string to, string expected)
    {
        string json = AbVolumes.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(AbVolumes, json);
        var e = Assert.Throws<RefusedException>(() => LayoutFile.Parse(json, "ab.json"));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("layout-field.json", false)]
    [InlineData("layout-ab.json", true)]
    public void The_reference_layouts_in_examples_parse_and_fit_the_10_GiB_reference_disk(string file, bool slots)
    {
        var l = LayoutFile.Load(Path.Combine(Tool.RepoRoot, "examples", file));
        Assert.Equal("VA", l.VolumeGroupName);
        Assert.Equal(slots, l.HasSlots);
        Assert.Equal("/boot", l.BootPartition!.MountPoint);
        Assert.Equal("/", l.LogicalVolumes.Single(v => v.MountPoint == "/").MountPoint);
        if (slots)
        {
            Assert.Equal(["root_a", "root_b", "image", "data"], l.LogicalVolumes.Select(v => v.Name));
            Assert.Equal("/", l.SlotVolume("A")!.MountPoint);
            Assert.Equal(l.SlotVolume("A")!.SizeBytes, l.SlotVolume("B")!.SizeBytes);
        }
        // The fixed sizes fit the LVM partition of the 10 GiB reference disk (BIOS boot 2 MiB, /boot 1 GiB, the rest),
        // leaving room for "rest", the metadata and the GPT.
        long pv = (10L << 30) - (1L << 20) - (2L << 20) - (1L << 30) - (1L << 20) - (1L << 20);
        long fixedSizes = l.LogicalVolumes.Where(v => !v.IsRest).Sum(v => (v.SizeBytes!.Value + l.ExtentSize - 1) / l.ExtentSize * l.ExtentSize);
        Assert.True(fixedSizes + (64L << 20) < pv, $"{file}: {fixedSizes} bytes of fixed LVs on a {pv}-byte PV");
    }
}
