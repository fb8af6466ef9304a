using System.Text.Json;
using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>`nativeinit slots` and `nativeinit mark-good` on a /boot with an A/B grubenv.</summary>
[Trait("Category", "Integration")]
public class SlotsCommandsTests
{
    [SkippableFact]
    public void Mark_good_rewrites_grubenv_in_place_and_slots_reports_every_slot()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("grub-editenv");
        using var tmp = new TempDir();
        string boot = tmp.Combine("boot");
        Directory.CreateDirectory(Path.Combine(boot, "grub"));
        Directory.CreateDirectory(Path.Combine(boot, "nativeinit"));
        string envPath = Path.Combine(boot, "grub", "grubenv");
        Tool.Check("grub-editenv", envPath, "create");
        Tool.Check("grub-editenv", envPath, "set", "saved_entry=keep-me");
        var env = GrubEnv.Parse(File.ReadAllBytes(envPath), envPath);
        var slots = BootSlots.AfterConversion();
        slots.BeginWrite("B");
        slots.FinishWrite("B");
        slots.Choose(); // GRUB booted B once; B never came up, so GRUB then booted A:
        slots.Choose();
        slots.WriteTo(env);
        File.WriteAllBytes(envPath, env.ToBytes());
        File.WriteAllText(BootSlotsStore.RecordPath(boot, "A"), """{ "bundleVersion": "gw-2026.10", "writtenAt": "2026-11-01T10:00:00Z" }""");
        long inode = Inode(envPath);

        var r = Tool.Run(ni, "mark-good", "--boot-dir", boot, "--slot", "A", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(inode, Inode(envPath));
        var list = Tool.Check("grub-editenv", envPath, "list");
        Assert.Contains("ORDER=A B", list);
        Assert.Contains("A_OK=1", list);
        Assert.Contains($"A_TRIES={BootSlots.GoodTries}", list);
        Assert.Contains("B_OK=0", list);
        Assert.Contains("saved_entry=keep-me", list);

        var s = Tool.Run(ni, "slots", "--boot-dir", boot, "--json");
        Assert.True(s.ExitCode == 0, s.ToString());
        using var doc = JsonDocument.Parse(s.Stdout);
        Assert.Equal(1, doc.RootElement.GetProperty("schemaVersion").GetInt32());
        var a = doc.RootElement.GetProperty("slots")[0];
        Assert.Equal("A", a.GetProperty("name").GetString());
        Assert.True(a.GetProperty("bootable").GetBoolean());
        Assert.Equal("gw-2026.10", a.GetProperty("bundleVersion").GetString());
        Assert.Equal(0, a.GetProperty("preference").GetInt32());
        var b = doc.RootElement.GetProperty("slots")[1];
        Assert.False(b.GetProperty("ok").GetBoolean());
        Assert.False(b.GetProperty("good").GetBoolean()); // B failed its one try: mark-good on A cleared it
        Assert.True(a.GetProperty("good").GetBoolean());
        JsonSchemaFiles.AssertValid("slots", s.Stdout, "slots --json");
        Assert.Equal(JsonValueKind.Null, b.GetProperty("bundleVersion").ValueKind);

        var text = Tool.Check(ni, "slots", "--boot-dir", boot);
        Assert.Contains("next boot: slot A", text);
        var rows = text.Split('\n');
        Assert.StartsWith("slot  booted  good  tries", rows[0]);
        Assert.Matches(@"^A\s+no\s+yes\s+3\s+1\s+gw-2026\.10", rows[1]);
        Assert.Matches(@"^B\s+no\s+no\s+0\s+2\s+-", rows[2]);
    }

    [SkippableFact]
    public void A_boot_directory_without_slots_is_refused_with_exit_3()
    {
        string ni = Tool.RequireNativeInit();
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.Combine("grub"));
        File.WriteAllBytes(tmp.Combine("grub", "grubenv"), GrubEnv.Empty().ToBytes());
        var r = Tool.Run(ni, "slots", "--boot-dir", tmp.Path);
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("no ORDER variable", r.Stderr);
        var m = Tool.Run(ni, "mark-good", "--boot-dir", tmp.Combine("nothing-here"), "--slot", "A");
        Assert.Equal(3, m.ExitCode);
        Assert.Contains("nothing-here", m.Stderr);
    }

    private static long Inode(string path) => long.Parse(Tool.Check("stat", "-c", "%i", path).Trim());
}
