namespace NativeInit.Core.Boot;

/// <summary>
/// Facts about a system's GRUB 2 setup on BIOS, read from its files: CentOS 7 keeps it in /boot/grub2 (grub2-* tools),
/// Debian in /boot/grub (grub-* tools). Both generate grub.cfg with /etc/grub.d/41_custom, which sources custom.cfg
/// from the same directory, and with 00_header, which boots "next_entry" once and clears it (what grub2-reboot and
/// grub-reboot set).
/// </summary>
public sealed record GrubSetup(string GrubDir, string Flavor, string ConfigFile, string CustomCfg, string EnvFile, string RebootTool)
{
    /// <summary>Finds the GRUB directory under <paramref name="bootDir"/> (grub2 first).</summary>
    public static GrubSetup? Find(string bootDir)
    {
        foreach (var (name, tool) in new[] { ("grub2", "grub2-reboot"), ("grub", "grub-reboot") })
        {
            var dir = Path.Combine(bootDir, name);
            var cfg = Path.Combine(dir, "grub.cfg");
            if (File.Exists(cfg))
                return new GrubSetup(dir, name, cfg, Path.Combine(dir, "custom.cfg"), Path.Combine(dir, "grubenv"), tool);
        }
        return null;
    }

    /// <summary>Problems that make a one-shot entry in custom.cfg not work with this grub.cfg; empty when fine.</summary>
    public IEnumerable<string> Problems()
    {
        var cfg = File.ReadAllText(ConfigFile);
        if (!cfg.Contains("custom.cfg", StringComparison.Ordinal) || !cfg.Contains("source", StringComparison.Ordinal))
            yield return $"{ConfigFile} does not source custom.cfg (no /etc/grub.d/41_custom section): the boot entry would not be seen";
        if (!cfg.Contains("next_entry", StringComparison.Ordinal))
            yield return $"{ConfigFile} does not honour next_entry (00_header): a one-shot boot is not possible";
        if (!cfg.Contains("load_env", StringComparison.Ordinal))
            yield return $"{ConfigFile} does not load grubenv (load_env): a one-shot boot is not possible";
    }
}

/// <summary>The menu entry stage one adds to custom.cfg, between markers.</summary>
public static class ConversionMenuEntry
{
    public const string Id = "nativeinit-convert";
    public const string Title = "NativeInit conversion";
    public const string BeginMarker = "### BEGIN nativeinit conversion entry ###";
    public const string EndMarker = "### END nativeinit conversion entry ###";

    /// <inheritdoc cref="BootCommandLine.UnsafeChars"/>
    public const string UnsafeCommandLineChars = BootCommandLine.UnsafeChars;

    /// <inheritdoc cref="BootCommandLine.Problem"/>
    public static string? CommandLineProblem(string commandLine) => BootCommandLine.Problem(commandLine);

    /// <param name="grubDir">The staging directory as GRUB sees it: the path on the filesystem that holds it, e.g.
    /// "/boot/nativeinit" when /boot is on the root filesystem, "/nativeinit" when /boot is its own.</param>
    public static string Text(string grubDir, string kernel, string initramfs, string commandLine) =>
        $"""
        {BeginMarker}
        menuentry '{Title}' --id {Id} {'{'}
        	insmod part_msdos
        	insmod part_gpt
        	insmod ext2
        	insmod xfs
        	search --no-floppy --file --set=root {grubDir}/{kernel}
        	echo 'Loading the NativeInit conversion kernel...'
        	linux {grubDir}/{kernel} {commandLine}
        	initrd {grubDir}/{initramfs}
        {'}'}
        {EndMarker}

        """.Replace("\r\n", "\n");
}
