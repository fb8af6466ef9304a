using System.Diagnostics;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Boot.Init;

/// <summary>
/// nativeinit as /init of the minimal initramfs (PID 1): mounts /proc, /sys, /dev (devtmpfs), /run; loads the
/// kernel modules listed in <see cref="ModulesFile"/> (plus rd.nativeinit.modules=a,b) with what they need; waits
/// for the disk named by rd.nativeinit.disk=; runs the command rd.nativeinit= asks for as a child process (so the
/// command runs as an ordinary process and PID 1 only reaps); reaps every child, orphans included; at the end syncs
/// and powers off or reboots. On a fatal error it prints what failed and how to recover and keeps the console usable
/// (a shell when the image has one, otherwise it idles): PID 1 never exits, since the kernel panics when it does.
///
/// Kernel command line (nativeinit.X is accepted for every rd.nativeinit.X):
///   rd.nativeinit=selftest|convert|resume|shell   what to run (none: a shell)
///   rd.nativeinit.disk=/dev/vdb|serial:S|wwn:W|partuuid:P|uuid:U   the disk handed to the command as --disk (waited for; see DiskLocator)
///   rd.nativeinit.bundle=PATH                       handed to convert/resume as --bundle
///   rd.nativeinit.modules=mod1,mod2                 more modules to load
///   rd.nativeinit.done=poweroff|reboot|shell        after success (default: poweroff for selftest, reboot otherwise)
///   rd.nativeinit.onfail=shell|poweroff|reboot      after a failure (default: shell)
///   rd.nativeinit.enosys=1                          diagnostics: run the command under strace (it must be in the
///                                                   image) with every syscall newer than Linux 3.10 answered ENOSYS
/// </summary>
public sealed class InitProcess
{
    public const string ModulesFile = "/etc/nativeinit/modules";
    public const string ShellPath = "/bin/sh";
    private static readonly string[] Environment0 = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux"];

    private readonly TextWriter _out;
    private readonly bool _isPid1;

    public InitProcess(TextWriter output)
    {
        _out = output;
        _isPid1 = BootCalls.ProcessId == 1;
    }

    /// <summary>Runs the init flow. As PID 1 it never returns; otherwise (a test under another init) it returns the
    /// command's exit code instead of rebooting.</summary>
    public int Run()
    {
        string command = "(none)";
        int exitCode;
        KernelCommandLine cmdline;
        try
        {
            MountEssentials();
            cmdline = KernelCommandLine.ReadProc();
            Log($"nativeinit as init (pid {BootCalls.ProcessId}), kernel {ReadTrim("/proc/sys/kernel/osrelease")}");
            LoadModules(cmdline);
            command = Arg(cmdline, "") ?? "";
            if (command is "" or "shell")
            {
                if (command == "") Log("no rd.nativeinit= on the kernel command line: nothing to run");
                return Rescue(null);
            }
            var argv = BuildArguments(command, cmdline, out string? disk);
            if (disk is not null)
            {
                string dev = DiskLocator.Wait(disk, TimeSpan.FromSeconds(60), Log);
                Log($"disk {disk} is {dev}");
                // convert opens the device it is given: hand it the disk found, not the identity.
                argv[argv.IndexOf("--disk") + 1] = dev;
            }
            int b = argv.IndexOf("--bundle");
            // convert reads the bundle through its extents on the disk it converts (--bundle is the path inside the
            // old root): mounting that file system here would hold the disk it repartitions.
            if (b > 0 && argv[1] != "convert")
            {
                WaitForBlockDevices();
                argv[b + 1] = BundleLocator.Locate(argv[b + 1], Log);
            }
            string self = SelfPath();
            string program = self;
            string? straceLog = null;
            if (Arg(cmdline, ".enosys") == "1")
            {
                program = Platform.ProgramPath.Find("strace")
                    ?? throw new NativeInitException("rd.nativeinit.enosys=1 needs strace in the image (nativeinit initramfs --tool strace)");
                straceLog = "/run/nativeinit-enosys.log";
                argv = ["strace", .. KernelCompat.StraceInjectArguments(straceLog), self, .. argv.Skip(1)];
                Log("every syscall newer than Linux 3.10 is answered ENOSYS (strace fault injection)");
            }
            Log($"running: nativeinit {string.Join(' ', argv.Skip(1))}");
            var clock = Stopwatch.StartNew();
            int pid = BootCalls.Spawn(program, argv, Environment0);
            int status = ReapUntil(pid);
            exitCode = BootCalls.ExitCodeOf(status);
            Log($"'{command}' ended with {BootCalls.DescribeStatus(status)} after {clock.Elapsed.TotalSeconds:0.0} s");
            if (straceLog is not null && File.Exists(straceLog)) Log("ENOSYS injected: " + SummarizeInjections(straceLog));
        }
        catch (Exception e)
        {
            return Rescue($"init failed: {(e is NativeInitException ? e.Message : e.ToString())}");
        }

        string what = exitCode == 0
            ? Arg(cmdline, ".done") ?? (command == "selftest" ? "poweroff" : "reboot")
            : Arg(cmdline, ".onfail") ?? "shell";
        if (exitCode != 0 && what == "shell")
            return Rescue($"'{command}' failed with exit code {exitCode}");
        return Finish(what, exitCode);
    }

