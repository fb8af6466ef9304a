using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Bundle;
using NativeInit.Core.Stage;

namespace NativeInit;

/// <summary>`nativeinit stage`: stage one on the running old system, and its undo.</summary>
internal static class StageCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "stage",
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
            holding / (ROOT/proc/self/mountinfo and ROOT/sys) against the layout; room in the boot directory; a GRUB 2
            grub.cfg that sources custom.cfg and honours next_entry.
            Then writes BOOT/nativeinit/ (kernel, initramfs, bundle.tar, carry.json, undo.json and copies of the
            files it changes), appends the conversion entry to BOOT/grub2/custom.cfg or BOOT/grub/custom.cfg, and sets
            it for the next boot only (grub2-reboot/grub-reboot with --root /, else next_entry in grubenv).
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
            Stager.Undo(root, bootDir, ctx.Out);
            ctx.Out.WriteLine("undone: the boot configuration is as it was before 'nativeinit stage'");
            return ExitCodes.Success;
        }
        if (a.Arguments.Count != 1) throw new UsageException("missing argument BUNDLE");
        bool reboot = a.Has("reboot");
        if (reboot && Path.GetFullPath(root) != "/") throw new UsageException("--reboot only with --root /");
        if (reboot && a.Has("dry-run")) throw new UsageException("--reboot and --dry-run exclude each other");
        bool json = a.Has("json");
        var report = Stager.Run(new StageOptions
        {
            Bundle = a.Arguments[0], PublicKey = BundleKeys.ReadPublic(a.Require("key")), Root = root, BootDir = bootDir,
            DryRun = a.Has("dry-run"),
        }, json ? TextWriter.Null : ctx.Out);
        if (json)
        {
            using var ms = new MemoryStream();
            using (var w = new System.Text.Json.Utf8JsonWriter(ms, new System.Text.Json.JsonWriterOptions { Indented = true })) report.WriteJson(w);
            ctx.Out.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        }
        if (reboot)
        {
            ctx.Out.WriteLine("rebooting into the conversion");
            ctx.Out.Flush();
            try { Core.Platform.SystemReboot.Request(); }
            catch (NativeInitException e) { throw new NativeInitException($"{e.Message}; staged, reboot by hand", e.ExitCode, e); }
        }
        return ExitCodes.Success;
    }
}
