using System.Buffers;

namespace NativeInit.Core.Bundle;

/// <summary>
/// BLAKE3 (the managed SIMD implementation of the Blake3 package) over streams, hex lower-case. Chosen over SHA-256
/// because it is several times faster in managed code (README, "Bundle": measured figures), and stage two hashes the
/// whole bundle again from RAM. Large inputs use the package's multi-threaded tree hashing (UpdateWithJoin), which
/// gives the same digest as a sequential update.
/// </summary>
public static class ContentHash
{
    public const string Algorithm = "blake3";
    public const int HexLength = 64;
    private const int BufferSize = 4 << 20;

    /// <summary>Hashes exactly <paramref name="length"/> bytes (or to the end when null); returns the digest and the
    /// number of bytes read (less than asked when the stream ended early).</summary>
    public static (string Hex, long Read) Hash(Stream s, long? length = null, Action<long>? progress = null)
    {
        using var hasher = Blake3.Hasher.New();
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        long total = 0;
        try
        {
            while (length is null || total < length)
            {
                int want = (int)Math.Min(BufferSize, length is null ? BufferSize : length.Value - total);
                int n = ReadFull(s, buffer.AsSpan(0, want));
                if (n == 0) break;
                if (n >= 1 << 20 && Environment.ProcessorCount > 1) hasher.UpdateWithJoin(buffer.AsSpan(0, n));
                else hasher.Update(buffer.AsSpan(0, n));
                total += n;
                progress?.Invoke(total);
                if (n < want) break;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return (Convert.ToHexStringLower(hasher.Finalize().AsSpan()), total);
    }

    public static (string Hex, long Read) HashFile(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        return Hash(f);
    }

    private static int ReadFull(Stream s, Span<byte> buffer)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = s.Read(buffer[got..]);
            if (n == 0) break;
            got += n;
        }
        return got;
    }
}
