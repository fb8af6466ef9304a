namespace NativeInit.Core.Lvm;

/// <summary>
/// A volume group as lvm2's text metadata describes it (lvm2 lib/format_text/export.c / import_vsn1.c).
/// Sizes in the metadata are in 512-byte sectors; extents are counted from the PV's pe_start.
/// </summary>
public sealed class LvmVolumeGroup
{
    public required string Name { get; set; }
    /// <summary>Formatted id, 6-4-4-4-4-4-6 (see <see cref="LvmId"/>).</summary>
    public required string Id { get; set; }
    public long Seqno { get; set; } = 1;
    public string Format { get; set; } = "lvm2";
    public List<string> Status { get; set; } = ["RESIZEABLE", "READ", "WRITE"];
    public List<string> Flags { get; set; } = [];
    /// <summary>Extent size in sectors.</summary>
    public long ExtentSize { get; set; } = 8192;
    public long MaxLv { get; set; }
    public long MaxPv { get; set; }
    public long MetadataCopies { get; set; }
    public List<LvmPhysicalVolume> PhysicalVolumes { get; set; } = [];
    public List<LvmLogicalVolume> LogicalVolumes { get; set; } = [];

    // Trailer of the text (not part of the VG section).
    public string CreationHost { get; set; } = "";
    public long CreationTime { get; set; }
    public string Description { get; set; } = "";

    public long ExtentSizeBytes => ExtentSize * LvmConstants.SectorSize;

    public LvmPhysicalVolume? FindPv(string name) => PhysicalVolumes.Find(p => p.Name == name);
    public LvmLogicalVolume? FindLv(string name) => LogicalVolumes.Find(l => l.Name == name);
}

public sealed class LvmPhysicalVolume
{
    /// <summary>Key in physical_volumes, "pv0".</summary>
    public required string Name { get; set; }
    public required string Id { get; set; }
    /// <summary>Device hint ("/dev/sda3"); lvm2 finds PVs by id, not by this.</summary>
    public string Device { get; set; } = "";
    public List<string> Status { get; set; } = ["ALLOCATABLE"];
    public List<string> Flags { get; set; } = [];
    /// <summary>Device size in sectors.</summary>
    public long DevSize { get; set; }
    /// <summary>First extent, in sectors from the start of the PV.</summary>
    public long PeStart { get; set; }
    public long PeCount { get; set; }
}

public sealed class LvmLogicalVolume
{
    public required string Name { get; set; }
    public required string Id { get; set; }
    public List<string> Status { get; set; } = ["READ", "WRITE", "VISIBLE"];
    public List<string> Flags { get; set; } = [];
    public long? CreationTime { get; set; }
    public string? CreationHost { get; set; }
    public List<LvmSegment> Segments { get; set; } = [];

    public long ExtentCount => Segments.Sum(s => s.ExtentCount);
    public bool Visible => Status.Contains("VISIBLE");
}

public sealed class LvmSegment
{
    public long StartExtent { get; set; }
    public long ExtentCount { get; set; }
    public string Type { get; set; } = "striped";
    public long StripeCount { get; set; } = 1;
    /// <summary>Stripe size in sectors (only with stripe_count &gt; 1).</summary>
    public long? StripeSize { get; set; }
    /// <summary>(PV key, first extent on that PV) pairs.</summary>
    public List<(string Pv, long StartExtent)> Stripes { get; set; } = [];

    public bool IsLinear => Type == "striped" && StripeCount == 1 && Stripes.Count == 1;
}

public static class LvmConstants
{
    public const int SectorSize = 512;
}
