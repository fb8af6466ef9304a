namespace NativeInit.Core;

/// <summary>
/// The check on a conversion kernel command line, below both its users: <c>bundle create</c> refuses to sign one, and
/// stage one refuses to put one on a GRUB <c>linux</c> line (Boot/GrubConfig.cs <c>ConversionMenuEntry</c>).
/// </summary>
public static class BootCommandLine
{
    /// <summary>Characters that GRUB's script parser would interpret on a `linux` line (quoting, variables, command
    /// separators, blocks, comments) or that end the line. A kernel command line holding one is refused.</summary>
    public const string UnsafeChars = "\n\r;$`{}|&<>\\'\"#";

    /// <summary>Why <paramref name="commandLine"/> cannot go on a GRUB `linux` line, or null when it can.</summary>
    public static string? Problem(string commandLine)
    {
        int i = commandLine.AsSpan().IndexOfAny(UnsafeChars);
        return i < 0 ? null
            : $"the kernel command line holds '{(commandLine[i] switch { '\n' => "\\n", '\r' => "\\r", var c => c.ToString() })}', which GRUB would interpret: {DisplayText.Of(commandLine)}";
    }
}
