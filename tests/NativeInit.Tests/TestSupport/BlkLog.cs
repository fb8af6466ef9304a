using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace NativeInit.Tests.TestSupport;

/// <summary>The flags of a write-log entry (Linux dm-log-writes; QEMU's blklogwrites writes the same format).</summary>
[Flags]
public enum WriteLogFlags : ulong
{
    None = 0,
    Flush = 1,
    Fua = 2,
    Discard = 4,
    Mark = 8,
    Metadata = 16,
}

/// <summary>One entry of a write log. <see cref="Sector"/> and <see cref="Sectors"/> count the log's sectors
/// (<see cref="WriteLog.SectorSize"/> bytes, 512 by default); <see cref="DataOffset"/> is where the written bytes
/// start in the log (a discard and a flush carry none).</summary>
public sealed record WriteLogEntry(long Index, long LogOffset, ulong Sector, ulong Sectors, WriteLogFlags Flags, long DataOffset, string? Mark)
{
    public bool IsWrite => (Flags & (WriteLogFlags.Discard | WriteLogFlags.Mark)) == 0 && Sectors > 0;
    public bool IsFlush => (Flags & WriteLogFlags.Flush) != 0;

    public string FlagText => string.Join('|', (IsWrite ? new[] { "WRITE" } : [])
        .Concat(new[] { WriteLogFlags.Flush, WriteLogFlags.Fua, WriteLogFlags.Discard, WriteLogFlags.Mark, WriteLogFlags.Metadata }
            .Where(f => (Flags & f) != 0).Select(f => f.ToString().ToUpperInvariant()))
        .DefaultIfEmpty("EMPTY"));
}

/// <summary>
/// A write log in the dm-log-writes format (Documentation/admin-guide/device-mapper/log-writes.rst), as QEMU's
/// <c>blklogwrites</c> block driver records it: sector 0 holds the super block (magic 0x6a736677736872, version 1,
/// the entry count, the sector size; little-endian), then every entry takes one sector (sector, sector count, flags,
/// data length; a mark's text follows the header inside that sector) followed, unless it is a discard, by the
/// written sectors. A test tool (xfstests' replay-log does the same): it lists entries and replays a prefix of the
/// log onto a copy of the disk the log started from, which is the disk as a power cut after that entry leaves it.
/// </summary>
public sealed class WriteLog
{
    public const ulong Magic = 0x6a736677736872, Version = 1;
    private const int HeaderBytes = 32;

    public required string Path { get; init; }
    public required int SectorSize { get; init; }
    /// <summary>The entry count in the super block (QEMU updates it at every flush and every 4096 entries).</summary>
    public required long SuperEntries { get; init; }
    public required IReadOnlyList<WriteLogEntry> Entries { get; init; }
    /// <summary>Bytes of the log after the last counted entry (entries the super block does not count yet).</summary>
    public required long TrailingBytes { get; init; }

    /// <summary>Reads the super block and walks every entry it counts; a malformed log is an
    /// <see cref="InvalidDataException"/> naming the log, the entry and the byte offset.</summary>
    public static WriteLog Open(string path)
    {
        using var f = File.OpenHandle(path);
        long length = RandomAccess.GetLength(f);
        Span<byte> super = stackalloc byte[28];
        if (length < 512 || RandomAccess.Read(f, super, 0) != super.Length)
            throw new InvalidDataException($"write log {path}: {length} bytes, too short for a super block");
        ulong magic = BinaryPrimitives.ReadUInt64LittleEndian(super);
        if (magic != Magic) throw new InvalidDataException($"write log {path}: magic 0x{magic:x} is not dm-log-writes' 0x{Magic:x}");
        ulong version = BinaryPrimitives.ReadUInt64LittleEndian(super[8..]);
        if (version != Version) throw new InvalidDataException($"write log {path}: version {version}, only {Version} is known");
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(super[16..]);
        uint sectorSize = BinaryPrimitives.ReadUInt32LittleEndian(super[24..]);
        if (sectorSize < 512 || sectorSize > 1 << 20 || (sectorSize & (sectorSize - 1)) != 0)
            throw new InvalidDataException($"write log {path}: sector size {sectorSize} is not a power of two from 512 to 1 MiB");
        if (count > (ulong)(length / sectorSize))
            throw new InvalidDataException($"write log {path}: the super block counts {count} entries, more than the log's {length / sectorSize} sectors");

        var entries = new List<WriteLogEntry>((int)count);
        long at = sectorSize;
        byte[] sector = new byte[sectorSize];
        for (long i = 0; i < (long)count; i++)
        {
            if (at + sectorSize > length || RandomAccess.Read(f, sector, at) != sectorSize)
                throw new InvalidDataException($"write log {path}: entry {i} at byte {at} lies past the log's end ({length} bytes; the super block counts {count})");
            ulong start = BinaryPrimitives.ReadUInt64LittleEndian(sector);
            ulong sectors = BinaryPrimitives.ReadUInt64LittleEndian(sector.AsSpan(8));
            ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(sector.AsSpan(16));
            ulong dataLen = BinaryPrimitives.ReadUInt64LittleEndian(sector.AsSpan(24));
            if ((flags & ~0x1fUL) != 0)
                throw new InvalidDataException($"write log {path}: entry {i} at byte {at} has unknown flags 0x{flags:x}");
            var fl = (WriteLogFlags)flags;
            string? mark = null;
            if ((fl & WriteLogFlags.Mark) != 0)
            {
                if (dataLen > (ulong)(sectorSize - HeaderBytes))
                    throw new InvalidDataException($"write log {path}: mark entry {i} at byte {at} has {dataLen} bytes of text, more than its sector holds");
                mark = Encoding.UTF8.GetString(sector, HeaderBytes, (int)dataLen).TrimEnd('\0');
            }
            long data = at + sectorSize;
            long next = data;
            if ((fl & WriteLogFlags.Discard) == 0 && (fl & WriteLogFlags.Mark) == 0)
            {
                if (sectors > (ulong)(length / sectorSize))
                    throw new InvalidDataException($"write log {path}: entry {i} at byte {at} claims {sectors} sectors, more than the log holds");
                next = data + (long)sectors * sectorSize;
                if (next > length)
                    throw new InvalidDataException($"write log {path}: entry {i} at byte {at}: its {sectors} sectors end at byte {next}, past the log's end ({length})");
            }
            entries.Add(new WriteLogEntry(i, at, start, sectors, fl, data, mark));
            at = next;
        }
        return new WriteLog { Path = path, SectorSize = (int)sectorSize, SuperEntries = (long)count, Entries = entries, TrailingBytes = length - at };
    }

