using NativeInit.Core.Boot;

namespace NativeInit.Tests.Boot;

public class BootSlotsTests
{
    [Fact]
    public void Missing_or_malformed_variables_read_as_not_bootable()
    {
        var env = GrubEnv.Empty();
        env.Set("ORDER", "B X A B");
        env.Set("A_OK", "yes"); env.Set("A_TRIES", "2");
        env.Set("B_OK", "1"); env.Set("B_TRIES", "-1");
        var s = BootSlots.Read(env);
        Assert.Equal(["B", "A"], s.Order);
        Assert.False(s["A"].Bootable);
        Assert.False(s["B"].Bootable);
        Assert.Null(s.Choose());
    }

    [Fact]
    public void Mark_good_rearms_the_running_slot_and_records_the_failed_one()
    {
        var s = BootSlots.AfterConversion();
        s.BeginWrite("B");
        Assert.Equal(["A", "B"], s.Order);
        Assert.False(s["B"].Ok);
        s.FinishWrite("B");
        Assert.Equal(["B", "A"], s.Order);
        Assert.Equal(new SlotState("B", true, BootSlots.NewSlotTries), s["B"]);
        Assert.Equal("B", s.Choose());
        Assert.Equal("A", s.Choose());      // B never marked good: its one try is spent
        s.MarkGood("A");
        Assert.Equal(["A", "B"], s.Order);
        Assert.Equal(new SlotState("B", false, 0), s["B"]);
        Assert.Equal(new SlotState("A", true, BootSlots.GoodTries), s["A"]);
    }

    [Fact]
    public void Round_trips_through_grubenv_and_keeps_other_variables()
    {
        var env = GrubEnv.Empty();
        env.Set("saved_entry", "x");
        var s = BootSlots.AfterConversion();
        s.WriteTo(env);
        var back = GrubEnv.Parse(env.ToBytes(), "grubenv");
        Assert.Equal("x", back["saved_entry"]);
        Assert.Equal("A B", back["ORDER"]);
        Assert.Equal("1", back["A_OK"]); Assert.Equal("3", back["A_TRIES"]);
        Assert.Equal("0", back["B_OK"]); Assert.Equal("0", back["B_TRIES"]);
        Assert.Equal(s.Slots, BootSlots.Read(back).Slots);
    }

    [Fact]
    public void Unknown_slot_names_are_refused() =>
        Assert.Throws<ArgumentException>(() => BootSlots.AfterConversion().MarkGood("C"));
}
