using System.Text.Json;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Cli;

/// <summary>
/// Issue 18 for the write commands `layout apply` and `gpt apply` (`grow`: Conversion/ConvertInterruption.Tests.cs):
/// with their output lost (/dev/full) or their terminal hung up (SIGHUP half-way) they do the whole write, and the log
/// file they own (IMAGE.nativeinit.log beside an image, or --log FILE) holds the whole output. A run that writes
/// nothing leaves no log file.
/// </summary>
[Trait("Category", "Integration")]
public class WriteLogsTests
{
    private const long MiB = 1 << 20;

    private sealed class Target : IDisposable
    {
        public readonly TempDir Dir = new();
        public string Layout => Dir.Combine("layout.json");
        public string Backup => Dir.Combine("t.gpt");
        public string Image => Dir.Combine("disk.img");
        public string Log => Image + ".nativeinit.log";

        public Target(bool filesystems)
        {
            string reference = Dir.Combine("ref.img");
            using (var fs = File.Create(reference)) fs.SetLength(96 * MiB);
            Tool.Check("sgdisk", "-o", "-n", "1:2048:+1M", "-t", "1:EF02", "-n", "2:0:+8M", "-n", "3:0:0", "-t", "3:8E00", reference);
            Tool.Check("sgdisk", "--backup=" + Backup, reference);
            string fs1 = filesystems ? """, "filesystem": "ext4", "label": "root" """ : "";
            string fs2 = filesystems ? """, "filesystem": "ext4" """ : "";
            File.WriteAllText(Layout, $$"""
                { "partitionTable": "t.gpt", "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "1MiB",
                  "logicalVolumes": [ { "name": "root", "size": "40MiB"{{fs1}} }, { "name": "data", "size": "rest"{{fs2}} } ] } }
                """);
            using (var fs = File.Create(Image)) fs.SetLength(128 * MiB);
        }

        public void Dispose() => Dir.Dispose();
    }

    /// <summary>Every non-empty line <paramref name="r"/> printed is in the log text.</summary>
    private static void AssertHoldsAll(string log, ToolResult r)
    {
        var lines = (r.Stdout + r.Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        foreach (var l in lines) Assert.True(log.Contains(l, StringComparison.Ordinal), $"the log lacks the line '{l}':\n{log}");
    }

    [SkippableFact]
    public void Layout_apply_with_its_output_lost_writes_the_layout_and_its_log_holds_the_whole_output()
    {
        string ni = Tool.RequireNativeInit();
        Tool.RequireRoot();
        Tool.Require("sgdisk", "mkfs.ext4");
        using var t = new Target(filesystems: true);
        // No --yes, --dry-run: nothing written, no log file.
        Assert.Equal(3, Tool.Run(ni, "layout", "apply", "--layout", t.Layout, "--image", t.Image).ExitCode);
        Assert.Equal(0, Tool.Run(ni, "layout", "apply", "--layout", t.Layout, "--image", t.Image, "--dry-run").ExitCode);
        Assert.False(File.Exists(t.Log), "a run that writes nothing left a log file");

        var full = OutputLossTests.RunOnFull(ni, "layout", "apply", "--layout", t.Layout, "--image", t.Image, "--yes");
        Assert.True(full.ExitCode == 0, full.ToString());
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", t.Image));
        string lost = File.ReadAllText(t.Log);
        Assert.StartsWith("--- ", lost);
        Assert.Contains("nativeinit layout apply (pid", lost);

        // The plan (standard output) and the progress (standard error) of this very run: the VG id on the disk.
        using (var doc = JsonDocument.Parse(Tool.Check(ni, "lvm", "show", t.Image, "--partition", "3", "--json")))
            Assert.Contains($"VG VA: id {doc.RootElement.GetProperty("vg").GetProperty("id").GetString()}", lost);
        foreach (var l in new[] { "layout.json on image ", "  writes:", "LV wipes (before the PV is written):", "wrote the GPT: 3 partitions",
            "wiped 4 regions of the LVs", "wrote PV ", "made ext4 on LV root through /dev/loop", "made ext4 on LV data through /dev/loop",
            $"{t.Image}: layout applied" })
            Assert.Contains(l, lost);

        // Applied again with --log: the output goes there, the log beside the image is left as it was.
        var seen = Tool.Run(ni, "layout", "apply", "--layout", t.Layout, "--image", t.Image, "--yes", "--log", t.Dir.Combine("seen.log"));
        Assert.True(seen.ExitCode == 0, seen.ToString());
        AssertHoldsAll(File.ReadAllText(t.Dir.Combine("seen.log")), seen);
        Assert.Equal(lost, File.ReadAllText(t.Log));
    }

    [SkippableFact]
    public void Layout_apply_survives_a_hang_up_half_way()
    {
        string ni = Tool.RequireNativeInit();
        Tool.RequireRoot();
        Tool.Require("sgdisk", "mkfs.ext4");
        using var t = new Target(filesystems: true);
        var r = SignalRun.Run(ni, ["layout", "apply", "--layout", t.Layout, "--image", t.Image, "--yes"],
            l => l.StartsWith("wrote the GPT", StringComparison.Ordinal), "HUP");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("layout applied", r.Stderr);
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", t.Image));
        Assert.Equal("ext4", BlkidOfRoot(ni, t.Image));
        AssertHoldsAll(File.ReadAllText(t.Log), r);
    }

    private static string BlkidOfRoot(string ni, string image)
    {
        using var doc = JsonDocument.Parse(Tool.Check(ni, "lvm", "show", image, "--partition", "3", "--json"));
        var d = doc.RootElement;
        var vg = d.GetProperty("vg");
        var root = vg.GetProperty("logicalVolumes")[0];
        long off = d.GetProperty("offset").GetInt64() + vg.GetProperty("physicalVolumes")[0].GetProperty("peStartSectors").GetInt64() * 512
            + root.GetProperty("segments")[0].GetProperty("pvStartExtent").GetInt64() * vg.GetProperty("extentSizeBytes").GetInt64();
        return Tool.Sh($"l=$(losetup --find --show -r --offset {off} --sizelimit {root.GetProperty("size").GetInt64()} {Tool.Quote(image)}); " +
            "blkid -p -o value -s TYPE $l; losetup -d $l").Trim();
    }

    [SkippableFact]
    public void Gpt_apply_logs_to_the_file_asked_for_and_with_json_the_log_holds_the_json()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("sgdisk");
        using var t = new Target(filesystems: false);
        string log = t.Dir.Combine("logs", "gpt.log");
        Assert.Equal(0, Tool.Run(ni, "gpt", "apply", t.Backup, "--disk", t.Image, "--dry-run", "--log", log).ExitCode);
        Assert.False(File.Exists(log), "a dry run left a log file");
        var full = OutputLossTests.RunOnFull(ni, "gpt", "apply", t.Backup, "--disk", t.Image, "--json", "--log", log);
        Assert.True(full.ExitCode == 0, full.ToString());
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", t.Image));
        Assert.False(File.Exists(t.Log), "--log was given: nothing beside the image");
        string text = File.ReadAllText(log);
        int start = text.IndexOf('{'), end = text.IndexOf("\n}", StringComparison.Ordinal);
        using (var plan = JsonDocument.Parse(text[start..(end + 2)]))
            Assert.Equal(t.Image, plan.RootElement.GetProperty("disk").GetString());
        Assert.Contains("written (image file: no kernel notification)", text);
    }

