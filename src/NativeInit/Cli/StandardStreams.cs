using System.Text;
using NativeInit.Core.Platform;

namespace NativeInit.Cli;

/// <summary>
/// Standard output and error as plain write(2) streams on descriptors 1 and 2. System.Console initialises the
/// terminal the first time it writes to one (it sends the keypad-transmit sequence ESC[?1h ESC= to a TTY), which shows
/// up as garbage on a serial console and in the output of every command run on a terminal; a FileStream would keep its
/// own file position and overwrite the other stream's output when both share one file.
/// Messages (<see cref="CreateMessageWriter"/>) are best-effort: a hung-up terminal, a closed pipe, a full disk or a
/// closed descriptor stops the printing, never the work (issue 18). Data (<see cref="OpenOutput"/>, what
/// `decompress -o -` writes) is strict: a failed write is an error of the command.
/// </summary>
internal static class StandardStreams
{
    /// <summary>Standard output for data: a failed write throws (EPIPE excepted).</summary>
    public static Stream OpenOutput() => new DescriptorWriteStream(1);

    /// <summary>A best-effort text writer on descriptor 1 or 2.</summary>
    public static TextWriter CreateMessageWriter(int fd) => CreateWriter(new DescriptorWriteStream(fd, bestEffort: true));

    public static TextWriter CreateWriter(Stream stream) =>
        new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 4096) { AutoFlush = true };
}
