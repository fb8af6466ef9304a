using System.Diagnostics;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace NativeInit.Core.Archive;

/// <summary>How the bundle's rootfs archive is compressed when NativeInit writes it (vendor side).</summary>
public sealed record EncoderOptions
{
    /// <summary>zstd level (1..22; default 12, the level measured in BRIEF.md) or xz preset (0..9; default 6).</summary>
    public int? Level { get; init; }

    /// <summary>xz block size: each block is independent, so decoders can work on several at once (xz -T, and a flat
    /// per-block buffer). 24 MiB is xz -6's own threaded default (3 × the 8 MiB dictionary).</summary>
    public long XzBlockSize { get; init; } = 24L << 20;

    /// <summary>The xz program; the host's xz is the fastest multi-threaded LZMA2 encoder at hand.</summary>
    public string XzProgram { get; init; } = "xz";
}

/// <summary>
/// Opens a compressing write stream. zstd through ZstdSharp's CompressionStream (single-threaded, deterministic;
/// content checksum on). xz through the host's <c>xz -T0 --block-size=N</c> as a child process fed on its standard
/// input: with a fixed block size xz's multi-threaded output does not depend on the thread count, so it is
/// reproducible. Dispose the returned stream to finish; it throws when the encoder failed.
/// </summary>
public static class ArchiveEncoder
{
    public static Stream Open(Stream output, CompressionFormat format, EncoderOptions options) => format switch
    {
        CompressionFormat.None => new NonClosingStream(output),
        CompressionFormat.Zstd => OpenZstd(output, options),
        CompressionFormat.Xz => new XzProcessStream(output, options),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public static string Extension(CompressionFormat format) => format switch
    {
        CompressionFormat.Zstd => ".tar.zst",
        CompressionFormat.Xz => ".tar.xz",
        _ => ".tar",
    };

    private static Stream OpenZstd(Stream output, EncoderOptions options)
    {
        var s = new CompressionStream(output, Math.Clamp(options.Level ?? 12, 1, 22), bufferSize: 1 << 20, leaveOpen: true);
        s.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        return s;
    }

    /// <summary>Writes go to xz's standard input; a thread copies xz's standard output to the destination.</summary>
    private sealed class XzProcessStream : Stream
    {
        private readonly Process _process;
        private readonly Stream _stdin;
        private readonly Thread _pump;
        private readonly Stream _destination;
        private Exception? _pumpError;
        private readonly System.Text.StringBuilder _stderr = new();
        private bool _done;

        public XzProcessStream(Stream destination, EncoderOptions options)
        {
            _destination = destination;
            var psi = new ProcessStartInfo(options.XzProgram)
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var a in new[] { "-z", "-c", "-q", "-T0", $"-{Math.Clamp(options.Level ?? 6, 0, 9)}",
                         $"--block-size={options.XzBlockSize}", "--check=crc64" })
                psi.ArgumentList.Add(a);
            try
            {
                _process = Process.Start(psi) ?? throw new NativeInitException($"cannot start {options.XzProgram}");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new NativeInitException($"cannot start '{options.XzProgram}' (is xz installed?): {e.Message}", ExitCodes.Failure, e);
            }
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
            _process.BeginErrorReadLine();
            _stdin = _process.StandardInput.BaseStream;
            var stdout = _process.StandardOutput.BaseStream;
            _pump = new Thread(() =>
            {
                try { stdout.CopyTo(_destination, 1 << 20); }
                catch (Exception e) { _pumpError = e; }
            }) { IsBackground = true, Name = "xz output" };
            _pump.Start();
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => _stdin.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            try { _stdin.Write(buffer); }
            catch (IOException e) { Finish(); throw new NativeInitException($"xz stopped reading its input: {e.Message}", ExitCodes.Failure, e); }
        }

        private void Finish()
        {
            if (_done) return;
            _done = true;
            try { _stdin.Dispose(); } catch (IOException) { }
            _pump.Join();
            _process.WaitForExit();
            int rc = _process.ExitCode;
            _process.Dispose();
            if (_pumpError is not null) throw new NativeInitException($"writing xz output: {_pumpError.Message}", ExitCodes.Failure, _pumpError);
            if (rc != 0) throw new NativeInitException($"xz failed with exit code {rc}: {_stderr.ToString().Trim()}");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) Finish();
            base.Dispose(disposing);
        }
    }

    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
        protected override void Dispose(bool disposing) { if (disposing) inner.Flush(); base.Dispose(disposing); }
    }
}
