using NativeInit.Core.Boot.Initramfs;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

[Trait("Category", "Integration")]
public class ElfDependenciesTests
{
    [SkippableTheory]
    [InlineData("mke2fs")]
    [InlineData("mkfs.xfs")]
    [InlineData("ls")]
    public void Interpreter_and_needed_libraries_match_readelf_and_ldd(string program)
    {
        Tool.Require("readelf", "ldd", program);
        string path = InitramfsBuilder.FindProgram(program)!;
        var (interp, needed) = ElfDependencies.Read(path);
        string headers = Tool.Check("readelf", "-lW", path);
        Assert.Contains($"[Requesting program interpreter: {interp}]", headers);
        var expected = Tool.Check("readelf", "-dW", path).Split('\n').Where(l => l.Contains("(NEEDED)"))
            .Select(l => l[(l.IndexOf('[') + 1)..l.IndexOf(']')]).ToList();
        Assert.Equal(expected, needed);
        // Transitively: every library ldd names (by file name) is in our closure.
        var ours = ElfDependencies.Resolve(path).Select(n => Path.GetFileName(n.ImagePath)).ToHashSet();
        var fromLdd = Tool.Check("ldd", path).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("linux-vdso", StringComparison.Ordinal))
            .Select(l => Path.GetFileName(l.Split(' ')[l.Contains("=>") ? 2 : 0])).ToList();
        Assert.NotEmpty(fromLdd);
        Assert.All(fromLdd, l => Assert.Contains(l, ours));
    }

    [SkippableFact]
    public void The_published_binary_needs_nothing()
    {
        string bin = Tool.RequireNativeInit();
        var (interp, needed) = ElfDependencies.Read(bin);
        Assert.Null(interp);
        Assert.Empty(needed);
        Assert.Empty(ElfDependencies.Resolve(bin));
    }
}
