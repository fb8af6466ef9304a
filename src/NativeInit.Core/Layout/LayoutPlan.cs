using NativeInit.Core.Disk;
using System.Globalization;
using System.Text.Json;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Lvm;

namespace NativeInit.Core.Layout;

/// <summary>One LV as planned: where its extents are on the PV and on the disk, and the device it will be reached by.</summary>
public sealed record PlannedVolume(LayoutVolume Spec, long Extents, long PvStartExtent, long OffsetInPv, long DiskOffset, long SizeBytes,
    string DmName, string DmUuid, string Device)
{
    public string Name => Spec.Name;
    public long DiskSector(int sectorSize) => DiskOffset / sectorSize;
}

/// <summary>Everything `layout apply` would write, computed from the layout and the disk size, changing nothing.</summary>
public sealed class LayoutPlan
{
    public required LayoutFile Layout { get; init; }
    public required string Target { get; init; }
    public required bool IsImage { get; init; }
    public required long DiskBytes { get; init; }
    public required int SectorSize { get; init; }
    /// <summary>The disk area's plan: the GPT writes and the wipes of every partition (GptApply).</summary>
    public required GptApplyPlan Gpt { get; init; }
    public GptTable Table => Gpt.Desired;
    public required GptPartition PvPartition { get; init; }
    /// <summary>The partition's device (/dev/sda3), or "IMAGE partition N" for an image.</summary>
    public required string PvDevice { get; init; }
    public required LvmPvGeometry Geometry { get; init; }
    public required LvmVolumeGroup VolumeGroup { get; init; }
    public required IReadOnlyList<PlannedVolume> Volumes { get; init; }
    /// <summary>Zeroing of old signatures inside each LV (DiskWipe), done before the PV is written.</summary>
    public required IReadOnlyList<DiskWrite> VolumeWipes { get; init; }

    public long PvOffset => PvPartition.ByteOffset(SectorSize);
    public long PvSize => PvPartition.ByteLength(SectorSize);
    public long FreeExtents => Geometry.PeCount - Volumes.Sum(v => v.Extents);

