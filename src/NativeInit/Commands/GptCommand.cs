using System.Globalization;
using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Platform;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Disk.Mbr;

namespace NativeInit;

/// <summary>`nativeinit gpt show` and `nativeinit gpt apply`: read a GPT, or write one from an sgdisk backup file.</summary>
internal static class GptCommand
{
    private static readonly OptionSpec SectorSizeOption =
        new("sector-size", null, "N", "logical sector size of an image file (default: 512, or 4096 when the GPT is found there)");

    public static readonly CommandSpec Show = new()
    {
        Name = "gpt show",
        JsonSchema = "gpt-show",
        Summary = "show the GPT (or legacy MBR) of a disk or disk image: headers, usable range, partitions",
        Usage = "gpt show DISK [--json] [--sector-size N]",
        MinArguments = 1,
        MaxArguments = 1,
        Options = [new("json", null, null, "print one JSON object"), SectorSizeOption],
        Description = "DISK is a block device or an image file. Without a GPT the MBR partitions are listed with the filesystem found on each.",
        Run = RunShow,
    };

    public static readonly CommandSpec Apply = new()
    {
        Name = "gpt apply",
        JsonSchema = "gpt-apply",
        Summary = "write the partition table of an `sgdisk --backup` file to a disk of any size (as sgdisk --load-backup + -e)",
        Usage = "gpt apply BACKUP --disk DISK [--dry-run] [--json] [--sector-size N] [--no-wipe]",
        MinArguments = 1,
        MaxArguments = 1,
        Options =
        [
            new("disk", null, "DISK", "block device or image file to write"),
            new("dry-run", "n", null, "print what would be written and write nothing"),
            new("json", null, null, "print the plan as one JSON object"),
            new("no-wipe", null, null, "do not zero old signatures at the start and end of the new partitions"),
            new("sector-size", null, "N", "logical sector size of an image file (default: that of the disk the backup was made on)"),
            CommandLog.Option,
        ],
        Description = "Writes the protective MBR (boot code kept), both headers and entry arrays with the backup moved to the real " +
            "end of the disk, zeroes a stale GPT backup and old signatures in the new partitions, and tells the kernel. " +
            "Refuses before any write: a corrupt or truncated backup, a disk too small, a disk with a mounted partition. " +
            "When writing, the whole output is also appended to the log file (--log). SIGHUP is ignored; SIGINT or SIGTERM " +
            "before the first write stop the run (exit 3), after it the write is completed.",
        Run = RunApply,
    };

    private static int? SectorSize(ParsedArgs args) =>
        args.Get("sector-size") is null ? null : args.GetInt("sector-size", 512, 512, 4096);

