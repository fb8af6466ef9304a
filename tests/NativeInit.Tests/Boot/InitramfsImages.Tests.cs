using NativeInit.Core.Boot.Initramfs;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.Boot;

/// <summary>The two conversion images for the fetched Debian kernel, built once per test class by initramfs/build.</summary>
public sealed class InitramfsImages : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly Lazy<(string? Path, string Log)> _minimal, _dracut, _withStrace;

    public InitramfsImages()
    {
        _minimal = new(() => Build("--minimal-only", "initramfs-minimal.img"));
        _dracut = new(() => Build("--dracut-only", "initramfs-dracut.img"));
        _withStrace = new(() =>
        {
            string moddir = KernelCache.ModuleDirectoryOrSkip();
            string path = Path.Combine(_dir.Path, "initramfs-strace.img");
            var r = Tool.Run(Tool.NativeInitBinary, "initramfs", "--init", Tool.NativeInitBinary, "--kmoddir", moddir,
                "--tool", "mkfs.ext4", "--tool", "strace", "--output", path);
            return (r.ExitCode == 0 ? path : null, r.ToString());
        });
    }

    public string Folder => _dir.Path;

    private (string?, string) Build(string which, string name)
    {
        var kernel = KernelCache.FolderOrSkip();
        var r = Tool.Run(Path.Combine(Tool.RepoRoot, "initramfs", "build"), ["--out", _dir.Path, "--kernel", kernel, which],
            timeout: TimeSpan.FromMinutes(8), environment: new Dictionary<string, string> { ["NATIVEINIT_BIN"] = Tool.NativeInitBinary });
        string path = Path.Combine(_dir.Path, name);
        return (r.ExitCode == 0 && File.Exists(path) ? path : null, r.ToString());
    }

    public string Minimal() => Get(_minimal, "minimal");
    public string Dracut() => Get(_dracut, "dracut");
    public string MinimalWithStrace() { Tool.Require("strace"); return Get(_withStrace, "minimal with strace"); }

    private static string Get(Lazy<(string? Path, string Log)> l, string what)
    {
        Tool.RequireNativeInit();
        KernelCache.FolderOrSkip();
        Assert.True(l.Value.Path is not null, $"initramfs/build ({what}) failed:\n{l.Value.Log}");
        return l.Value.Path!;
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// The minimal image and the dracut image: what they contain (Integration), and a boot of each in QEMU that runs
/// `nativeinit selftest` on a scratch disk and waits for NATIVEINIT-SELFTEST-OK on the serial console (Qemu).
/// </summary>
public sealed class InitramfsImagesTests(InitramfsImages images, ITestOutputHelper output) : IClassFixture<InitramfsImages>
{
    /// <summary>The bound the README states for the minimal image (nativeinit, the disk, dm and fs modules, mkfs.ext4,
    /// mkfs.xfs with their libraries, busybox).</summary>
    public const long MinimalImageLimit = 12L << 20;

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Minimal_image_has_nativeinit_as_init_and_stays_under_the_stated_size()
    {
        Tool.Require("cpio", "zcat");
        string img = images.Minimal();
        long size = new FileInfo(img).Length;
        output.WriteLine($"minimal image: {size} bytes ({size / 1048576.0:0.0} MiB)");
        Assert.True(size < MinimalImageLimit, $"{img} is {size} bytes, over the {MinimalImageLimit >> 20} MiB the README states");
        string list = Tool.Sh($"zcat {Tool.Quote(img)} | cpio -itv --quiet --numeric-uid-gid");
        var lines = list.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("-rwxr-xr-x", StringComparison.Ordinal) && l.EndsWith(" init", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("crw-------", StringComparison.Ordinal) && l.EndsWith(" dev/console", StringComparison.Ordinal));
        // The rescue shell finds `nativeinit` on its PATH: the same binary as /init.
        Assert.Contains(lines, l => l.StartsWith("lrwxrwxrwx", StringComparison.Ordinal) && l.EndsWith(" usr/bin/nativeinit -> /init", StringComparison.Ordinal));
        foreach (var m in new[] { "dm-mod.ko", "loop.ko", "ext4.ko", "xfs.ko", "virtio_blk.ko", "virtio_pci.ko", "ahci.ko", "sd_mod.ko", "ata_piix.ko", "modules.dep" })
            Assert.Contains(lines, l => l.EndsWith("/" + m, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" usr/sbin/mkfs.ext4", StringComparison.Ordinal));
        // /init is byte for byte the published binary.
        using var t = new TempDir();
        Tool.Sh($"zcat {Tool.Quote(img)} | cpio -i --quiet --to-stdout init > {Tool.Quote(t.Combine("init"))}");
        Assert.Equal(File.ReadAllBytes(Tool.NativeInitBinary), File.ReadAllBytes(t.Combine("init")));
        // mkfs.ext4's loader and libraries are in the image where the loader looks.
        var (interp, _) = ElfDependencies.Read(InitramfsBuilder.FindProgram("mkfs.ext4")!);
        Assert.Contains(lines, l => l.EndsWith(" " + interp!.TrimStart('/'), StringComparison.Ordinal));
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Dracut_image_holds_the_artifact_the_hooks_and_the_modules()
    {
        Tool.Require("dracut", "lsinitrd");
        string img = images.Dracut();
        string minimal = images.Minimal();
        output.WriteLine($"sizes: minimal {new FileInfo(minimal).Length} bytes, dracut {new FileInfo(img).Length} bytes");
        var r = Tool.Run("lsinitrd", img);
        Assert.True(r.ExitCode == 0, r.ToString());
        string ls = r.Stdout;
        Assert.Matches(@"(?m)^nativeinit$", ls[ls.IndexOf("dracut modules:", StringComparison.Ordinal)..]);
        Assert.Contains(" usr/bin/nativeinit\n", ls);
        Assert.Contains("usr/lib/dracut/hooks/cmdline/40-parse-nativeinit.sh", ls);
        Assert.Contains("usr/lib/dracut/hooks/pre-mount/10-nativeinit-run.sh", ls);
        foreach (var m in new[] { "md/dm-mod.ko", "block/loop.ko", "fs/xfs/xfs.ko", "fs/ext4/ext4.ko", "block/virtio_blk.ko", "virtio/virtio_pci.ko", "ata/ahci.ko", "scsi/sd_mod.ko", "ata/ata_piix.ko" })
            Assert.Contains("/" + m, ls);
        Assert.Contains("usr/sbin/mkfs.xfs", ls);
        // The binary in the image is the artifact.
        using var t = new TempDir();
        Tool.Sh($"lsinitrd {Tool.Quote(img)} -f usr/bin/nativeinit > {Tool.Quote(t.Combine("nativeinit"))}");
        Assert.Equal(File.ReadAllBytes(Tool.NativeInitBinary), File.ReadAllBytes(t.Combine("nativeinit")));
    }

    [SkippableFact]
    [Trait("Category", "Qemu")]
    public void Minimal_image_boots_in_qemu_and_the_selftest_passes() => Boot(images.Minimal(), "", TimeSpan.FromMinutes(4));

    [SkippableFact]
    [Trait("Category", "Qemu")]
    public void Dracut_image_boots_in_qemu_and_the_selftest_passes() =>
        // rd.shell=0 rd.emergency=poweroff: should dracut itself fail, the guest powers off instead of waiting at a shell.
        Boot(images.Dracut(), "rd.shell=0 rd.emergency=poweroff", TimeSpan.FromMinutes(4));

    [SkippableFact]
    [Trait("Category", "Qemu")]
    public void Selftest_passes_with_every_syscall_newer_than_3_10_answered_ENOSYS()
    {
        // The CentOS 7 kernel stand-in: strace in the guest answers ENOSYS for each of KernelCompat.SyscallsNewerThan310,
        // for nativeinit and for the mkfs.ext4 it runs.
        var outcome = Boot(images.MinimalWithStrace(), "rd.nativeinit.enosys=1", TimeSpan.FromMinutes(4));
        var summary = outcome.Console.Split('\n').FirstOrDefault(l => l.Contains("ENOSYS injected:", StringComparison.Ordinal));
        Assert.True(summary is not null, outcome.Report());
        Assert.Contains("clone3", summary);
        Assert.Contains("rseq", summary);
    }

    [SkippableFact]
    [Trait("Category", "Qemu")]
    public void Minimal_image_keeps_the_console_usable_after_a_failure()
    {
        QemuRunner.RequireQemu();
        string image = images.Minimal();
        string kernel = KernelCache.KernelImage(KernelCache.FolderOrSkip());
        using var t = new TempDir();
        string scratch = t.Combine("scratch.img");
        using (var f = File.Create(scratch)) f.SetLength(16L << 20);
        // An unknown command is a fatal error of PID 1: it must say so with the recovery hint, start a shell on the
        // console (not exit: the kernel would panic), and that shell must answer.
        var outcome = QemuRunner.Boot(kernel, image, scratch, "console=ttyS0 panic=1 loglevel=4 rd.nativeinit=format-everything",
            TimeSpan.FromMinutes(3),
            [("on the console (exit it", "echo SHELL-$((6*7))-OK\n"), ("SHELL-42-OK", "poweroff -f\n")], failOnInitFailure: false);
        output.WriteLine(outcome.Report());
        Assert.Contains("FAILED: init failed: rd.nativeinit=format-everything", outcome.Console);
        Assert.Contains("Nothing is retried automatically", outcome.Console);
        Assert.Contains("SHELL-42-OK", outcome.Console);
        Assert.DoesNotContain("Kernel panic", outcome.Console);
        Assert.False(outcome.TimedOut, outcome.Report());
    }

    private QemuOutcome Boot(string image, string append, TimeSpan timeout)
    {
        QemuRunner.RequireQemu();
        string kernel = KernelCache.KernelImage(KernelCache.FolderOrSkip());
        using var t = new TempDir();
        string scratch = t.Combine("scratch.img");
        using (var f = File.Create(scratch)) f.SetLength(256L << 20);
        // A "boot partition" holding /nativeinit/bundle.tar, found through rd.nativeinit.bundle= as stage one writes it.
        Tool.Require("mkfs.ext4");
        Directory.CreateDirectory(t.Combine("bootfs", "nativeinit"));
        using (var f = File.Create(t.Combine("bootfs", "nativeinit", "bundle.tar"))) NativeInit.Core.Conversion.SelfTestArchive.Write(f);
        Tool.Check("mkfs.ext4", "-q", "-F", "-L", "boot", "-d", t.Combine("bootfs"), t.Combine("boot.img"), "16M");
        var outcome = QemuRunner.BootSelftest(kernel, image, scratch, append + " rd.nativeinit.bundle=/nativeinit/bundle.tar", timeout,
            bundleDiskImage: t.Combine("boot.img"));
        output.WriteLine(outcome.Report());
        Assert.True(outcome.SawOk, outcome.Report());
        // The stage-two disk path ran, not only the probes: GPT + LVM written, LVs activated, extraction read back, removed.
        foreach (var step in new[] { "plan", "apply", "dm-status", "mount", "extract", "read-back", "umount", "deactivate" })
            Assert.Contains($"selftest: {step}: ok", outcome.Console);
        long bundleSize = new FileInfo(t.Combine("bootfs", "nativeinit", "bundle.tar")).Length;
        Assert.Contains($"selftest: bundle: ok (/run/nativeinit/bundle-fs/nativeinit/bundle.tar: {bundleSize} bytes read)", outcome.Console);
        return outcome;
    }
}
