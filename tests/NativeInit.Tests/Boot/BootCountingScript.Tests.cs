using NativeInit.Core.Boot;

namespace NativeInit.Tests.Boot;

/// <summary>The A/B GRUB script, run by GRUB itself (grub-emu), against its C# model <see cref="BootSlots"/>.</summary>
[Trait("Category", "Integration")]
public class BootCountingScriptTests
{
    private const string Marker = "NI-DECISION";

    private static string TestScript() =>
        BootCountingScript.Decision() + $"echo \"{Marker} slot=$ni_slot default=$default timeout=$timeout\"\nreboot\n";

    public static IEnumerable<object[]> EveryState()
    {
        foreach (var order in new[] { "A B", "B A", "A", "" })
        foreach (var aOk in new[] { "1", "0" })
        foreach (var aTries in new[] { "0", "1", "3" })
        foreach (var bOk in new[] { "1", "0" })
        foreach (var bTries in new[] { "0", "1", "3" })
            yield return [order, aOk, aTries, bOk, bTries];
    }

    [SkippableFact]
    public void Grub_decides_as_the_model_in_every_state_and_saves_the_decremented_tries()
    {
        using var grub = new GrubEmu(TestScript());
        int checkedStates = 0;
        foreach (var s in EveryState())
        {
            var env = GrubEnv.Empty();
            env.Set("ORDER", (string)s[0]);
            env.Set("A_OK", (string)s[1]); env.Set("A_TRIES", (string)s[2]);
            env.Set("B_OK", (string)s[3]); env.Set("B_TRIES", (string)s[4]);
            env.Set("other", "kept");
            grub.Env = env;

            var model = BootSlots.Read(env);
            string? expected = model.Choose();
            string output = grub.Boot();
            string what = $"state ORDER='{s[0]}' A={s[1]}/{s[2]} B={s[3]}/{s[4]}";

            Assert.True((expected ?? "") == GrubEmu.Echoed(output, Marker, "slot"), $"{what}: GRUB chose '{GrubEmu.Echoed(output, Marker, "slot")}', the model '{expected}'");
            Assert.Equal(expected is null ? BootCountingScript.RecoveryEntryId : BootCountingScript.EntryId(expected),
                GrubEmu.Echoed(output, Marker, "default"));
            Assert.Equal(expected is null ? "-1" : "3", GrubEmu.Echoed(output, Marker, "timeout"));

            var after = grub.Env;
            foreach (var n in BootSlots.Names)
            {
                // GRUB saves only the tries (and only when it boots a slot); the model's tries must match them.
                string want = expected is null ? env[BootSlots.TriesVariable(n)]! : model[n].Tries.ToString();
                Assert.True(want == after[BootSlots.TriesVariable(n)], $"{what}: {n}_TRIES {after[BootSlots.TriesVariable(n)]}, model {want}");
                Assert.Equal(env[BootSlots.OkVariable(n)], after[BootSlots.OkVariable(n)]);
            }
            Assert.Equal("kept", after["other"]);
            checkedStates++;
        }
        Assert.Equal(4 * 2 * 3 * 2 * 3, checkedStates);
    }

    [SkippableFact]
    public void A_good_update_boots_the_new_slot_and_a_bad_one_falls_back_by_itself()
    {
        using var grub = new GrubEmu(TestScript());
        var slots = BootSlots.AfterConversion();
        var env = GrubEnv.Empty();

        // Converted system: A boots.
        slots.WriteTo(env); grub.Env = env;
        Assert.Equal("A", GrubEmu.Echoed(grub.Boot(), Marker, "slot"));
        slots = BootSlots.Read(grub.Env); slots.MarkGood("A"); env = grub.Env; slots.WriteTo(env); grub.Env = env;

        // A power cut while the update writes B: A keeps booting.
        slots.BeginWrite("B"); slots.WriteTo(env); grub.Env = env;
        Assert.Equal("A", GrubEmu.Echoed(grub.Boot(), Marker, "slot"));

        // B written: one try. It never reaches multi-user (no mark-good): the next boot is A again, by itself.
        slots = BootSlots.Read(grub.Env); slots.FinishWrite("B"); env = grub.Env; slots.WriteTo(env); grub.Env = env;
        Assert.Equal("B", GrubEmu.Echoed(grub.Boot(), Marker, "slot"));
        Assert.Equal("A", GrubEmu.Echoed(grub.Boot(), Marker, "slot"));
        slots = BootSlots.Read(grub.Env); slots.MarkGood("A"); env = grub.Env; slots.WriteTo(env); grub.Env = env;
        Assert.False(slots["B"].Ok);
        Assert.Equal(["A", "B"], slots.Order);
        Assert.Equal("A", GrubEmu.Echoed(grub.Boot(), Marker, "slot"));

        // A good update: B boots, is marked good, and stays the default; A is still the fallback.
        slots = BootSlots.Read(grub.Env); slots.MarkGood("A"); slots.BeginWrite("B"); slots.FinishWrite("B");
        env = grub.Env; slots.WriteTo(env); grub.Env = env;
        Assert.Equal("B", GrubEmu.Echoed(grub.Boot(), Marker, "slot"));
        slots = BootSlots.Read(grub.Env); slots.MarkGood("B"); env = grub.Env; slots.WriteTo(env); grub.Env = env;
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal("B", GrubEmu.Echoed(grub.Boot(), Marker, "slot"));
            slots = BootSlots.Read(grub.Env); slots.MarkGood("B"); env = grub.Env; slots.WriteTo(env); grub.Env = env;
        }
        Assert.True(slots["A"].Bootable);
    }

    [SkippableFact]
    public void A_system_that_never_comes_up_ends_at_the_recovery_entry_never_in_a_loop()
    {
        using var grub = new GrubEmu(TestScript());
        var env = GrubEnv.Empty();
        BootSlots.AfterConversion().WriteTo(env);
        grub.Env = env;
        var chosen = new List<string>();
        for (int i = 0; i < BootSlots.GoodTries + 2; i++) chosen.Add(GrubEmu.Echoed(grub.Boot(), Marker, "slot"));
        Assert.Equal(["A", "A", "A", "", ""], chosen);
        Assert.Equal("-1", GrubEmu.Echoed(grub.Boot(), Marker, "timeout"));
    }
}
