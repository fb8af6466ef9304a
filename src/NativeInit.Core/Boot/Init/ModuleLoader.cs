using System.IO.Compression;
using NativeInit.Core.Archive;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Boot.Init;

/// <summary>Loads kernel modules and what they need, in the order <see cref="ModuleIndex"/> resolves, without modprobe.</summary>
public static class ModuleLoader
{
    /// <summary>Loads <paramref name="names"/> from <paramref name="index"/>; returns how many were loaded now
    /// (modules present already are skipped). Compressed modules (.ko.xz, .ko.zst, .ko.gz) are decompressed in
    /// memory and given to init_module: finit_module only takes compressed files from kernel 5.17 on.</summary>
    public static int Load(ModuleIndex index, IEnumerable<string> names, Action<string> log, bool optional = false)
    {
        int loaded = 0;
        foreach (var relative in index.Resolve(names, optional))
        {
            string name = ModuleIndex.NameOf(relative);
            if (Directory.Exists("/sys/module/" + name) && File.Exists($"/sys/module/{name}/initstate")) continue;
            string path = Path.Combine(index.Directory, relative);
            try
            {
                bool now = relative.EndsWith(".ko", StringComparison.Ordinal)
                    ? BootCalls.LoadModule(path)
                    : BootCalls.LoadModuleImage(Decompress(path), path);
                if (now) { loaded++; log($"loaded {name}"); }
            }
            // One module that does not load (crc32c-intel on a CPU without SSE4.2: ENODEV) must not stop the
            // others; a module that needed it fails on its own and is reported the same way.
            catch (PosixException e) { log($"module {name}: {e.Message}"); }
        }
        return loaded;
    }

    public static byte[] Decompress(string path)
    {
        using var file = File.OpenRead(path);
        using var output = new MemoryStream();
        if (path.EndsWith(".gz", StringComparison.Ordinal))
        {
            using var gz = new GZipStream(file, CompressionMode.Decompress);
            gz.CopyTo(output);
            return output.ToArray();
        }
        Span<byte> head = stackalloc byte[Compression.MagicLength];
        int n = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        file.Position = 0;
        var format = Compression.Detect(head[..n]);
        if (format == CompressionFormat.None) throw new InvalidDataFormatException($"{path}: neither xz, zstd nor gzip");
        using var decoder = Compression.OpenDecoder(file, format, new DecoderOptions { Threads = 1 });
        decoder.CopyTo(output);
        return output.ToArray();
    }
}
