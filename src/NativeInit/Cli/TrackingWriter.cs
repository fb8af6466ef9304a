using System.Text;

namespace NativeInit.Cli;

/// <summary>Passes everything to the inner writer and remembers whether anything was written.</summary>
internal sealed class TrackingWriter(TextWriter inner) : TextWriter
{
    public bool Written { get; private set; }

    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value) { Written = true; inner.Write(value); }

    public override void Write(string? value)
    {
        if (!string.IsNullOrEmpty(value)) Written = true;
        inner.Write(value);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        if (count > 0) Written = true;
        inner.Write(buffer, index, count);
    }

    public override void Write(ReadOnlySpan<char> buffer)
    {
        if (!buffer.IsEmpty) Written = true;
        inner.Write(buffer);
    }

    public override void WriteLine(string? value) { Written = true; inner.WriteLine(value); }

    public override void WriteLine() { Written = true; inner.WriteLine(); }

    public override void Flush() => inner.Flush();
}
