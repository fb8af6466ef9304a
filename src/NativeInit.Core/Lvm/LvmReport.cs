using System.Globalization;
using System.Text.Json;

namespace NativeInit.Core.Lvm;

/// <summary>`nativeinit lvm show`: a PV, its VG and LVs with extents, byte offsets (from the start of the PV) and sizes.</summary>
public static class LvmReport
{
    public static void WriteText(TextWriter w, LvmPvOnDisk pv, string device, long baseOffset)
    {
        var l = pv.Label;
        w.WriteLine($"PV {device}{(baseOffset != 0 ? $" at byte {baseOffset}" : "")}");
        w.WriteLine($"  id            {DisplayText.Of(l.PvId)}");
        w.WriteLine($"  label         sector {l.Sector}, device size {l.DeviceSize} bytes ({ByteSize.Format(l.DeviceSize)})");
        foreach (var d in l.DataAreas) w.WriteLine($"  data area     offset {d.Offset} size {d.Size}{(d.Size == 0 ? " (to the end)" : "")}");
        foreach (var m in l.MetadataAreas) w.WriteLine($"  metadata area offset {m.Offset} size {m.Size}");
        w.WriteLine($"  extension     version {l.ExtensionVersion} flags 0x{l.ExtensionFlags:x}{((l.ExtensionFlags & LvmPvLabel.PvExtUsed) != 0 ? " (in a VG)" : "")}");
        if (pv.MetadataArea is { Locations.Count: > 0 } mda)
            w.WriteLine($"  metadata      offset {mda.Locations[0].Offset} size {mda.Locations[0].Size} crc 0x{mda.Locations[0].Checksum:x8}");
        var vg = pv.VolumeGroup;
        if (vg is null) { w.WriteLine("  no volume group"); return; }
        long es = vg.ExtentSize;
        w.WriteLine($"VG {DisplayText.Of(vg.Name)}");
        w.WriteLine($"  id            {DisplayText.Of(vg.Id)}");
        w.WriteLine($"  seqno         {vg.Seqno}");
        w.WriteLine($"  extent size   {es} sectors ({ByteSize.Format(vg.ExtentSizeBytes)})");
        w.WriteLine($"  status        {DisplayText.Of(string.Join(',', vg.Status))}");
        foreach (var p in vg.PhysicalVolumes)
        {
            long alloc = vg.LogicalVolumes.SelectMany(x => x.Segments).Where(s => s.Stripes.Any(t => t.Pv == p.Name)).Sum(s => s.ExtentCount);
            w.WriteLine($"  {DisplayText.Of(p.Name),-12}  id {DisplayText.Of(p.Id)} device {DisplayText.Of(p.Device)} dev_size {p.DevSize} pe_start {p.PeStart} pe_count {p.PeCount} allocated {alloc} free {p.PeCount - alloc}");
        }
        foreach (var lv in vg.LogicalVolumes)
        {
            w.WriteLine($"LV {DisplayText.Of(vg.Name)}/{DisplayText.Of(lv.Name)}  {lv.ExtentCount} extents, {lv.ExtentCount * vg.ExtentSizeBytes} bytes ({ByteSize.Format(lv.ExtentCount * vg.ExtentSizeBytes)})  {DisplayText.Of(string.Join(',', lv.Status))}");
            w.WriteLine($"  id            {DisplayText.Of(lv.Id)}");
            w.WriteLine($"  device        {DisplayText.Of(DmNames.MapperPath(vg.Name, lv.Name))} (dm uuid {DisplayText.Of(DmNames.Uuid(vg.Id, lv.Id))})");
            foreach (var s in lv.Segments)
            {
                if (s.IsLinear && vg.FindPv(s.Stripes[0].Pv) is { } p)
                {
                    long start = s.Stripes[0].StartExtent;
                    long off = p.PeStart * LvmConstants.SectorSize + start * vg.ExtentSizeBytes;
                    w.WriteLine($"  segment       extents {s.StartExtent}-{s.StartExtent + s.ExtentCount - 1} -> {DisplayText.Of(p.Name)}:{start}-{start + s.ExtentCount - 1}  byte offset {off} size {s.ExtentCount * vg.ExtentSizeBytes}" +
                        $" (sector {off / LvmConstants.SectorSize}, {s.ExtentCount * es} sectors)");
                }
                else w.WriteLine($"  segment       extents {s.StartExtent}-{s.StartExtent + s.ExtentCount - 1} type {DisplayText.Of(s.Type)} stripes {s.StripeCount}");
            }
        }
    }

