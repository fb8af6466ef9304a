using System.Diagnostics;
using Microsoft.Win32.SafeHandles;
using NativeInit.Core.Archive.Xz;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Archive;

/// <summary>What <see cref="Decompression.Run"/> reports.</summary>
public sealed class DecompressionReport
{
    public required CompressionFormat Format { get; init; }
    /// <summary>Bytes written (uncompressed).</summary>
    public long OutputBytes { get; init; }
    /// <summary>From opening the input to the last byte written.</summary>
    public TimeSpan Wall { get; init; }
}

/// <summary>
/// `nativeinit decompress` without the CLI: decodes an .xz or .zst file (told by its magic bytes, not its name) to a
/// file or standard output, verifying every check. A decode that fails removes the output file it created.
/// </summary>
public static class Decompression
{
    private const int BufferSize = 256 << 10;

    /// <param name="input">A file, or "-" for standard input.</param>
    /// <param name="output">A file, or null or "-" for standard output.</param>
    /// <exception cref="RefusedException">The input cannot be read, is not xz or zstd, or the output cannot be
    /// opened (nothing written).</exception>
    public static DecompressionReport Run(string input, string? output, DecoderOptions options)
    {
        long start = Stopwatch.GetTimestamp();
        using Stream source = input == "-"
            ? new FileStream(new SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0)
            : OpenInput(input);
        using var decoder = Compression.OpenDetected(source, options, out var format);
        if (format == CompressionFormat.None)
            throw new RefusedException($"input {input}: not an xz or zstd stream (unknown magic bytes{(source.CanSeek && source.Length == 0 ? "; the file is empty" : "")})");

        bool toStdout = output is null or "-";
        Stream sink = toStdout ? new DescriptorWriteStream(1) : OpenOutput(output!);
        long written = 0;
        try
        {
            if (decoder is XzDecoderStream xz)
            {
                // In place: the parallel decoder's bytes go to the output straight from its blocks.
                while (xz.ReadInPlace(BufferSize, out var data) is > 0 and var n)
                {
                    sink.Write(data);
                    written += n;
                }
            }
            else
            {
                written = Copy(decoder, sink);
            }
            sink.Flush();
        }
        catch
        {
            sink.Dispose();
            if (!toStdout) File.Delete(output!);
            throw;
        }
        sink.Dispose();
        return new DecompressionReport { Format = format, OutputBytes = written, Wall = Stopwatch.GetElapsedTime(start) };
    }

    /// <summary>Copies a decoder's output through a buffer (zstd); returns the bytes written.</summary>
    private static long Copy(Stream decoder, Stream sink)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(BufferSize);
        long written = 0;
        while (true)
        {
            int len = decoder.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            if (len == 0) break;
            sink.Write(buffer, 0, len);
            written += len;
            if (len < buffer.Length) break;
        }
        return written;
    }

    private static FileStream OpenInput(string file)
    {
        IoErrors.RequireReadableFile("input", file);
        try
        {
            return new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        }
        catch (Exception e) when (IoErrors.IsFileError(e))
        {
            throw IoErrors.Refuse("input", file, e);
        }
    }

    /// <summary>The output, under a shared flock(2) taken here: an exclusive one would make two decodes to /dev/null at
    /// once (benchmarks side by side) fail. Only a file someone holds an exclusive lock on is refused, in words and
    /// before it is truncated. (The binary turns .NET's own locks off, System.IO.DisableFileLocking, so the lock is
    /// taken here rather than by FileStream.)</summary>
    private static FileStream OpenOutput(string file)
    {
        IoErrors.RequireCreatable("output", file);
        FileStream output;
        try
        {
            output = new FileStream(file, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, 1);
        }
        catch (Exception e) when (IoErrors.IsFileError(e))
        {
            // Where .NET's own locks are on (a test host), its open meets the lock first.
            if (IoErrors.Errno(e, file) == PosixError.EAGAIN)
                throw new RefusedException($"output {file}: another process holds a lock on it (flock; EAGAIN)", e);
            throw IoErrors.Refuse("output", file, e);
        }
        try
        {
            if (!BootCalls.TryLock(output.SafeFileHandle, exclusive: false))
                throw new RefusedException($"output {file}: another process holds a lock on it (flock; EAGAIN)");
            if (PosixPath.IsRegularFile(file)) output.SetLength(0);
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }
}
