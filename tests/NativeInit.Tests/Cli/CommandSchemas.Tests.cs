using System.Text.Json;
using System.Text.RegularExpressions;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Cli;

/// <summary>
/// Issue 15: every command that offers JSON (--json, --stats=json) names its schema in its help, the schema exists in
/// docs/json and the command's real output matches it (gpt, lvm show, layout, extract, decompress, initramfs,
/// selftest here; stage, bundle, slots and errors in JsonSchemasTests; convert, status and grow in
/// Conversion/ConvertJson.Tests.cs; lvm activate in the QEMU tier, Disk/DeviceMapper/DmQemu.Tests.cs).
/// </summary>
[Trait("Category", "Integration")]
public class CommandSchemasTests
{
    private const long MiB = 1 << 20;

    /// <summary>The schemas that are not one command's output: the error object of every --json command, and the
    /// lines of convert's log on /boot.</summary>
    private static readonly string[] NotACommand = ["error", "convert-log"];

    [SkippableFact]
    public void Every_command_that_offers_json_names_a_schema_that_exists_and_every_schema_is_used()
    {
        string ni = Tool.RequireNativeInit();
        var names = Regex.Matches(Tool.Check(ni, "--help"), @"^  ([a-z-]+(?: [a-z-]+)?)  ", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value.Trim()).ToList();
        Assert.True(names.Count >= 20, string.Join(", ", names));
        var used = new HashSet<string>();
        var missing = new List<string>();
        foreach (var name in names)
        {
            string help = Tool.Check(ni, [.. name.Split(' '), "--help"]);
            bool offersJson = Regex.IsMatch(help, @"^\s+(-\w, )?--json\b|--[a-z-]+\[=json\]", RegexOptions.Multiline);
            var named = Regex.Match(help, @"^JSON output: docs/json/([a-z-]+)\.schema\.json", RegexOptions.Multiline);
            if (offersJson && !named.Success) { missing.Add($"{name}: offers JSON output but its help names no schema"); continue; }
            if (!offersJson && named.Success) { missing.Add($"{name}: names a schema but offers no JSON output"); continue; }
            if (!named.Success) continue;
            string schema = named.Groups[1].Value;
            if (!File.Exists(Path.Combine(JsonSchemaFiles.Directory, schema + ".schema.json"))) missing.Add($"{name}: docs/json/{schema}.schema.json does not exist");
            else { JsonSchemaFiles.Get(schema); used.Add(schema); }
        }
        Assert.True(missing.Count == 0, string.Join("\n", missing));
        Assert.Contains("gpt-show", used);
        Assert.Contains("extract-stats", used);
        // No schema file is left over, and every one declares "schemaVersion" (the error object's too).
        Assert.Equal(JsonSchemaFiles.Names.Order(), used.Concat(NotACommand).Order());
        foreach (var s in JsonSchemaFiles.Names.Where(s => s != "convert-log"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(JsonSchemaFiles.Directory, s + ".schema.json")));
            Assert.True(doc.RootElement.GetProperty("required").EnumerateArray().Any(e => e.GetString() == "schemaVersion"), $"{s}: schemaVersion not required");
        }
    }

    [SkippableFact]
    public void Gpt_lvm_and_layout_outputs_match_their_schemas()
    {
        string ni = Tool.RequireNativeInit();
        Tool.RequireRoot(); // mkfs through a loop device
        Tool.Require("sgdisk", "sfdisk", "mkfs.ext4");
        using var dir = new TempDir();
        string reference = dir.Combine("ref.img");
        using (var fs = File.Create(reference)) fs.SetLength(96 * MiB);
        Tool.Check("sgdisk", "-o", "-n", "1:2048:+1M", "-t", "1:EF02", "-n", "2:0:+8M", "-n", "3:0:0", "-t", "3:8E00", "-c", "3:lvm", reference);
        Tool.Check("sgdisk", "--backup=" + dir.Combine("t.gpt"), reference);
        File.WriteAllText(dir.Combine("layout.json"), """
            { "partitionTable": "t.gpt", "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "1MiB", "grow": "data",
              "logicalVolumes": [ { "name": "root", "size": "20MiB", "filesystem": "ext4", "mountPoint": "/", "label": "root", "mkfsOptions": ["-m", "0"] }, { "name": "data", "size": "rest" } ] } }
            """);
        string layout = dir.Combine("layout.json");
        string image = dir.Combine("disk.img");
        using (var fs = File.Create(image)) fs.SetLength(128 * MiB);
        string mbr = dir.Combine("mbr.img");
        using (var fs = File.Create(mbr)) fs.SetLength(128 * MiB);
        Tool.Sh($"printf 'start=2048, size=8192, type=83, bootable\\nstart=10240, type=8e\\n' | sfdisk -q {Tool.Quote(mbr)}");

        string gptShow = Tool.Check(ni, "gpt", "show", reference, "--json");
        JsonSchemaFiles.AssertValid("gpt-show", gptShow, "gpt show --json (GPT)");
        string mbrShow = Tool.Check(ni, "gpt", "show", mbr, "--json");
        JsonSchemaFiles.AssertValid("gpt-show", mbrShow, "gpt show --json (MBR)");
        using (var d = JsonDocument.Parse(mbrShow)) Assert.Equal(2, d.RootElement.GetProperty("mbrPartitions").GetArrayLength());
        string gptApply = Tool.Check(ni, "gpt", "apply", dir.Combine("t.gpt"), "--disk", mbr, "--dry-run", "--json");
        JsonSchemaFiles.AssertValid("gpt-apply", gptApply, "gpt apply --dry-run --json");

        string plan = Tool.Check(ni, "layout", "plan", "--layout", layout, "--image", image, "--json");
        JsonSchemaFiles.AssertValid("layout-plan", plan, "layout plan --json");
        var apply = Tool.Run(ni, "layout", "apply", "--layout", layout, "--image", image, "--yes", "--json");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        JsonSchemaFiles.AssertValid("layout-plan", apply.Stdout, "layout apply --yes --json");
        string lvm = Tool.Check(ni, "lvm", "show", image, "--partition", "3", "--json");
        JsonSchemaFiles.AssertValid("lvm-show", lvm, "lvm show --json");
        using (var d = JsonDocument.Parse(lvm)) Assert.Equal(2, d.RootElement.GetProperty("vg").GetProperty("logicalVolumes").GetArrayLength());

        using (var f = new FileStream(image, FileMode.Open)) f.SetLength(160 * MiB);
        string grow = Tool.Check(ni, "layout", "grow", "--layout", layout, "--image", image, "--dry-run", "--json");
        JsonSchemaFiles.AssertValid("layout-grow", grow, "layout grow --dry-run --json");
        using (var d = JsonDocument.Parse(grow)) Assert.False(d.RootElement.GetProperty("nothingToDo").GetBoolean());
        var grown = Tool.Run(ni, "layout", "grow", "--layout", layout, "--image", image, "--yes", "--json");
        Assert.True(grown.ExitCode == 0, grown.ToString());
        JsonSchemaFiles.AssertValid("layout-grow", grown.Stdout, "layout grow --yes --json");
        string again = Tool.Check(ni, "layout", "grow", "--layout", layout, "--image", image, "--dry-run", "--json");
        using (var d = JsonDocument.Parse(again)) Assert.True(d.RootElement.GetProperty("nothingToDo").GetBoolean());

        // Not vacuous: each output is refused by the schema of another.
        Assert.False(JsonSchemaFiles.IsValid("gpt-apply", gptShow));
        Assert.False(JsonSchemaFiles.IsValid("gpt-show", gptApply));
        Assert.False(JsonSchemaFiles.IsValid("layout-grow", plan));
        Assert.False(JsonSchemaFiles.IsValid("lvm-show", plan));
        Assert.False(JsonSchemaFiles.IsValid("layout-plan", lvm));
        // ... and a schema's $ref into another file is followed (layout-plan's "gpt" is gpt-apply's schema).
        Assert.Contains("\"kind\": \"write\"", plan);
        Assert.False(JsonSchemaFiles.IsValid("layout-plan", plan.Replace("\"kind\": \"write\"", "\"kind\": \"scribble\"", StringComparison.Ordinal)));
        Assert.False(JsonSchemaFiles.IsValid("gpt-show", gptShow.Replace("\"schemaVersion\": 1", "\"schemaVersion\": 2", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public void Extract_and_decompress_statistics_match_their_schemas()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("xz", "zstd", "tar");
        using var dir = new TempDir();
        Tool.Sh($"""
            cd {Tool.Quote(dir.Path)}
            mkdir -p tree/a && head -c 3000000 /dev/urandom > tree/a/blob && echo hi > tree/a/small && ln -s small tree/a/link
            tar -cf tree.tar -C tree . && xz -T2 --block-size=1MiB -k tree.tar && zstd -q -k tree.tar
            """);
        foreach (var archive in new[] { "tree.tar", "tree.tar.xz", "tree.tar.zst" })
        {
            Directory.CreateDirectory(dir.Combine("out-" + archive));
            var r = Tool.Run(ni, "extract", dir.Combine(archive), "--to", dir.Combine("out-" + archive), "--stats=json");
            Assert.True(r.ExitCode == 0, r.ToString());
            JsonSchemaFiles.AssertValid("extract-stats", r.Stdout, $"extract {archive} --stats=json");
            using var d = JsonDocument.Parse(r.Stdout);
            Assert.Equal(archive.EndsWith(".xz", StringComparison.Ordinal), d.RootElement.TryGetProperty("xz", out _));
        }
        foreach (var file in new[] { "tree.tar.xz", "tree.tar.zst" })
        {
            var r = Tool.Run(ni, "decompress", dir.Combine(file), "-o", dir.Combine(file + ".out"), "--stats=json");
            Assert.True(r.ExitCode == 0, r.ToString());
            JsonSchemaFiles.AssertValid("decompress-stats", r.Stderr, $"decompress {file} --stats=json (standard error)");
        }
        var xz = Tool.Run(ni, "decompress", dir.Combine("tree.tar.xz"), "-o", dir.Combine("x.out"), "--stats=json");
        Assert.False(JsonSchemaFiles.IsValid("extract-stats", xz.Stderr));
    }

    [SkippableFact]
    public void Initramfs_and_selftest_outputs_match_their_schemas()
    {
        string ni = Tool.RequireNativeInit();
        Tool.RequireRoot();
        using var dir = new TempDir();
        var r = Tool.Run(ni, "initramfs", "--output", dir.Combine("initrd.img"), "--no-tools", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        JsonSchemaFiles.AssertValid("initramfs", r.Stdout, "initramfs --json");

        // selftest on a loop device: on a kernel without device-mapper it fails at that step, after others passed;
        // either way its JSON has the steps it ran.
        string scratch = dir.Combine("scratch.img");
        using (var f = File.Create(scratch)) f.SetLength(512 * MiB);
        string loop = Tool.Check("losetup", "--find", "--show", scratch).Trim();
        try
        {
            var st = Tool.Run(ni, ["selftest", "--disk", loop, "--json"], timeout: TimeSpan.FromMinutes(3));
            Assert.True(st.ExitCode is 0 or 1, st.ToString());
            JsonSchemaFiles.AssertValid("selftest", st.Stdout, "selftest --json");
            using var d = JsonDocument.Parse(st.Stdout);
            Assert.NotEqual(0, d.RootElement.GetProperty("steps").GetArrayLength());
        }
        finally { Tool.Run("losetup", "-d", loop); }
        // A refused selftest (not a scratch disk) too.
        string big = dir.Combine("big.img");
        using (var f = File.Create(big)) f.SetLength(5L << 30);
        var refused = Tool.Run(ni, "selftest", "--disk", big, "--json");
        Assert.Equal(3, refused.ExitCode);
        JsonSchemaFiles.AssertValid("selftest", refused.Stdout, "a refused selftest --json");
        Assert.False(JsonSchemaFiles.IsValid("initramfs", refused.Stdout));
    }
}
