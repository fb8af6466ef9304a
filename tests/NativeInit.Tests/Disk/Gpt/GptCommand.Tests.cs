using System.Text.Json;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.Gpt;

/// <summary>`nativeinit gpt show` and `gpt apply` through the published binary (tools/build makes it).</summary>
[Trait("Category", "Integration")]
public class GptCommandTests
{
    private static (TempDir Dir, string Backup) Reference()
    {
        Tool.Require("sgdisk", "sfdisk");
        var dir = new TempDir();
        string refImg = Sparse(dir, "ref.img", 64 * MiB);
        Tool.Check("sgdisk", "-n", "1:0:+2M", "-t", "1:EF02", "-c", "1:bios", "-n", "2:0:+16M", "-t", "2:8300", "-n", "3:0:0", "-t", "3:8E00", refImg);
        string backup = dir.Combine("ref.gpt");
        Tool.Check("sgdisk", "--backup=" + backup, refImg);
        return (dir, backup);
    }

    [SkippableFact]
    public void Apply_then_show_json()
    {
        string ni = Tool.RequireNativeInit();
        var (dir, backup) = Reference();
        using var _ = dir;
        string img = Sparse(dir, "disk.img", 80 * MiB);
        string before = Hash(img);
        var dry = Tool.Run(ni, "gpt", "apply", backup, "--disk", img, "--dry-run");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains("dry run: nothing written", dry.Stdout);
        Assert.Matches($@"LBA\s+{80 * MiB / 512 - 1}\.\.{80 * MiB / 512 - 1}\s+write\s+512 B\s+backup GPT header", dry.Stdout);
        Assert.Equal(before, Hash(img));

        var apply = Tool.Run(ni, "gpt", "apply", backup, "--disk", img);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));

        var show = Tool.Run(ni, "gpt", "show", img, "--json");
        Assert.True(show.ExitCode == 0, show.ToString());
        using var doc = JsonDocument.Parse(show.Stdout);
        var gpt = doc.RootElement.GetProperty("gpt");
        Assert.Equal(80 * MiB / 512 - 34, gpt.GetProperty("lastUsableLba").GetInt64());
        var parts = gpt.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(3, parts.Count);
        Assert.Equal("EF02", parts[0].GetProperty("typeCode").GetString());
        Assert.Equal("bios", parts[0].GetProperty("name").GetString());
        Assert.Equal("Linux LVM", parts[2].GetProperty("typeName").GetString());
        Assert.Equal(0, doc.RootElement.GetProperty("problems").GetArrayLength());
        // sgdisk's own reading of the same disk.
        Assert.Matches(@"3\s+\d+\s+\d+\s+.*8E00", Tool.Check("sgdisk", "-p", img));
        var text = Tool.Run(ni, "gpt", "show", img);
        Assert.Contains("BIOS boot partition", text.Stdout);
    }

    [SkippableFact]
    public void Refusals_exit_3_and_write_nothing()
    {
        string ni = Tool.RequireNativeInit();
        var (dir, backup) = Reference();
        using var _ = dir;
        string small = Sparse(dir, "small.img", 32 * MiB);
        string before = Hash(small);
        var r = Tool.Run(ni, "gpt", "apply", backup, "--disk", small);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("too small", r.Stderr);
        var bad = File.ReadAllBytes(backup);
        bad[3 * 512 + 40] ^= 0x10;
        File.WriteAllBytes(dir.Combine("bad.gpt"), bad);
        string ok = Sparse(dir, "ok.img", 80 * MiB);
        string okBefore = Hash(ok);
        r = Tool.Run(ni, "gpt", "apply", dir.Combine("bad.gpt"), "--disk", ok);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("CRC", r.Stderr);
        Assert.Equal(before, Hash(small));
        Assert.Equal(okBefore, Hash(ok));
    }

    [SkippableFact]
    public void Show_lists_mbr_partitions_with_their_filesystems()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("sfdisk", "mkfs.ext4", "losetup");
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = Sparse(dir, "old.img", 64 * MiB);
        Tool.Run("sfdisk", ["-q", img], stdin: "label: dos\n2048,40960,83,*\n,,82\n");
        using (var l = DiskTestSupport.Loop(img, 2048 * 512, 40960 * 512)) Tool.Check("mkfs.ext4", "-q", "-F", "-L", "oldroot", l.DevicePath);
        var show = Tool.Run(ni, "gpt", "show", img, "--json");
        Assert.True(show.ExitCode == 0, show.ToString());
        using var doc = JsonDocument.Parse(show.Stdout);
        var parts = doc.RootElement.GetProperty("mbrPartitions").EnumerateArray().ToList();
        Assert.Equal(2, parts.Count);
        Assert.Equal("ext4", parts[0].GetProperty("filesystem").GetString());
        Assert.Equal("oldroot", parts[0].GetProperty("label").GetString());
        Assert.True(parts[0].GetProperty("bootable").GetBoolean());
        Assert.False(parts[1].TryGetProperty("filesystem", out var _));
    }
}
