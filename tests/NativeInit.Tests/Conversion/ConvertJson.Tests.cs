using System.Text.Json;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Conversion;

/// <summary>Issue 15: `convert --json` (the plan, before and after a conversion), `status --json` in progress and done,
/// `grow --json` and the lines of /boot/nativeinit/convert.log match their schemas in docs/json.</summary>
[Trait("Category", "Integration")]
public class ConvertJsonTests(LegacyImageFixture fx) : IClassFixture<LegacyImageFixture>
{
    /// <summary>The lines of convert.log on the converted image's /boot (partition 2 of the vendor's table: LBA 6144,
    /// 300 MiB), mounted read-only.</summary>
    private static string[] ConvertLog(string img, string mnt)
    {
        Directory.CreateDirectory(mnt);
        string text = Tool.Sh($"""
            l=$(losetup --find --show -r --offset $((6144 * 512)) --sizelimit $((300 * 1048576)) {Tool.Quote(img)})
            trap 'umount {Tool.Quote(mnt)} 2>/dev/null; losetup -d $l' EXIT
            mount -o ro,norecovery $l {Tool.Quote(mnt)}
            cat {Tool.Quote(mnt)}/nativeinit/convert.log
            """);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [SkippableFact]
    public void Convert_status_grow_and_the_convert_log_match_their_schemas()
    {
        Tool.RequireRoot();
        Tool.RequireNativeInit();
        Tool.Require("sgdisk", "mkfs.xfs", "xfs_growfs", "mkswap", "blkid", "sfdisk", "setfattr", "fallocate");
        using var dir = new TempDir();
        string img = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", fx.Image, img);
        string[] convert = ["convert", "--image", img, "--key", fx.Public];

        var dry = Tool.Run(fx.Binary, [.. convert, "--dry-run", "--json"]);
        Assert.True(dry.ExitCode == 0, dry.ToString());
        JsonSchemaFiles.AssertValid("convert", dry.Stdout, "convert --dry-run --json");
        var before = Tool.Run(fx.Binary, "status", "--image", img, "--json");
        JsonSchemaFiles.AssertValid("status", before.Stdout, "status --json (not converted)");

        // A run with --json stopped by SIGINT: standard output is the plan alone; status and the log say where it stopped.
        var run = SignalRun.AtPoint(fx.Binary, [.. convert, "--yes", "--json"], "step:extract", "INT", dir.Path);
        Assert.True(run.ExitCode == 4, run.ToString());
        JsonSchemaFiles.AssertValid("convert", run.Stdout, "convert --yes --json (standard output)");
        var stopped = Tool.Run(fx.Binary, "status", "--image", img, "--json");
        JsonSchemaFiles.AssertValid("status", stopped.Stdout, "status --json (in progress, interrupted)");
        using (var d = JsonDocument.Parse(stopped.Stdout)) Assert.Contains("interrupted by SIGINT", d.RootElement.GetProperty("lastError").GetString());
        var lines = ConvertLog(img, dir.Combine("mnt"));
        foreach (var line in lines) JsonSchemaFiles.AssertValid("convert-log", line, "a line of convert.log");
        Assert.Contains(lines, l => l.Contains("\"event\":\"interrupted\"", StringComparison.Ordinal) && l.Contains("\"detail\":\"SIGINT\"", StringComparison.Ordinal));

        var resumed = Tool.Run(fx.Binary, [.. convert, "--yes", "--json"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        JsonSchemaFiles.AssertValid("convert", resumed.Stdout, "convert --yes --json (resuming)");
        using (var d = JsonDocument.Parse(resumed.Stdout)) Assert.True(d.RootElement.GetProperty("resuming").GetBoolean());
        var done = Tool.Run(fx.Binary, [.. convert, "--yes", "--json"]);
        Assert.True(done.ExitCode == 0, done.ToString());
        JsonSchemaFiles.AssertValid("convert", done.Stdout, "convert --json on a converted disk");
        using (var d = JsonDocument.Parse(done.Stdout)) Assert.Equal("done", d.RootElement.GetProperty("state").GetString());
        var status = Tool.Run(fx.Binary, "status", "--image", img, "--json");
        JsonSchemaFiles.AssertValid("status", status.Stdout, "status --json (done)");
        foreach (var line in ConvertLog(img, dir.Combine("mnt"))) JsonSchemaFiles.AssertValid("convert-log", line, "a line of convert.log");

        using (var f = new FileStream(img, FileMode.Open)) f.SetLength(LegacyImageFixture.DiskBytes + (256L << 20));
        var plan = Tool.Run(fx.Binary, "grow", "--image", img, "--dry-run", "--json");
        Assert.True(plan.ExitCode == 0, plan.ToString());
        JsonSchemaFiles.AssertValid("layout-grow", plan.Stdout, "grow --dry-run --json");
        var grow = Tool.Run(fx.Binary, "grow", "--image", img, "--yes", "--json");
        Assert.True(grow.ExitCode == 0, grow.ToString());
        JsonSchemaFiles.AssertValid("layout-grow", grow.Stdout, "grow --yes --json");

        Assert.False(JsonSchemaFiles.IsValid("status", dry.Stdout));
        Assert.False(JsonSchemaFiles.IsValid("convert", status.Stdout));
        Assert.False(JsonSchemaFiles.IsValid("convert-log", status.Stdout));
    }
}
