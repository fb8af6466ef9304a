using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Conversion;

namespace NativeInit;

/// <summary>`nativeinit selftest`: proves the kernel interfaces stage two relies on, on a scratch disk.</summary>
internal static class SelftestCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "selftest",
        JsonSchema = "selftest",
        Summary = "check device-mapper, mount, mkfs, owners and xattrs on a scratch disk (destroys its contents)",
        Usage = "selftest --disk DEVICE|serial:SERIAL [--bundle FILE] [--max-size SIZE] [--dry-run] [--json]",
        Options =
        [
            new("disk", null, "DISK", "the scratch disk: a device path or serial:SERIAL (required; never guessed)"),
            new("max-size", null, "SIZE", "refuse a disk larger than this (default 4GiB)"),
            new("bundle", null, "PATH", "a bundle file to read through (the initramfs passes the one rd.nativeinit.bundle= names)"),
            new("dry-run", "n", null, "only find the disk and print what would be done"),
            new("json", null, null, "step lines go to standard error; one JSON object (steps, result) on standard output"),
        ],
        Description = "Run from an initramfs (rd.nativeinit=selftest rd.nativeinit.disk=serial:nativeinit-scratch). " +
            "Every step prints a line; the last line is NATIVEINIT-SELFTEST-OK or NATIVEINIT-SELFTEST-FAIL: reason.",
        Run = Run,
    };

    private static int Run(ParsedArgs args, CommandContext ctx)
    {
        string disk = args.Get("disk") ?? throw new UsageException("--disk is required: the self-test destroys the disk's contents and never guesses which disk");
        var options = new SelfTestOptions { Disk = disk, MaxDiskSize = args.GetSize("max-size", 4L << 30), Bundle = args.Get("bundle") };
        if (args.Has("dry-run"))
        {
            var (dev, _) = SelfTest.CheckDisk(options);
            ctx.Out.WriteLine($"selftest: would write a GPT, an LVM volume group, an ext4 file system and test files on {dev} (dry run: nothing written)");
            return ExitCodes.Success;
        }
        if (!args.Has("json")) return new SelfTest(options, ctx.Out).Run();
        var test = new SelfTest(options, ctx.Error);
        int rc = test.Run();
        using var buffer = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 1);
            w.WriteString("disk", disk);
            w.WriteBoolean("ok", rc == 0);
            w.WriteString("result", rc == 0 ? SelfTest.OkMarker : SelfTest.FailMarker);
            if (test.FailureReason is { } why) w.WriteString("reason", why); else w.WriteNull("reason");
            w.WriteStartArray("steps");
            foreach (var (name, detail, ms) in test.Steps)
            {
                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteString("detail", detail);
                w.WriteNumber("milliseconds", ms);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        ctx.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
        return rc;
    }
}
