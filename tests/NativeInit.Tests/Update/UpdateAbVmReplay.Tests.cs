using System.Diagnostics;
using System.Text;
using NativeInit.Core.Boot;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.Update;

/// <summary>
/// Issue 14, "a power cut at any moment of an update leaves the running slot the one that boots", by a replayed write
/// log (the approach of tools/vm-test powercut and xfstests' replay-log): one `nativeinit update` inside the A/B VM
/// (<see cref="AbVmFixture"/>) is recorded through QEMU's blklogwrites driver, then the pre-update disk is brought
/// forward through the log one entry at a time (<see cref="WriteLogReplay"/>); at every prefix GRUB's own xfs code
/// (grub-fstest on /boot's partition, no log replay, as GRUB reads it at boot) reads grubenv, and the slot GRUB
/// would boot is decided by <see cref="BootSlots.Next"/>, the model that Boot/BootCountingScript.Tests.cs holds to
/// GRUB's script in every state of tries and order. Two of the replayed disks, just before and just after the switch
/// write, are then booted in QEMU.
/// </summary>
[Trait("Category", "Qemu")]
[Collection(AbVmCollection.Name)]
public class UpdateAbVmReplayTests(AbVmFixture fx, ITestOutputHelper output)
{
    private const int Good = BootSlots.GoodTries;

    private QemuOutcome Boot(string what, string disk, string? control, string? killOn = null, string? writeLog = null)
    {
        var o = AbVmFixture.Boot(disk, control, killOn, writeLog: writeLog);
        output.WriteLine($"--- {what}: {o.Elapsed.TotalSeconds:0} s");
        output.WriteLine(o.Report());
        Assert.True(o.Failure is null && !o.TimedOut, $"{what}:\n{o.Report()}");
        Assert.True(o.SawOk, $"{what}: no marker:\n{o.Report()}");
        return o;
    }

    /// <summary>grubenv of the image's /boot as GRUB reads it (grub-fstest: GRUB's xfs code, no log replay).</summary>
    private static (ToolResult Raw, BootSlots? Slots) GrubView(string img)
    {
        var r = Tool.Run("grub-fstest", img, "-r", "loop0,gpt2", "cat", "/grub2/grubenv");
        if (r.ExitCode != 0) return (r, null);
        return (r, BootSlots.Read(GrubEnv.Parse(Encoding.ASCII.GetBytes(r.Stdout), "grubenv as grub-fstest reads it")));
    }

    private static string Describe(BootSlots s) =>
        $"ORDER=\"{string.Join(' ', s.Order)}\" " + string.Join(' ', s.Slots.Select(x => $"{x.Name}_OK={(x.Ok ? 1 : 0)} {x.Name}_TRIES={x.Tries}"));

    /// <summary>The grubenv an entry wrote, wherever in its data the block starts (a write may carry neighbouring
    /// blocks), or null.</summary>
    private static IReadOnlyDictionary<string, string>? GrubEnvWritten(WriteLog log, WriteLogEntry e)
    {
        if (!e.IsWrite) return null;
        byte[] data = log.ReadData(e);
        for (int at = 0; at + 512 <= data.Length; at += 512)
            if (WriteLog.GrubEnvVariables(data.AsSpan(at)) is { } vars) return vars;
        return null;
    }

