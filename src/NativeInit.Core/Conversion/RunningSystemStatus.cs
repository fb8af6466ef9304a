using NativeInit.Core.Boot;

namespace NativeInit.Core.Conversion;

/// <summary>
/// `nativeinit status` on a running system (no --disk/--image): what a rollout tool asks each gateway. Reads only:
/// the conversion journal on the mounted /boot (a converted system's /boot is the new boot partition, where stage two
/// keeps it; a journal left open by a power cut after the MBR's switch to the system's GRUB, found on the disk of that
/// mount, is a finished conversion), else GRUB's environment block — stage one's one-shot <c>next_entry</c> means
/// the next boot converts.
/// </summary>
public static class RunningSystemStatus
{
    /// <summary>Stage one set the conversion as the next boot; nothing else has changed yet.</summary>
    public const string Staged = "staged";

    public static ConvertStatus Read(string root, string bootDir)
    {
        string boot = Path.Combine(root, bootDir.TrimStart('/'));
        string journalPath = Path.Combine(boot, ConvertJournal.DirectoryName, ConvertJournal.FileName);
        if (File.Exists(journalPath))
        {
            var j = ConvertJournal.Load(journalPath, keepBroken: false);
            if (j.State == ConvertJournal.StateDone)
                return new ConvertStatus(ConvertStatus.Done, root, $"a converted system (journal {journalPath})", j, journalPath, "this system");
            if (ConvertJob.WrittenThroughTheMbrSwitch(j, boot))
                return new ConvertStatus(ConvertStatus.Done, root, $"a converted system (journal {journalPath}; the conversion stopped after the MBR " +
                    "switched to this system's GRUB, before the journal said done: nothing is left to write)", j, journalPath, "this system");
            return new ConvertStatus(ConvertStatus.InProgress, root, $"a conversion under way (journal {journalPath})", j, journalPath,
                "the conversion resumes (the resume entry is GRUB's default until the conversion is done)");
        }
        if (GrubSetup.Find(boot) is { } grub && File.Exists(grub.EnvFile)
            && GrubEnv.Parse(File.ReadAllBytes(grub.EnvFile), grub.EnvFile)["next_entry"] == ConversionMenuEntry.Id)
        {
            return new ConvertStatus(Staged, root, $"stage one's conversion entry is the next boot ({grub.EnvFile}: next_entry={ConversionMenuEntry.Id})",
                null, null, "the conversion");
        }
        return new ConvertStatus(ConvertStatus.NotConverted, root,
            Directory.Exists(boot) ? $"no conversion journal and no staged conversion under {boot}" : $"no {boot}", null, null, "this system, unchanged");
    }
}
