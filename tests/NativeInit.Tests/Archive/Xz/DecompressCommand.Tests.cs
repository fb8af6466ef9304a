using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive.Xz;

/// <summary>`nativeinit decompress` through the published binary.</summary>
[Trait("Category", "Integration")]
public class DecompressCommandTests
{
    [SkippableFact]
    public void Decodes_xz_and_zstd_to_a_file_and_to_stdout()
    {
        var bin = Tool.RequireNativeInit();
        Tool.Require("xz", "zstd");
        using var dir = new TempDir();
        var data = XzTest.Sample(400_000, 4);
        string plain = dir.Combine("data");
        File.WriteAllBytes(plain, data);
        Tool.Sh($"xz -6 -T2 --block-size=100000 -kc {plain} > {plain}.xz && zstd -q -3 -c {plain} > {plain}.zst");
        foreach (var ext in new[] { "xz", "zst" })
        {
            string output = dir.Combine("out-" + ext);
            var r = Tool.Run(bin, "decompress", $"{plain}.{ext}", "-o", output, "--threads", "2");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal(data, File.ReadAllBytes(output));
            // Standard input to standard output.
            Tool.Sh($"{Tool.Quote(bin)} decompress - < {plain}.{ext} > {output}.2 && cmp {output}.2 {plain}");
        }
    }

    [SkippableFact]
    public void Corrupt_input_fails_and_leaves_no_output_file()
    {
        var bin = Tool.RequireNativeInit();
        Tool.Require("xz");
        using var dir = new TempDir();
        string plain = dir.Combine("data");
        File.WriteAllBytes(plain, XzTest.Sample(200_000, 8));
        Tool.Sh($"xz -6 -kc {plain} > {plain}.xz");
        var bytes = File.ReadAllBytes(plain + ".xz");
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(plain + ".bad.xz", bytes);
        string output = dir.Combine("out");
        var r = Tool.Run(bin, "decompress", plain + ".bad.xz", "-o", output, "--threads", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("xz:", r.Stderr);
        Assert.False(File.Exists(output));
        var u = Tool.Run(bin, "decompress", plain);
        Assert.NotEqual(0, u.ExitCode);
        Assert.Contains("not an xz or zstd stream", u.Stderr);
    }
}