    private static int RunShow(ParsedArgs args, CommandContext ctx)
    {
        string path = args.Arguments[0];
        var disk = GptJob.Show(path, SectorSize(args));
        var read = disk.Read;
        var mbr = disk.Mbr;
        if (args.Has("json"))
        {
            ctx.Out.WriteJson(j =>
            {
                j.WriteStartObject();
                j.WriteNumber("schemaVersion", 1);
                j.WriteString("disk", path);
                j.WriteBoolean("blockDevice", disk.IsBlockDevice);
                j.WriteNumber("sizeBytes", disk.SizeBytes);
                j.WriteNumber("logicalSectorSize", disk.LogicalSectorSize);
                j.WriteNumber("physicalSectorSize", disk.PhysicalSectorSize);
                j.WriteNumber("sectors", disk.Sectors);
                j.WriteBoolean("protectiveMbr", read.HasProtectiveMbr);
                WriteHeaderJson(j, "primaryHeader", read.Primary, read.PrimaryEntriesCrcValid);
                WriteHeaderJson(j, "backupHeader", read.Backup, read.BackupEntriesCrcValid);
                if (read.Source is not null) j.WriteString("tableFrom", read.Source);
                j.WriteStartArray("problems");
                foreach (var p in read.Problems) j.WriteStringValue(p);
                j.WriteEndArray();
                if (read.Table is not null)
                {
                    j.WritePropertyName("gpt");
                    GptJson.WriteTable(j, read.Table);
                }
                else
                {
                    j.WriteStartArray("mbrPartitions");
                    foreach (var (p, fs) in mbr)
                    {
                        j.WriteStartObject();
                        j.WriteNumber("number", p.Number);
                        j.WriteString("type", $"0x{p.Type:x2}");
                        j.WriteString("typeName", MbrTable.TypeName(p.Type));
                        j.WriteBoolean("bootable", p.Bootable);
                        j.WriteNumber("firstLba", p.FirstLba);
                        j.WriteNumber("lastLba", p.LastLba);
                        j.WriteNumber("sectors", p.Sectors);
                        if (fs is not null)
                        {
                            j.WriteString("filesystem", fs.Type);
                            j.WriteString("label", fs.Label);
                            j.WriteString("uuid", fs.Uuid);
                        }
                        j.WriteEndObject();
                    }
                    j.WriteEndArray();
                }
                j.WriteEndObject();
            });
            return ExitCodes.Success;
        }

        var ic = CultureInfo.InvariantCulture;
        var o = ctx.Out;
        o.WriteLine(string.Create(ic, $"Disk {path}: {disk.Sectors} sectors, {ByteSize.Format(disk.SizeBytes)}, {(disk.IsBlockDevice ? "block device" : "image file")}"));
        o.WriteLine(string.Create(ic, $"Sector size (logical/physical): {disk.LogicalSectorSize}/{disk.PhysicalSectorSize} bytes"));
        foreach (var p in read.Problems) o.WriteLine($"Problem: {DisplayText.Of(p)}");
        if (read.Table is { } t)
        {
            o.WriteLine($"Protective MBR: {(read.HasProtectiveMbr ? "present" : "missing")}; table read from the {read.Source} copy");
            WriteHeaderText(o, "Primary header", read.Primary, read.PrimaryEntriesCrcValid);
            WriteHeaderText(o, "Backup header", read.Backup, read.BackupEntriesCrcValid);
            o.WriteLine($"Disk identifier (GUID): {t.DiskGuid.ToString("D").ToUpperInvariant()}");
            o.WriteLine(string.Create(ic, $"Partition table holds up to {t.EntryCount} entries of {t.EntrySize} bytes (LBA {t.PrimaryEntriesLba} and {t.BackupEntriesLba})"));
            o.WriteLine(string.Create(ic, $"First usable sector is {t.FirstUsableLba}, last usable sector is {t.LastUsableLba}"));
            o.WriteLine();
            o.WriteLine("Number  Start (sector)    End (sector)  Size        Code  Type                    Name  GUID  Attributes");
            foreach (var p in t.Partitions)
            {
                string code = GptPartitionTypes.Find(p.Type)?.Code ?? "----";
                o.WriteLine(string.Create(ic, $"{p.Number,6}  {p.FirstLba,14}  {p.LastLba,14}  {ByteSize.Format(p.ByteLength(t.SectorSize)),-10}  {code}  {p.TypeName,-22}  \"{DisplayText.Of(p.Name)}\"  {p.UniqueGuid.ToString("D").ToUpperInvariant()}  0x{(ulong)p.Attributes:X16}"));
            }
        }
        else if (mbr.Count > 0)
        {
            o.WriteLine("No GPT. MBR partitions:");
            o.WriteLine("Number  Boot  Start (sector)    End (sector)  Size        Type                   Content");
            foreach (var (p, fs) in mbr)
            {
                string content = fs is null ? "" : fs.Label.Length > 0 ? $"{fs.Type} \"{DisplayText.Of(fs.Label)}\" {fs.Uuid}" : $"{fs.Type} {fs.Uuid}";
                o.WriteLine(string.Create(ic, $"{p.Number,6}  {(p.Bootable ? "*" : " "),4}  {p.FirstLba,14}  {p.LastLba,14}  {ByteSize.Format(p.ByteLength(disk.LogicalSectorSize)),-10}  {MbrTable.TypeName(p.Type),-21}  {content}"));
            }
        }
        else o.WriteLine("No GPT and no MBR partition table.");
        return ExitCodes.Success;
    }

