using System.Globalization;
using System.Text;

namespace NativeInit.Core;

/// <summary>
/// Makes a name that came from outside (an archive entry, a partition or LV name, a label, a manifest field) safe to
/// print on an operator's terminal: no byte of the result can move the cursor, change colours, erase a line or fake
/// a line of its own. Bytes that are not valid UTF-8 come out as <c>\xNN</c> (never U+FFFD, which would hide what
/// they were); control characters (C0, DEL, C1) as <c>\xNN</c>; invisible format characters (bidi overrides, zero
/// width) as <c>\u{XXXX}</c>; a backslash as <c>\\</c>, so the escaped form is unambiguous.
/// </summary>
public static class DisplayText
{
    /// <summary>The printable form of raw bytes (UTF-8 where valid).</summary>
    public static string Of(ReadOnlySpan<byte> bytes)
    {
        if (IsPlainAscii(bytes)) return Encoding.ASCII.GetString(bytes);
        var sb = new StringBuilder(bytes.Length + 16);
        while (!bytes.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(bytes, out Rune rune, out int consumed);
            if (status != System.Buffers.OperationStatus.Done)
            {
                // Invalid or truncated sequence: escape the bytes the decoder could not use, one by one.
                for (int i = 0; i < Math.Max(consumed, 1); i++) AppendByte(sb, bytes[i]);
                bytes = bytes[Math.Max(consumed, 1)..];
                continue;
            }
            AppendRune(sb, rune);
            bytes = bytes[consumed..];
        }
        return sb.ToString();
    }

    /// <summary>The printable form of a string (unpaired surrogates escaped as <c>\u{XXXX}</c>).</summary>
    public static string Of(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        bool plain = true;
        foreach (char c in text)
        {
            if (c < 0x20 || c >= 0x7f || c == '\\') { plain = false; break; }
        }
        if (plain) return text;
        var sb = new StringBuilder(text.Length + 16);
        for (int i = 0; i < text.Length;)
        {
            if (Rune.TryGetRuneAt(text, i, out Rune rune))
            {
                AppendRune(sb, rune);
                i += rune.Utf16SequenceLength;
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{{{(int)text[i]:X4}}}");
                i++;
            }
        }
        return sb.ToString();
    }

    private static bool IsPlainAscii(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            if (b < 0x20 || b >= 0x7f || b == (byte)'\\') return false;
        }
        return true;
    }

    private static void AppendRune(StringBuilder sb, Rune rune)
    {
        if (rune.Value == '\\') { sb.Append(@"\\"); return; }
        var category = Rune.GetUnicodeCategory(rune);
        if (category == UnicodeCategory.Control)
        {
            if (rune.Value <= 0xff) AppendByte(sb, (byte)rune.Value);
            else sb.Append(CultureInfo.InvariantCulture, $"\\u{{{rune.Value:X4}}}");
            return;
        }
        if (category is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\\u{{{rune.Value:X4}}}");
            return;
        }
        sb.Append(rune.ToString());
    }

    private static void AppendByte(StringBuilder sb, byte b) =>
        sb.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
}
