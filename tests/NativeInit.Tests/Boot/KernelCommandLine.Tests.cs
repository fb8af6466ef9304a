using NativeInit.Core.Boot.Init;

namespace NativeInit.Tests.Boot;

public class KernelCommandLineTests
{
    [Fact]
    public void Splits_words_keys_and_quoted_values_and_the_last_occurrence_wins()
    {
        var c = new KernelCommandLine("BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet rd.nativeinit=convert " +
            "rd.nativeinit.bundle=\"/boot/my bundle.nib\" rd.nativeinit=selftest empty=\n");
        Assert.Equal("selftest", c.Get("rd.nativeinit"));
        Assert.Equal("/boot/my bundle.nib", c.Get("rd.nativeinit.bundle"));
        Assert.Equal("", c.Get("empty"));
        Assert.Null(c.Get("ro"));
        Assert.True(c.Has("ro"));
        Assert.False(c.Has("rw"));
        Assert.Equal("/dev/sda1", c.GetFirst("nativeinit.root", "root"));
    }

    [Fact]
    public void Init_maps_kernel_arguments_to_the_child_command_line()
    {
        var c = new KernelCommandLine("rd.nativeinit=resume rd.nativeinit.bundle=/boot/b.nib nativeinit.disk=serial:abc");
        var argv = InitProcess.BuildArguments("resume", c, out var disk);
        Assert.Equal(["nativeinit", "convert", "--resume", "--bundle", "/boot/b.nib", "--disk", "serial:abc"], argv);
        Assert.Equal("serial:abc", disk);
        Assert.Throws<NativeInit.Core.NativeInitException>(() => InitProcess.BuildArguments("format-everything", c, out _));
    }
}
