using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

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
        using var r = StartReplay(baseImage, output);
        r.ApplyThrough(toEntry);
    }

    /// <summary>A replay that goes forward one entry at a time on one copy (<see cref="WriteLogReplay"/>): the disk
    /// after every prefix of the log in turn, for the cost of one copy and one pass over the log.</summary>
    public WriteLogReplay StartReplay(string baseImage, string output)
    {
        using (var cp = Process.Start(new ProcessStartInfo("cp", ["--reflink=auto", "--sparse=always", baseImage, output]) { RedirectStandardError = true })!)
        {
            string err = cp.StandardError.ReadToEnd();
            cp.WaitForExit();
            if (cp.ExitCode != 0) throw new IOException($"cp {baseImage} {output} failed (exit {cp.ExitCode}): {err.Trim()}");
        }
        return new WriteLogReplay(this, baseImage, output);
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
    /// "grubenv ORDER=\"B A\" A_OK=1 ..." when the block holds the A/B boot-counting variables (<see cref="AbVariables"/>),
    /// "gpt header" (a write of LBA 1 that starts with "EFI PART": the new partition table).</summary>
    public string? Note(WriteLogEntry e)
    {
        if (!e.IsWrite) return null;
        if (JournalText(e) is { } j) return "journal " + j;
        byte[] data = ReadData(e);
        if (GrubEnvVariables(data) is { } vars)
        {
            var ab = AbVariables.Where(vars.ContainsKey).Select(v => vars[v].Contains(' ', StringComparison.Ordinal) ? $"{v}=\"{vars[v]}\"" : $"{v}={vars[v]}").ToList();
            if (ab.Count > 0) return "grubenv " + string.Join(' ', ab);
            return "grubenv " + (vars.TryGetValue("next_entry", out var next) ? "next_entry=" + next : "(no next_entry)");
        }
        long lba1 = 512 - (long)e.Sector * SectorSize;
        if (lba1 >= 0 && lba1 + 8 <= data.Length && data.AsSpan((int)lba1, 8).SequenceEqual("EFI PART"u8)) return "gpt header";
        return null;
    }

    /// <summary>The A/B boot-counting variables (issue 14: Boot/BootSlots), named in a grubenv write's note in this order.</summary>
    public static readonly string[] AbVariables = ["ORDER", "A_OK", "A_TRIES", "B_OK", "B_TRIES"];

    /// <summary>The variables of GRUB's environment block when <paramref name="data"/> starts with one (GRUB writes the
    /// 1 KiB block a sector at a time, so a write may hold only its first sector: the variables it holds), else null.
    /// Lines "name=value" after the header, up to the '#' padding; GRUB's backslash escapes are undone.</summary>
    public static IReadOnlyDictionary<string, string>? GrubEnvVariables(ReadOnlySpan<byte> data)
    {
        if (!data.StartsWith("# GRUB Environment Block\n"u8)) return null;
        var vars = new Dictionary<string, string>(StringComparer.Ordinal);
        var text = Encoding.ASCII.GetString(data[..Math.Min(data.Length, 1024)]);
        foreach (var line in text.Split('\n').Skip(1))
        {
            if (line.StartsWith('#')) continue; // the warning line and the padding
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) continue;
            var value = new StringBuilder();
            for (int i = eq + 1; i < line.Length; i++) value.Append(line[i] == '\\' && i + 1 < line.Length ? line[++i] : line[i]);
            vars[line[..eq]] = value.ToString();
        }
        return vars;
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

/// <summary>A copy of the disk a write log started from, brought forward through the log's entries in order
/// (<see cref="WriteLog.StartReplay"/>): after <see cref="ApplyThrough"/>(N) it is the disk as a power cut after entry
/// N leaves it (every write up to N on the disk, none after). Writes go to the file without fsync: other processes
/// (grub-fstest, cp, QEMU) reading it see them through the page cache.</summary>
public sealed class WriteLogReplay : IDisposable
{
    private readonly WriteLog _log;
    private readonly string _baseImage;
    private readonly SafeFileHandle _logFile, _disk;
    private readonly long _diskLength;
    private readonly byte[] _buffer = new byte[4 << 20];

    internal WriteLogReplay(WriteLog log, string baseImage, string output)
    {
        _log = log;
        _baseImage = baseImage;
        Output = output;
        _logFile = File.OpenHandle(log.Path);
        _disk = File.OpenHandle(output, FileMode.Open, FileAccess.ReadWrite);
        _diskLength = RandomAccess.GetLength(_disk);
    }

    public string Output { get; }

    /// <summary>The last entry applied (-1: none, the disk as the log found it).</summary>
    public long Applied { get; private set; } = -1;

    /// <summary>Applies the entries after <see cref="Applied"/> up to <paramref name="entry"/> (a replay only goes forward).</summary>
    public void ApplyThrough(long entry)
    {
        if (entry < Applied || entry >= _log.Entries.Count)
            throw new ArgumentOutOfRangeException(nameof(entry), $"write log {_log.Path}: cannot replay to entry {entry} (entries 0 to {_log.Entries.Count - 1}; {Applied} already applied, a replay only goes forward)");
        for (long i = Applied + 1; i <= entry; i++)
        {
            var e = _log.Entries[(int)i];
            bool discard = (e.Flags & WriteLogFlags.Discard) != 0;
            if (e.IsWrite || (discard && e.Sectors > 0))
            {
                long offset = checked((long)e.Sector * _log.SectorSize), bytes = checked((long)e.Sectors * _log.SectorSize);
                if (offset + bytes > _diskLength)
                    throw new InvalidDataException($"write log {_log.Path}: entry {i} writes bytes {offset}..{offset + bytes}, past the end of {_baseImage} ({_diskLength} bytes): not the disk this log was recorded on");
                for (long done = 0; done < bytes;)
                {
                    int n = (int)Math.Min(_buffer.Length, bytes - done);
                    if (discard) Array.Clear(_buffer, 0, n);
                    else if (RandomAccess.Read(_logFile, _buffer.AsSpan(0, n), e.DataOffset + done) != n)
                        throw new InvalidDataException($"write log {_log.Path}: entry {i}'s data ends early");
                    RandomAccess.Write(_disk, _buffer.AsSpan(0, n), offset + done);
                    done += n;
                }
            }
            Applied = i;
        }
    }

    public void Dispose()
    {
        RandomAccess.FlushToDisk(_disk);
        _disk.Dispose();
        _logFile.Dispose();
    }
}
