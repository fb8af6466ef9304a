using NativeInit.Core.Platform;

namespace NativeInit.Tests.Platform;

/// <summary>The page mover under the parallel xz decoder: chunks move between ranges without being copied or
/// zeroed, a chunk taken back stays where it is until it is lent elsewhere (then its old place reads zeros), and a
/// gap is never mapped over once someone else has it.</summary>
public unsafe class PageChunkPoolTests
{
    private const int Chunk = 64 << 10;

    private static AddressArena Arena()
    {
        Skip.If(AddressArena.Shared is null, "no low address space could be reserved in this process");
        return AddressArena.Shared!;
    }

    /// <summary>On the CI machine the arena must be there, or the parallel xz decoder would fall back to one thread
    /// and every test below would skip without anyone noticing.</summary>
    [SkippableFact]
    public void The_arena_is_available_on_the_ci_machine()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("CI") == "true", "only asserted under CI=true");
        Assert.NotNull(AddressArena.Shared);
    }

    [SkippableFact]
    public void The_arena_lies_far_below_where_the_kernel_places_mappings()
    {
        var arena = Arena();
        byte* p = arena.Take(3 * Chunk);
        try
        {
            Assert.InRange((ulong)p, 64UL << 30, (320UL + 64) << 30);
            // The kernel's own choice for a mapping without an address is far above.
            byte* q = (byte*)Libc.mmap(null, Chunk, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            Assert.True((ulong)q > 1UL << 40, $"mmap without a hint gave 0x{(ulong)q:x}");
            _ = Libc.munmap(q, Chunk);
        }
        finally
        {
            arena.Give(p, 3 * Chunk);
        }
        // First fit: the range just given back is the one handed out again.
        byte* again = arena.Take(Chunk);
        Assert.Equal((ulong)p, (ulong)again);
        arena.Give(again, Chunk);
    }

    /// <summary>Both ways of leaving empty memory behind: MREMAP_DONTUNMAP (one call), and as on kernel 3.10 (a move,
    /// then the old place mapped again). The switch is the process's: the other tests' decoders meanwhile take either
    /// way, both of which must work.</summary>
    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Lent_pages_move_with_their_contents_and_leave_zeros_behind(bool withoutDontUnmap)
    {
        bool before = PageChunkPool.WithoutDontUnmap;
        PageChunkPool.WithoutDontUnmap = withoutDontUnmap || before;
        try
        {
            LentPagesMove();
        }
        finally
        {
            PageChunkPool.WithoutDontUnmap = before;
        }
    }

    private static void LentPagesMove()
    {
        using var pool = new PageChunkPool(Arena(), Chunk, 2);
        byte* range = pool.TakeRange(4 * Chunk);
        try
        {
            Assert.Equal(2, pool.Available);
            pool.Lend(range);
            Assert.Equal(1, pool.Available);
            new Span<byte>(range, Chunk).Fill(0xA5);
            pool.TakeBack(range);
            Assert.Equal(2, pool.Available);
            // Taken back, the chunk stays where it is until it is lent elsewhere.
            Assert.True(new ReadOnlySpan<byte>(range, Chunk).IndexOfAnyExcept((byte)0xA5) < 0);
            // Lent elsewhere (the one freed last is the first one lent), it takes what was written with it, and
            // leaves empty memory behind.
            pool.Lend(range + 3 * Chunk);
            Assert.True(new ReadOnlySpan<byte>(range + 3 * Chunk, Chunk).IndexOfAnyExcept((byte)0xA5) < 0);
            Assert.True(new ReadOnlySpan<byte>(range, Chunk).IndexOfAnyExcept((byte)0) < 0);
            pool.TakeBack(range + 3 * Chunk);
            Assert.False(pool.Broken);
        }
        finally
        {
            pool.GiveRange(range, 4 * Chunk);
        }
    }

    /// <summary>Lends the pool's two chunks to the first two chunk places of <paramref name="range"/>, fills them with
    /// <paramref name="a"/> and <paramref name="b"/>, and takes both back (the second one freed last).</summary>
    private static void FillTwoAndTakeThemBack(PageChunkPool pool, byte* range, byte a, byte b)
    {
        pool.Lend(range);
        pool.Lend(range + Chunk);
        new Span<byte>(range, Chunk).Fill(a);
        new Span<byte>(range + Chunk, Chunk).Fill(b);
        pool.TakeBack(range);
        pool.TakeBack(range + Chunk);
    }

    [SkippableFact]
    public void A_chunk_lent_again_where_it_was_taken_back_does_not_move()
    {
        using var pool = new PageChunkPool(Arena(), Chunk, 2);
        byte* range = pool.TakeRange(4 * Chunk);
        try
        {
            FillTwoAndTakeThemBack(pool, range, 1, 2);
            // The chunk at range was not freed last, yet lending range takes it where it is: its bytes are there,
            // and the other chunk stays where it was too.
            pool.Lend(range);
            Assert.Equal(1, pool.Available);
            Assert.True(new ReadOnlySpan<byte>(range, Chunk).IndexOfAnyExcept((byte)1) < 0);
            Assert.True(new ReadOnlySpan<byte>(range + Chunk, Chunk).IndexOfAnyExcept((byte)2) < 0);
            Assert.Throws<InvalidOperationException>(() => pool.TakeBack(range + Chunk));
            pool.TakeBack(range);
            Assert.Equal(2, pool.Available);
        }
        finally
        {
            pool.GiveRange(range, 4 * Chunk);
        }
    }

    [SkippableFact]
    public void Giving_back_a_range_keeps_the_free_chunks_in_it()
    {
        using var pool = new PageChunkPool(Arena(), Chunk, 2);
        byte* first = pool.TakeRange(2 * Chunk);
        FillTwoAndTakeThemBack(pool, first, 7, 8);
        // The range goes (its addresses are unmapped), the chunks freed in it do not: they are parked first.
        pool.GiveRange(first, 2 * Chunk);
        Assert.Equal(2, pool.Available);
        byte* second = pool.TakeRange(2 * Chunk);
        try
        {
            pool.Lend(second);
            pool.Lend(second + Chunk);
            Assert.Equal(0, pool.Available);
            // Both chunks came with their pages (resident memory is not given back and taken anew).
            var a = new ReadOnlySpan<byte>(second, Chunk);
            var b = new ReadOnlySpan<byte>(second + Chunk, Chunk);
            Assert.True((a[0], b[0]) is (8, 7) or (7, 8), $"{a[0]} {b[0]}");
            Assert.True(a.IndexOfAnyExcept(a[0]) < 0 && b.IndexOfAnyExcept(b[0]) < 0);
            pool.TakeBack(second);
            pool.TakeBack(second + Chunk);
            Assert.False(pool.Broken);
        }
        finally
        {
            pool.GiveRange(second, 2 * Chunk);
        }
    }

    [SkippableFact]
    public void A_gap_taken_by_another_mapping_is_never_mapped_over()
    {
        var arena = Arena();
        byte* p = arena.Take(2 * Chunk);
        // Make a gap, then let "someone else" map there (MAP_FIXED, as the test is the only mapper of this range).
        Assert.Equal(0, Libc.munmap(p + Chunk, Chunk));
        void* foreign = Libc.mmap(p + Chunk, Chunk, Libc.PROT_READ | Libc.PROT_WRITE,
            Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_FIXED, -1, 0);
        Assert.Equal((ulong)(p + Chunk), (ulong)foreign);
        p[Chunk] = 42;
        var e = Assert.Throws<PosixException>(() => AddressArena.Refill(p + Chunk, Chunk, Libc.PROT_READ | Libc.PROT_WRITE));
        Assert.Contains("taken by another mapping", e.Message);
        Assert.Equal(42, p[Chunk]);
        // A real gap is refilled with empty memory.
        Assert.Equal(0, Libc.munmap(p + Chunk, Chunk));
        AddressArena.Refill(p + Chunk, Chunk, Libc.PROT_READ | Libc.PROT_WRITE);
        Assert.Equal(0, p[Chunk]);
        arena.Give(p, 2 * Chunk);
    }
}