    [SkippableFact]
    public void A_power_cut_at_every_point_of_a_recorded_update_boots_slot_A_until_the_switch_and_B_once_from_it()
    {
        fx.Require();
        Tool.Require("grub-fstest");
        var clock = Stopwatch.StartNew();
        using var dir = new TempDir();
        string disk = fx.Copy(dir);
        // Slot A as a system that has been running: marked good (what its first boot's unit does), 3 tries. The
        // recorded boot is then an ordinary one: GRUB counts it (3 -> 2), the unit re-arms it, the update follows.
        AbImageFixture.WithBoot(disk, $"{Tool.Quote(fx.Binary)} mark-good --boot-dir $m --slot A", write: true);
        string baseImage = dir.Combine("base.img");
        Tool.Check("cp", "--sparse=always", disk, baseImage);
        var start = GrubView(baseImage).Slots!;
        Assert.Equal(("A", Good), (start.Next(), start["A"].Tries));

        // 1. Record: boot slot A, `nativeinit update` of 3.0 without --reboot; QEMU is killed once the guest holds.
        string log = dir.Combine("writes.log");
        File.WriteAllBytes(log, []);
        var rec = Boot("recorded boot (slot A, update 3.0 through blklogwrites)", disk, fx.ControlDisk(dir, "update", "update", fx.Bundle3),
            killOn: "NATIVEINIT-AB-HOLD", writeLog: log);
        string c = AbVmFixture.Text(rec);
        Assert.Contains("NATIVEINIT-AB-BOOT slot=A version=2 host=gw-0042", c);
        Assert.Contains("NATIVEINIT-UPDATE-RC=0", c);
        Assert.Contains("update: grubenv: next boot slot B once (ORDER=\"B A\", B_TRIES=1)", c);
        var held = AbVmFixture.Slots(rec, "after-update");
        Assert.Equal(("B A", true, 1), (held.OrderText, held["B"].Ok, held["B"].Tries));

        var wl = WriteLog.Open(log);
        output.WriteLine(wl.Describe());
        var notes = wl.List(notes: true).ToList();
        // The grubenv writes of the run: GRUB's save_env (a sector at a time), mark-good, the update's BeginWrite and,
        // last, its FinishWrite: the switch, the first write of a block whose ORDER puts B first.
        var envWrites = wl.Entries.Select(e => (Entry: e, Vars: GrubEnvWritten(wl, e))).Where(x => x.Vars is not null).ToList();
        foreach (var (e, _) in envWrites) output.WriteLine(notes[(int)e.Index]);
        var switches = envWrites.Where(x => x.Vars!.TryGetValue("ORDER", out var o) && o.StartsWith('B')).ToList();
        Assert.True(switches.Count >= 1, "no grubenv write with ORDER=\"B ...\" in the log:\n" + string.Join('\n', envWrites.Select(x => notes[(int)x.Entry.Index])));
        long sw = switches[0].Entry.Index;
        Assert.True(envWrites.Count(x => x.Entry.Index < sw) >= 2, "expected GRUB's save_env and mark-good before the switch:\n" + string.Join('\n', notes));
        Assert.Contains(wl.Entries, e => e.Index > sw && e.IsFlush); // update's fsync of grubenv reached the disk
        output.WriteLine($"{wl.Entries.Count} entries, the switch at entry {sw}: {notes[(int)sw]}");

        // 2. Replay forward over one copy of the pre-update disk; after every entry, what GRUB reads and would boot.
        // Every prefix (about 210 entries, 7-13 ms each here): the disk before the boot (-1) and after each entry.
        var points = Enumerable.Range(-1, wl.Entries.Count + 1).Select(i => (long)i).ToList();
        string kernelV = Path.GetFileName(Directory.GetFiles(Path.Combine(fx.Rootfs3, "boot"), "vmlinuz-*").Single());
        string kernel = Path.Combine(fx.Rootfs3, "boot", kernelV), initramfs = Path.Combine(fx.Rootfs3, "boot", "initramfs-" + kernelV["vmlinuz-".Length..] + ".img");
        string before = dir.Combine("before-switch.img"), after = dir.Combine("after-switch.img");
        var table = new StringBuilder();
        var replayClock = Stopwatch.StartNew();
        using (var replay = wl.StartReplay(baseImage, dir.Combine("replay.img")))
        {
            foreach (long p in points)
            {
                replay.ApplyThrough(p);
                var (raw, slots) = GrubView(replay.Output);
                Assert.True(slots is not null, $"power cut after entry {p}: GRUB (grub-fstest) cannot read grubenv: {raw}");
                string? next = slots.Next();
                table.AppendLine($"{p}\t{next ?? "recovery"}\t{Describe(slots)}\t{(p >= 0 ? notes[(int)p] : "(the disk before the boot)")}");
                if (p < sw)
                {
                    Assert.True(next == "A" && slots["A"].Ok && slots["A"].Tries >= Good - 1,
                        $"power cut after entry {p} (before the switch at {sw}): GRUB would boot {next ?? "the recovery entry"} ({Describe(slots)}), not slot A\n{table}");
                }
                else
                {
                    Assert.True(next == "B" && slots["B"].Ok && slots["B"].Tries == 1 && slots["A"].Ok && slots["A"].Tries == Good,
                        $"power cut after entry {p} (the switch at {sw}): GRUB would not boot B once with A good as fallback ({Describe(slots)})\n{table}");
                    // GRUB finds what it is told to boot: slot B's kernel and initramfs, as GRUB's xfs code reads them.
                    foreach (var (file, local) in new[] { ("/slot-B/vmlinuz", kernel), ("/slot-B/initramfs.img", initramfs) })
                    {
                        var cmp = Tool.Run("grub-fstest", replay.Output, "-r", "loop0,gpt2", "cmp", file, local);
                        Assert.True(cmp.ExitCode == 0 && cmp.Stderr.Trim().Length == 0, $"entry {p}: GRUB does not read {file} as the bundle's: {cmp}");
                    }
                }
                if (p == sw - 1) Tool.Check("cp", "--sparse=always", replay.Output, before);
                if (p == sw) Tool.Check("cp", "--sparse=always", replay.Output, after);
            }
        }
        output.WriteLine($"replayed and read {points.Count} points ({wl.Entries.Count} entries) in {replayClock.Elapsed.TotalSeconds:0.0} s:\n{table}");
        Assert.Equal(GrubView(disk).Raw.Stdout, GrubView(dir.Combine("replay.img")).Raw.Stdout); // the whole log replayed = the recorded disk

        // 3. Boot the disk of a power cut just before the switch: slot A, B not OK (it was being written).
        var a = Boot($"replayed to entry {sw - 1} (just before the switch)", before, null);
        string ca = AbVmFixture.Text(a);
        Assert.Contains("NATIVEINIT-AB-BOOT slot=A version=2 host=gw-0042", ca);
        Assert.Contains("NATIVEINIT-UNIT nativeinit-mark-good.service rc=0", ca);
        var sa = AbVmFixture.Slots(a, "before-units");
        Assert.Equal("A B", sa.OrderText);
        Assert.Equal((true, true), (sa["A"].Booted, sa["A"].Ok));
        Assert.Equal((false, false, false), (sa["B"].Booted, sa["B"].Ok, sa["B"].Bootable));

        // 4. And just after it: slot B, its one try spent, A good as its fallback; the unit marks B good.
        var b = Boot($"replayed to entry {sw} (the switch)", after, null);
        string cb = AbVmFixture.Text(b);
        Assert.Contains("NATIVEINIT-AB-BOOT slot=B version=3 host=gw-0042", cb);
        var sb = AbVmFixture.Slots(b, "before-units");
        Assert.Equal("B A", sb.OrderText);
        Assert.Equal((true, true, 0, "3.0"), (sb["B"].Booted, sb["B"].Ok, sb["B"].Tries, sb["B"].BundleVersion));
        Assert.Equal((false, true, Good), (sb["A"].Booted, sb["A"].Ok, sb["A"].Tries));
        var sbGood = AbVmFixture.Slots(b, "after-units");
        Assert.Equal((true, Good), (sbGood["B"].Ok, sbGood["B"].Tries));
        output.WriteLine($"in all {clock.Elapsed.TotalSeconds:0} s (QEMU {rec.Elapsed.TotalSeconds + a.Elapsed.TotalSeconds + b.Elapsed.TotalSeconds:0} s)");
    }
}