    private static void WriteHeaderText(TextWriter o, string what, GptHeader? h, bool arrayOk)
    {
        if (h is null) { o.WriteLine($"{what}: missing"); return; }
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what}: LBA {h.MyLba}, alternate LBA {h.AlternateLba}, entries at LBA {h.PartitionEntryLba}, header CRC {h.HeaderCrc32:X8} {(h.HeaderCrcValid ? "ok" : "BAD")}, entries CRC {h.PartitionEntryArrayCrc32:X8} {(arrayOk ? "ok" : "BAD")}"));
    }

    private static void WriteHeaderJson(Utf8JsonWriter j, string name, GptHeader? h, bool arrayOk)
    {
        if (h is null) { j.WriteNull(name); return; }
        j.WriteStartObject(name);
        j.WriteString("revision", $"0x{h.Revision:X8}");
        j.WriteNumber("headerSize", h.HeaderSize);
        j.WriteString("headerCrc32", $"{h.HeaderCrc32:X8}");
        j.WriteBoolean("headerCrcValid", h.HeaderCrcValid);
        j.WriteNumber("myLba", h.MyLba);
        j.WriteNumber("alternateLba", h.AlternateLba);
        j.WriteNumber("firstUsableLba", h.FirstUsableLba);
        j.WriteNumber("lastUsableLba", h.LastUsableLba);
        j.WriteString("diskGuid", h.DiskGuid.ToString("D").ToUpperInvariant());
        j.WriteNumber("partitionEntryLba", h.PartitionEntryLba);
        j.WriteNumber("numberOfPartitionEntries", h.NumberOfPartitionEntries);
        j.WriteNumber("sizeOfPartitionEntry", h.SizeOfPartitionEntry);
        j.WriteString("partitionEntryArrayCrc32", $"{h.PartitionEntryArrayCrc32:X8}");
        j.WriteBoolean("partitionEntryArrayCrcValid", arrayOk);
        j.WriteEndObject();
    }

    private static int RunApply(ParsedArgs args, CommandContext ctx)
    {
        using var log = new CommandLog(args, ctx); // issue 18: signals, best-effort output, the log file
        return log.Run(() => ApplyWithLog(args, log));
    }

    private static int ApplyWithLog(ParsedArgs args, CommandLog log)
    {
        string backupPath = args.Arguments[0];
        bool dryRun = args.Has("dry-run");
        using var job = GptJob.Prepare(backupPath, args.Require("disk"), SectorSize(args), dryRun, wipePartitions: !args.Has("no-wipe"));
        var plan = job.Plan;
        if (args.Has("json"))
        {
            log.Out.WriteJson(j => plan.WriteJson(j));
        }
        else
        {
            log.Out.WriteLine($"GPT backup {backupPath}: {job.Backup.Table.Partitions.Count} partitions, made on a disk of {job.Backup.Table.DiskSectors} sectors");
            plan.WriteText(log.Out);
        }
        if (dryRun)
        {
            if (!args.Has("json")) log.Out.WriteLine("dry run: nothing written");
            return ExitCodes.Success;
        }
        log.BeginWrites(job.Disk.Path, job.Disk.IsBlockDevice);
        var how = job.Execute();
        string done = how switch
        {
            KernelNotification.Reread => "written; the kernel re-read the partition table (BLKRRPART)",
            KernelNotification.PartitionByPartition => "written; the disk was busy, partitions updated one by one (BLKPG)",
            KernelNotification.NoPartitionSupport => "written; the device does not carry partitions (no partition scanning): reach them by offset",
            _ => "written (image file: no kernel notification)",
        };
        if (!args.Has("json")) log.Out.WriteLine(done);
        else log.Error.WriteLine($"{job.Disk.Path}: {done}");
        return ExitCodes.Success;
    }
}
