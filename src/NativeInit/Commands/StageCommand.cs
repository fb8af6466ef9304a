using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Bundle;
using NativeInit.Core.Platform;
using NativeInit.Core.Stage;

namespace NativeInit;

/// <summary>`nativeinit stage`: stage one on the running old system, and its undo.</summary>
internal static class StageCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "stage",
        JsonSchema = "stage",
        Summary = "stage one: verify the bundle, check RAM/disk/boot, stage it in /boot and set a one-shot conversion boot",
        Usage = "stage BUNDLE --key PUBLIC [--root /] [--boot-dir /boot] [--dry-run] [--reboot] [--json]  |  stage --undo [--root /] [--boot-dir /boot]",
        MinArguments = 0,
        MaxArguments = 1,
        Options =
        [
            new("key", null, "PUBLIC", "the vendor's public key file"),
            new("root", null, "DIR", "the system's root directory (default /; tests point it at a fake root)"),
            new("boot-dir", null, "DIR", "the boot directory inside the root (default /boot)"),
            new("dry-run", "n", null, "check and print the plan; write nothing"),
            new("reboot", null, null, "reboot into the conversion when staged (only with --root /)"),
            new("undo", null, null, "restore the boot configuration byte for byte and remove everything stage added"),
            new("json", null, null, "print one JSON object (figures, plan, changes) instead of the log"),
        ],
        Description = """
            Checks, in order, before writing anything (exit 3 when one fails): the bundle's signature and parts; RAM
            (MemTotal from ROOT/proc/meminfo must hold the bundle plus the stage-two budget); the size of the disk
            holding / (ROOT/proc/self/mountinfo and ROOT/sys) against the layout, and a stable name of that disk for the
            conversion boot (rd.nativeinit.disk=partuuid:|uuid:|serial:|wwn:); room in the boot directory; a GRUB 2
            grub.cfg that sources custom.cfg and honours next_entry.
            Then writes BOOT/nativeinit/ (undo.json and copies of the files it changes first, then kernel, initramfs,
            bundle.tar, carry.json, bundle.extents.json; each fsynced, the bundle verified again and kept clear of
            what stage two writes first), and only then, last and each atomically, appends the conversion entry to
            BOOT/grub2/custom.cfg or BOOT/grub/custom.cfg and sets next_entry in grubenv (the next boot only).
            The log is also written to BOOT/nativeinit/stage.log. SIGHUP is ignored; SIGINT/SIGTERM before the boot
            configuration is written stop and undo the run. A run killed half-way is cleaned by the next stage or
            by --undo.
            """,
        Run = Run,
    };

    private static int Run(ParsedArgs a, CommandContext ctx)
    {
        string root = a.Get("root") ?? "/";
        string bootDir = a.Get("boot-dir") ?? "/boot";
        if (a.Has("undo"))
        {
            if (a.Arguments.Count > 0) throw new UsageException("--undo takes no BUNDLE");
            using var signals = TerminationSignals.Install();
            using var log = new RunLog(ctx.Out);
            if (!a.Has("dry-run")) log.OpenFile(UndoLogFile(root));
            Guard(log, "stage --undo", () => Stager.Undo(root, bootDir, log));
            log.WriteLine("undone: the boot configuration is as it was before 'nativeinit stage'");
            return ExitCodes.Success;
        }
        if (a.Arguments.Count != 1) throw new UsageException("missing argument BUNDLE");
        bool json = a.Has("json");
        var options = new StageOptions
        {
            Bundle = a.Arguments[0], PublicKey = BundleKeys.ReadPublic(a.Require("key")), Root = root, BootDir = bootDir,
            DryRun = a.Has("dry-run"), Reboot = a.Has("reboot"),
        };
        // SIGHUP (the terminal went away) is ignored; SIGINT/SIGTERM stop the run cleanly until the boot
        // configuration is written. Output is best-effort; the log file BOOT/nativeinit/stage.log keeps it all.
        using var stageSignals = TerminationSignals.Install();
        using var stageLog = new RunLog(json ? TextWriter.Null : ctx.Out);
        var result = Guard(stageLog, "stage", () => Stager.Run(options, stageLog, () => stageSignals.Received));
        if (json)
        {
            using var ms = new MemoryStream();
            using (var w = new System.Text.Json.Utf8JsonWriter(ms, new System.Text.Json.JsonWriterOptions { Indented = true })) result.WriteJson(w);
            ctx.Out.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        }
        return ExitCodes.Success;
    }

    /// <summary>Where `stage --undo` keeps its log (its staging directory, and the log there, is what it removes).</summary>
    private static string UndoLogFile(string root)
    {
        var dir = Path.Combine(Path.GetFullPath(root), Stager.KeptLogDir);
        try { Directory.CreateDirectory(dir); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return Path.Combine(dir, "stage-undo.log");
    }

    /// <summary>A crash report never replaces the message (issue 18): an unexpected exception becomes one line naming
    /// what failed (exit 1), with the stack trace in the log file only.</summary>
    private static T Guard<T>(RunLog log, string what, Func<T> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is not (NativeInitException or UsageException or IOException or UnauthorizedAccessException or OutOfMemoryException))
        {
            log.FileOnly(e.ToString());
            throw new NativeInitException($"{what} failed: {e.GetType().Name}: {e.Message}" +
                (log.FilePath is { } f ? $" (details in {f})" : ""), ExitCodes.Failure, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.FileOnly(e.ToString());
            throw;
        }
    }

    private static void Guard(RunLog log, string what, Action body) => Guard(log, what, () => { body(); return 0; });
}