    public static void WriteJson(Utf8JsonWriter j, LvmPvOnDisk pv, string device, long baseOffset)
    {
        var l = pv.Label;
        j.WriteStartObject();
        j.WriteNumber("schemaVersion", 1);
        j.WriteString("device", device);
        j.WriteNumber("offset", baseOffset);
        j.WriteStartObject("pv");
        j.WriteString("id", l.PvId);
        j.WriteNumber("labelSector", l.Sector);
        j.WriteNumber("deviceSize", l.DeviceSize);
        Areas(j, "dataAreas", l.DataAreas);
        Areas(j, "metadataAreas", l.MetadataAreas);
        j.WriteNumber("extensionVersion", l.ExtensionVersion);
        j.WriteNumber("extensionFlags", l.ExtensionFlags);
        if (pv.MetadataArea is { Locations.Count: > 0 } mda)
        {
            j.WriteStartObject("metadata");
            j.WriteNumber("offset", mda.Locations[0].Offset);
            j.WriteNumber("size", mda.Locations[0].Size);
            j.WriteString("checksum", mda.Locations[0].Checksum.ToString("x8", CultureInfo.InvariantCulture));
            j.WriteEndObject();
        }
        j.WriteEndObject();
        if (pv.VolumeGroup is { } vg)
        {
            j.WriteStartObject("vg");
            j.WriteString("name", vg.Name);
            j.WriteString("id", vg.Id);
            j.WriteNumber("seqno", vg.Seqno);
            j.WriteNumber("extentSizeSectors", vg.ExtentSize);
            j.WriteNumber("extentSizeBytes", vg.ExtentSizeBytes);
            j.WriteStartArray("physicalVolumes");
            foreach (var p in vg.PhysicalVolumes)
            {
                j.WriteStartObject();
                j.WriteString("name", p.Name);
                j.WriteString("id", p.Id);
                j.WriteString("device", p.Device);
                j.WriteNumber("devSizeSectors", p.DevSize);
                j.WriteNumber("peStartSectors", p.PeStart);
                j.WriteNumber("peCount", p.PeCount);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteStartArray("logicalVolumes");
            foreach (var lv in vg.LogicalVolumes)
            {
                j.WriteStartObject();
                j.WriteString("name", lv.Name);
                j.WriteString("id", lv.Id);
                j.WriteNumber("extents", lv.ExtentCount);
                j.WriteNumber("size", lv.ExtentCount * vg.ExtentSizeBytes);
                j.WriteString("dmName", DmNames.DeviceName(vg.Name, lv.Name));
                j.WriteString("dmUuid", DmNames.Uuid(vg.Id, lv.Id));
                j.WriteStartArray("status");
                foreach (var s in lv.Status) j.WriteStringValue(s);
                j.WriteEndArray();
                j.WriteStartArray("segments");
                foreach (var s in lv.Segments)
                {
                    j.WriteStartObject();
                    j.WriteNumber("startExtent", s.StartExtent);
                    j.WriteNumber("extentCount", s.ExtentCount);
                    j.WriteString("type", s.Type);
                    j.WriteNumber("stripeCount", s.StripeCount);
                    if (s.IsLinear && vg.FindPv(s.Stripes[0].Pv) is { } p)
                    {
                        j.WriteString("pv", p.Name);
                        j.WriteNumber("pvStartExtent", s.Stripes[0].StartExtent);
                        long off = p.PeStart * LvmConstants.SectorSize + s.Stripes[0].StartExtent * vg.ExtentSizeBytes;
                        j.WriteNumber("offset", off);
                        j.WriteNumber("size", s.ExtentCount * vg.ExtentSizeBytes);
                    }
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        j.WriteEndObject();
    }

    private static void Areas(Utf8JsonWriter j, string name, List<LvmDiskLocation> list)
    {
        j.WriteStartArray(name);
        foreach (var a in list)
        {
            j.WriteStartObject();
            j.WriteNumber("offset", a.Offset);
            j.WriteNumber("size", a.Size);
            j.WriteEndObject();
        }
        j.WriteEndArray();
    }

    /// <summary>Byte offset, from the start of the PV, of LV extent 0 of a linear LV (null when not linear).</summary>
    public static long? LinearOffset(LvmVolumeGroup vg, LvmLogicalVolume lv)
    {
        if (lv.Segments.Count == 0 || !lv.Segments[0].IsLinear) return null;
        var p = vg.FindPv(lv.Segments[0].Stripes[0].Pv);
        return p is null ? null : p.PeStart * LvmConstants.SectorSize + lv.Segments[0].Stripes[0].StartExtent * vg.ExtentSizeBytes;
    }
}