    [SkippableFact]
    public void A_signal_before_the_first_write_stops_layout_apply_and_gpt_apply_with_nothing_written()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("sgdisk");
        using var t = new Target(filesystems: false);
        foreach (var (args, signal) in new (string[], string)[]
        {
            (["layout", "apply", "--layout", t.Layout, "--image", t.Image, "--yes"], "INT"),
            (["gpt", "apply", t.Backup, "--disk", t.Image], "TERM"),
        })
        {
            var r = SignalRun.AtPoint(ni, args, "first-write", signal, t.Dir.Path);
            Assert.True(r.ExitCode == 3, r.ToString());
            Assert.Contains($"interrupted by SIG{signal} before the first write; nothing was written", r.Stderr);
            Assert.True(File.ReadAllBytes(t.Image).AsSpan().IndexOfAnyExcept((byte)0) < 0, $"{args[0]} {args[1]} wrote to the image");
            Assert.False(File.Exists(t.Log), "a run that wrote nothing left a log file");
        }
        // The same point without a signal: the write goes on.
        var go = SignalRun.AtPoint(ni, ["gpt", "apply", t.Backup, "--disk", t.Image], "first-write", "HUP", t.Dir.Path);
        Assert.True(go.ExitCode == 0, go.ToString());
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", t.Image));
        Assert.Contains("written (image file", File.ReadAllText(t.Log));
    }

    [SkippableFact]
    public void A_failure_after_the_first_write_is_in_the_log_with_the_way_to_go_on()
    {
        string ni = Tool.RequireNativeInit();
        Tool.RequireRoot();
        Tool.Require("sgdisk", "mkfs.xfs");
        using var t = new Target(filesystems: false);
        // xfs needs 300 MB: mkfs.xfs fails on the 40 MiB LV after the GPT and the PV were written.
        File.WriteAllText(t.Layout, File.ReadAllText(t.Layout).Replace("\"size\": \"40MiB\"", "\"size\": \"40MiB\", \"filesystem\": \"xfs\"", StringComparison.Ordinal));
        var r = OutputLossTests.RunOnFull(ni, "layout", "apply", "--layout", t.Layout, "--image", t.Image, "--yes");
        Assert.True(r.ExitCode == 4, r.ToString());
        string log = File.ReadAllText(t.Log);
        Assert.Contains("wrote PV ", log);
        Assert.Contains("nativeinit layout apply: error: ", log);
        Assert.Contains("mkfs.xfs", log);
        Assert.Contains("run layout apply again with the same layout", log);
    }

    [SkippableFact]
    public void Layout_grow_with_its_output_lost_grows_and_logs_beside_the_image()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("sgdisk");
        using var t = new Target(filesystems: false);
        File.WriteAllText(t.Layout, File.ReadAllText(t.Layout).Replace("\"extentSize\"", "\"grow\": \"data\", \"extentSize\"", StringComparison.Ordinal));
        var apply = Tool.Run(ni, "layout", "apply", "--layout", t.Layout, "--image", t.Image, "--yes", "--log", t.Dir.Combine("apply.log"));
        Assert.True(apply.ExitCode == 0, apply.ToString());
        using (var f = new FileStream(t.Image, FileMode.Open)) f.SetLength(192 * MiB);
        Assert.Equal(0, Tool.Run(ni, "layout", "grow", "--layout", t.Layout, "--image", t.Image, "--dry-run").ExitCode);
        Assert.False(File.Exists(t.Log), "a dry run left a log file");
        var full = OutputLossTests.RunOnFull(ni, "layout", "grow", "--layout", t.Layout, "--image", t.Image, "--yes");
        Assert.True(full.ExitCode == 0, full.ToString());
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", t.Image));
        string log = File.ReadAllText(t.Log);
        Assert.Contains("nativeinit layout grow (pid", log);
        Assert.Contains($"grow on image {t.Image}: ", log);              // the plan
        Assert.Contains("GPT: partition 3 now ends at LBA ", log);       // the progress
        Assert.Contains("LVM: PV has ", log);
    }
}
