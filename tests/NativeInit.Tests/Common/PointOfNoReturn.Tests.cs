using NativeInit.Core;

namespace NativeInit.Tests.Common;

public class PointOfNoReturnTests
{
    public static TheoryData<Exception> AnyFailure() => new()
    {
        new IOException("short write"),
        new RefusedException("refused too late"),
        new InvalidDataFormatException("bad metadata"),
        new InvalidOperationException("bug"),
    };

    [Theory]
    [MemberData(nameof(AnyFailure))]
    public void Every_failure_inside_becomes_exit_4_with_the_way_on(Exception failure)
    {
        var ex = Assert.Throws<FailedAfterPointOfNoReturnException>(() =>
            PointOfNoReturn.Run("disk.img", "run `nativeinit convert --image disk.img` again to resume", () => throw failure));
        Assert.Equal(ExitCodes.FailedAfterPointOfNoReturn, ex.ExitCode);
        Assert.Same(failure, ex.InnerException);
        Assert.Contains(failure.Message, ex.Message);
        Assert.Contains("disk.img", ex.Message);
        Assert.Contains("to resume", ex.Message);
    }

    [Fact]
    public void Success_returns_the_value_and_nested_marks_do_not_wrap_twice()
    {
        Assert.Equal(7, PointOfNoReturn.Run("a", "b", () => 7));
        var ex = Assert.Throws<FailedAfterPointOfNoReturnException>(() =>
            PointOfNoReturn.Run("outer", "o", () => PointOfNoReturn.Run("inner", "i", (Func<int>)(() => throw new IOException("x")))));
        Assert.Equal("inner", ex.Target);
    }
}
