using System.Text;
using NativeInit.Core.Boot;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Stage;

/// <summary>
/// The two boot-configuration changes of stage one, each atomic, written last (issue 18): the conversion entry in
/// GRUB's custom.cfg (temporary file, fsync, rename, fsync of the directory: GRUB reads either the old file or the new
/// one) and then next_entry in grubenv, rewritten in place within its block (one write of the whole block at offset 0,
/// same size, fsync), as GRUB's own save_env writes it. A power cut between the two leaves the entry in the menu but
/// not chosen: the old system boots. <see cref="Clear"/> is stage two's side (issue 12): before its point of no
/// return, the old disk's next_entry must be gone, or every boot would start the conversion again.
/// </summary>
public static class StagedBootEntry
{
    public const string NextEntry = "next_entry";

    /// <summary>custom.cfg with the entry appended (the file is created when missing), atomically, keeping its mode.</summary>
    public static void WriteEntry(GrubSetup grub, string entryText)
    {
        var custom = File.Exists(grub.CustomCfg) ? File.ReadAllText(grub.CustomCfg) : "";
        if (custom.Length > 0 && !custom.EndsWith('\n')) custom += "\n";
        var mode = File.Exists(grub.CustomCfg) ? File.GetUnixFileMode(grub.CustomCfg)
            : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        AtomicFile.Write(grub.CustomCfg, Encoding.UTF8.GetBytes(custom + entryText), mode);
    }

    /// <summary>Sets next_entry (the one-shot boot) to the conversion entry.</summary>
    public static void SetNextEntry(string envFile)
    {
        var env = File.Exists(envFile) ? GrubEnv.Parse(File.ReadAllBytes(envFile), envFile) : GrubEnv.Empty();
        env.Set(NextEntry, ConversionMenuEntry.Id);
        WriteEnvironment(envFile, env.ToBytes());
        var check = GrubEnv.Parse(File.ReadAllBytes(envFile), envFile);
        if (check[NextEntry] != ConversionMenuEntry.Id)
            throw new NativeInitException($"{envFile}: next_entry is '{check[NextEntry]}' after setting it to {ConversionMenuEntry.Id}");
    }

    /// <summary>
    /// Removes next_entry from the grubenv of the GRUB setup in <paramref name="bootDir"/> (a mounted /boot, or a
    /// root's /boot) when it names the conversion entry, in place and fsynced. Idempotent: returns false (and writes
    /// nothing) when there is no grubenv or no such next_entry. Another next_entry (an operator's grub2-reboot) is
    /// left alone.
    /// </summary>
    public static bool Clear(string bootDir)
    {
        var grub = GrubSetup.Find(bootDir);
        var envFile = grub?.EnvFile ?? new[] { "grub2", "grub" }.Select(d => Path.Combine(bootDir, d, "grubenv")).FirstOrDefault(File.Exists);
        if (envFile is null || !File.Exists(envFile)) return false;
        var env = GrubEnv.Parse(File.ReadAllBytes(envFile), envFile);
        if (env[NextEntry] != ConversionMenuEntry.Id) return false;
        env.Remove(NextEntry);
        WriteEnvironment(envFile, env.ToBytes());
        return true;
    }

    /// <summary>Writes a grubenv block: in place (same size, one write at offset 0, fsync) when the file exists with
    /// that size, else atomically as a new file.</summary>
    public static void WriteEnvironment(string envFile, byte[] block)
    {
        // A grubenv that is a symbolic link (EFI installs link it into the ESP) is written where it points.
        if (File.ResolveLinkTarget(envFile, returnFinalTarget: true) is { } target) envFile = target.FullName;
        if (File.Exists(envFile) && new FileInfo(envFile).Length == block.Length)
        {
            using var h = File.OpenHandle(envFile, FileMode.Open, FileAccess.Write);
            RandomAccess.Write(h, block, 0);
            BootCalls.Fsync(h, envFile);
            return;
        }
        AtomicFile.Write(envFile, block);
    }
}
