using System.Text;
using Microsoft.Win32.SafeHandles;

namespace NativeInit.Cli;

/// <summary>
/// Standard output and error as plain file streams on descriptors 1 and 2. System.Console initialises the terminal
/// the first time it writes to one (it sends the keypad-transmit sequence ESC[?1h ESC= to a TTY), which shows up as
/// garbage on a serial console and in the output of every command run on a terminal; a FileStream over the
/// descriptor writes exactly the bytes it is given.
/// </summary>
internal static class StandardStreams
{
    public static Stream OpenOutput() => Open(1);

    public static Stream OpenError() => Open(2);

    public static TextWriter CreateWriter(Stream stream) =>
        new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 4096) { AutoFlush = true };

    private static FileStream Open(int fd) =>
        new(new SafeFileHandle(fd, ownsHandle: false), FileAccess.Write, bufferSize: 0);
}
