using System.Globalization;
using System.Text.Json;
using NativeInit.Core;
using NativeInit.Core.Archive.Xz;

namespace NativeInit;

/// <summary>The xz decoder's per-thread figures as `decompress --stats` and `extract --stats` print them.</summary>
internal static class XzStatsOutput
{
    public static void WriteText(TextWriter w, XzDecodeStatistics x)
    {
        var inv = CultureInfo.InvariantCulture;
        if (x.Workers == 0)
        {
            w.WriteLine(string.Create(inv, $"xz:            one thread, {x.Blocks} blocks, {x.Wall.TotalSeconds:0.000} s"));
            return;
        }
        w.WriteLine(string.Create(inv,
            $"xz:            {x.Workers} workers, {x.Blocks} blocks ({x.StreamedBlocks} streamed on the dispatcher), {x.Slots} slots, " +
            $"pool {ByteSize.Format(x.PoolBytes)} (at most {ByteSize.Format(x.PeakLentBytes)} lent), {x.Wall.TotalSeconds:0.000} s"));
        foreach (var t in x.Threads)
        {
            string line = t.Name switch
            {
                "dispatcher" => $"reading {S(t.Busy)}; waiting for a free slot {S(t.WaitSlot)}, for memory {S(t.WaitMemory + t.WaitReader)} ({t.MemoryWaits}x)",
                "reader" => $"waiting for the head block's bytes {S(t.WaitData)} ({t.DataWaits}x), for the next block {S(t.WaitBlock)}",
                _ => $"decoding {S(t.Busy)} (CPU {S(t.Cpu)}); waiting for a block {S(t.WaitBlock)}, " +
                     $"for memory behind the head block {S(t.WaitMemory)}, as the head for the reader {S(t.WaitReader)} ({t.MemoryWaits}x)",
            };
            w.WriteLine($"  {t.Name + ":",-12} {line}");
        }
        w.WriteLine(string.Create(inv, $"  cores busy:  {x.WorkerCoresBusy:0.00} (workers' CPU / wall)"));
        var blocks = x.BlockTimes;
        if (blocks.Count > 0)
        {
            double sum = blocks.Sum(b => b.TotalSeconds), limit = x.SchedulingLimit.TotalSeconds;
            w.WriteLine(string.Create(inv,
                $"  blocks:      {blocks.Count} decoded by workers, {sum:0.000} s in all, the longest {blocks.Max().TotalSeconds:0.000} s; " +
                $"taken in file order, {x.Workers} workers need at least {limit:0.000} s (at most {sum / Math.Max(limit, 1e-9):0.00}x one worker)"));
        }
    }

    public static void WriteJson(Utf8JsonWriter j, XzDecodeStatistics x)
    {
        j.WriteStartObject("xz");
        j.WriteNumber("workers", x.Workers);
        j.WriteNumber("blocks", x.Blocks);
        j.WriteNumber("streamed_blocks", x.StreamedBlocks);
        j.WriteNumber("slots", x.Slots);
        j.WriteNumber("pool_bytes", x.PoolBytes);
        j.WriteNumber("peak_lent_bytes", x.PeakLentBytes);
        j.WriteNumber("wall_seconds", R(x.Wall));
        j.WriteNumber("worker_cores_busy", Math.Round(x.WorkerCoresBusy, 3));
        var blocks = x.BlockTimes;
        j.WriteNumber("scheduling_limit_seconds", R(x.SchedulingLimit));
        j.WriteStartArray("block_seconds");
        foreach (var b in blocks) j.WriteNumberValue(R(b));
        j.WriteEndArray();
        j.WriteStartArray("threads");
        foreach (var t in x.Threads)
        {
            j.WriteStartObject();
            j.WriteString("name", t.Name);
            j.WriteNumber("busy_seconds", R(t.Busy));
            j.WriteNumber("cpu_seconds", R(t.Cpu));
            j.WriteNumber("wait_block_seconds", R(t.WaitBlock));
            j.WriteNumber("wait_memory_behind_head_seconds", R(t.WaitMemory));
            j.WriteNumber("wait_memory_as_head_seconds", R(t.WaitReader));
            j.WriteNumber("wait_slot_seconds", R(t.WaitSlot));
            j.WriteNumber("wait_data_seconds", R(t.WaitData));
            j.WriteNumber("memory_waits", t.MemoryWaits);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteEndObject();
    }

    private static string S(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + " s";
    private static double R(TimeSpan t) => Math.Round(t.TotalSeconds, 6);
}