    public void WriteText(TextWriter w)
    {
        int ss = SectorSize;
        w.WriteLine($"Layout {Layout.Path} on {(IsImage ? "image" : "disk")} {Target}: {DiskBytes} bytes ({ByteSize.Format(DiskBytes)}), {DiskBytes / ss} sectors of {ss} bytes");
        w.WriteLine($"GPT from {Layout.PartitionTablePath}, moved to the disk size:");
        var gptText = new StringWriter();
        Gpt.WriteText(gptText);
        foreach (var line in gptText.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)) w.WriteLine("  " + line.TrimEnd());
        w.WriteLine("LV wipes (before the PV is written):");
        foreach (var x in VolumeWipes)
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  LBA {x.FirstSector(ss)}..{x.LastSector(ss)}  zero {ByteSize.Format(x.Length),10}  {DisplayText.Of(x.What)}"));
        var g2 = Geometry;
        w.WriteLine($"PV {PvDevice}: partition {PvPartition.Number}, bytes {PvOffset}-{PvOffset + PvSize - 1} ({ByteSize.Format(PvSize)}), id {VolumeGroup.PhysicalVolumes[0].Id}");
        w.WriteLine($"  label at PV sector {LvmDiskFormat.LabelSector} (disk sector {PvOffset / ss + LvmDiskFormat.LabelSector * LvmDiskFormat.SectorSize / ss}), " +
            $"metadata area at byte {g2.MetadataAreaStart} size {g2.MetadataAreaSize}, pe_start {g2.PeStartSectors} sectors ({g2.PeStartBytes} bytes)");
        w.WriteLine($"  extent size {g2.ExtentSizeSectors} sectors ({ByteSize.Format(g2.ExtentSizeBytes)}), pe_count {g2.PeCount}, free after the LVs {FreeExtents}");
        w.WriteLine($"VG {DisplayText.Of(VolumeGroup.Name)}: id {VolumeGroup.Id}{(Layout.Grow is null ? "" : $", grows LV {DisplayText.Of(Layout.Grow)} later")}");
        w.WriteLine("  LV           extents  PV extents        size        disk sectors                   device                 filesystem  mount");
        foreach (var v in Volumes)
        {
            long first = v.DiskOffset / ss, last = (v.DiskOffset + v.SizeBytes) / ss - 1;
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {DisplayText.Of(v.Name),-12} {v.Extents,7}  {v.PvStartExtent + "-" + (v.PvStartExtent + v.Extents - 1),-16}  {ByteSize.Format(v.SizeBytes),-10}  {first + "-" + last,-29}  {DisplayText.Of(v.Device),-22} {v.Spec.Filesystem ?? "-",-10}  {v.Spec.MountPoint ?? "-"}"));
        }
        foreach (var v in Volumes)
            w.WriteLine($"  {DisplayText.Of(v.Name)}: byte offset {v.DiskOffset} on the disk ({v.OffsetInPv} in the PV), {v.SizeBytes} bytes, dm {DisplayText.Of(v.DmName)} uuid {v.DmUuid}" +
                (v.Spec.Label is null ? "" : $", label {v.Spec.Label}") + (v.Spec.MkfsOptions.Count == 0 ? "" : $", mkfs options {string.Join(' ', v.Spec.MkfsOptions)}"));
    }

    public void WriteJson(Utf8JsonWriter j)
    {
        int ss = SectorSize;
        j.WriteStartObject();
        j.WriteNumber("schemaVersion", 1);
        j.WriteString("layout", Layout.Path);
        j.WriteString("target", Target);
        j.WriteString("mode", IsImage ? "image" : "disk");
        j.WriteNumber("diskBytes", DiskBytes);
        j.WriteNumber("sectorSize", ss);
        j.WriteNumber("diskSectors", DiskBytes / ss);
        j.WritePropertyName("gpt");
        Gpt.WriteJson(j);
        j.WriteStartArray("volumeWipes");
        foreach (var x in VolumeWipes)
        {
            j.WriteStartObject();
            j.WriteString("what", x.What);
            j.WriteNumber("offset", x.Offset);
            j.WriteNumber("length", x.Length);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteStartObject("pv");
        j.WriteString("device", PvDevice);
        j.WriteNumber("partition", PvPartition.Number);
        j.WriteNumber("offset", PvOffset);
        j.WriteNumber("size", PvSize);
        j.WriteString("id", VolumeGroup.PhysicalVolumes[0].Id);
        j.WriteNumber("metadataAreaOffset", Geometry.MetadataAreaStart);
        j.WriteNumber("metadataAreaSize", Geometry.MetadataAreaSize);
        j.WriteNumber("peStartSectors", Geometry.PeStartSectors);
        j.WriteNumber("extentSizeSectors", Geometry.ExtentSizeSectors);
        j.WriteNumber("extentSizeBytes", Geometry.ExtentSizeBytes);
        j.WriteNumber("peCount", Geometry.PeCount);
        j.WriteNumber("freeExtents", FreeExtents);
        j.WriteEndObject();
        j.WriteStartObject("vg");
        j.WriteString("name", VolumeGroup.Name);
        j.WriteString("id", VolumeGroup.Id);
        if (Layout.Grow is not null) j.WriteString("grow", Layout.Grow);
        j.WriteStartArray("logicalVolumes");
        foreach (var v in Volumes)
        {
            j.WriteStartObject();
            j.WriteString("name", v.Name);
            j.WriteString("id", VolumeGroup.FindLv(v.Name)!.Id);
            j.WriteNumber("extents", v.Extents);
            j.WriteNumber("pvStartExtent", v.PvStartExtent);
            j.WriteNumber("size", v.SizeBytes);
            j.WriteNumber("offsetInPv", v.OffsetInPv);
            j.WriteNumber("diskOffset", v.DiskOffset);
            j.WriteNumber("diskFirstSector", v.DiskOffset / ss);
            j.WriteNumber("diskLastSector", (v.DiskOffset + v.SizeBytes) / ss - 1);
            j.WriteString("device", v.Device);
            j.WriteString("dmName", v.DmName);
            j.WriteString("dmUuid", v.DmUuid);
            if (v.Spec.Filesystem is not null) j.WriteString("filesystem", v.Spec.Filesystem);
            if (v.Spec.MountPoint is not null) j.WriteString("mountPoint", v.Spec.MountPoint);
            if (v.Spec.Label is not null) j.WriteString("label", v.Spec.Label);
            j.WriteStartArray("mkfsOptions");
            foreach (var o in v.Spec.MkfsOptions) j.WriteStringValue(o);
            j.WriteEndArray();
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteEndObject();
        j.WriteEndObject();
    }
}
