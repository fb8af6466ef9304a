using NativeInit.Core.Boot.Init;
using NativeInit.Core.Boot.Initramfs;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Closure;

/// <summary>
/// The published artifact runs with no library from the system: in a chroot that holds only the artifact folder,
/// /proc and a few /dev nodes (no /lib, no /usr, no /etc), and with every system call newer than kernel 3.10
/// answered ENOSYS (strace fault injection stands in for the CentOS 7 kernel).
/// </summary>
[Trait("Category", "Integration")]
public sealed class RuntimeClosureTests
{
    /// <summary>A chroot with /nativeinit/ (a copy of artifacts/nativeinit/), /proc mounted, /dev/{null,zero,urandom,random},
    /// and an empty /tmp. Unmounted and removed on Dispose.</summary>
    private sealed class Chroot : IDisposable
    {
        public Chroot()
        {
            Dir = new TempDir();
            Directory.CreateDirectory(Dir.Combine("nativeinit"));
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(Tool.NativeInitBinary)!))
                File.Copy(f, Dir.Combine("nativeinit", Path.GetFileName(f)));
            File.SetUnixFileMode(Dir.Combine("nativeinit", "nativeinit"), (UnixFileMode)0x1ED);
            foreach (var d in new[] { "proc", "dev", "tmp", "work" }) Directory.CreateDirectory(Dir.Combine(d));
            Tool.Sh($"mount -t proc proc {Tool.Quote(Dir.Combine("proc"))}");
            _procMounted = true;
            Tool.Sh($"cd {Tool.Quote(Dir.Combine("dev"))} && mknod -m 666 null c 1 3 && mknod -m 666 zero c 1 5 && " +
                    "mknod -m 444 urandom c 1 9 && mknod -m 444 random c 1 8");
        }

        private readonly bool _procMounted;
        public TempDir Dir { get; }
        public string Root => Dir.Path;

        /// <summary>Runs /nativeinit/nativeinit in the chroot with an empty environment.</summary>
        public ToolResult Run(params string[] args) =>
            Tool.Run("env", ["-i", InitramfsBuilder.FindProgram("chroot")!, Root, "/nativeinit/nativeinit", .. args], timeout: TimeSpan.FromMinutes(2));

        public void Dispose()
        {
            if (_procMounted) Tool.Run("umount", Dir.Combine("proc"));
            Dir.Dispose();
        }
    }

    private static void RequireAll()
    {
        Tool.RequireRoot();
        Tool.Require("chroot", "mknod", "mount");
        Tool.RequireNativeInit();
    }

    [SkippableFact]
    public void The_chroot_holds_no_library_at_all()
    {
        RequireAll();
        using var c = new Chroot();
        var files = Directory.GetFileSystemEntries(c.Root).Where(e => Path.GetFileName(e) != "proc")
            .SelectMany(e => Directory.Exists(e) ? Directory.GetFileSystemEntries(e, "*", SearchOption.AllDirectories) : [e]).ToList();
        Assert.Contains(files, f => f.EndsWith("/nativeinit/nativeinit", StringComparison.Ordinal));
        Assert.DoesNotContain(files, f => f.Contains(".so", StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(c.Root, "lib")) || Directory.Exists(Path.Combine(c.Root, "lib64")) || Directory.Exists(Path.Combine(c.Root, "usr")));
        Assert.Null(ElfDependencies.Read(c.Dir.Combine("nativeinit", "nativeinit")).Interpreter);
    }

    [SkippableFact]
    public void Version_and_help_run_in_an_empty_chroot()
    {
        RequireAll();
        using var c = new Chroot();
        var v = c.Run("--version");
        Assert.True(v.ExitCode == 0, v.ToString());
        Assert.Matches(@"^nativeinit \d+\.\d+\.\d+", v.Stdout);
        var h = c.Run("--help");
        Assert.True(h.ExitCode == 0, h.ToString());
        Assert.Contains("initramfs", h.Stdout);
        Assert.Contains("selftest", h.Stdout);
        // A usage error is reported, not a crash of the runtime.
        var bad = c.Run("no-such-command");
        Assert.Equal(2, bad.ExitCode);
    }

    [SkippableFact]
    public void A_real_command_writes_a_correct_image_in_an_empty_chroot()
    {
        RequireAll();
        Tool.Require("cpio");
        using var c = new Chroot();
        // `initramfs` exercises file I/O, gzip (System.IO.Compression's native zlib, linked in), ELF parsing, cpio writing.
        var r = c.Run("initramfs", "--no-tools", "--init", "/nativeinit/nativeinit", "--output", "/work/mini.img", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using (var j = System.Text.Json.JsonDocument.Parse(r.Stdout))
        {
            Assert.Equal("/work/mini.img", j.RootElement.GetProperty("output").GetString());
            Assert.Equal(new FileInfo(c.Dir.Combine("work", "mini.img")).Length, j.RootElement.GetProperty("size").GetInt64());
            Assert.Equal(InitramfsBuilder.CountEntries(c.Dir.Combine("work", "mini.img"), compressed: true), j.RootElement.GetProperty("entries").GetInt32());
        }
        string list = Tool.Sh($"zcat {Tool.Quote(c.Dir.Combine("work", "mini.img"))} | cpio -t --quiet");
        Assert.Contains("init\n", list);
        Assert.Contains("dev/console\n", list);
    }

    [SkippableFact]
    public void Extract_runs_in_an_empty_chroot()
    {
        RequireAll();
        Tool.Require("tar");
        using var c = new Chroot();
        string src = c.Dir.Combine("work", "src");
        Directory.CreateDirectory(Path.Combine(src, "etc"));
        File.WriteAllText(Path.Combine(src, "etc", "hostname"), "chroot-test\n");
        Tool.Sh($"tar --numeric-owner --owner=123 --group=456 -C {Tool.Quote(src)} -cf {Tool.Quote(c.Dir.Combine("work", "small.tar"))} .");
        Directory.CreateDirectory(c.Dir.Combine("work", "out"));
        var r = c.Run("extract", "/work/small.tar", "--to", "/work/out");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("chroot-test\n", File.ReadAllText(c.Dir.Combine("work", "out", "etc", "hostname")));
    }

    [SkippableFact]
    public void Survives_ENOSYS_for_every_syscall_newer_than_3_10()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("strace");
        using var t = new TempDir();
        string log = t.Combine("strace.log");
        var r = Tool.Run("strace", [.. KernelCompat.StraceInjectArguments(log), bin, "initramfs", "--no-tools", "--init", bin, "--output", t.Combine("mini.img")], timeout: TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());
        // The same image as without injection (the builder is deterministic): the fallbacks changed nothing.
        var plain = Tool.Run(bin, "initramfs", "--no-tools", "--init", bin, "--output", t.Combine("plain.img"));
        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.Equal(File.ReadAllBytes(t.Combine("plain.img")), File.ReadAllBytes(t.Combine("mini.img")));
        var lines = File.ReadAllLines(log);
        var injected = lines.Where(l => l.Contains("(INJECTED)", StringComparison.Ordinal))
            .Select(l => l.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries)[1].Trim()).Select(s => s[..s.IndexOf('(')]).ToHashSet();
        // What glibc 2.36's static start-up and .NET's runtime try first; each has a fallback that must have run.
        Assert.Contains("clone3", injected);      // glibc pthread_create -> clone
        Assert.Contains("rseq", injected);        // glibc start-up: rseq registration skipped
        Assert.Contains("membarrier", injected);  // .NET FlushProcessWriteBuffers -> mprotect of a helper page
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d+\s+clone\("));
        Assert.DoesNotContain(lines, l => l.Contains("+++ killed by", StringComparison.Ordinal));
    }
}
