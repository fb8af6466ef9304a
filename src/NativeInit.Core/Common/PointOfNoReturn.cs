namespace NativeInit.Core;

/// <summary>
/// The point of no return, marked in Core once for every job that writes (STYLE.md example 7): exit code 4 is a
/// promise that the target was partly written and how to go on is known, so it must not depend on which exception
/// type escapes or on which command ran. Everything before <see cref="Run{T}"/> may refuse (exit 3, nothing
/// written); any failure inside it, whatever its type, becomes <see cref="FailedAfterPointOfNoReturnException"/>.
/// </summary>
public static class PointOfNoReturn
{
    /// <summary>Runs the writing part of a job. <paramref name="target"/> names what is being written (a disk, an
    /// image); <paramref name="howToGoOn"/> is the sentence an operator needs next (resume command, journal path).</summary>
    public static T Run<T>(string target, string howToGoOn, Func<T> writes)
    {
        try
        {
            return writes();
        }
        catch (FailedAfterPointOfNoReturnException)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new FailedAfterPointOfNoReturnException(target, howToGoOn, ex);
        }
    }

    /// <inheritdoc cref="Run{T}"/>
    public static void Run(string target, string howToGoOn, Action writes) =>
        Run(target, howToGoOn, () => { writes(); return 0; });
}

/// <summary>A failure after the first write (exit code 4): the message says what failed and how to go on.</summary>
public sealed class FailedAfterPointOfNoReturnException(string target, string howToGoOn, Exception inner)
    : NativeInitException($"{target}: {inner.Message} (after the point of no return: {target} is partly written; " +
        $"{howToGoOn})", ExitCodes.FailedAfterPointOfNoReturn, inner)
{
    /// <summary>What was being written.</summary>
    public string Target { get; } = target;
}
