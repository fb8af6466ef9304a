namespace NativeInit.Core.Platform;

/// <summary>
/// A fixed amount of physical memory, in chunks of <see cref="ChunkSize"/> bytes (a power of two, at least the page
/// size), lent to ranges of address space and taken back by moving page tables with mremap(2): no byte is copied and
/// no page is zeroed again, so a decoder can hand the pages its reader has finished with to another block while the
/// first block is still being written, and still see every block as one flat buffer.
///
/// Every range (the parking places of free chunks, the ranges chunks are lent to) lies in the process's
/// <see cref="AddressArena"/>. <see cref="Lend"/> moves a parked chunk over a chunk-sized piece of a range from
/// <see cref="TakeRange"/> (replacing the empty mapping there) and leaves an inaccessible mapping at its parking
/// place; <see cref="TakeBack"/> moves it home and maps fresh, empty memory in its place, so a stray access to a range
/// whose chunk was taken back reads zeros instead of faulting. A chunk becomes resident when first written and stays
/// resident while it circulates: the resident memory of the pool is at most <see cref="Capacity"/> chunks.
///
/// If the address of a moved chunk was taken by another mapping in between (see <see cref="AddressArena"/>), the
/// pool is <see cref="Broken"/>: the call throws, and nothing of the pool is unmapped afterwards (it could be
/// someone else's). Not thread-safe: the owner serialises calls.
/// </summary>
internal sealed unsafe class PageChunkPool : IDisposable
{
    /// <summary>The largest chunk: 1 MiB.</summary>
    public const int MaxChunkSize = 1 << 20;

    private readonly AddressArena _arena;
    private readonly List<(nint Base, long Bytes)> _parking = [];
    private nint[] _full = [];   // parking places holding a chunk
    private nint[] _empty = [];  // parking places whose chunk is lent out
    private int _fullCount, _emptyCount;
    private bool _disposed;

    /// <param name="chunkSize">A power of two from the page size to <see cref="MaxChunkSize"/>.</param>
    public PageChunkPool(AddressArena arena, int chunkSize, int chunks)
    {
        if (chunkSize < Environment.SystemPageSize || chunkSize > MaxChunkSize || (chunkSize & (chunkSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "not a power of two from the page size to 1 MiB");
        _arena = arena;
        ChunkSize = chunkSize;
        Grow(chunks);
    }

    public int ChunkSize { get; }

    /// <summary>Chunks the pool owns (lent or parked).</summary>
    public int Capacity { get; private set; }

    /// <summary>Chunks parked, ready to lend.</summary>
    public int Available => _fullCount;

    /// <summary>An address was lost to another mapping: nothing may be unmapped any more.</summary>
    public bool Broken { get; private set; }

    /// <summary>Adds <paramref name="chunks"/> chunks (address space only until they are first written).</summary>
    public void Grow(int chunks)
    {
        if (chunks <= 0) return;
        long bytes = (long)chunks * ChunkSize;
        nint area = (nint)_arena.Take(bytes);
        _parking.Add((area, bytes));
        Array.Resize(ref _full, Capacity + chunks);
        Array.Resize(ref _empty, Capacity + chunks);
        for (int i = chunks - 1; i >= 0; i--) _full[_fullCount++] = area + (nint)i * ChunkSize;
        Capacity += chunks;
    }

    /// <summary>A range for chunks to be lent to: empty memory (a page appears where it is written).</summary>
    public byte* TakeRange(long bytes) => _arena.Take(bytes);

    /// <summary>Gives back a range from <see cref="TakeRange"/>; chunks still lent to it are lost with it (the
    /// pool's capacity is not reduced: do this only after taking them back, or when disposing).</summary>
    public void GiveRange(byte* p, long bytes)
    {
        if (!Broken) _arena.Give(p, bytes);
    }

    /// <summary>Backs [<paramref name="dst"/>, +ChunkSize) of a range with a parked chunk.</summary>
    public void Lend(byte* dst)
    {
        if (_fullCount == 0) throw new InvalidOperationException("no chunk is parked");
        nint from = _full[--_fullCount];
        Move((byte*)from, dst);
        _empty[_emptyCount++] = from;
        // Keep the parking place reserved (inaccessible, no memory) so the chunk can come home to it.
        Refill((byte*)from, Libc.PROT_NONE);
    }

    /// <summary>Parks the chunk backing [<paramref name="src"/>, +ChunkSize) and leaves empty memory there.</summary>
    public void TakeBack(byte* src)
    {
        if (_emptyCount == 0) throw new InvalidOperationException("no chunk is lent");
        nint home = _empty[--_emptyCount];
        Move(src, (byte*)home);
        _full[_fullCount++] = home;
        Refill(src, Libc.PROT_READ | Libc.PROT_WRITE);
    }

    private void Refill(byte* at, int prot)
    {
        try
        {
            AddressArena.Refill(at, ChunkSize, prot);
        }
        catch
        {
            Broken = true;
            throw;
        }
    }

    private void Move(byte* from, byte* to)
    {
        void* p = Libc.mremap(from, (nuint)ChunkSize, (nuint)ChunkSize, Libc.MREMAP_MAYMOVE | Libc.MREMAP_FIXED, to);
        if (p == Libc.MAP_FAILED) PosixError.Throw("mremap", "a decoder memory chunk");
    }

    /// <summary>Gives back the parking areas (chunks still lent are freed with the ranges they were lent to).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var (b, bytes) in _parking) GiveRange((byte*)b, bytes);
        _parking.Clear();
    }
}
