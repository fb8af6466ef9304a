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
        Assert.Equal(["nativeinit", "convert", "--yes", "--bundle", "/boot/b.nib", "--disk", "serial:abc"], argv);
        Assert.Equal("serial:abc", disk);
        Assert.Throws<NativeInit.Core.NativeInitException>(() => InitProcess.BuildArguments("format-everything", c, out _));
    }
}

public class InitProcessTests
{
    [Fact]
    public void Summarizes_the_syscalls_strace_refused()
    {
        using var t = new NativeInit.Tests.TestSupport.TempDir();
        File.WriteAllLines(t.Combine("log"),
        [
            "100   rseq(0x3afb4de0, 0x20, 0, 0x53053053) = -1 ENOSYS (Function not implemented) (INJECTED)",
            "100   clone3({flags=CLONE_VM, exit_signal=0}, 88 <unfinished ...>",
            "100   <... clone3 resumed>)               = -1 ENOSYS (Function not implemented) (INJECTED)",
            "100   clone3({flags=CLONE_VM}, 88) = -1 ENOSYS (Function not implemented) (INJECTED)",
            "100   clone(child_stack=0x7f, flags=CLONE_VM) = 101",
            "103   faccessat2(AT_FDCWD, \"/etc/mke2fs.conf\", R_OK, AT_EACCESS) = -1 ENOSYS (Function not implemented) (INJECTED)",
        ]);
        Assert.Equal("clone3 x2, faccessat2 x1, rseq x1", InitProcess.SummarizeInjections(t.Combine("log")));
    }
}
