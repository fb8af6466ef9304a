using System.Text;
using NativeInit.Core.Boot.Initramfs;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

public class CpioWriterTests
{
    private static byte[] Sample(out byte[] big)
    {
        big = new byte[100_003];
        new Random(5).NextBytes(big);
        using var ms = new MemoryStream();
        using (var w = new CpioWriter(ms, leaveOpen: true))
        {
            w.AddDirectory("dev");
            w.AddDevice("dev/console", block: false, 5, 1);
            w.AddDevice("dev/vda", block: true, 254, 0, 0x1B0);
            w.AddFile("/init", "#!/bin/sh\n"u8, 0x1ED);
            w.AddParents("usr/lib/x86_64-linux-gnu/big.bin");
            w.AddFile("usr/lib/x86_64-linux-gnu/big.bin", big);
            w.AddFile("odd-name-length.txt", "x"u8);
            w.AddSymlink("bin", "usr/bin");
            w.Finish();
        }
        return ms.ToArray();
    }

    [Fact]
    public void Header_fields_are_laid_out_as_the_newc_format_says()
    {
        var a = Sample(out _);
        Assert.Equal(0, a.Length % 4);
        Assert.Equal("070701", Encoding.ASCII.GetString(a, 0, 6));
        string Field(int i) => Encoding.ASCII.GetString(a, 6 + i * 8, 8);
        Assert.Equal("000041ED", Field(CpioWriter.FieldMode));         // directory 0755
        Assert.Equal("00000004", Field(CpioWriter.FieldNameSize));     // "dev" + NUL
        Assert.Equal("dev\0", Encoding.ASCII.GetString(a, 110, 4));
        Assert.EndsWith("TRAILER!!!\0", Encoding.ASCII.GetString(a).TrimEnd('\0') + "\0");
        var e = Assert.Throws<InvalidOperationException>(() =>
        {
            using var w = new CpioWriter(new MemoryStream());
            w.AddFile("a", [1]);
            w.AddFile("/a", [2]);
        });
        Assert.Contains("twice", e.Message);
    }

    [SkippableTheory]
    [Trait("Category", "Integration")]
    [InlineData("cpio")]
    [InlineData("bsdcpio")]
    public void Host_cpio_lists_types_modes_devices_and_symlinks(string program)
    {
        Tool.Require(program);
        using var t = new TempDir();
        File.WriteAllBytes(t.Combine("a.cpio"), Sample(out _));
        var r = Tool.Run("/bin/sh", ["-c", $"{program} -itv --numeric-uid-gid < a.cpio"], workingDirectory: t.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(10, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("crw-------", StringComparison.Ordinal) && l.Contains("5,") && l.EndsWith("dev/console", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("brw-rw----", StringComparison.Ordinal) && l.Contains("254,") && l.EndsWith("dev/vda", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("-rwxr-xr-x", StringComparison.Ordinal) && l.EndsWith(" init", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("lrwxrwxrwx", StringComparison.Ordinal) && l.EndsWith("bin -> usr/bin", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("100003") && l.EndsWith("usr/lib/x86_64-linux-gnu/big.bin", StringComparison.Ordinal));
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Host_cpio_extracts_the_same_bytes()
    {
        Tool.Require("cpio");
        using var t = new TempDir();
        File.WriteAllBytes(t.Combine("a.cpio"), Sample(out var big));
        Directory.CreateDirectory(t.Combine("out"));
        // Device nodes need root to be made; leave them out of the extraction.
        var r = Tool.Run("/bin/sh", ["-c", "cpio -id --quiet --no-absolute-filenames -f 'dev/*' < ../a.cpio"], workingDirectory: t.Combine("out"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(big, File.ReadAllBytes(t.Combine("out", "usr", "lib", "x86_64-linux-gnu", "big.bin")));
        Assert.Equal("#!/bin/sh\n", File.ReadAllText(t.Combine("out", "init")));
        Assert.Equal("usr/bin", new FileInfo(t.Combine("out", "bin")).LinkTarget);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
            UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, File.GetUnixFileMode(t.Combine("out", "init")));
        // Our own reader (used by the builder to check what it wrote) counts what cpio saw.
        File.WriteAllBytes(t.Combine("b.cpio"), Sample(out _));
        Assert.Equal(10, InitramfsBuilder.CountEntries(t.Combine("b.cpio"), compressed: false));
    }
}
