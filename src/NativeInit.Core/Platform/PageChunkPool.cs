namespace NativeInit.Core.Platform;

/// <summary>
/// A fixed amount of physical memory, in chunks of <see cref="ChunkSize"/> bytes (a power of two, at least the page
/// size), lent to ranges of address space and taken back by moving page tables with mremap(2): no byte is copied and
/// no page is zeroed again, so a decoder can hand the pages its reader has finished with to another block while the
/// first block is still being written, and still see every block as one flat buffer.
///
/// Every range (the parking places the chunks start in, the ranges chunks are lent to) lies in the process's
/// <see cref="AddressArena"/>. A chunk taken back stays where it is, only counted free (no system call):
/// <see cref="Lend"/> takes the free chunk already at that address if there is one (again no system call), else
/// moves the one freed last over the chunk-sized piece of a range from <see cref="TakeRange"/> (replacing the empty
/// mapping there). Its old place is left as empty memory: by the move itself where the kernel has MREMAP_DONTUNMAP
/// (Linux 5.7; one system call a move), else by mapping it again (two; kernel 3.10). So a stray access to a range
/// whose chunk went elsewhere reads zeros instead of faulting; where a chunk was only taken back, it reads what was
/// written there. A chunk becomes resident when first written and stays resident while it circulates: the resident
/// memory of the pool is at most <see cref="Capacity"/> chunks, and since the chunk freed last is lent first, only
/// as many chunks as were ever lent at once.
///
/// Measured (681 MB of tar in 28 blocks of 24 MiB, two workers): 1491 mremap and 1520 mmap calls per decode
/// before, when every chunk taken back moved to a parking place; 640 and 30 now.
///
/// If the address of a moved chunk was taken by another mapping in between (see <see cref="AddressArena"/>), the
/// pool is <see cref="Broken"/>: the call throws, and nothing of the pool is unmapped afterwards (it could be
/// someone else's). Not thread-safe: the owner serialises calls.
/// </summary>
internal sealed unsafe class PageChunkPool : IDisposable
{
    /// <summary>The largest chunk: 1 MiB.</summary>
    public const int MaxChunkSize = 1 << 20;

    /// <summary>linux/mman.h; EINVAL before Linux 5.7.</summary>
    private const int MREMAP_DONTUNMAP = 4;
    private static volatile bool s_noDontUnmap;

    /// <summary>For the tests: move as on a kernel without MREMAP_DONTUNMAP (move, then map the old place again).</summary>
    internal static bool WithoutDontUnmap
    {
        get => s_noDontUnmap;
        set => s_noDontUnmap = value;
    }

    private readonly AddressArena _arena;
    private readonly List<(nint Base, long Bytes)> _parking = [];
    private nint[] _free = [];   // where the free chunks are (parking places, or where they were taken back), freed last on top
    private readonly Dictionary<nint, int> _freeAt = []; // address of a free chunk → its index in _free
    private int _freeCount;
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

    /// <summary>Chunks the pool owns (lent or free).</summary>
    public int Capacity { get; private set; }

    /// <summary>Chunks free, ready to lend.</summary>
    public int Available => _freeCount;

    /// <summary>An address was lost to another mapping: nothing may be unmapped any more.</summary>
    public bool Broken { get; private set; }

    /// <summary>Adds <paramref name="chunks"/> chunks (address space only until they are first written).</summary>
    public void Grow(int chunks)
    {
        if (chunks <= 0) return;
        long bytes = (long)chunks * ChunkSize;
        nint area = (nint)_arena.Take(bytes);
        _parking.Add((area, bytes));
        Array.Resize(ref _free, Capacity + chunks);
        _freeAt.EnsureCapacity(Capacity + chunks);
        for (int i = chunks - 1; i >= 0; i--) PushFree(area + (nint)i * ChunkSize);
        Capacity += chunks;
    }

    /// <summary>A range for chunks to be lent to: empty memory (a page appears where it is written).</summary>
    public byte* TakeRange(long bytes) => _arena.Take(bytes);

