using System.Text.Json;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Conversion;

/// <summary>`nativeinit selftest` refusals through the published binary (the passing run is the QEMU tier's).</summary>
[Trait("Category", "Integration")]
public class SelftestCommandTests
{
    [SkippableFact]
    public void Without_a_disk_it_is_a_usage_error()
    {
        var r = Tool.Run(Tool.RequireNativeInit(), "selftest");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--disk is required", r.Stderr);
    }

    [SkippableFact]
    public void A_disk_larger_than_a_scratch_disk_is_refused_before_any_write_and_reported_in_json()
    {
        string bin = Tool.RequireNativeInit();
        using var t = new TempDir();
        string big = t.Combine("big.img");
        using (var f = File.Create(big)) f.SetLength(5L << 30);   // sparse
        var r = Tool.Run(bin, "selftest", "--disk", big, "--json");
        Assert.Equal(3, r.ExitCode);
        using var j = JsonDocument.Parse(r.Stdout);
        Assert.False(j.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal("NATIVEINIT-SELFTEST-FAIL", j.RootElement.GetProperty("result").GetString());
        Assert.Contains("not a scratch disk, refused", j.RootElement.GetProperty("reason").GetString());
        Assert.Equal(0, j.RootElement.GetProperty("steps").GetArrayLength());
        Assert.Contains("NATIVEINIT-SELFTEST-FAIL: step disk:", r.Stderr);
        Assert.Equal(5L << 30, new FileInfo(big).Length);
        // Nothing written: the raw-io pattern would be in the last MiB, the GPT in the first.
        using var s = File.OpenRead(big);
        var buf = new byte[1 << 20];
        s.ReadExactly(buf);
        Assert.All(buf, b => Assert.Equal(0, b));
        s.Position = (5L << 30) - buf.Length;
        s.ReadExactly(buf);
        Assert.All(buf, b => Assert.Equal(0, b));
    }

    [SkippableFact]
    public void Dry_run_names_the_disk_and_writes_nothing()
    {
        string bin = Tool.RequireNativeInit();
        using var t = new TempDir();
        string img = t.Combine("scratch.img");
        using (var f = File.Create(img)) f.SetLength(64L << 20);
        var r = Tool.Run(bin, "selftest", "--disk", img, "--dry-run");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("dry run: nothing written", r.Stdout);
        using var s = File.OpenRead(img);
        var head = new byte[1 << 20];
        s.ReadExactly(head);
        Assert.All(head, b => Assert.Equal(0, b));
    }
}
