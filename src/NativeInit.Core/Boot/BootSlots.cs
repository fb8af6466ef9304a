using System.Globalization;

namespace NativeInit.Core.Boot;

/// <summary>One A/B slot as GRUB sees it: <see cref="Ok"/> = it holds a complete system (cleared while it is being
/// written and when it failed), <see cref="Tries"/> = boots left before GRUB gives up on it.</summary>
public sealed record SlotState(string Name, bool Ok, int Tries)
{
    /// <summary>GRUB would boot it.</summary>
    public bool Bootable => Ok && Tries > 0;
}

/// <summary>
/// The A/B boot-counting state in GRUB's environment block on /boot (a plain partition, where GRUB's save_env can
/// write; never on LVM). Variables, in the style of RAUC's GRUB backend: <c>ORDER</c> ("A B": the preferred slot
/// first), <c>A_OK</c>/<c>B_OK</c> ("1" or "0"), <c>A_TRIES</c>/<c>B_TRIES</c> ("0".."9").
/// <para>What GRUB does at every boot (<see cref="BootCountingScript"/>, and <see cref="Choose"/> here, which the tests
/// hold to GRUB's own behaviour): the first slot of ORDER that is OK with tries left is chosen, its tries are
/// decremented and saved BEFORE it boots; when no slot qualifies GRUB stays at its menu on the recovery entry, so a
/// system that never comes up ends at the prompt, never in a boot loop.</para>
/// <para>What user space does: <see cref="MarkGood"/> once the running slot reached multi-user (tries re-armed to
/// <see cref="GoodTries"/>, the slot first in ORDER, a slot that failed before it marked not OK);
/// <see cref="BeginWrite"/> before an update writes the other slot (it cannot be booted half-written);
/// <see cref="FinishWrite"/> after (first in ORDER with one try).</para>
/// </summary>
public sealed class BootSlots
{
    /// <summary>The slot names, in the order the layout lists them.</summary>
    public static readonly string[] Names = ["A", "B"];

    /// <summary>Tries a good slot gets back at every mark-good: three boots that do not reach multi-user (power cuts
    /// during boot included) before GRUB falls back.</summary>
    public const int GoodTries = 3;

    /// <summary>Tries of a freshly written slot: one boot to prove itself.</summary>
    public const int NewSlotTries = 1;

    /// <summary>The largest count the GRUB script can decrement (it has no arithmetic: one branch per value).</summary>
    public const int MaxTries = 9;

    public const string OrderVariable = "ORDER";

    private readonly Dictionary<string, SlotState> _slots;

    private BootSlots(List<string> order, Dictionary<string, SlotState> slots)
    {
        Order = order;
        _slots = slots;
    }

    /// <summary>Slot names, preferred first.</summary>
    public IReadOnlyList<string> Order { get; private set; }

    public SlotState this[string name] => _slots[name];

    public IEnumerable<SlotState> Slots => Names.Select(n => _slots[n]);

    public static string OkVariable(string slot) => slot + "_OK";

    public static string TriesVariable(string slot) => slot + "_TRIES";

    /// <summary>A converted A/B system once slot A was marked good: A good with <see cref="GoodTries"/>, B empty. (convert
    /// itself writes slot A as freshly written, one try: <see cref="SlotBootConfig.WriteAfterConversion"/>.)</summary>
    public static BootSlots AfterConversion() => new(["A", "B"], new()
    {
        ["A"] = new("A", true, GoodTries),
        ["B"] = new("B", false, 0),
    });

    /// <summary>Reads the state from grubenv; a missing or malformed variable reads as the safest value (not OK,
    /// no tries), as GRUB's script treats it.</summary>
    public static BootSlots Read(GrubEnv env)
    {
        var order = (env[OrderVariable] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(Names.Contains).Distinct().ToList();
        var slots = new Dictionary<string, SlotState>();
        foreach (var n in Names)
        {
            bool ok = env[OkVariable(n)] == "1";
            int tries = int.TryParse(env[TriesVariable(n)], NumberStyles.None, CultureInfo.InvariantCulture, out int t)
                && t <= MaxTries ? t : 0;
            slots[n] = new SlotState(n, ok, tries);
        }
        return new BootSlots(order, slots);
    }

    /// <summary>Writes every variable of the state into <paramref name="env"/>, leaving its other variables.</summary>
    public void WriteTo(GrubEnv env)
    {
        env.Set(OrderVariable, string.Join(' ', Order));
        foreach (var s in Slots)
        {
            env.Set(OkVariable(s.Name), s.Ok ? "1" : "0");
            env.Set(TriesVariable(s.Name), s.Tries.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>What GRUB's script does at boot: returns the slot it boots (its tries already decremented in this
    /// state, as GRUB saves them before booting), or null for the recovery entry.</summary>
    public string? Choose()
    {
        if (Next() is not { } n) return null;
        _slots[n] = _slots[n] with { Tries = _slots[n].Tries - 1 };
        return n;
    }

    /// <summary>The slot GRUB would boot next (the first of ORDER that is OK with tries left), without counting the
    /// boot; null for the recovery entry.</summary>
    public string? Next() => Order.FirstOrDefault(n => _slots[n].Bootable);

    /// <summary>The running slot reached multi-user: it is good, first in ORDER, with its tries re-armed. When it
    /// runs because the preferred slot used up its tries, that slot failed: it is marked not OK.</summary>
    public void MarkGood(string running)
    {
        Require(running);
        if (Order.Count > 0 && Order[0] != running && !_slots[Order[0]].Bootable)
            _slots[Order[0]] = _slots[Order[0]] with { Ok = false, Tries = 0 };
        _slots[running] = new SlotState(running, true, GoodTries);
        Order = [running, .. Names.Where(n => n != running && Order.Contains(n)), .. Names.Where(n => n != running && !Order.Contains(n))];
    }

    /// <summary>Before writing <paramref name="target"/>: GRUB must never boot it half-written.</summary>
    public void BeginWrite(string target)
    {
        Require(target);
        _slots[target] = new SlotState(target, false, 0);
        Order = [.. Order.Where(n => n != target), target];
    }

    /// <summary>After <paramref name="target"/> is completely written and synced: boot it next, once.</summary>
    public void FinishWrite(string target)
    {
        Require(target);
        _slots[target] = new SlotState(target, true, NewSlotTries);
        Order = [target, .. Names.Where(n => n != target)];
    }

    private static void Require(string slot)
    {
        if (!Names.Contains(slot)) throw new ArgumentException($"no slot '{slot}' (slots: {string.Join(", ", Names)})", nameof(slot));
    }
}
