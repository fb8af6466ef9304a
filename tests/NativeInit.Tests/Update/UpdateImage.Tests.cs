using System.Text.Json;
using Json.Schema;
using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Update;

/// <summary>`convert` on the A/B layout, then `update` on the converted image (loop devices, no device-mapper), as
/// root through the published binary.</summary>
[Trait("Category", "Integration")]
[Collection(AbImageCollection.Name)]
public class UpdateImageTests(AbImageFixture fx)
{
    /// <summary>Validates <paramref name="json"/> against docs/json/update.schema.json (JsonSchema.Net).</summary>
    private static readonly Lazy<JsonSchema> UpdateSchema = new(() => JsonSchema.FromFile(Path.Combine(Tool.RepoRoot, "docs", "json", "update.schema.json")));

    private static void AssertSchema(string json, string what)
    {
        var schema = UpdateSchema.Value;
        using var doc = JsonDocument.Parse(json);
        var result = schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        var errors = (result.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"));
        Assert.True(result.IsValid, $"{what} does not match docs/json/update.schema.json:\n{string.Join("\n", errors)}\n{json}");
        using var slots = JsonDocument.Parse("""{ "schemaVersion": 1, "order": ["A", "B"], "slots": [] }""");
        Assert.False(schema.Evaluate(slots.RootElement).IsValid); // not vacuous: another command's output is refused
    }

    private ToolResult Update(string img, string bundle, string running = "A", IDictionary<string, string>? env = null, params string[] extra) =>
        Tool.Run(fx.Binary, ["update", bundle, "--key", fx.Public, "--image", img, "--running", running, .. extra], timeout: TimeSpan.FromMinutes(5), environment: env);

    [SkippableFact]
    public void Update_writes_slot_B_carries_the_configuration_and_switches_grubenv_last()
    {
        fx.Require();
        using var dir = new TempDir();
        string img = fx.Copy(dir);
        fx.MarkGood(img, "A");
        var (aOff, aLen) = fx.Lv(img, "root_a");
        string aBefore = AbImageFixture.HashRange(img, aOff, aLen);
        string cfgBefore = AbImageFixture.WithBoot(img, "sha256sum < $g/grub.cfg; sha256sum < $m/slot-A/vmlinuz");

        var dry = Update(img, fx.BundleV3, extra: ["--dry-run", "--json"]);
        Assert.True(dry.ExitCode == 0, dry.ToString());
        AssertSchema(dry.Stdout, "update --dry-run --json");
        using (var doc = JsonDocument.Parse(dry.Stdout))
        {
            Assert.Equal("A", doc.RootElement.GetProperty("runningSlot").GetString());
            Assert.Equal("B", doc.RootElement.GetProperty("targetSlot").GetString());
            Assert.Equal("VA/root_b", doc.RootElement.GetProperty("targetVolume").GetString());
            Assert.Equal("3.0", doc.RootElement.GetProperty("bundle").GetProperty("version").GetString());
            Assert.Contains("/etc/sysconfig/network-scripts/ifcfg-eth0", doc.RootElement.GetProperty("carry").EnumerateArray().Select(e => e.GetString()));
        }
        Assert.Equal("A", BootSlots.Read(AbImageFixture.Env(img)).Next());

        var r = Update(img, fx.BundleV3, extra: ["--json"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        AssertSchema(r.Stdout, "update --json");
        string resultUuid;
        using (var doc = JsonDocument.Parse(r.Stdout))
        {
            var result = doc.RootElement.GetProperty("result");
            Assert.Equal("vmlinuz-5.1", result.GetProperty("kernel").GetString());
            Assert.StartsWith("slot B once", result.GetProperty("nextBoot").GetString());
            Assert.False(result.GetProperty("reboot").GetBoolean());
            resultUuid = result.GetProperty("filesystemUuid").GetString()!;
        }
        Assert.Contains("update: grubenv: next boot slot B once", r.Stderr);

        // Slot A untouched, byte for byte; grub.cfg and slot A's kernel too.
        Assert.Equal(aBefore, AbImageFixture.HashRange(img, aOff, aLen));
        Assert.Equal(cfgBefore, AbImageFixture.WithBoot(img, "sha256sum < $g/grub.cfg; sha256sum < $m/slot-A/vmlinuz"));

        // Slot B: the new bundle's tree except the carried files; the old system's configuration; its own fstab.
        var diffs = AbImageFixture.Unexpected(fx.TreeDiff(img, "root_b", fx.RootfsV3));
        Assert.True(diffs.Count == 0, "unexpected differences in slot B:\n" + string.Join('\n', diffs));
        string b = fx.WithSlot(img, "root_b", "cat $s/etc/hostname $s/etc/resolv.conf $s/etc/sysconfig/network-scripts/ifcfg-eth0 $s/etc/shadow $s/etc/os-release; " +
            "echo ---fstab; cat $s/etc/fstab; echo \"uuid $(blkid -p -o value -s UUID $sl)\"; grep '^SELINUX=' $s/etc/selinux/config");
        Assert.StartsWith("gw-0042\nnameserver 192.0.2.53\nsearch example.net\n" + AbImageFixture.Ifcfg, b);
        Assert.Contains("root:$6$oldsalt$OLDROOTHASH:", b);
        Assert.Contains("VERSION=3", b);
        Assert.Contains("SELINUX=permissive", b);
        string bUuid = b.Split('\n').First(l => l.StartsWith("uuid ")).Split(' ')[1];
        Assert.Equal(resultUuid, bUuid);
        string fstab = b.Split("---fstab")[1];
        Assert.Contains($"UUID={bUuid} / xfs defaults 0 1", fstab);
        Assert.Contains(" /boot xfs", fstab);
        Assert.Contains(" /data xfs", fstab);
        Assert.Contains("tmpfs /tmp tmpfs", fstab);
        Assert.Single(fstab.Split('\n'), l => l.Contains(" / ", StringComparison.Ordinal));
        string aFstab = fx.WithSlot(img, "root_a", "cat $s/etc/fstab");
        foreach (var mp in new[] { " /boot ", " /data " })
            Assert.Equal(aFstab.Split('\n').Single(l => l.Contains(mp, StringComparison.Ordinal)), fstab.Split('\n').Single(l => l.Contains(mp, StringComparison.Ordinal)));

        // /boot: slot B's kernel under its names, its record; grubenv: B first with one try, A still good.
        string boot = AbImageFixture.WithBoot(img, "cat $m/slot-B/vmlinuz $m/slot-B/initramfs.img $m/slot-A/vmlinuz; cat $m/nativeinit/slot-B.json; echo; grub-editenv $g/grubenv list");
        Assert.StartsWith("kernel 5.1\ninitramfs 5.1\nkernel 5.0\n", boot);
        Assert.Contains("\"bundleVersion\": \"3.0\"", boot);
        foreach (var v in new[] { "ORDER=B A", "B_OK=1", "B_TRIES=1", "A_OK=1", "A_TRIES=3" }) Assert.Contains(v, boot.Split('\n'));
        var slots = BootSlots.Read(AbImageFixture.Env(img));
        Assert.Equal("B", slots.Choose());
        Assert.Equal("A", slots.Choose()); // B never reaches mark-good: GRUB returns to A by itself
        var list = AbImageFixture.WithBoot(img, $"{Tool.Quote(fx.Binary)} slots --boot-dir $m --json");
        using (var doc = JsonDocument.Parse(list))
        {
            var bSlot = doc.RootElement.GetProperty("slots").EnumerateArray().First(s => s.GetProperty("name").GetString() == "B");
            Assert.Equal("3.0", bSlot.GetProperty("bundleVersion").GetString());
            Assert.Equal(1, bSlot.GetProperty("tries").GetInt32());
        }

        // Another update before the reboot: refused, naming the pending one.
        string pending = AbImageFixture.HashFile(img);
        var twice = Update(img, fx.BundleV3);
        Assert.True(twice.ExitCode == 3, twice.ToString());
        Assert.Contains("slot B is already set to boot next (B_OK=1 B_TRIES=1 ORDER=\"B A\"): an update is waiting for its reboot", twice.Stderr);
        Assert.Equal(pending, AbImageFixture.HashFile(img));

        // B boots (GRUB counts the try: B_TRIES 1 -> 0); before mark-good a further update is refused, nothing written.
        AbImageFixture.WithBoot(img, "grub-editenv $g/grubenv set B_TRIES=0", write: true);
        string unproven = AbImageFixture.HashFile(img);
        var early = Update(img, fx.BundleV2, running: "B");
        Assert.True(early.ExitCode == 3, early.ToString());
        Assert.Contains("slot B is running but not marked good", early.Stderr);
        Assert.Equal(unproven, AbImageFixture.HashFile(img));
        // B marked good: the next update writes slot A, and slot B is the one left untouched.
        fx.MarkGood(img, "B");
        var (bOff, bLen) = fx.Lv(img, "root_b");
        string bBefore = AbImageFixture.HashRange(img, bOff, bLen);
        var back = Update(img, fx.BundleV2, running: "B");
        Assert.True(back.ExitCode == 0, back.ToString());
        Assert.Equal(bBefore, AbImageFixture.HashRange(img, bOff, bLen));
        Assert.NotEqual(aBefore, AbImageFixture.HashRange(img, aOff, aLen));
        string again = AbImageFixture.WithBoot(img, "cat $m/slot-A/vmlinuz $m/slot-B/vmlinuz; grub-editenv $g/grubenv list");
        Assert.StartsWith("kernel 5.0\nkernel 5.1\n", again);
        foreach (var v in new[] { "ORDER=A B", "A_OK=1", "A_TRIES=1", "B_OK=1", "B_TRIES=3" }) Assert.Contains(v, again.Split('\n'));
        diffs = AbImageFixture.Unexpected(fx.TreeDiff(img, "root_a", fx.RootfsV2));
        Assert.True(diffs.Count == 0, "unexpected differences in slot A after the update back:\n" + string.Join('\n', diffs));
    }

    [SkippableFact]
    public void Refusals_leave_the_image_byte_identical()
    {
        fx.Require();
        using var dir = new TempDir();
        string img = fx.Copy(dir);
        // The converted system's first boot, counted by GRUB (A_TRIES 1 -> 0) and not yet at mark-good.
        AbImageFixture.WithBoot(img, "grub-editenv $g/grubenv set A_TRIES=0", write: true);
        string before = AbImageFixture.HashFile(img);
        var notGood = Update(img, fx.BundleV3);
        Assert.True(notGood.ExitCode == 3, notGood.ToString());
        Assert.Contains("slot A is running but not marked good (A_OK=1 A_TRIES=0 ORDER=\"A B\")", notGood.Stderr);
        Assert.Equal(before, AbImageFixture.HashFile(img));
        // Slot B "running": it is not OK at all.
        var wrongSlot = Update(img, fx.BundleV3, running: "B");
        Assert.True(wrongSlot.ExitCode == 3, wrongSlot.ToString());
        Assert.Contains("slot B is running but not marked good", wrongSlot.Stderr);
        Assert.Equal(before, AbImageFixture.HashFile(img));

        fx.MarkGood(img, "A");
        before = AbImageFixture.HashFile(img);
        // Another vendor's key.
        string otherPub = dir.Combine("other.pub");
        Tool.Check(fx.Binary, "bundle", "keygen", "--private", dir.Combine("other.key"), "--public", otherPub);
        var wrongKey = Tool.Run(fx.Binary, "update", fx.BundleV3, "--key", otherPub, "--image", img, "--running", "A");
        Assert.True(wrongKey.ExitCode == 3, wrongKey.ToString());
        Assert.Contains("public key", wrongKey.Stderr);
        // A tampered bundle.
        string bad = dir.Combine("bad.tar");
        File.Copy(fx.BundleV3, bad);
        using (var f = new FileStream(bad, FileMode.Open)) { f.Position = f.Length - 4096; f.WriteByte(0x5A); }
        var tampered = Update(img, bad);
        Assert.True(tampered.ExitCode == 3, tampered.ToString());
        // Usage: --image without --running.
        var usage = Tool.Run(fx.Binary, "update", fx.BundleV3, "--key", fx.Public, "--image", img);
        Assert.True(usage.ExitCode == 2, usage.ToString());
        Assert.Equal(before, AbImageFixture.HashFile(img));

        // A layout without slots (the field's single root): refused, naming why.
        AbImageFixture.WithBoot(img, "sed -i 's/, \"slot\": \"[AB]\"//' $m/nativeinit/layout/layout.json; ! grep -q slot $m/nativeinit/layout/layout.json", write: true);
        before = AbImageFixture.HashFile(img);
        var noSlots = Update(img, fx.BundleV3);
        Assert.True(noSlots.ExitCode == 3, noSlots.ToString());
        Assert.Contains("has no A/B slots", noSlots.Stderr);
        Assert.Equal(before, AbImageFixture.HashFile(img));
    }

    /// <summary>A power cut (SIGKILL, then the kernel state a reboot would not keep dropped) at each point of an update:
    /// GRUB still chooses slot A, whose bytes are untouched, and the same update run again completes. Killed after the
    /// last grubenv write, slot B is the next boot.</summary>
    [SkippableTheory]
    [InlineData("begin", "A")]
    [InlineData("mkfs", "A")]
    [InlineData("extract:1", "A")]
    [InlineData("extract:1500000", "A")]
    [InlineData("carry", "A")]
    [InlineData("fstab", "A")]
    [InlineData("kernel", "A")]
    [InlineData("record", "A")]
    [InlineData("switch", "A")]
    [InlineData("done", "B")]
    public void Killed_during_an_update_grubenv_still_chooses_the_running_slot(string killAt, string next)
    {
        fx.Require();
        using var dir = new TempDir();
        string img = fx.Copy(dir);
        fx.MarkGood(img, "A");
        var (aOff, aLen) = fx.Lv(img, "root_a");
        string aBefore = AbImageFixture.HashRange(img, aOff, aLen);
        var killed = Update(img, fx.BundleV3, env: new Dictionary<string, string> { ["NATIVEINIT_TEST_HOOKS"] = "1", ["NATIVEINIT_TEST_KILL_AT"] = killAt });
        Assert.True(killed.ExitCode is 137 or -9 or 9, $"expected SIGKILL: {killed}");
        try
        {
            AfterKill(img, killAt, next, aOff, aLen, aBefore);
        }
        finally
        {
            KilledRun.ForgetKernelState(img); // also when an assertion failed before the killed run's mounts were undone
        }
    }

    private void AfterKill(string img, string killAt, string next, long aOff, long aLen, string aBefore)
    {
        // Before the killed run's mounts are undone (an unmount writes the log back in place; a power cut does not):
        // what GRUB's own file system code (grub-fstest, no log replay) reads on /boot is what GRUB would boot.
        var grubView = Tool.Run("grub-fstest", img, "-r", "loop0,gpt2", "cat", "/grub2/grubenv");
        Assert.True(grubView.ExitCode == 0, "GRUB (grub-fstest) cannot read /grub2/grubenv: " + grubView);
        var seen = BootSlots.Read(GrubEnv.Parse(System.Text.Encoding.ASCII.GetBytes(grubView.Stdout), "grubenv as grub-fstest reads it"));
        Assert.Equal(next, seen.Next());
        if (next == "B")
        {
            var kernel = Tool.Run("grub-fstest", img, "-r", "loop0,gpt2", "cat", "/slot-B/vmlinuz");
            Assert.True(kernel.ExitCode == 0 && kernel.Stdout == "kernel 5.1\n", "GRUB (grub-fstest) does not see slot B's kernel: " + kernel);
        }
        KilledRun.ForgetKernelState(img);
        var slots = BootSlots.Read(AbImageFixture.Env(img));
        Assert.Equal(next, slots.Next());
        if (next == "A") Assert.False(slots["B"].Bootable);
        Assert.Equal(aBefore, AbImageFixture.HashRange(img, aOff, aLen));

        if (next == "B") return;
        var again = Update(img, fx.BundleV3);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal("B", BootSlots.Read(AbImageFixture.Env(img)).Next());
        Assert.Equal(aBefore, AbImageFixture.HashRange(img, aOff, aLen));
        Assert.Contains("kernel 5.1", AbImageFixture.WithBoot(img, "cat $m/slot-B/vmlinuz"));
    }
}
