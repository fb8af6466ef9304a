using System.Text;
using NativeInit.Core;
using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

public class GrubEnvTests
{
    private static byte[] Block(string vars)
    {
        var b = new byte[1024];
        var text = Encoding.ASCII.GetBytes("# GRUB Environment Block\n" + vars);
        text.CopyTo(b, 0);
        b.AsSpan(text.Length).Fill((byte)'#');
        return b;
    }

    [Fact]
    public void Parses_variables_and_rewrites_byte_identically()
    {
        var original = Block("saved_entry=CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)\nboot_success=1\n");
        var env = GrubEnv.Parse(original, "grubenv");
        Assert.Equal("CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)", env["saved_entry"]);
        Assert.Equal("1", env["boot_success"]);
        Assert.Null(env["next_entry"]);
        Assert.Equal(original, env.ToBytes());
    }

    [Fact]
    public void Set_appends_keeps_order_and_size_and_escapes()
    {
        var env = GrubEnv.Parse(Block("saved_entry=0\n"), "grubenv");
        env.Set("next_entry", "nativeinit-convert");
        env.Set("odd", "a\\b\nc");
        var bytes = env.ToBytes();
        Assert.Equal(1024, bytes.Length);
        Assert.StartsWith("# GRUB Environment Block\nsaved_entry=0\nnext_entry=nativeinit-convert\nodd=a\\\\b\\\nc\n#", Encoding.ASCII.GetString(bytes));
        var back = GrubEnv.Parse(bytes, "grubenv");
        Assert.Equal("a\\b\nc", back["odd"]);
        Assert.Equal(["saved_entry", "next_entry", "odd"], back.Variables.Select(v => v.Key));
        Assert.True(back.Remove("odd"));
    }

    [Fact]
    public void Overflow_and_foreign_files_are_refused()
    {
        var env = GrubEnv.Empty();
        env.Set("big", new string('x', 1010));
        Assert.Throws<NativeInitException>(() => env.ToBytes());
        Assert.Throws<InvalidDataFormatException>(() => GrubEnv.Parse("hello"u8, "grubenv"));
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Grub_editenv_reads_what_we_write_and_we_read_what_it_writes()
    {
        Tool.Require("grub-editenv");
        using var tmp = new TempDir();
        var file = tmp.Combine("grubenv");
        Tool.Check("grub-editenv", file, "create");
        Tool.Check("grub-editenv", file, "set", "saved_entry=Debian GNU/Linux");
        var env = GrubEnv.Parse(File.ReadAllBytes(file), file);
        Assert.Equal("Debian GNU/Linux", env["saved_entry"]);
        env.Set("next_entry", "nativeinit-convert");
        File.WriteAllBytes(file, env.ToBytes());
        var list = Tool.Check("grub-editenv", file, "list");
        Assert.Contains("next_entry=nativeinit-convert", list);
        Assert.Contains("saved_entry=Debian GNU/Linux", list);
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void The_boot_counting_variables_we_write_are_byte_identical_to_grub_editenv()
    {
        Tool.Require("grub-editenv");
        using var tmp = new TempDir();
        var file = tmp.Combine("grubenv");
        Tool.Check("grub-editenv", file, "create");
        Tool.Check("grub-editenv", file, "set", "ORDER=B A", "A_OK=1", "A_TRIES=3", "B_OK=1", "B_TRIES=1", @"odd=back\slash");
        Tool.Check("grub-editenv", file, "unset", "B_OK");
        Tool.Check("grub-editenv", file, "set", "B_OK=0");

        var ours = GrubEnv.Empty();
        foreach (var (k, v) in new[] { ("ORDER", "B A"), ("A_OK", "1"), ("A_TRIES", "3"), ("B_OK", "1"), ("B_TRIES", "1"), ("odd", @"back\slash") })
            ours.Set(k, v);
        ours.Remove("B_OK");
        ours.Set("B_OK", "0");
        Assert.Equal(File.ReadAllBytes(file), ours.ToBytes());
        var theirs = GrubEnv.Parse(File.ReadAllBytes(file), file);
        Assert.Equal(ours.Variables, theirs.Variables);
    }
}
