namespace NativeInit.Core.Platform;

/// <summary>
/// One reservation of address space, far below where the kernel places mappings, out of which the process's page
/// movers (<see cref="PageChunkPool"/>) take their ranges.
///
/// Why: moving pages with mremap(2) leaves the source range unmapped until the mover maps something there again,
/// and in that instant another thread's mmap(2) could be given the address. The kernel gives an mmap without an
/// address the highest free gap below mmap_base (top-down layout), or searches upwards from mmap_base (legacy
/// layout), so a gap tens of gigabytes above address zero is only ever chosen once terabytes of address space above
/// it are full. Every range is also mapped back with MAP_FIXED_NOREPLACE semantics (checked by address on kernels
/// that ignore the flag): if the address was taken after all, the mover fails instead of mapping over it.
///
/// The reservation is PROT_NONE and MAP_NORESERVE: no memory and no commit charge until a range is mapped writable.
/// When no hint is free, or the page move tried once at creation fails (a sandbox may refuse mremap),
/// <see cref="Shared"/> is null and callers go without page moving.
/// </summary>
internal sealed unsafe class AddressArena
{
    private const long Unit = 64 << 10;
    private static readonly long[] Hints = [64L << 30, 160L << 30, 320L << 30];
    private static readonly long[] Sizes = [64L << 30, 8L << 30, 1L << 30];
    private static readonly Lazy<AddressArena?> s_shared = new(Create);

    private readonly byte* _base;
    private readonly long _size;
    private readonly object _lock = new();
    private readonly List<(long Offset, long Length)> _free;

    private AddressArena(byte* b, long size)
    {
        _base = b;
        _size = size;
        _free = [(0, size)];
    }

    /// <summary>The process's arena, or null when none of the low addresses could be reserved.</summary>
    public static AddressArena? Shared => s_shared.Value;

    private static AddressArena? Create()
    {
        // Smaller sizes for processes under an address-space limit (ulimit -v).
        foreach (long size in Sizes)
        {
            foreach (long hint in Hints)
            {
                void* p = Libc.mmap((void*)hint, (nuint)size, Libc.PROT_NONE,
                    Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE | Libc.MAP_FIXED_NOREPLACE, -1, 0);
                if (p == Libc.MAP_FAILED) continue;
                if (p == (void*)hint)
                {
                    var arena = new AddressArena((byte*)p, size);
                    if (arena.CanMovePages()) return arena;
                    _ = Libc.munmap(p, (nuint)size);
                    return null;
                }
                _ = Libc.munmap(p, (nuint)size);
            }
        }
        return null;
    }

    /// <summary>Moves a page once, as the page movers will (a sandbox may refuse mremap): false if anything fails.</summary>
    private bool CanMovePages()
    {
        try
        {
            byte* a = Take(2 * Unit);
            *a = 0x5A;
            if (Libc.mremap(a, (nuint)Unit, (nuint)Unit, Libc.MREMAP_MAYMOVE | Libc.MREMAP_FIXED, a + Unit) == Libc.MAP_FAILED)
                return false;
            Refill(a, Unit, Libc.PROT_READ | Libc.PROT_WRITE);
            bool moved = a[Unit] == 0x5A && *a == 0;
            Give(a, 2 * Unit);
            return moved;
        }
        catch (NativeInitException)
        {
            return false;
        }
    }

    /// <summary>A range of at least <paramref name="bytes"/>, mapped readable and writable (no memory until
    /// written).</summary>
    public byte* Take(long bytes)
    {
        long len = (bytes + Unit - 1) / Unit * Unit;
        byte* p = null;
        lock (_lock)
        {
            for (int i = 0; i < _free.Count; i++)
            {
                var (off, flen) = _free[i];
                if (flen < len) continue;
                if (flen == len) _free.RemoveAt(i);
                else _free[i] = (off + len, flen - len);
                p = _base + off;
                break;
            }
        }
        if (p is null) throw new NativeInitException($"out of reserved address space for {ByteSize.Format(bytes)} of decoder memory");
        Map(p, len, Libc.PROT_READ | Libc.PROT_WRITE);
        return p;
    }

    /// <summary>Gives back a range from <see cref="Take"/> (its memory is freed, whatever was moved into it).</summary>
    public void Give(byte* p, long bytes)
    {
        long len = (bytes + Unit - 1) / Unit * Unit;
        Map(p, len, Libc.PROT_NONE);
        long off = p - _base;
        lock (_lock)
        {
            int i = 0;
            while (i < _free.Count && _free[i].Offset < off) i++;
            _free.Insert(i, (off, len));
            // Merge with the neighbours.
            if (i + 1 < _free.Count && _free[i].Offset + _free[i].Length == _free[i + 1].Offset)
            {
                _free[i] = (_free[i].Offset, _free[i].Length + _free[i + 1].Length);
                _free.RemoveAt(i + 1);
            }
            if (i > 0 && _free[i - 1].Offset + _free[i - 1].Length == _free[i].Offset)
            {
                _free[i - 1] = (_free[i - 1].Offset, _free[i - 1].Length + _free[i].Length);
                _free.RemoveAt(i);
            }
        }
    }

    /// <summary>Maps fresh memory over a range of the arena that is ours (MAP_FIXED replaces our own mapping).</summary>
    private static void Map(byte* p, long len, int prot)
    {
        void* r = Libc.mmap(p, (nuint)len, prot, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE | Libc.MAP_FIXED, -1, 0);
        if (r == Libc.MAP_FAILED) PosixError.Throw("mmap", $"{ByteSize.Format(len)} of decoder memory");
    }

    /// <summary>Maps fresh memory where a range was just moved away (a gap for an instant): only if the address is
    /// still free, so a mapping some other thread was given there is never replaced.</summary>
    public static void Refill(byte* p, long len, int prot)
    {
        void* r = Libc.mmap(p, (nuint)len, prot, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE | Libc.MAP_FIXED_NOREPLACE, -1, 0);
        if (r == p) return;
        int errno = PosixError.Last;
        if (r != Libc.MAP_FAILED) _ = Libc.munmap(r, (nuint)len);
        throw new PosixException("mmap", "decoder memory: the address was taken by another mapping", r == Libc.MAP_FAILED ? errno : PosixError.EEXIST);
    }
}
