using System.Globalization;
using System.Text.Json;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Mbr;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>What happens to one partition number when the desired table replaces the current one.</summary>
/// <param name="Action">"add", "keep", "change" or "remove".</param>
/// <param name="Current">The partition on the disk now (GPT, or MBR converted to a range), or null.</param>
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

/// <summary>JSON form of a GPT table, shared by `gpt show --json` and plans.</summary>
public static class GptJson
{
    public static void WriteTable(Utf8JsonWriter j, GptTable t)
    {
        j.WriteStartObject();
        j.WriteString("diskGuid", GptApplyPlan.Guid(t.DiskGuid));
        j.WriteNumber("sectorSize", t.SectorSize);
        j.WriteNumber("diskSectors", t.DiskSectors);
        j.WriteNumber("firstUsableLba", t.FirstUsableLba);
        j.WriteNumber("lastUsableLba", t.LastUsableLba);
        j.WriteNumber("entryCount", t.EntryCount);
        j.WriteNumber("entrySize", t.EntrySize);
        j.WriteNumber("primaryEntriesLba", t.PrimaryEntriesLba);
        j.WriteNumber("backupEntriesLba", t.BackupEntriesLba);
        j.WriteNumber("backupHeaderLba", t.BackupHeaderLba);
        j.WriteStartArray("partitions");
        foreach (var p in t.Partitions)
        {
            j.WriteStartObject();
            j.WriteNumber("number", p.Number);
            j.WriteString("type", GptApplyPlan.Guid(p.Type));
            j.WriteString("typeName", p.TypeName);
            if (GptPartitionTypes.Find(p.Type) is { } known) j.WriteString("typeCode", known.Code);
            j.WriteString("guid", GptApplyPlan.Guid(p.UniqueGuid));
            j.WriteNumber("firstLba", p.FirstLba);
            j.WriteNumber("lastLba", p.LastLba);
            j.WriteNumber("sectors", p.Sectors);
            j.WriteNumber("sizeBytes", p.ByteLength(t.SectorSize));
            j.WriteString("name", p.Name);
            j.WriteString("attributes", $"0x{(ulong)p.Attributes:X16}");
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteEndObject();
    }
}

/// <summary>Puts a GPT on a disk the way stage two needs it: refuse first, then table, wipes, and the kernel.</summary>
public static class GptApply
{
    /// <summary>
    /// Plans writing <paramref name="desired"/> (already sized for this disk) on <paramref name="disk"/>. Refuses
    /// (<see cref="RefusedException"/>, nothing written) when the disk or a partition of it is in use, or the table
    /// does not fit. With <paramref name="wipePartitions"/> the start and end of every new partition are zeroed.
    /// </summary>
    public static GptApplyPlan Plan(DiskDevice disk, GptTable desired, bool wipePartitions = true)
    {
        BlockDeviceInfo.RefuseIfInUse(disk);
        var tableWrites = GptWriter.Plan(disk, desired);
        var current = GptReader.Read(disk);
        var mbr = current.Table is null ? MbrTable.Read(disk).Where(p => p.Type != GptFormat.ProtectiveOsType).ToList() : [];
        string kind = current.Table is not null ? "gpt" : mbr.Count > 0 ? "mbr" : "none";
        int ss = disk.LogicalSectorSize;
        var changes = new List<PartitionChange>();
        var numbers = desired.Partitions.Select(p => p.Number)
            .Concat(current.Table?.Partitions.Select(p => p.Number) ?? mbr.Select(p => p.Number)).Distinct().Order();
        foreach (int n in numbers)
        {
            var want = desired.Find(n);
            string? curDesc = null;
            string? old = null;
            if (current.Table?.Find(n) is { } cg)
            {
                curDesc = $"GPT LBA {cg.FirstLba}..{cg.LastLba} {cg.TypeName}";
                old = ProbeDescription(disk, cg.ByteOffset(ss), cg.ByteLength(ss));
                bool same = want is not null && want.FirstLba == cg.FirstLba && want.LastLba == cg.LastLba && want.Type == cg.Type
                    && want.UniqueGuid == cg.UniqueGuid && want.Name == cg.Name && want.Attributes == cg.Attributes;
                changes.Add(new(n, want is null ? "remove" : same ? "keep" : "change", curDesc, want, old));
                continue;
            }
            if (mbr.FirstOrDefault(p => p.Number == n) is { } cm)
            {
                curDesc = $"MBR LBA {cm.FirstLba}..{cm.LastLba} {MbrTable.TypeName(cm.Type)}";
                if (!cm.IsExtended && cm.LastLba < disk.Sectors) old = ProbeDescription(disk, cm.ByteOffset(ss), cm.ByteLength(ss));
            }
            changes.Add(new(n, want is null ? "remove" : curDesc is null ? "add" : "change", curDesc, want, old));
        }
        // Partitions that stay exactly as they are keep their contents (a re-run after a power cut must not wipe
        // what a later step already wrote).
        var keep = changes.Where(c => c.Action == "keep").Select(c => c.Number).ToList();
        var wipes = wipePartitions ? DiskWipe.PlanPartitions(disk, desired, keep).ToList() : [];
        if (kind == "mbr")
        {
            // The old logical partitions' boot records (EBRs) would still describe the old layout.
            foreach (ulong ebr in MbrTable.ExtendedBootRecords(disk))
                if (ebr >= desired.FirstUsableLba && ebr <= desired.LastUsableLba)
                    wipes.Add(new DiskWrite($"zero old extended boot record (LBA {ebr})", (long)ebr * ss, GptFormat.MbrSize, null));
        }
        return new GptApplyPlan
        {
            DiskPath = disk.Path, IsBlockDevice = disk.IsBlockDevice, DiskBytes = disk.SizeBytes, SectorSize = ss, Desired = desired,
            CurrentKind = kind, CurrentGpt = current.Table, CurrentMbr = mbr, Changes = changes, TableWrites = tableWrites, WipeWrites = wipes,
        };
    }

