using System.Globalization;
using System.Text;

namespace NativeInit.Core.Boot;

/// <summary>A slot's menu entry: kernel and initramfs paths on /boot, and the kernel command line.</summary>
public sealed record SlotBootEntry(string Slot, string Kernel, string Initramfs, string CommandLine);

/// <summary>
/// The GRUB script that does A/B boot counting (<see cref="BootSlots"/> is its model in C#; the tests run both, GRUB's
/// through grub-emu on a disk image, for every state). Plain GRUB 2 script, no <c>eval</c> and no arithmetic (GRUB
/// has neither in 2.02, CentOS 7's version): a decrement is one branch per value. The tries are saved with
/// <c>save_env</c> before the slot boots, so a boot that never comes back still counts.
/// </summary>
public static class BootCountingScript
{
    public const string SlotEntryIdPrefix = "nativeinit-slot-";
    public const string RecoveryEntryId = "nativeinit-recovery";

    /// <summary>The menu entry id of a slot.</summary>
    public static string EntryId(string slot) => SlotEntryIdPrefix + slot;

    /// <summary>The decision part alone: sets <c>ni_slot</c> (empty: none qualifies), saves the tries, and sets
    /// <c>default</c> and <c>timeout</c>.</summary>
    public static string Decision()
    {
        var sb = new StringBuilder();
        string vars = string.Join(' ', new[] { BootSlots.OrderVariable }
            .Concat(BootSlots.Names.SelectMany(n => new[] { BootSlots.OkVariable(n), BootSlots.TriesVariable(n) })));
        sb.Append("# NativeInit A/B boot counting, written by nativeinit (docs/recovery.md). Do not edit.\n");
        sb.Append("if [ -s $prefix/grubenv ]; then\n");
        sb.Append("  load_env ").Append(vars).Append('\n');
        sb.Append("fi\n");
        sb.Append("set ni_slot=\n");
        sb.Append("for ni_s in $").Append(BootSlots.OrderVariable).Append("; do\n");
        sb.Append("  if [ -z \"$ni_slot\" ]; then\n");
        foreach (var n in BootSlots.Names)
        {
            string ok = BootSlots.OkVariable(n), tries = BootSlots.TriesVariable(n);
            sb.Append("    if [ \"$ni_s\" = ").Append(n).Append(" -a \"$").Append(ok).Append("\" = 1 ]; then\n");
            for (int t = BootSlots.MaxTries; t >= 1; t--)
            {
                sb.Append(t == BootSlots.MaxTries ? "      if" : "      elif")
                    .Append(CultureInfo.InvariantCulture, $" [ \"${tries}\" = {t} ]; then set {tries}={t - 1}; set ni_slot={n}\n");
            }
            sb.Append("      fi\n");
            sb.Append("    fi\n");
        }
        sb.Append("  fi\n");
        sb.Append("done\n");
        sb.Append("if [ -n \"$ni_slot\" ]; then\n");
        sb.Append("  save_env ").Append(string.Join(' ', BootSlots.Names.Select(BootSlots.TriesVariable))).Append('\n');
        sb.Append("  set default=\"").Append(SlotEntryIdPrefix).Append("${ni_slot}\"\n");
        sb.Append("  set timeout=3\n");
        sb.Append("else\n");
        sb.Append("  set default=\"").Append(RecoveryEntryId).Append("\"\n");
        sb.Append("  set timeout=-1\n");
        sb.Append("fi\n");
        return sb.ToString();
    }

    /// <summary>The whole A/B section of grub.cfg: the decision, one menu entry per slot, the recovery entry.</summary>
    public static string Render(IEnumerable<SlotBootEntry> slots, string recoveryEntryBody)
    {
        var sb = new StringBuilder(Decision());
        foreach (var s in slots)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"menuentry {Quote("System " + s.Slot)} --id {EntryId(s.Slot)} {{\n");
            sb.Append("  linux ").Append(Quote(s.Kernel)).Append(' ').Append(s.CommandLine).Append('\n');
            sb.Append("  initrd ").Append(Quote(s.Initramfs)).Append('\n');
            sb.Append("}\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"menuentry {Quote("NativeInit recovery")} --id {RecoveryEntryId} {{\n");
        foreach (var line in recoveryEntryBody.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            sb.Append("  ").Append(line.Trim()).Append('\n');
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>GRUB single quotes: nothing is special inside them except the quote itself.</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";
}
