using System.Text;
using System.Text.Json;
using NativeInit.Core;

namespace NativeInit.Cli;

/// <summary>How every command prints its --json result: one JSON document, then a newline.</summary>
internal static class JsonOutput
{
    public static void WriteJson(this TextWriter output, Action<Utf8JsonWriter> write, bool indented = true) =>
        output.Write(Encoding.UTF8.GetString(JsonText.ToUtf8(write, indented)));
}
