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
        Summary = "check device-mapper, mount, mkfs, owners and xattrs on a scratch disk (destroys its contents)",
        Usage = "selftest --disk DEVICE|serial:SERIAL [--max-size SIZE] [--dry-run]",
        Options =
        [
            new("disk", null, "DISK", "the scratch disk: a device path or serial:SERIAL (required; never guessed)"),
            new("max-size", null, "SIZE", "refuse a disk larger than this (default 4GiB)"),
            new("bundle", null, "PATH", "a bundle file to read through (the initramfs passes the one rd.nativeinit.bundle= names)"),
            new("dry-run", "n", null, "only find the disk and print what would be done"),
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
            var dev = Core.Boot.Init.DiskLocator.Find(disk) ?? throw new NativeInitException($"disk {disk}: not present");
            ctx.Out.WriteLine($"selftest: would write a GPT, an LVM volume group, an ext4 file system and test files on {dev} (dry run: nothing written)");
            return ExitCodes.Success;
        }
        return new SelfTest(options, ctx.Out).Run();
    }
}
