using System.Text.Json;
using System.Text.RegularExpressions;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;
using NativeInit.Tests.Update;
using Xunit.Abstractions;

namespace NativeInit.Tests.EndToEnd;

/// <summary>
/// Issue 13, scenario (g): the procedures of docs/recovery.md that are typed at GRUB (its menu and its prompt) and in
/// the shell they lead to, typed through the serial console as a person at the gateway's console would, on the small
/// busybox system of <see cref="AbVmFixture"/> (its A/B disk, and <see cref="AbVmFixture.Plain"/>: the same system in a
/// layout without slots, one disk stopped in the middle of its conversion, one converted). Each boot goes through
/// SeaBIOS and the disk's own GRUB. Every typed command is the doc's line; what is asserted is what the console shows.
/// The resume typed at GRUB's prompt and the shell entry of section 3 are in <see cref="ConvertEndToEndTests"/> (the
/// power-cut test). `tools/vm-test recovery` runs these with that test.
/// </summary>
[Trait("Category", "Qemu")]
[Collection(AbVmCollection.Name)]
public class RecoveryByHandTests(AbVmFixture fx, ITestOutputHelper output)
{
    private const int Good = Core.Boot.BootSlots.GoodTries;
    private const string Esc = "\u001b";
    /// <summary>GRUB's line while a menu counts down to its default entry (absent when the menu waits: timeout=-1).</summary>
    private const string Countdown = "will be executed automatically";
    /// <summary>busybox ash's prompt as root ("/ # ").</summary>
    private const string ShellPrompt = " # ";

