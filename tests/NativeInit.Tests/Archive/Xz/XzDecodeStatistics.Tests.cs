using NativeInit.Core.Archive.Xz;

namespace NativeInit.Tests.Archive.Xz;

/// <summary>The scheduling limit of <see cref="XzDecodeStatistics"/>: workers taking blocks in file order.</summary>
public class XzDecodeStatisticsTests
{
    private static XzDecodeStatistics With(int workers, params double[] seconds)
    {
        var s = new XzDecodeStatistics();
        s.Start(workers, workers + 2);
        // Recorded out of order, as workers finish them; the limit takes them in file order.
        for (int i = seconds.Length - 1; i >= 0; i--)
            s.RecordBlock(i, (long)(seconds[i] * System.Diagnostics.Stopwatch.Frequency));
        return s;
    }

    [Fact]
    public void Eleven_equal_blocks_on_two_workers_need_six_block_times()
    {
        var s = With(2, Enumerable.Repeat(1.0, 11).ToArray());
        Assert.Equal(6.0, s.SchedulingLimit.TotalSeconds, 3);
        Assert.Equal(11, s.BlockTimes.Count);
    }

    [Fact]
    public void Blocks_go_in_file_order_to_the_first_free_worker()
    {
        // 3 and 1 start together; the worker with the 1 takes the next 1 (ends at 2), then the 2 (ends at 4); the
        // other ends the 3 at 3 and takes the last 1 (ends at 4). With the slow block last, file order costs: 1, 1, 3
        // on two workers end at 1 and 4 (a sum of 5: at most 1.25x one worker).
        Assert.Equal(4.0, With(2, 3, 1, 1, 2, 1).SchedulingLimit.TotalSeconds, 3);
        Assert.Equal(4.0, With(2, 1, 1, 3).SchedulingLimit.TotalSeconds, 3);
        Assert.Equal(0.0, With(2).SchedulingLimit.TotalSeconds, 3);
        Assert.Equal(5.0, With(1, 1, 1, 3).SchedulingLimit.TotalSeconds, 3);
    }
}
