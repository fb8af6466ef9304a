using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

public class ConversionMenuEntryTests
{
    [Fact]
    public void Entry_names_kernel_initramfs_and_command_line_between_markers()
    {
        var text = ConversionMenuEntry.Text("/nativeinit", "vmlinuz-convert", "initramfs-convert.img", "rd.nativeinit=convert quiet");
        var lines = text.Split('\n');
        Assert.Equal(ConversionMenuEntry.BeginMarker, lines[0]);
        Assert.Contains(ConversionMenuEntry.EndMarker, lines);
        Assert.Contains("\tlinux /nativeinit/vmlinuz-convert rd.nativeinit=convert quiet", lines);
        Assert.Contains("\tinitrd /nativeinit/initramfs-convert.img", lines);
        Assert.Equal(text.Count(c => c == '{'), text.Count(c => c == '}'));
    }

    [Theory]
    [InlineData("console=ttyS0 quiet", true)]
    [InlineData("root=/dev/mapper/VA-root rd.lvm.lv=VA/root ro", true)]
    [InlineData("a; reboot", false)]
    [InlineData("x=$prefix", false)]
    [InlineData("a\nb", false)]
    [InlineData("x='y'", false)]
    public void Command_lines_grub_would_interpret_are_refused(string cmdline, bool fine) =>
        Assert.Equal(fine, ConversionMenuEntry.CommandLineProblem(cmdline) is null);

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Grub_script_check_accepts_the_entry()
    {
        // grub-script-check parses GRUB script the way GRUB does (grub-common, with grub-editenv).
        Tool.Require("grub-script-check");
        using var tmp = new TempDir();
        var f = tmp.Combine("custom.cfg");
        File.WriteAllText(f, ConversionMenuEntry.Text("/boot/nativeinit", "vmlinuz-convert", "initramfs-convert.img",
            "rd.nativeinit=convert rd.nativeinit.bundle=/boot/nativeinit/bundle.tar console=ttyS0,115200n8"));
        Tool.Check("grub-script-check", f);
    }
}
