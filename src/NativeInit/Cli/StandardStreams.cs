using System.Text;
using NativeInit.Core.Platform;

namespace NativeInit.Cli;

/// <summary>
/// Standard output and error as plain write(2) streams on descriptors 1 and 2. System.Console initialises the
/// terminal the first time it writes to one (it sends the keypad-transmit sequence ESC[?1h ESC= to a TTY), which shows
/// up as garbage on a serial console and in the output of every command run on a terminal; a FileStream would keep its
/// own file position and overwrite the other stream's output when both share one file.
/// </summary>
internal static class StandardStreams
{
    public static Stream OpenOutput() => Open(1);

    public static Stream OpenError() => Open(2);

    public static TextWriter CreateWriter(Stream stream) =>
        new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 4096) { AutoFlush = true };

    private static DescriptorWriteStream Open(int fd) => new(fd);
}