    /// <summary>Boots <paramref name="disk"/> (virtio, -no-reboot) and types <paramref name="script"/>; ends when the
    /// guest powers off or reboots, on a failure line, or (<paramref name="stopOnSuccess"/>) once a line holds
    /// <paramref name="success"/>, which the boot must show.</summary>
    private QemuOutcome Boot(string what, string disk, IReadOnlyList<(string Trigger, string Input)> script, string success, bool stopOnSuccess = false)
    {
        var o = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(disk, Interface: "virtio", Id: "system")],
            MemoryMiB = 768,
            Timeout = TimeSpan.FromMinutes(4),
            Script = script,
            SuccessMarkers = [success],
            StopOnSuccess = stopOnSuccess,
            FailureMarkers = ["NATIVEINIT-AB-FAIL", "NATIVEINIT-INITRAMFS-FAIL", "INSMOD-FAILED", "Kernel panic", "NATIVEINIT-UNIT nativeinit-mark-good.service rc=1"],
            LineStartFailureMarkers = ["error: "],
            // The script answers GRUB's prompt; a prompt left waiting ends at the timeout with the console in the report.
            PromptFailureMarkers = [],
        });
        output.WriteLine($"--- {what}: {o.Elapsed.TotalSeconds:0} s");
        output.WriteLine(o.Report());
        Assert.True(o.Failure is null && !o.TimedOut, $"{what}:\n{o.Report()}");
        Assert.True(o.SawOk, $"{what}: no '{success}':\n{o.Report()}");
        return o;
    }

    /// <summary>The console as text: no carriage returns, no terminal escape sequences (GRUB's menu draws with them).</summary>
    private static string Text(QemuOutcome o) =>
        Regex.Replace(o.Console, @"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Za-z0-9]|[=>])", "").Replace("\r", "", StringComparison.Ordinal);

    /// <summary>The variables `cat (hd0,gpt2)/grub2/grubenv` printed at GRUB's prompt (lines NAME=VALUE after the typed command).</summary>
    private static Dictionary<string, string> GrubenvShown(QemuOutcome o)
    {
        string c = Text(o);
        int at = c.IndexOf("cat (hd0,gpt2)/grub2/grubenv", StringComparison.Ordinal);
        Assert.True(at >= 0, "the cat of grubenv was not typed:\n" + o.Tail(60));
        var vars = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in c[at..].Split('\n').Skip(1))
        {
            if (line.Contains("grub>", StringComparison.Ordinal)) break;
            var m = Regex.Match(line, @"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$");
            if (m.Success) vars[m.Groups[1].Value] = m.Groups[2].Value.Trim();
        }
        return vars;
    }

    /// <summary>The menu entries GRUB drew highlighted (it marks them with '*'), in order, repeats of one entry once.</summary>
    private static List<string> Highlighted(string text)
    {
        var r = new List<string>();
        foreach (Match m in Regex.Matches(text, @"\*(System A|System B|NativeInit recovery)"))
            if (r.Count == 0 || r[^1] != m.Groups[1].Value) r.Add(m.Groups[1].Value);
        return r;
    }

    /// <summary>What GRUB printed for the command <paramref name="typed"/> at its prompt: the lines up to the next prompt.</summary>
    private static string Shown(QemuOutcome o, string typed)
    {
        string c = Text(o);
        int at = c.IndexOf("grub> " + typed, StringComparison.Ordinal);
        int end = at < 0 ? -1 : c.IndexOf("grub>", at + 6, StringComparison.Ordinal);
        Assert.True(at >= 0 && end > at, $"no output of '{typed}' at GRUB's prompt:\n{o.Tail(80)}");
        return c[(c.IndexOf('\n', at) + 1)..end];
    }

    private static void AssertVars(Dictionary<string, string> shown, params (string Name, string Value)[] want)
    {
        string all = string.Join(", ", shown.Select(kv => $"{kv.Key}={kv.Value}"));
        foreach (var (n, v) in want)
            Assert.True(shown.TryGetValue(n, out var got) && got == v, $"GRUB's cat of grubenv: expected {n}={v}, shown: {all}");
    }

    /// <summary>A copy of the converted A/B disk with slot A marked good and the 3.0 bundle written into slot B by
    /// `update --image` on the host: ORDER "B A", B OK with its one try, A good.</summary>
    private string UpdatedDisk(TempDir dir)
    {
        string disk = fx.Copy(dir);
        AbImageFixture.WithBoot(disk, $"{Tool.Quote(fx.Binary)} mark-good --boot-dir $m --slot A", write: true);
        var r = Tool.Run(fx.Binary, ["update", fx.Bundle3, "--key", fx.Public, "--image", disk, "--running", "A"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        var s = fx.HostSlots(disk);
        Assert.Equal(("B A", true, 1, true, Good), (s.OrderText, s["B"].Ok, s["B"].Tries, s["A"].Ok, s["A"].Tries));
        return disk;
    }

    /// <summary>
    /// docs/recovery.md section 5: `cat (hd0,gpt2)/grub2/grubenv` at GRUB's prompt shows ORDER and each slot's OK and
    /// tries (this boot's try already counted: GRUB saves it before the menu); the menu's entries boot a slot by hand
    /// whatever grubenv says: `System A` over the pending slot B, then `System B` after B was recorded as failed.
    /// </summary>
    [SkippableFact]
    public void Grubenv_read_at_grubs_prompt_and_each_slot_booted_by_hand_from_the_menu()
    {
        fx.Require();
        using var dir = new TempDir();
        string disk = UpdatedDisk(dir);

        // Boot 1: GRUB chooses B (its one try); at the menu `c`, the cat, Esc back to the menu, `^` to System A, Enter.
        var b1 = Boot("boot 1: cat grubenv at the prompt, System A by hand", disk,
        [
            ("NativeInit recovery", "c"),
            ("grub>", "cat (hd0,gpt2)/grub2/grubenv\r"),
            ("grub>", Esc),
            ("NativeInit recovery", "^\r"),
        ], "NATIVEINIT-AB-UP");
        var shown = GrubenvShown(b1);
        AssertVars(shown, ("ORDER", "B A"), ("B_OK", "1"), ("B_TRIES", "0"), ("A_OK", "1"), ("A_TRIES", Good.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        string c1 = Text(b1);
        Assert.True(c1.Contains(Countdown, StringComparison.Ordinal), "a slot with tries: GRUB should count down to it\n" + b1.Tail(80));
        // GRUB marks the highlighted entry with '*': first the chosen slot B, after `^` System A.
        Assert.True(Highlighted(c1).SequenceEqual(["System B", "System A"]), $"highlighted: {string.Join(", ", Highlighted(c1))}\n{b1.Tail(80)}");
        Assert.Contains("NATIVEINIT-AB-BOOT slot=A version=2 host=gw-0042", c1);
        var a = AbVmFixture.Slots(b1, "before-units");
        Assert.Equal((true, false, 0), (a["A"].Booted, a["B"].Booted, a["B"].Tries));
        // A's mark-good: B spent its one try without reaching multi-user, so it is recorded as failed.
        var marked = AbVmFixture.Slots(b1, "after-units");
        Assert.Equal(("A B", true, Good, false), (marked.OrderText, marked["A"].Ok, marked["A"].Tries, marked["B"].Ok));

        // Boot 2: GRUB chooses A; `v` to System B, Enter: the slot boots although grubenv has it not OK.
        var b2 = Boot("boot 2: System B by hand", disk, [("NativeInit recovery", "v\r")], "NATIVEINIT-AB-UP");
        string c2 = Text(b2);
        Assert.Contains("NATIVEINIT-AB-BOOT slot=B version=3 host=gw-0042", c2);
        var b = AbVmFixture.Slots(b2, "before-units");
        Assert.Equal(("A B", true, false, 0), (b.OrderText, b["B"].Booted, b["B"].Ok, b["B"].Tries));
    }

    /// <summary>
    /// docs/recovery.md sections 4 and 5, both slots spent: GRUB waits at its menu (no countdown) on `NativeInit
    /// recovery`, which boots slot A's kernel single user (busybox init starts a shell instead of the system's rc); in
    /// that shell `nativeinit mark-good --slot A` and `grub-editenv /boot/grub2/grubenv set A_OK=1 A_TRIES=1` give
    /// slot A tries again, and the next boot is slot A by itself.
    /// </summary>
    [SkippableFact]
    public void Both_slots_spent_grub_waits_on_recovery_whose_single_user_shell_gives_slot_A_tries_again()
    {
        fx.Require();
        using var dir = new TempDir();
        string disk = UpdatedDisk(dir);
        AbImageFixture.WithBoot(disk, "grub-editenv $g/grubenv set A_TRIES=0 B_TRIES=0", write: true);

        var b1 = Boot("boot 1: both spent, recovery, single-user shell", disk,
        [
            ("NativeInit recovery", "c"),
            ("grub>", "cat (hd0,gpt2)/grub2/grubenv\r"),
            ("grub>", Esc),
            ("NativeInit recovery", "\r"),
            (ShellPrompt, "cat /proc/cmdline\r"),
            (ShellPrompt, "mount /boot\r"),
            (ShellPrompt, "nativeinit mark-good --slot A\r"),
            (ShellPrompt, "echo \"NATIVEINIT-\"\"SLOTS tag=marked $(nativeinit slots --json | tr -d '\\n')\"\r"),
            (ShellPrompt, "grub-editenv /boot/grub2/grubenv set A_OK=1 A_TRIES=1\r"),
            (ShellPrompt, "grub-editenv /boot/grub2/grubenv list; umount /boot; echo NATIVEINIT-\"\"SINGLE-DONE; reboot -f\r"),
        ], "NATIVEINIT-SINGLE-DONE");
        string c1 = Text(b1);
        AssertVars(GrubenvShown(b1), ("ORDER", "B A"), ("A_OK", "1"), ("A_TRIES", "0"), ("B_OK", "1"), ("B_TRIES", "0"));
        Assert.False(c1.Contains(Countdown, StringComparison.Ordinal), "no slot has tries: GRUB should wait at its menu, not count down\n" + b1.Tail(80));
        Assert.True(Highlighted(c1).SequenceEqual(["NativeInit recovery"]), $"highlighted: {string.Join(", ", Highlighted(c1))}\n{b1.Tail(80)}");
        // Enter booted the highlighted entry: recovery (slot A's kernel, single user).
        string cmdline = c1.Split('\n').FirstOrDefault(l => l.StartsWith("BOOT_IMAGE=", StringComparison.Ordinal)) ?? "";
        Assert.True(cmdline.StartsWith("BOOT_IMAGE=/slot-A/vmlinuz ", StringComparison.Ordinal), $"/proc/cmdline: '{cmdline}'\n{b1.Tail(80)}");
        var words = cmdline.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var w in new[] { "root=/dev/mapper/VA-root_a", "nativeinit.slot=A", "single" }) Assert.Contains(w, words);
        // Single user: init started a shell, not the system's rc (which prints NATIVEINIT-AB-BOOT and runs the units).
        Assert.DoesNotContain("NATIVEINIT-AB-BOOT", c1);
        var marked = AbVmFixture.Slots(b1, "marked");
        Assert.Equal(("A B", true, Good, false), (marked.OrderText, marked["A"].Ok, marked["A"].Tries, marked["B"].Ok));
        var listed = c1[c1.LastIndexOf("grub-editenv /boot/grub2/grubenv list", StringComparison.Ordinal)..];
        Assert.True(listed.Contains("\nA_OK=1\n", StringComparison.Ordinal) && listed.Contains("\nA_TRIES=1\n", StringComparison.Ordinal),
            "grub-editenv list after the set:\n" + listed);
        Assert.True(b1.ExitCode == 0, "reboot -f should end QEMU (-no-reboot)\n" + b1.Report());

        // Boot 2: slot A by itself, with the one try grub-editenv gave it; its unit marks it good.
        var b2 = AbVmFixture.Boot(disk, null);
        output.WriteLine($"--- boot 2: slot A by itself: {b2.Elapsed.TotalSeconds:0} s\n{b2.Report()}");
        Assert.True(b2.SawOk && b2.Failure is null && !b2.TimedOut, b2.Report());
        Assert.Contains("NATIVEINIT-AB-BOOT slot=A version=2 host=gw-0042", AbVmFixture.Text(b2));
        var s = AbVmFixture.Slots(b2, "before-units");
        Assert.Equal(("A B", true, true, 0), (s.OrderText, s["A"].Booted, s["A"].Ok, s["A"].Tries));
        var after = AbVmFixture.Slots(b2, "after-units");
        Assert.Equal((true, Good), (after["A"].Ok, after["A"].Tries));
    }

    /// <summary>
    /// docs/recovery.md sections 1 and 3: on a disk whose conversion stopped after the extract step (the conversion's
    /// own GRUB in the MBR), `cat (hd0,gpt2)/nativeinit/journal.json` at GRUB's prompt shows the journal: the same JSON
    /// as the file on the disk, in progress, the extract step done, the last error.
    /// </summary>
    [SkippableFact]
    public void The_journal_read_at_the_conversion_grubs_prompt()
    {
        fx.Require();
        using var dir = new TempDir();
        string disk = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", fx.Plain.InProgress, disk);
        string onDisk = AbImageFixture.WithBoot(disk, "cat $m/nativeinit/journal.json");
        string bootUuid = AbImageFixture.WithBoot(disk, "blkid -p -o value -s UUID $bl").Trim();
        Assert.Matches("^[0-9a-f-]{36}$", bootUuid);

        // Section 3's way to the resume line's BOOT-UUID at the same prompt: `ls (hd0,gpt2)` and the conversion's grub.cfg.
        var o = Boot("the conversion's GRUB: cat the journal", disk,
        [
            ("NativeInit: shell (recovery, no conversion)", "c"),
            ("grub>", "cat (hd0,gpt2)/nativeinit/journal.json\r"),
            ("grub>", "ls (hd0,gpt2)\r"),
            ("grub>", "cat (hd0,gpt2)/nativeinit/grub/grub.cfg\r"),
            ("grub>", "echo NATIVEINIT-\"\"JOURNAL-END\r"),
        ], "NATIVEINIT-JOURNAL-END", stopOnSuccess: true);
        // GRUB wraps long lines at the terminal's width (80 columns), where it may drop a space: compare without white space.
        static string Flat(string s) => Regex.Replace(s, @"\s+", "");
        string shown = Shown(o, "cat (hd0,gpt2)/nativeinit/journal.json");
        Assert.Matches($@"UUID\s+{bootUuid}\s", Shown(o, "ls (hd0,gpt2)"));
        Assert.Contains(Flat($"rd.nativeinit=resume rd.nativeinit.disk=uuid:{bootUuid}"), Flat(Shown(o, "cat (hd0,gpt2)/nativeinit/grub/grub.cfg")));
        Assert.True(Flat(onDisk).Length > 500, "journal.json on the disk:\n" + onDisk);
        Assert.Equal(Flat(onDisk), Flat(shown));
        using var doc = JsonDocument.Parse(onDisk);
        var steps = doc.RootElement.GetProperty("steps").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e.GetProperty("state").GetString());
        Assert.Equal("done", steps["extract"]);
        Assert.False(steps.ContainsKey("carry"), "carry had not started: " + string.Join(", ", steps));
        Assert.Contains("interrupted by SIGINT before step carry", doc.RootElement.GetProperty("lastError").GetString());
    }

    /// <summary>
    /// docs/recovery.md section 4: on the converted disk of a layout without slots, the menu's recovery entry
    /// (`nativeinit-recovery`, second after `nativeinit-system-VERSION`) boots the converted system's kernel single user.
    /// </summary>
    [SkippableFact]
    public void The_recovery_entry_of_a_converted_system_boots_its_kernel_single_user()
    {
        fx.Require();
        using var dir = new TempDir();
        string disk = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", fx.Plain.Converted, disk);
        string cfg = AbImageFixture.WithBoot(disk, "cat $g/grub.cfg");
        Assert.Contains("--id nativeinit-recovery", cfg);
        Assert.Matches(@"set default=nativeinit-system-\S+", cfg);

        var o = Boot("the converted system's recovery entry", disk,
        [
            ("recovery: single user", "v\r"),
            (ShellPrompt, "cat /proc/cmdline; echo NATIVEINIT-\"\"SINGLE\r"),
        ], "NATIVEINIT-SINGLE", stopOnSuccess: true);
        string c = Text(o);
        Assert.True(c.Contains(Countdown, StringComparison.Ordinal), "GRUB should count down to the system's entry\n" + o.Tail(80));
        string cmdline = c.Split('\n').FirstOrDefault(l => l.StartsWith("BOOT_IMAGE=", StringComparison.Ordinal)) ?? "";
        Assert.Matches(@"^BOOT_IMAGE=/vmlinuz-\S+ ", cmdline);
        var words = cmdline.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var w in new[] { "root=/dev/mapper/VA-root", "single" }) Assert.Contains(w, words);
        Assert.DoesNotContain(words, w => w.StartsWith("nativeinit.slot", StringComparison.Ordinal));
        Assert.DoesNotContain("NATIVEINIT-AB-BOOT", c);
    }
}
