using System.Globalization;
using System.Text.Json;
using NativeInit.Core.Disk.Filesystems;
using NativeInit.Core.Disk.Mbr;

namespace NativeInit.Core.Disk.Gpt;

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
