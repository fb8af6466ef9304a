using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Layout;
using NativeInit.Core.Lvm;

namespace NativeInit;

/// <summary>`nativeinit lvm show`: reads an LVM2 PV (label, metadata area, VG, LVs) without lvm2.</summary>
internal static class LvmShowCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "lvm show",
        JsonSchema = "lvm-show",
        Summary = "show the LVM2 physical volume, volume group and logical volumes on a device or image (read-only)",
        Usage = "lvm show DEVICE [--offset BYTES | --partition N] [--json | --metadata]",
        MinArguments = 1,
        MaxArguments = 1,
        Options =
        [
            new("offset", null, "BYTES", "where the PV starts inside DEVICE (for a PV partition inside a disk image)"),
            new("partition", "p", "N", "the PV is GPT partition N of DEVICE (a whole disk or disk image)"),
            new("json", null, null, "print one JSON object"),
            new("metadata", null, null, "print the current metadata text as stored on the PV"),
        ],
        Description = "DEVICE is a block device or an image file. Offsets of LVs are given in bytes from the start of the PV.",
        Run = Run,
    };

    private static int Run(ParsedArgs args, CommandContext ctx)
    {
        string device = args.Arguments[0];
        if (args.Has("partition") && args.Has("offset")) throw new UsageException("give --offset or --partition, not both");
        var (pv, offset) = PhysicalVolumeLookup.Read(device, args.GetSize("offset", 0),
            args.Has("partition") ? args.GetInt("partition", 0, 1, 128) : null);
        if (args.Has("metadata"))
        {
            if (args.Has("json")) throw new UsageException("give --json or --metadata, not both");
            ctx.Out.Write(pv.MetadataText ?? throw new NativeInitException($"{device}: the PV holds no metadata text (no VG)"));
            return ExitCodes.Success;
        }
        if (args.Has("json"))
        {
            ctx.Out.WriteJson(j => LvmReport.WriteJson(j, pv, device, offset));
        }
        else LvmReport.WriteText(ctx.Out, pv, device, offset);
        return ExitCodes.Success;
    }
}
