using System.Globalization;
using System.Text.Json;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Mbr;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>What happens to one partition number when the desired table replaces the current one.</summary>
/// <param name="Action">"add", "keep", "change" or "remove".</param>
/// <param name="CurrentDescription">The partition on the disk now (GPT, or MBR converted to a range), or null.</param>
/// <param name="Desired">The partition in the desired table, or null.</param>
/// <param name="OldContent">What the probe found at the start of the current partition (null when nothing).</param>
public sealed record PartitionChange(int Number, string Action, string? CurrentDescription, GptPartition? Desired, string? OldContent);

/// <summary>
/// A declarative view in the spirit of systemd-repart: the <see cref="Desired"/> table against what is on the disk,
/// and exactly which sectors will be written or zeroed. Made by <see cref="GptApply.Plan"/>, changes nothing; shown
/// with <see cref="WriteText"/> / <see cref="WriteJson"/>, carried out by <see cref="GptApply.Execute"/>.
/// </summary>
public sealed record GptApplyPlan
{
    public required string DiskPath { get; init; }
    public required bool IsBlockDevice { get; init; }
    public required long DiskBytes { get; init; }
    public required int SectorSize { get; init; }
    public required GptTable Desired { get; init; }
    /// <summary>"gpt", "mbr" or "none": what table the disk has now.</summary>
    public required string CurrentKind { get; init; }
    public GptTable? CurrentGpt { get; init; }
    public IReadOnlyList<MbrPartition> CurrentMbr { get; init; } = [];
    public required IReadOnlyList<PartitionChange> Changes { get; init; }
    /// <summary>Protective MBR, headers, arrays, stale backup.</summary>
    public required IReadOnlyList<DiskWrite> TableWrites { get; init; }
    /// <summary>Old signatures at the start/end of each new partition.</summary>
    public required IReadOnlyList<DiskWrite> WipeWrites { get; init; }

    /// <summary>Human-readable plan, one line per fact, sectors in the disk's logical sector size.</summary>
    public void WriteText(TextWriter w)
    {
        var ic = CultureInfo.InvariantCulture;
        var d = Desired;
        w.WriteLine(string.Create(ic, $"disk {DiskPath}: {d.DiskSectors} sectors of {SectorSize} bytes ({ByteSize.Format(DiskBytes)}), {(IsBlockDevice ? "block device" : "image file")}"));
        w.WriteLine($"current table: {CurrentKind}");
        w.WriteLine(string.Create(ic, $"new GPT: disk GUID {Guid(d.DiskGuid)}, usable LBA {d.FirstUsableLba}..{d.LastUsableLba}, {d.EntryCount} entries of {d.EntrySize} bytes at LBA {d.PrimaryEntriesLba} and {d.BackupEntriesLba}, backup header at LBA {d.BackupHeaderLba}"));
        w.WriteLine("partitions:");
        foreach (var c in Changes)
        {
            if (c.Desired is { } p)
            {
                string line = string.Create(ic, $"  {c.Action,-6} {p.Number,3}  LBA {p.FirstLba}..{p.LastLba} ({p.Sectors} sectors, {ByteSize.Format(p.ByteLength(SectorSize))})  {p.TypeName}  \"{DisplayText.Of(p.Name)}\"  {Guid(p.UniqueGuid)}");
                w.WriteLine(line + (c.CurrentDescription is null || c.Action == "keep" ? "" : $"  (was {c.CurrentDescription})") + (c.OldContent is null ? "" : $"  old content: {DisplayText.Of(c.OldContent)}"));
            }
            else
                w.WriteLine($"  {c.Action,-6} {c.Number,3}  {c.CurrentDescription}" + (c.OldContent is null ? "" : $"  old content: {DisplayText.Of(c.OldContent)}"));
        }
        w.WriteLine("writes:");
        foreach (var x in TableWrites.Concat(WipeWrites))
            w.WriteLine(string.Create(ic, $"  LBA {x.FirstSector(SectorSize),12}..{x.LastSector(SectorSize),-12} {(x.Data is null ? "zero" : "write"),-5} {ByteSize.Format(x.Length),10}  {DisplayText.Of(x.What)}"));
    }

    /// <summary>The plan as one JSON object.</summary>
    public void WriteJson(Utf8JsonWriter j)
    {
        j.WriteStartObject();
        j.WriteNumber("schemaVersion", 1);
        j.WriteString("disk", DiskPath);
        j.WriteBoolean("blockDevice", IsBlockDevice);
        j.WriteNumber("sizeBytes", DiskBytes);
        j.WriteNumber("sectorSize", SectorSize);
        j.WriteString("currentTable", CurrentKind);
        j.WritePropertyName("table");
        GptJson.WriteTable(j, Desired);
        j.WriteStartArray("changes");
        foreach (var c in Changes)
        {
            j.WriteStartObject();
            j.WriteNumber("number", c.Number);
            j.WriteString("action", c.Action);
            if (c.CurrentDescription is not null) j.WriteString("current", c.CurrentDescription);
            if (c.OldContent is not null) j.WriteString("oldContent", c.OldContent);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteStartArray("writes");
        foreach (var x in TableWrites.Concat(WipeWrites))
        {
            j.WriteStartObject();
            j.WriteString("what", x.What);
            j.WriteString("kind", x.Data is null ? "zero" : "write");
            j.WriteNumber("offset", x.Offset);
            j.WriteNumber("length", x.Length);
            j.WriteNumber("firstLba", x.FirstSector(SectorSize));
            j.WriteNumber("lastLba", x.LastSector(SectorSize));
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteEndObject();
    }

    internal static string Guid(Guid g) => g.ToString("D").ToUpperInvariant();
}
