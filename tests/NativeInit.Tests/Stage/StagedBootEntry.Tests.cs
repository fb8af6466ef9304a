using System.Text;
using NativeInit.Core.Boot;
using NativeInit.Core.Stage;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Stage;

/// <summary>Stage two clears stage one's one-shot before its point of no return (issue 12): in place, idempotent, and
/// only the conversion's next_entry; grub-editenv is the oracle.</summary>
public class StagedBootEntryTests
{
    private static string Env(TempDir tmp, string vars)
    {
        var dir = tmp.Combine("boot/grub2");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "grubenv");
        var block = new byte[1024];
        Encoding.ASCII.GetBytes("# GRUB Environment Block\n" + vars).CopyTo(block, 0);
        block.AsSpan(25 + vars.Length).Fill((byte)'#');
        File.WriteAllBytes(path, block);
        return path;
    }

    [SkippableFact]
    public void Clear_removes_the_conversion_next_entry_in_place_and_only_once()
    {
        Tool.Require("grub-editenv");
        using var tmp = new TempDir();
        var env = Env(tmp, $"saved_entry=CentOS Linux 7\nnext_entry={ConversionMenuEntry.Id}\n");
        var before = Tool.Check("stat", "-c", "%i", env);
        Assert.True(StagedBootEntry.Clear(tmp.Combine("boot")));
        var list = Tool.Check("grub-editenv", env, "list");
        Assert.DoesNotContain("next_entry", list);
        Assert.Contains("saved_entry=CentOS Linux 7", list);
        Assert.Equal(1024, new FileInfo(env).Length);
        Assert.Equal(before, Tool.Check("stat", "-c", "%i", env)); // rewritten in place, not replaced
        var bytes = File.ReadAllBytes(env);
        Assert.False(StagedBootEntry.Clear(tmp.Combine("boot")));
        Assert.Equal(bytes, File.ReadAllBytes(env));
    }

    [SkippableFact]
    public void Clear_leaves_an_operators_one_shot_and_a_missing_grubenv_alone()
    {
        Tool.Require("grub-editenv");
        using var tmp = new TempDir();
        var env = Env(tmp, "next_entry=rescue\n");
        var bytes = File.ReadAllBytes(env);
        Assert.False(StagedBootEntry.Clear(tmp.Combine("boot")));
        Assert.Equal(bytes, File.ReadAllBytes(env));
        Assert.Contains("next_entry=rescue", Tool.Check("grub-editenv", env, "list"));
        using var empty = new TempDir();
        Assert.False(StagedBootEntry.Clear(empty.Path));
    }
}