    private static string? Arg(KernelCommandLine c, string suffix) => c.GetFirst("rd.nativeinit" + suffix, "nativeinit" + suffix);

    /// <summary>The child's argv (argv[0] = "nativeinit") for a command of the kernel command line.</summary>
    public static List<string> BuildArguments(string command, KernelCommandLine cmdline, out string? disk)
    {
        disk = Arg(cmdline, ".disk");
        string? bundle = Arg(cmdline, ".bundle");
        var argv = new List<string> { "nativeinit" };
        switch (command)
        {
            case "selftest": argv.Add("selftest"); break;
            // The kernel argument is the operator's consent (stage one wrote it): --yes. A resume is the same command:
            // convert finds the journal on the new /boot and continues from it.
            case "convert": argv.AddRange(["convert", "--yes"]); break;
            case "resume": argv.AddRange(["convert", "--yes"]); break;
            default: throw new NativeInitException($"rd.nativeinit={command}: not one of selftest, convert, resume, shell");
        }
        if (bundle is not null) argv.AddRange(["--bundle", bundle]);
        if (disk is not null) argv.AddRange(["--disk", disk]);
        return argv;
    }

    private void MountEssentials()
    {
        foreach (var d in new[] { "/proc", "/sys", "/dev", "/run", "/tmp" }) Directory.CreateDirectory(d);
        const ulong common = Libc.MS_NOSUID | Libc.MS_NOEXEC | Libc.MS_NODEV;
        // EBUSY: mounted already (a kernel with CONFIG_DEVTMPFS_MOUNT, or a second run under another init).
        BootCalls.Mount("proc", "/proc", "proc", common, toleratedErrno: PosixError.EBUSY);
        BootCalls.Mount("sysfs", "/sys", "sysfs", common, toleratedErrno: PosixError.EBUSY);
        BootCalls.Mount("devtmpfs", "/dev", "devtmpfs", Libc.MS_NOSUID, "mode=0755", toleratedErrno: PosixError.EBUSY);
        BootCalls.Mount("tmpfs", "/run", "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "mode=0755", toleratedErrno: PosixError.EBUSY);
        if (!File.Exists("/dev/null")) BootCalls.MakeNode("/dev/null", block: false, 1, 3, 0x1b6);
    }

    private void LoadModules(KernelCommandLine cmdline)
    {
        var names = new List<string>();
        if (File.Exists(ModulesFile))
            names.AddRange(File.ReadAllLines(ModulesFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')));
        if (Arg(cmdline, ".modules") is { } extra) names.AddRange(extra.Split(',', StringSplitOptions.RemoveEmptyEntries));
        if (names.Count == 0) return;
        string dir = Path.Combine("/lib/modules", ReadTrim("/proc/sys/kernel/osrelease"));
        var clock = Stopwatch.StartNew();
        var index = new ModuleIndex(dir);
        Action<string> log = m => { if (m.StartsWith("module ", StringComparison.Ordinal)) Log(m); };
        int loaded;
        try { loaded = ModuleLoader.Load(index, names, log); }
        catch (NativeInitException e)
        {
            // A name the tree does not know: say so, and load the others.
            Log(e.Message);
            loaded = ModuleLoader.Load(index, names, log, optional: true);
        }
        Log($"loaded {loaded} kernel modules for {string.Join(' ', names)} in {clock.ElapsedMilliseconds} ms");
    }

    /// <summary>Without udev nothing says when the disks are all there: wait until the set of block devices has not
    /// changed for a second (at most 10 s).</summary>
    private static void WaitForBlockDevices()
    {
        string Snapshot() => Directory.Exists("/sys/class/block") ? string.Join(',', Directory.GetFileSystemEntries("/sys/class/block").Order(StringComparer.Ordinal)) : "";
        var clock = Stopwatch.StartNew();
        string last = Snapshot();
        var stable = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10) && stable.Elapsed < TimeSpan.FromSeconds(1))
        {
            Thread.Sleep(100);
            string now = Snapshot();
            if (now != last) { last = now; stable.Restart(); }
        }
    }

    /// <summary>Reaps every child until <paramref name="pid"/> exits; returns its wait status.</summary>
    private static int ReapUntil(int pid)
    {
        while (true)
        {
            var (p, status) = BootCalls.Wait();
            if (p == pid) return status;
            if (p < 0) throw new NativeInitException($"child {pid} vanished (waitpid: no child left)");
        }
    }

    private int Finish(string what, int exitCode)
    {
        // Reap what is left, flush, then end as asked.
        while (BootCalls.Wait(noHang: true).Pid > 0) { }
        BootCalls.Sync();
        if (what == "shell") return Rescue(null);
        if (!_isPid1)
        {
            Log($"not PID 1: would {what}; exiting with {exitCode}");
            return exitCode;
        }
        Log(what == "reboot" ? "rebooting" : "powering off");
        _out.Flush();
        try { BootCalls.Reboot(what == "reboot" ? RebootAction.Reboot : RebootAction.PowerOff); }
        catch (NativeInitException e) { return Rescue($"{what} failed: {e.Message}"); }
        return Rescue("reboot(2) returned");
    }

    /// <summary>Keeps the console usable: says what failed and how to recover, then runs a shell (again whenever it
    /// exits) or, in an image without a shell, idles reaping children. Never returns as PID 1.</summary>
    private int Rescue(string? failure)
    {
        if (failure is not null)
        {
            Log("FAILED: " + failure);
            Log("Nothing is retried automatically. If the conversion had not passed its point of no return, the old " +
                "system is intact: power the machine off and on (or 'reboot -f') and it boots the old system. After the " +
                "point of no return, 'nativeinit convert --disk DEV --yes' continues from the journal.");
        }
        if (!_isPid1) return failure is null ? 0 : 1;
        while (true)
        {
            try
            {
                if (File.Exists(ShellPath))
                {
                    Log($"starting {ShellPath} on the console (exit it to get a new one; 'reboot -f' or 'poweroff -f' to end)");
                    _out.Flush();
                    int pid = BootCalls.Spawn(ShellPath, ["sh"], Environment0);
                    ReapUntil(pid);
                    continue;
                }
                Log("no shell in this image: the console stays here; power the machine off when done");
                _out.Flush();
                while (true)
                {
                    if (BootCalls.Wait().Pid < 0) Thread.Sleep(TimeSpan.FromSeconds(60));
                }
            }
            catch (Exception e)
            {
                Log("rescue: " + e.Message);
                Thread.Sleep(TimeSpan.FromSeconds(5));
            }
        }
    }

    /// <summary>"clone3 x5, rseq x7" from an strace log with injected errors.</summary>
    public static string SummarizeInjections(string straceLog)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(straceLog))
        {
            if (!line.Contains("(INJECTED)", StringComparison.Ordinal)) continue;
            // "PID  name(args) = -1 ENOSYS (Function not implemented) (INJECTED)" or "PID  <... name resumed>...".
            var call = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries)[^1].TrimStart();
            int end = call.StartsWith("<... ", StringComparison.Ordinal) ? call.IndexOf(' ', 5) : call.IndexOf('(', StringComparison.Ordinal);
            if (end <= 0) continue;
            string name = call.StartsWith("<... ", StringComparison.Ordinal) ? call[5..end] : call[..end];
            counts[name] = counts.GetValueOrDefault(name) + 1;
        }
        return counts.Count == 0 ? "none" : string.Join(", ", counts.Select(kv => $"{kv.Key} x{kv.Value}"));
    }

    private static string SelfPath()
    {
        try { if (Environment.ProcessPath is { Length: > 0 } p && File.Exists(p)) return p; } catch (IOException) { }
        return "/init";
    }

    private static string ReadTrim(string path)
    {
        try { return File.ReadAllText(path).Trim(); } catch (IOException) { return "?"; }
    }

    private void Log(string message)
    {
        // PID 1 must outlive a console that fails a write (the kernel panics when init exits).
        try
        {
            string uptime = ReadTrim("/proc/uptime").Split(' ')[0];
            _out.WriteLine($"[{uptime,8}] nativeinit-init: {message}");
            _out.Flush();
        }
        catch (Exception e) when (e is IOException or NativeInitException)
        {
        }
    }

    /// <summary>True when this process should run the init flow: it is PID 1, or it was started as /init
    /// without arguments.</summary>
    public static bool ShouldRun(string[] args)
    {
        if (BootCalls.ProcessId == 1) return true;
        string argv0 = System.Environment.GetCommandLineArgs().FirstOrDefault() ?? "";
        return args.Length == 0 && argv0 == "/init";
    }
}
