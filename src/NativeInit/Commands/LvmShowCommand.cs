using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Lvm;

namespace NativeInit;

/// <summary>`nativeinit lvm show`: reads an LVM2 PV (label, metadata area, VG, LVs) without lvm2.</summary>
internal static class LvmShowCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "lvm show",
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
        long offset = args.GetSize("offset", 0);
        if (args.Has("partition"))
        {
            if (args.Has("offset")) throw new UsageException("lvm show: give --offset or --partition, not both");
            int n = args.GetInt("partition", 0, 1, 128);
            int imageSectorSize = File.Exists(device) && !device.StartsWith("/dev/", StringComparison.Ordinal) ? GptReader.DetectSectorSize(device) : 512;
            using var disk = DiskDevice.Open(device, writable: false, imageSectorSize);
            var table = GptReader.Read(disk).Table ?? throw new NativeInitException($"{device}: no valid GPT to find partition {n} in");
            offset = (table.Find(n) ?? throw new NativeInitException($"{device}: the GPT has no partition {n}")).ByteOffset(disk.LogicalSectorSize);
        }
        LvmPvOnDisk pv;
        try
        {
            using var h = File.OpenHandle(device, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            pv = LvmDiskFormat.Read(h, offset, device);
        }
        catch (IOException e) { throw new NativeInitException($"{device}: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new NativeInitException($"{device}: {e.Message}"); }
        if (args.Has("metadata"))
        {
            if (args.Has("json")) throw new UsageException("lvm show: give --json or --metadata, not both");
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
