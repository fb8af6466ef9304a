using System.Buffers;
using System.Text.Json;

namespace NativeInit.Core;

/// <summary>One JSON document as UTF-8 bytes ending in a newline: the files NativeInit writes (manifest.json,
/// carry.json, undo.json) and every command's --json output are made this way.</summary>
public static class JsonText
{
    public static byte[] ToUtf8(Action<Utf8JsonWriter> write, bool indented = true)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented })) write(json);
        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
