namespace NativeInit.Core.Lvm;

/// <summary>
/// How lvm2 and its udev rules name a logical volume's device-mapper device: "VG-LV" with every '-' inside the VG and
/// LV names doubled (lvm2 libdm dm_build_dm_name), /dev/mapper/VG-LV, the link /dev/VG/LV, and the dm uuid
/// "LVM-" + VG uuid + LV uuid with the dashes removed (lvm2 lib/activate/dev_manager.c).
/// </summary>
public static class DmNames
{
    public const string UuidPrefix = "LVM-";

    public static string DeviceName(string vg, string lv) => vg.Replace("-", "--", StringComparison.Ordinal) + "-" + lv.Replace("-", "--", StringComparison.Ordinal);

    public static string Uuid(string vgId, string lvId) => UuidPrefix + vgId.Replace("-", "", StringComparison.Ordinal) + lvId.Replace("-", "", StringComparison.Ordinal);

    public static string MapperPath(string vg, string lv, string dev = "/dev") => Path.Combine(dev, "mapper", DeviceName(vg, lv));

    public static string LinkPath(string vg, string lv, string dev = "/dev") => Path.Combine(dev, vg, lv);
}