    /// <summary>The bytes an entry wrote (empty for a flush, a discard or a mark).</summary>
    public byte[] ReadData(WriteLogEntry e)
    {
        if (!e.IsWrite) return [];
        using var f = File.OpenHandle(Path);
        byte[] data = new byte[checked((int)e.Sectors * SectorSize)];
        RandomAccess.Read(f, data, e.DataOffset);
        return data;
    }

    /// <summary>Copies <paramref name="baseImage"/> to <paramref name="output"/> (sparse, reflinked where the file
    /// system can) and applies entries 0 to <paramref name="toEntry"/> in order: writes as logged, discards as zeros
    /// (as replay-log does on a device without discard), flushes and marks change nothing.</summary>
    public void Replay(string baseImage, string output, long toEntry)
    {
        if (toEntry < -1 || toEntry >= Entries.Count)
            throw new ArgumentOutOfRangeException(nameof(toEntry), $"write log {Path}: entry {toEntry} does not exist (entries 0 to {Entries.Count - 1})");
        using (var cp = Process.Start(new ProcessStartInfo("cp", ["--reflink=auto", "--sparse=always", baseImage, output]) { RedirectStandardError = true })!)
        {
            string err = cp.StandardError.ReadToEnd();
            cp.WaitForExit();
            if (cp.ExitCode != 0) throw new IOException($"cp {baseImage} {output} failed (exit {cp.ExitCode}): {err.Trim()}");
        }
        using var log = File.OpenHandle(Path);
        using var disk = File.OpenHandle(output, FileMode.Open, FileAccess.ReadWrite);
        long diskLength = RandomAccess.GetLength(disk);
        byte[] buffer = new byte[4 << 20];
        for (int i = 0; i <= toEntry; i++)
        {
            var e = Entries[i];
            bool discard = (e.Flags & WriteLogFlags.Discard) != 0;
            if (!(e.IsWrite || (discard && e.Sectors > 0))) continue;
            long offset = checked((long)e.Sector * SectorSize), bytes = checked((long)e.Sectors * SectorSize);
            if (offset + bytes > diskLength)
                throw new InvalidDataException($"write log {Path}: entry {i} writes bytes {offset}..{offset + bytes}, past the end of {baseImage} ({diskLength} bytes): not the disk this log was recorded on");
            for (long done = 0; done < bytes;)
            {
                int n = (int)Math.Min(buffer.Length, bytes - done);
                if (discard) Array.Clear(buffer, 0, n);
                else if (RandomAccess.Read(log, buffer.AsSpan(0, n), e.DataOffset + done) != n)
                    throw new InvalidDataException($"write log {Path}: entry {i}'s data ends early");
                RandomAccess.Write(disk, buffer.AsSpan(0, n), offset + done);
                done += n;
            }
        }
        RandomAccess.FlushToDisk(disk);
    }

    /// <summary>When the entry wrote NativeInit's conversion journal (journal.json's data: a block that starts with
    /// its JSON object), what it said: "in-progress; done a b; pending c" (or the reason it could not be read).</summary>
    public string? JournalText(WriteLogEntry e)
    {
        if (!e.IsWrite) return null;
        byte[] data = ReadData(e);
        for (int block = 0; block + 64 <= data.Length; block += 512)
        {
            if (data[block] != (byte)'{') continue;
            var head = data.AsSpan(block, Math.Min(64, data.Length - block));
            if (head.IndexOf("\"formatVersion\""u8) < 0) continue;
            var rest = data.AsSpan(block);
            int end = rest.IndexOf((byte)0);
            var json = end < 0 ? rest : rest[..end];
            if (json.IndexOf("\"oldLayout\""u8) < 0) continue;
            return DescribeJournal(json);
        }
        return null;
    }