    /// <summary>Gives back a range from <see cref="TakeRange"/>. The free chunks that were taken back in it move to
    /// empty parking places first; chunks still lent to it are lost with it (the pool's capacity is not reduced: do
    /// this only after taking them back, or when disposing).</summary>
    public void GiveRange(byte* p, long bytes)
    {
        if (Broken) return;
        nint lo = (nint)p, hi = (nint)(p + bytes);
        // A parking place holds a free chunk or nothing (a chunk leaves it only to be lent), and there are as many
        // empty ones as chunks away from them, so every free chunk here finds one.
        using var homes = EmptyParkingPlaces().GetEnumerator();
        for (int i = 0; i < _freeCount; i++)
        {
            nint at = _free[i];
            if (at < lo || at >= hi) continue;
            if (!homes.MoveNext()) throw new InvalidOperationException("no empty parking place");
            nint home = homes.Current;
            Move((byte*)at, (byte*)home, refillSource: false);
            _freeAt.Remove(at);
            _free[i] = home;
            _freeAt[home] = i;
        }
        _arena.Give(p, bytes);
    }

    /// <summary>Backs [<paramref name="dst"/>, +ChunkSize) of a range with a free chunk: the one still there if it
    /// was taken back there, else the one freed last.</summary>
    public void Lend(byte* dst)
    {
        if (_freeCount == 0) throw new InvalidOperationException("no chunk is free");
        if (_freeAt.Remove((nint)dst, out int at))
        {
            nint top = _free[--_freeCount];
            if (at != _freeCount)
            {
                _free[at] = top;
                _freeAt[top] = at;
            }
            return;
        }
        nint from = _free[--_freeCount];
        _freeAt.Remove(from);
        Move((byte*)from, dst, refillSource: true);
    }

    /// <summary>Counts the chunk backing [<paramref name="src"/>, +ChunkSize) free; it stays there until lent.</summary>
    public void TakeBack(byte* src)
    {
        if (_freeCount == Capacity) throw new InvalidOperationException("no chunk is lent");
        if (_freeAt.ContainsKey((nint)src)) throw new InvalidOperationException("the chunk there is free already");
        PushFree((nint)src);
    }

    private void PushFree(nint at)
    {
        _freeAt[at] = _freeCount;
        _free[_freeCount++] = at;
    }

    private IEnumerable<nint> EmptyParkingPlaces()
    {
        foreach (var (b, bytes) in _parking)
            for (nint at = b; at < b + (nint)bytes; at += ChunkSize)
                if (!_freeAt.ContainsKey(at)) yield return at;
    }

    /// <summary>Moves a chunk's pages; with <paramref name="refillSource"/> its old place is left as empty memory
    /// (reserved, so no other mapping can take the address).</summary>
    private void Move(byte* from, byte* to, bool refillSource)
    {
        if (refillSource && !s_noDontUnmap)
        {
            if (Libc.mremap(from, (nuint)ChunkSize, (nuint)ChunkSize, Libc.MREMAP_MAYMOVE | Libc.MREMAP_FIXED | MREMAP_DONTUNMAP, to) != Libc.MAP_FAILED)
                return;
            if (PosixError.Last != PosixError.EINVAL) PosixError.Throw("mremap", "a decoder memory chunk");
            s_noDontUnmap = true;
        }
        void* p = Libc.mremap(from, (nuint)ChunkSize, (nuint)ChunkSize, Libc.MREMAP_MAYMOVE | Libc.MREMAP_FIXED, to);
        if (p == Libc.MAP_FAILED) PosixError.Throw("mremap", "a decoder memory chunk");
        if (!refillSource) return;
        try
        {
            AddressArena.Refill(from, ChunkSize, Libc.PROT_READ | Libc.PROT_WRITE);
        }
        catch
        {
            Broken = true;
            throw;
        }
    }

    /// <summary>Gives back the parking areas (chunks still lent, or free in other ranges, are freed with the ranges
    /// they are in).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!Broken) foreach (var (b, bytes) in _parking) _arena.Give((byte*)b, bytes);
        _parking.Clear();
    }
}
