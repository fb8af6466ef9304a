using NativeInit.Core.Layout;
using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Lvm;

namespace NativeInit;

/// <summary>`nativeinit lvm activate|deactivate PV`: the VG on a PV through device-mapper ioctls (no lvm2).</summary>
internal static class LvmActivateCommand
{
    public static readonly CommandSpec Activate = new()
    {
        Name = "lvm activate",
        JsonSchema = "lvm-activate",
        Summary = "activate the LVs of the VG on a PV block device through device-mapper (/dev/mapper/VG-LV, /dev/VG/LV)",
        Usage = "lvm activate PV-DEVICE [--json]",
        MinArguments = 1,
        MaxArguments = 1,
        Options = [new("json", null, null, "print one JSON object")],
        Run = RunActivate,
    };

    public static readonly CommandSpec Deactivate = new()
    {
        Name = "lvm deactivate",
        Summary = "remove the device-mapper devices of the VG on a PV block device",
        Usage = "lvm deactivate PV-DEVICE",
        MinArguments = 1,
        MaxArguments = 1,
        Run = RunDeactivate,
    };

    private static int RunActivate(ParsedArgs args, CommandContext ctx)
    {
        var (vg, done) = LvmActivation.ActivateFromDevice(args.Arguments[0]);
        var version = DeviceMapperControl.GetVersion();
        if (args.Has("json"))
        {
            ctx.Out.WriteJson(j =>
            {
                j.WriteStartObject();
                j.WriteNumber("schemaVersion", 1);
                j.WriteString("dmVersion", version.ToString());
                j.WriteString("vg", vg.Name);
                j.WriteStartArray("logicalVolumes");
                foreach (var a in done)
                {
                    j.WriteStartObject();
                    j.WriteString("name", a.LogicalVolume);
                    j.WriteString("dmName", a.Device.Name);
                    j.WriteString("dmUuid", a.Device.Uuid);
                    j.WriteString("device", $"{a.Device.Major}:{a.Device.Minor}");
                    j.WriteString("mapper", a.MapperPath);
                    j.WriteString("link", a.LinkPath);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            });
        }
        else
        {
            ctx.Out.WriteLine($"device-mapper {version}, VG {DisplayText.Of(vg.Name)}");
            foreach (var a in done) ctx.Out.WriteLine($"  {a.MapperPath} ({a.Device.Major}:{a.Device.Minor}) <- {a.LinkPath}, uuid {a.Device.Uuid}");
        }
        return ExitCodes.Success;
    }

    private static int RunDeactivate(ParsedArgs args, CommandContext ctx)
    {
        var vg = PhysicalVolumeLookup.VolumeGroup(args.Arguments[0]);
        LvmActivation.Deactivate(vg);
        ctx.Out.WriteLine($"VG {DisplayText.Of(vg.Name)}: deactivated");
        return ExitCodes.Success;
    }
}
