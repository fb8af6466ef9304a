using System.Text.Json;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Layout;

/// <summary>The published binary's `layout` and `lvm show` commands: exit codes, refusal without --yes, JSON.</summary>
[Trait("Category", "Integration")]
public class LayoutCliTests
{
    private const long MiB = 1 << 20;

    [SkippableFact]
    public void Apply_refuses_without_yes_then_writes_with_it_and_lvm_show_reads_it_back()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("sgdisk");
        using var dir = new TempDir();
        string reference = dir.Combine("ref.img");
        using (var fs = File.Create(reference)) fs.SetLength(64 * MiB);
        Tool.Check("sgdisk", "-o", "-n", "1:2048:+1M", "-t", "1:EF02", "-n", "2:0:+8M", "-n", "3:0:0", "-t", "3:8E00", reference);
        Tool.Check("sgdisk", "--backup=" + dir.Combine("t.gpt"), reference);
        File.WriteAllText(dir.Combine("layout.json"), """
            { "partitionTable": "t.gpt", "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "1MiB",
              "logicalVolumes": [ { "name": "root", "size": "20MiB" }, { "name": "data", "size": "rest" } ] } }
            """);
        string image = dir.Combine("disk.img");
        using (var fs = File.Create(image)) fs.SetLength(80 * MiB);

        var r = Tool.Run(ni, "layout", "apply", "--layout", dir.Combine("layout.json"), "--image", image);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("--yes", r.Stderr);
        Assert.Contains("pe_count", r.Stdout);
        Assert.True(File.ReadAllBytes(image).AsSpan().IndexOfAnyExcept((byte)0) < 0, "apply without --yes wrote to the image");

        r = Tool.Run(ni, "layout", "plan", "--layout", dir.Combine("layout.json"), "--image", image, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var plan = JsonDocument.Parse(r.Stdout);
        long pvOffset = plan.RootElement.GetProperty("pv").GetProperty("offset").GetInt64();

        r = Tool.Run(ni, "layout", "apply", "--layout", dir.Combine("layout.json"), "--image", image, "--yes");
        Assert.True(r.ExitCode == 0, r.ToString());

        r = Tool.Run(ni, "lvm", "show", image, "--offset", pvOffset.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var show = JsonDocument.Parse(r.Stdout);
        var lvs = show.RootElement.GetProperty("vg").GetProperty("logicalVolumes");
        Assert.Equal("root", lvs[0].GetProperty("name").GetString());
        Assert.Equal(20, lvs[0].GetProperty("extents").GetInt64());
        Assert.Equal("VA-data", lvs[1].GetProperty("dmName").GetString());
        Assert.Equal(plan.RootElement.GetProperty("pv").GetProperty("peCount").GetInt64() - 20, lvs[1].GetProperty("extents").GetInt64());

        r = Tool.Run(ni, "lvm", "show", image, "--partition", "3", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using (var byPartition = JsonDocument.Parse(r.Stdout))
        {
            Assert.Equal(pvOffset, byPartition.RootElement.GetProperty("offset").GetInt64());
            Assert.Equal(show.RootElement.GetProperty("vg").GetProperty("id").GetString(), byPartition.RootElement.GetProperty("vg").GetProperty("id").GetString());
        }

        r = Tool.Run(ni, "lvm", "show", image, "-p", "3", "--metadata");
        Assert.True(r.ExitCode == 0, r.ToString());
        var text = NativeInit.Core.Lvm.LvmMetadataText.Read(r.Stdout);
        Assert.Equal(show.RootElement.GetProperty("vg").GetProperty("id").GetString(), text.Id);

        r = Tool.Run(ni, "lvm", "show", reference);
        Assert.True(r.ExitCode == 3 && r.Stderr.Contains("no LVM2 label", StringComparison.Ordinal), r.ToString());
    }
}
