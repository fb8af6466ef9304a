using System.Text.Json;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Disk;

/// <summary>A byte range of a disk that something writes, with what writes it (a keep-out range for a file that
/// must survive those writes).</summary>
public sealed record DiskRange(long Offset, long Length, string What)
{
    public long End => Offset + Length;
    public bool Overlaps(long offset, long length) => offset < End && Offset < offset + length;
    public override string ToString() => $"{What} (bytes {Offset}..{End - 1})";

    /// <summary>Writes <paramref name="ranges"/> as a JSON array property of objects { what, offset, length }.</summary>
    public static void WriteJsonArray(System.Text.Json.Utf8JsonWriter w, string property, IEnumerable<DiskRange> ranges)
    {
        w.WriteStartArray(property);
        foreach (var r in ranges)
        {
            w.WriteStartObject();
            w.WriteString("what", r.What);
            w.WriteNumber("offset", r.Offset);
            w.WriteNumber("length", r.Length);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}

/// <summary>One extent of a file: <paramref name="Logical"/> bytes into the file, <paramref name="DiskOffset"/> on the
/// whole disk (the filesystem's physical offset plus the partition's start), FIEMAP_EXTENT_* <paramref name="Flags"/>.</summary>
public sealed record FileExtent(long Logical, long DiskOffset, long Length, uint Flags);

/// <summary>
/// Where a file's bytes lie on the disk (FS_IOC_FIEMAP through <see cref="FileMapping"/>), so that it can be read
/// straight from the disk later and kept clear of other writes: stage one records the staged bundle's extents in
/// BOOT/nativeinit/bundle.extents.json and checks them against the new layout's first writes; stage two recomputes
/// them from the read-only old filesystem. <see cref="Problems"/> names extents that cannot be read from the disk
/// as they are (unknown place, delayed allocation, unwritten, inline, encoded, encrypted).
/// </summary>
public sealed class FileExtents
{
    public const int FormatVersion = 1;

    private const uint Unreadable = FileMapping.ExtentUnknown | FileMapping.ExtentDelalloc | FileMapping.ExtentEncoded |
        FileMapping.ExtentDataEncrypted | FileMapping.ExtentNotAligned | FileMapping.ExtentDataInline | FileMapping.ExtentDataTail |
        FileMapping.ExtentUnwritten;

    public required string File { get; init; }
    public required long FileBytes { get; init; }
    /// <summary>The byte offset of the filesystem's partition on the disk (0 for a filesystem on the whole disk).</summary>
    public required long PartitionOffset { get; init; }
    public required IReadOnlyList<FileExtent> Extents { get; init; }

    /// <summary>Reads the extents of <paramref name="path"/> (syncing it first).</summary>
    public static FileExtents Read(string path, long partitionOffset)
    {
        using var h = System.IO.File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var list = FileMapping.Read(h, path);
        return new FileExtents
        {
            File = path, FileBytes = RandomAccess.GetLength(h), PartitionOffset = partitionOffset,
            Extents = list.Select(e => new FileExtent(e.Logical, partitionOffset + e.Physical, e.Length, e.Flags)).ToList(),
        };
    }

    /// <summary>Bytes of the file the extents cover.</summary>
    public long MappedBytes => Extents.Sum(e => e.Length);

    /// <summary>Reasons the file cannot be read from the disk by these extents; empty when it can.</summary>
    public IEnumerable<string> Problems()
    {
        foreach (var e in Extents.Where(e => (e.Flags & Unreadable) != 0))
            yield return $"{File}: the extent at file offset {e.Logical} ({e.Length} bytes) is {FileMapping.FlagNames(e.Flags & Unreadable)}";
        // Holes: the extents must cover the file from its start to its end (the last one may run past it).
        long at = 0;
        foreach (var e in Extents.OrderBy(e => e.Logical))
        {
            if (e.Logical > at) yield return $"{File}: bytes {at}..{e.Logical - 1} have no extent (a hole)";
            at = Math.Max(at, e.Logical + e.Length);
        }
        if (at < FileBytes) yield return $"{File}: bytes {at}..{FileBytes - 1} have no extent";
    }

    /// <summary>Each extent that overlaps a keep-out range, with that range.</summary>
    public IReadOnlyList<(FileExtent Extent, DiskRange Range)> Overlaps(IEnumerable<DiskRange> keepOut) =>
        (from e in Extents from r in keepOut where r.Overlaps(e.DiskOffset, e.Length) select (e, r)).ToList();

    public void WriteJson(Utf8JsonWriter w, string fileAsRecorded, IEnumerable<DiskRange>? keepOut = null)
    {
        w.WriteStartObject();
        w.WriteNumber("formatVersion", FormatVersion);
        w.WriteString("file", fileAsRecorded);
        w.WriteNumber("fileBytes", FileBytes);
        w.WriteNumber("partitionOffset", PartitionOffset);
        w.WriteStartArray("extents");
        foreach (var e in Extents)
        {
            w.WriteStartObject();
            w.WriteNumber("logical", e.Logical);
            w.WriteNumber("diskOffset", e.DiskOffset);
            w.WriteNumber("length", e.Length);
            w.WriteNumber("flags", e.Flags);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (keepOut is not null)
        {
            DiskRange.WriteJsonArray(w, "keepOut", keepOut);
        }
        w.WriteEndObject();
    }

    /// <summary>Reads what <see cref="WriteJson"/> wrote (the file path as recorded).</summary>
    public static FileExtents Parse(ReadOnlySpan<byte> json, string what)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var r = doc.RootElement;
            int version = r.GetProperty("formatVersion").GetInt32();
            if (version != FormatVersion) throw new InvalidDataFormatException($"{what}: formatVersion {version} is not {FormatVersion}");
            long partOffset = r.GetProperty("partitionOffset").GetInt64();
            return new FileExtents
            {
                File = r.GetProperty("file").GetString()!, FileBytes = r.GetProperty("fileBytes").GetInt64(), PartitionOffset = partOffset,
                Extents = r.GetProperty("extents").EnumerateArray().Select(e => new FileExtent(e.GetProperty("logical").GetInt64(),
                    e.GetProperty("diskOffset").GetInt64(), e.GetProperty("length").GetInt64(), e.GetProperty("flags").GetUInt32())).ToList(),
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataFormatException($"{what}: {e.Message}", e);
        }
    }
}