    /// <summary>Plans applying an `sgdisk --backup` file: the table moved to this disk's size as `sgdisk --load-backup`
    /// + `sgdisk -e` would leave it; refuses when it does not fit.</summary>
    public static GptApplyPlan PlanFromBackup(DiskDevice disk, SgdiskBackup backup, bool wipePartitions = true) =>
        Plan(disk, backup.ForDisk(disk.Sectors, disk.LogicalSectorSize, disk.Path), wipePartitions);

    /// <summary>What to do after a failure inside <see cref="Execute"/>.</summary>
    public const string HowToGoOn = "run gpt apply again with the same backup file: it rewrites the whole table";

    /// <summary>Writes the table, then the wipes, flushes, and tells the kernel (BLKRRPART, else BLKPG; no-op on an
    /// image). The first write is the point of no return: any failure after it is exit 4.</summary>
    public static KernelNotification Execute(DiskDevice disk, GptApplyPlan plan)
    {
        if (plan.DiskPath != disk.Path || plan.DiskBytes != disk.SizeBytes) throw new InvalidOperationException("the plan was made for another disk");
        return PointOfNoReturn.Run(disk.Path, HowToGoOn, () =>
        {
            GptWriter.Execute(disk, plan.TableWrites);
            GptWriter.Execute(disk, plan.WipeWrites);
            return KernelPartitions.Notify(disk, plan.Desired);
        });
    }

    private static string? ProbeDescription(DiskDevice disk, long offset, long length)
    {
        if (length <= 0 || offset + length > disk.SizeBytes) return null;
        var r = FilesystemProbe.Probe(disk, offset, length);
        return r is null ? null : r.Label.Length > 0 ? $"{r.Type} \"{r.Label}\"" : r.Type;
    }
}