    internal static string DescribeJournal(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var root = doc.RootElement;
            var steps = root.TryGetProperty("steps", out var s) ? s.EnumerateArray().ToList() : [];
            string Names(string state) => string.Join(' ', steps.Where(x => x.GetProperty("state").GetString() == state).Select(x => x.GetProperty("name").GetString()));
            string done = Names("done"), pending = Names("pending");
            return $"{root.GetProperty("state").GetString()}; done: {(done.Length > 0 ? done : "-")}; pending: {(pending.Length > 0 ? pending : "-")}";
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return $"unreadable ({json.Length} bytes: {ex.Message.Split('\n')[0]})";
        }
    }

    /// <summary>What a write was, where its data tells: "journal ..." (<see cref="JournalText"/>), "grubenv
    /// next_entry=..." (GRUB's environment block: stage one sets the one-shot entry, GRUB clears it when it boots it),
    /// "gpt header" (a write of LBA 1 that starts with "EFI PART": the new partition table).</summary>
    public string? Note(WriteLogEntry e)
    {
        if (!e.IsWrite) return null;
        if (JournalText(e) is { } j) return "journal " + j;
        byte[] data = ReadData(e);
        if (data.AsSpan().StartsWith("# GRUB Environment Block\n"u8))
        {
            var text = Encoding.ASCII.GetString(data, 0, Math.Min(data.Length, 1024));
            var next = text.Split('\n').FirstOrDefault(l => l.StartsWith("next_entry=", StringComparison.Ordinal));
            return "grubenv " + (next ?? "(no next_entry)");
        }
        long lba1 = 512 - (long)e.Sector * SectorSize;
        if (lba1 >= 0 && lba1 + 8 <= data.Length && data.AsSpan((int)lba1, 8).SequenceEqual("EFI PART"u8)) return "gpt header";
        return null;
    }

    /// <summary>One line an entry, tab-separated: index, log offset, flags, sector, sectors, note (a mark's text, or
    /// with <paramref name="notes"/> what a write was: <see cref="Note"/>).</summary>
    public IEnumerable<string> List(bool notes)
    {
        foreach (var e in Entries)
        {
            string note = e.Mark is { } m ? "mark " + m : notes && Note(e) is { } n ? n : "";
            yield return $"{e.Index}\t{e.LogOffset}\t{e.FlagText}\t{e.Sector}\t{e.Sectors}\t{note}";
        }
    }

    public string Describe()
    {
        var sw = new StringBuilder();
        sw.Append($"write log {Path}: sector size {SectorSize}, {SuperEntries} entries");
        sw.Append($" ({Entries.Count(e => e.IsWrite)} writes of {Entries.Where(e => e.IsWrite).Sum(e => (long)e.Sectors) * SectorSize} bytes, ");
        sw.Append($"{Entries.Count(e => e.IsFlush)} flushes, {Entries.Count(e => (e.Flags & WriteLogFlags.Fua) != 0)} FUA, ");
        sw.Append($"{Entries.Count(e => (e.Flags & WriteLogFlags.Discard) != 0)} discards, {Entries.Count(e => e.Mark is not null)} marks)");
        if (TrailingBytes > 0) sw.Append($"; {TrailingBytes} bytes after the last counted entry (not counted by the super block yet)");
        return sw.ToString();
    }

    /// <summary>The command-line tool (tools/blklog): info LOG | list LOG [--notes] | replay LOG BASE OUT --to N.
    /// Exit 0 done, 1 failed, 2 usage.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        const string usage = "usage: blklog info LOG | list LOG [--notes] | replay LOG BASE-IMAGE OUTPUT --to ENTRY";
        try
        {
            switch (args)
            {
                case ["info", var log]:
                    stdout.WriteLine(Open(log).Describe());
                    return 0;
                case ["list", var log, .. var rest] when rest.All(a => a == "--notes"):
                    foreach (var line in Open(log).List(rest.Length > 0)) stdout.WriteLine(line);
                    return 0;
                case ["replay", var log, var image, var output, "--to", var n] when long.TryParse(n, out long to):
                    var sw = Stopwatch.StartNew();
                    var wl = Open(log);
                    wl.Replay(image, output, to);
                    var e = wl.Entries[(int)to];
                    stderr.WriteLine($"blklog: {output}: {image} with entries 0..{to} of {wl.Entries.Count} replayed (entry {to}: {e.FlagText} sector {e.Sector}+{e.Sectors}) in {sw.Elapsed.TotalSeconds:0.0} s");
                    return 0;
                default:
                    stderr.WriteLine(usage);
                    return 2;
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentOutOfRangeException or UnauthorizedAccessException)
        {
            stderr.WriteLine("blklog: " + ex.Message);
            return 1;
        }
    }
}
