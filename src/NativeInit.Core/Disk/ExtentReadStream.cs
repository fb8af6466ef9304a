using Microsoft.Win32.SafeHandles;

namespace NativeInit.Core.Disk;

/// <summary>One run of a file on a disk: <see cref="Length"/> bytes at byte <see cref="DiskOffset"/>.</summary>
public readonly record struct DiskRun(long DiskOffset, long Length)
{
    public long End => DiskOffset + Length;
    public bool Overlaps(long offset, long length) => offset < End && DiskOffset < offset + length;

    /// <summary>Writes <paramref name="runs"/> as the array <paramref name="property"/> of
    /// <c>{ "diskOffset", "length" }</c> objects (the journal and the plan write the bundle's runs alike).</summary>
    public static void WriteJsonArray(System.Text.Json.Utf8JsonWriter w, string property, IEnumerable<DiskRun> runs)
    {
        w.WriteStartArray(property);
        foreach (var r in runs)
        {
            w.WriteStartObject();
            w.WriteNumber("diskOffset", r.DiskOffset);
            w.WriteNumber("length", r.Length);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}

/// <summary>
/// A read-only, seekable stream over runs of a raw disk or image file: the bytes of a file read without its file
/// system (stage two reads the staged bundle this way after the old file system's table is gone). The runs are in
/// file order and together are <see cref="Length"/> bytes.
/// </summary>
public sealed class ExtentReadStream : Stream
{
    private readonly SafeFileHandle _disk;
    private readonly bool _ownsHandle;
    private readonly DiskRun[] _runs;
    private readonly long[] _starts;
    private long _position;

    public ExtentReadStream(SafeFileHandle disk, IReadOnlyList<DiskRun> runs, bool ownsHandle = false)
    {
        _disk = disk;
        _ownsHandle = ownsHandle;
        _runs = [.. runs];
        _starts = new long[_runs.Length];
        long at = 0;
        for (int i = 0; i < _runs.Length; i++)
        {
            if (_runs[i].Length <= 0 || _runs[i].DiskOffset < 0) throw new ArgumentException($"run {i}: offset {_runs[i].DiskOffset}, length {_runs[i].Length}");
            _starts[i] = at;
            at += _runs[i].Length;
        }
        Length = at;
    }

    /// <summary>Opens <paramref name="path"/> (disk or image) read-only and reads the runs from it.</summary>
    public static ExtentReadStream Open(string path, IReadOnlyList<DiskRun> runs) =>
        new(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite), runs, ownsHandle: true);

    public IReadOnlyList<DiskRun> Runs => _runs;
    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length { get; }
    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || _position >= Length) return 0;
        int i = Array.BinarySearch(_starts, _position);
        if (i < 0) i = ~i - 1;
        long within = _position - _starts[i];
        int want = (int)Math.Min(buffer.Length, _runs[i].Length - within);
        int n = RandomAccess.Read(_disk, buffer[..want], _runs[i].DiskOffset + within);
        if (n <= 0) throw new EndOfStreamException($"disk ends inside run {i} (byte {_runs[i].DiskOffset + within})");
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => Length + offset,
        };
        return _position;
    }

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsHandle) _disk.Dispose();
        base.Dispose(disposing);
    }
}
