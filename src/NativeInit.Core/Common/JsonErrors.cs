using System.Text.Json;
using NativeInit.Core.Platform;

namespace NativeInit.Core;

/// <summary>
/// Readable text for a <see cref="JsonException"/>. With <c>UseSystemResourceKeys</c> its message is a resource key
/// plus " LineNumber: 0 | BytePositionInLine: 0."; this gives "not valid JSON at line 1, byte 1: expected start of
/// value not found: '#'" instead (lines and bytes counted from 1, as an editor shows them).
/// </summary>
public static class JsonErrors
{
    public static string Reason(JsonException e)
    {
        string message = e.Message;
        int at = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (at >= 0) message = message[..at];
        if (message.StartsWith("ExpectedJsonTokens", StringComparison.Ordinal) && e.LineNumber is 0 or null && e.BytePositionInLine is 0 or null)
            message = "the file is empty";
        else message = IoErrors.Readable(message.TrimEnd('.', ' '));
        string where = e.LineNumber is { } line
            ? $" at line {line + 1}" + (e.BytePositionInLine is { } b ? $", byte {b + 1}" : "")
            : "";
        if (e.Path is { Length: > 0 } path && path != "$") where += $" ({path})";
        return $"not valid JSON{where}: {message}";
    }
}
