using System.Buffers;
using System.Text;
using System.Text.Json;

namespace NativeInit.Cli;

/// <summary>How every command prints its --json result: one JSON document, then a newline.</summary>
internal static class JsonOutput
{
    public static void WriteJson(this TextWriter output, Action<Utf8JsonWriter> write, bool indented = true)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented })) write(json);
        output.WriteLine(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }
}
