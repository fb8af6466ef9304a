using System.Globalization;

namespace NativeInit.Core.Boot;

/// <summary>
/// What the target's /etc/default/grub asks of the grub.cfg NativeInit writes in grub2-mkconfig's place: the kernel
/// arguments (GRUB_CMDLINE_LINUX, and GRUB_CMDLINE_LINUX_DEFAULT for the normal entries), the menu's name
/// (GRUB_DISTRIBUTOR), the timeout (GRUB_TIMEOUT) and GRUB's serial terminal (serial in GRUB_TERMINAL,
/// GRUB_TERMINAL_INPUT or GRUB_TERMINAL_OUTPUT; --unit and --speed of GRUB_SERIAL_COMMAND). Read in the bootloader
/// step, after the point of no return, so nothing here fails the conversion: a value NativeInit cannot evaluate
/// (shell code) or does not keep is left out, with a sentence in <see cref="Notes"/> that the step reports.
/// </summary>
/// <param name="CommandLine">The target's kernel arguments; empty when missing or not evaluated.</param>
/// <param name="DefaultCommandLine">GRUB_CMDLINE_LINUX_DEFAULT: arguments of the normal entries only.</param>
/// <param name="Distributor">GRUB_DISTRIBUTOR, when set to a plain non-empty value.</param>
/// <param name="TimeoutSeconds">GRUB_TIMEOUT, when a whole number of seconds, 0 or more.</param>
/// <param name="Serial">GRUB's serial terminal, when the file asks for one.</param>
/// <param name="Notes">What was left out, and why.</param>
public sealed record TargetGrubDefaults(IReadOnlyList<string> CommandLine, IReadOnlyList<string> DefaultCommandLine, string? Distributor,
    int? TimeoutSeconds, GrubSerial? Serial, IReadOnlyList<string> Notes)
{
    /// <summary>Nothing asked: no /etc/default/grub.</summary>
    public static readonly TargetGrubDefaults None = new([], [], null, null, null, []);

    /// <summary>Reads <paramref name="targetRoot"/>/etc/default/grub (<see cref="None"/> when there is none). A file
    /// that sh could not read either (an unterminated quote) is reported in <see cref="Notes"/> and otherwise ignored.</summary>
    public static TargetGrubDefaults Read(string targetRoot)
    {
        string path = Path.Combine(targetRoot, DefaultGrubFile.RelativePath);
        if (!File.Exists(path)) return None;
        string shown = "/" + DefaultGrubFile.RelativePath;
        try
        {
            return From(DefaultGrubFile.Parse(File.ReadAllText(path), shown, out var unevaluated), unevaluated, shown);
        }
        catch (InvalidDataFormatException e)
        {
            return None with { Notes = [$"{e.Message}: the file is ignored"] };
        }
    }

    /// <summary>The settings of a parsed file (<see cref="DefaultGrubFile.Parse(string, string, out IReadOnlyDictionary{string, string})"/>).</summary>
    public static TargetGrubDefaults From(IReadOnlyDictionary<string, string> vars, IReadOnlyDictionary<string, string> unevaluated, string what)
    {
        var notes = new List<string>();
        var commandLine = Words(vars, unevaluated, "GRUB_CMDLINE_LINUX", what, notes);
        var defaultCommandLine = Words(vars, unevaluated, "GRUB_CMDLINE_LINUX_DEFAULT", what, notes);

        string? distributor = vars.TryGetValue("GRUB_DISTRIBUTOR", out var d) && d.Trim().Length > 0 ? d.Trim() : null;
        if (unevaluated.TryGetValue("GRUB_DISTRIBUTOR", out var why)) notes.Add($"{why}: the menu is named after the product");

        int? timeout = null;
        if (unevaluated.TryGetValue("GRUB_TIMEOUT", out why)) notes.Add($"{why}: the default timeout is kept");
        else if (vars.TryGetValue("GRUB_TIMEOUT", out var t))
        {
            if (int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) && seconds <= 600) timeout = seconds;
            else if (int.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out seconds) && seconds < 0)
                notes.Add($"{what}: GRUB_TIMEOUT={t} (wait for a key) is not kept: a converted system boots by itself; the default timeout is kept");
            else notes.Add($"{what}: GRUB_TIMEOUT='{t}' is not a number of seconds up to 600: the default timeout is kept");
        }

        GrubSerial? serial = null;
        bool wantsSerial = false;
        foreach (var name in (string[])["GRUB_TERMINAL", "GRUB_TERMINAL_INPUT", "GRUB_TERMINAL_OUTPUT"])
        {
            if (vars.TryGetValue(name, out var terminals) &&
                terminals.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Contains("serial", StringComparer.Ordinal))
                wantsSerial = true;
            if (unevaluated.TryGetValue(name, out why)) notes.Add($"{why}: GRUB's terminal is not changed for it");
        }
        if (wantsSerial)
        {
            serial = new GrubSerial();
            if (vars.TryGetValue("GRUB_SERIAL_COMMAND", out var command))
            {
                foreach (var word in command.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                {
                    if (Option(word, "--unit=") is { } unit) serial = serial with { Unit = unit };
                    else if (Option(word, "--speed=") is { } speed) serial = serial with { Speed = speed };
                }
            }
        }
        return new TargetGrubDefaults(commandLine, defaultCommandLine, distributor, timeout, serial, notes);
    }

    /// <summary>The kernel arguments in <paramref name="name"/>; none, with a note, when it is shell code or its quotes
    /// do not close.</summary>
    private static IReadOnlyList<string> Words(IReadOnlyDictionary<string, string> vars, IReadOnlyDictionary<string, string> unevaluated,
        string name, string what, List<string> notes)
    {
        string? why = unevaluated.GetValueOrDefault(name);
        if (why is null && vars.TryGetValue(name, out var line))
        {
            try
            {
                return DefaultGrubFile.SplitWords(line, what + ": " + name);
            }
            catch (InvalidDataFormatException e)
            {
                why = e.Message;
            }
        }
        if (why is not null) notes.Add($"{why}: the entries get NativeInit's arguments without it");
        return [];
    }

    private static int? Option(string word, string prefix) =>
        word.StartsWith(prefix, StringComparison.Ordinal) &&
        int.TryParse(word.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : null;
}
