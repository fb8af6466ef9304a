using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Bundle;
using NativeInit.Core.Platform;
using NativeInit.Core.Update;

namespace NativeInit;

/// <summary>`nativeinit update`: parse, call <see cref="UpdateJob"/>, print.</summary>
internal static class UpdateCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "update",
        Summary = "A/B: write a bundle into the inactive slot and boot it next, once (the running slot stays the fallback)",
        Usage = "update BUNDLE --key PUB [--reboot] [--dry-run] [--json] [--root DIR] [--boot-dir DIR] [--image FILE --running A|B]",
        JsonSchema = "update",
        MinArguments = 1,
        MaxArguments = 1,
        Options =
        [
            new("key", null, "PUB", "the vendor's public key"),
            new("reboot", null, null, "reboot once the new slot is set to boot next"),
            new("dry-run", "n", null, "run every check and print the plan; write nothing"),
            new("json", null, null, "print the plan (and the result) as one JSON object"),
            new("root", null, "DIR", "the running system's root, whose configuration is carried (default /)"),
            new("boot-dir", null, "DIR", "the /boot partition's mount point (default /boot)"),
            new("image", null, "FILE", "instead of the running system: a converted disk image (loop devices, no device-mapper)"),
            new("running", null, "A|B", "with --image: the slot that plays the running system"),
        ],
        Description = "Refused (exit 3, nothing written) when the bundle does not verify, the layout has no A/B slots, or the " +
            "running slot (nativeinit.slot= on the kernel command line) is not marked good. Otherwise the inactive slot is marked " +
            "not bootable in grubenv, made anew (mkfs), the rootfs streamed in, the running system's configuration carried, its " +
            "fstab, kernel and initramfs (/boot/slot-X/) written; last, grubenv boots it next with one try. A failure or a power " +
            "cut before that last write leaves the running slot the one that boots (exit 4 after the first write: run it again).",
        Run = Run,
    };

    private static int Run(ParsedArgs a, CommandContext ctx)
    {
        using var hangUp = TerminationSignals.IgnoreHangUp(); // a lost terminal never stops a write (issue 18)
        string keyPath = a.Require("key");
        IoErrors.RequireReadableFile("public key", keyPath);
        if (!Directory.Exists(a.Arguments[0])) IoErrors.RequireReadableFile("bundle", a.Arguments[0]);
        var o = new UpdateOptions
        {
            Bundle = a.Arguments[0],
            PublicKey = BundleKeys.ReadPublic(keyPath),
            Image = a.Get("image"),
            RunningSlot = a.Get("running"),
            Root = a.Get("root") ?? "/",
            BootDir = a.Get("boot-dir") ?? "/boot",
        };
        bool json = a.Has("json");
        using var work = new WorkDirectory("nativeinit-update.");
        var plan = UpdateJob.Plan(o, work, json ? TextWriter.Null : ctx.Error);
        if (a.Has("dry-run"))
        {
            if (json) ctx.Out.WriteJson(w => plan.WriteJson(w, null));
            else plan.WriteText(ctx.Out);
            ctx.Error.WriteLine("dry run: every check passed; nothing was written");
            return ExitCodes.Success;
        }
        if (!json) plan.WriteText(ctx.Out);
        var result = UpdateJob.Run(plan, work, a.Has("reboot"), json ? ctx.Error : ctx.Out, ctx.Error, !Console.IsErrorRedirected);
        if (json) ctx.Out.WriteJson(w => plan.WriteJson(w, result));
        return ExitCodes.Success;
    }
}
