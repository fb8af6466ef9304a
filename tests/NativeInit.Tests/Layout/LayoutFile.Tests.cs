using NativeInit.Core;
using NativeInit.Core.Layout;

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
}
