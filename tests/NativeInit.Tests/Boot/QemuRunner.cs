using System.Diagnostics;
using System.Text;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>What a QEMU boot printed on its serial console, and how it ended.</summary>
internal sealed record QemuOutcome(bool SawOk, string? Failure, bool TimedOut, int? ExitCode, string Console, string CommandLine, TimeSpan Elapsed)
{
    /// <summary>The console line holding the first success marker, if any.</summary>
    public string? SuccessLine { get; init; }

    public string Tail(int lines = 60)
    {
        var all = Console.Replace("\r", "", StringComparison.Ordinal).Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    public string Report() =>
        $"QEMU boot {(SawOk ? "passed" : "FAILED")} after {Elapsed.TotalSeconds:0} s" +
        (TimedOut ? " (timed out)" : ExitCode is { } c ? $" (qemu exit {c})" : "") +
        (Failure is null ? "" : $"\nfailure: {Failure}") +
        $"\nreproduce with:\n  {CommandLine}\n--- console (last lines)\n{Tail()}";
}

/// <summary>
/// Boots QEMU with software emulation (TCG; <c>NATIVEINIT_QEMU_ACCEL=kvm</c> switches) and watches the serial console
/// for markers: a kernel + initramfs with a scratch disk on virtio (serial "nativeinit-scratch") for the self-test, or
/// any machine described by <see cref="QemuOptions"/> (drives, BIOS boot of a disk image, NIC, markers).
/// </summary>
internal static partial class QemuRunner
{
    /// <summary>Terminal control sequences (CSI: ESC [ parameters letter) in a console's output.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]")]
    private static partial System.Text.RegularExpressions.Regex CursorMoves();

    public const string ScratchSerial = "nativeinit-scratch";

    public static void RequireQemu() =>
        Skip.IfNot(Tool.Exists("qemu-system-x86_64"), "qemu-system-x86_64 is not installed (tools/setup installs qemu-system-x86)");

    public static QemuOutcome BootSelftest(string kernel, string initrd, string scratchImage, string extraAppend, TimeSpan timeout,
        string? bundleDiskImage = null) =>
        Boot(kernel, initrd, scratchImage,
            $"console=ttyS0 panic=1 loglevel=4 rd.nativeinit=selftest rd.nativeinit.disk=serial:{ScratchSerial} rd.nativeinit.onfail=poweroff " + extraAppend,
            timeout, [], bundleDiskImage);

    /// <summary>Boots and, whenever a console line contains a trigger of <paramref name="script"/>, types its input
    /// (once per trigger). Ends when QEMU exits, on a failure marker, or at the timeout.</summary>
    public static QemuOutcome Boot(string kernel, string initrd, string scratchImage, string append, TimeSpan timeout,
        IReadOnlyList<(string Trigger, string Input)> script, string? bundleDiskImage = null, bool failOnInitFailure = true) =>
        Boot(new QemuOptions
        {
            Kernel = kernel, Initrd = initrd, Append = append, Timeout = timeout, Script = script,
            Drives =
            [
                new QemuDrive(scratchImage, Interface: "virtio", Serial: ScratchSerial, Id: "scratch"),
                // The disk holding the bundle, as stage one leaves it: on IDE (ata_piix, sd_mod), found by searching.
                .. (bundleDiskImage is null ? Array.Empty<QemuDrive>() : [new QemuDrive(bundleDiskImage)]),
            ],
            FailureMarkers = failOnInitFailure ? [.. QemuOptions.SelftestFailureMarkers, ": FAILED: "] : QemuOptions.SelftestFailureMarkers,
        });

    /// <summary>The QEMU arguments for <paramref name="o"/> (without the program name).</summary>
    public static IReadOnlyList<string> Arguments(QemuOptions o)
    {
        var args = new List<string> { "-machine", $"{o.Machine},accel={QemuOptions.Accelerator}", "-m", o.MemoryMiB.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-smp", o.Cpus.ToString(System.Globalization.CultureInfo.InvariantCulture), "-nographic" };
        if (!o.Reboot) args.Add("-no-reboot");
        if (o.Kernel is not null) args.AddRange(["-kernel", o.Kernel]);
        if (o.Initrd is not null) args.AddRange(["-initrd", o.Initrd]);
        if (o.Append is not null) args.AddRange(["-append", o.Append.Trim()]);
        for (int i = 0; i < o.Drives.Count; i++)
        {
            var d = o.Drives[i];
            string id = d.Id ?? $"drive{i}";
            string snapshot = d.Snapshot ? ",snapshot=on" : "";
            if (d.Interface == "ide" && d.Serial is null) args.AddRange(["-drive", $"file={d.File},if=ide,format={d.Format}{snapshot}"]);
            else
            {
                string device = d.Interface switch
                {
                    "virtio" => "virtio-blk-pci",
                    "ide" => "ide-hd",
                    var other => throw new ArgumentException($"drive {d.File}: interface '{other}' is not virtio or ide"),
                };
                args.AddRange(["-drive", $"file={d.File},if=none,id={id},format={d.Format}{snapshot}",
                    "-device", $"{device},drive={id}" + (d.Serial is null ? "" : $",serial={d.Serial}")]);
            }
        }
        // A NIC so that the guest has eth0 (user networking; nothing in the guest needs to reach it; no iPXE option ROM).
        if (o.Network) args.AddRange(["-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,romfile="]);
        args.AddRange(o.ExtraArguments);
        return args;
    }

    /// <summary>Boots as <paramref name="o"/> says. Ends when QEMU exits, on a failure marker, at the timeout, or
    /// (with <see cref="QemuOptions.StopOnSuccess"/>) as soon as a success marker is seen.</summary>
    public static QemuOutcome Boot(QemuOptions o)
    {
        var args = Arguments(o);
        string line = "qemu-system-x86_64 " + string.Join(' ', args.Select(Tool.Quote));
        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var console = new StringBuilder();
        long consoleChars = 0; // every character read from the console so far (under the console lock)
        var done = new ManualResetEventSlim();
        var success = new ManualResetEventSlim();
        bool ok = false;
        string? failure = null, successLine = null;
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        // Input is typed a character at a time, as a person would: QEMU's -nographic console (a mux chardev) holds
        // only 32 bytes for a guest that reads its UART slowly (GRUB echoing every key under TCG) and drops the rest.
        var keys = new System.Collections.Concurrent.BlockingCollection<string>();
        var typist = new Thread(() =>
        {
            try
            {
                foreach (var input in keys.GetConsumingEnumerable())
                    foreach (char c in input)
                    {
                        // Paced by the guest's echo (GRUB and a shell echo every key): the next key goes once the
                        // console has shown something after this one, or after EchoWait. A fixed delay alone was too
                        // short on a loaded machine: GRUB's line editor, still redrawing, took keys out of order.
                        long before;
                        lock (console) before = consoleChars;
                        p.StandardInput.Write(c);
                        p.StandardInput.Flush();
                        var echoBy = DateTime.UtcNow + o.EchoWait;
                        while (DateTime.UtcNow < echoBy)
                        {
                            lock (console) if (consoleChars > before) break;
                            Thread.Sleep(5);
                        }
                        Thread.Sleep(o.KeyDelay);
                    }
            }
            catch (IOException) { } // QEMU has exited
        }) { IsBackground = true };
        typist.Start();
        // Script entries fire in order, each once, on a console line after the one where the previous entry fired
        // (so the same prompt can be answered line by line: a guest busy with one command, GRUB loading a kernel,
        // reads no input, and what was typed ahead can stay stuck in QEMU's console).
        int nextEntry = 0, lines = 0, firedOnLine = -1;
        void Type(string text)
        {
            if (nextEntry >= o.Script.Count || lines == firedOnLine) return;
            var (trigger, input) = o.Script[nextEntry];
            // Triggers are matched without the terminal's cursor moves, which GRUB's console (SeaBIOS's serial
            // console under it) puts anywhere in its output, even inside "grub>" ("grub\e[25;04H\e[25;05H> ").
            if (text.Contains('\u001b')) text = CursorMoves().Replace(text, "");
            if (!text.Contains(trigger, StringComparison.Ordinal)) return;
            keys.Add(input);
            nextEntry++;
            firedOnLine = lines;
        }
        void OnLine(string? l)
        {
            if (l is null) return;
            lock (console)
            {
                console.AppendLine(l);
                Type(l);
                lines++;
                if (o.SuccessMarkers.Any(m => l.Contains(m, StringComparison.Ordinal)))
                {
                    ok = true;
                    successLine ??= l.Trim();
                    success.Set();
                }
                else if (o.FailureMarkers.Any(m => l.Contains(m, StringComparison.Ordinal)) ||
                         o.LineStartFailureMarkers.Any(m => l.TrimStart().StartsWith(m, StringComparison.Ordinal)))
                {
                    failure ??= l.Trim();
                    done.Set();
                }
            }
        }
        // The console is read in chunks, not lines: GRUB's prompts ("grub> ") and its menu end without a newline, and a
        // script's trigger may be in the line not yet ended.
        var partial = new StringBuilder();
        var reader = new Thread(() =>
        {
            var buf = new char[4096];
            int n;
            while ((n = p.StandardOutput.Read(buf, 0, buf.Length)) > 0)
                lock (console)
                {
                    consoleChars += n;
                    for (int i = 0; i < n; i++)
                    {
                        if (buf[i] != '\n') { partial.Append(buf[i]); continue; }
                        OnLine(partial.ToString().TrimEnd('\r'));
                        partial.Clear();
                    }
                    if (partial.Length == 0) continue;
                    string tail = partial.ToString(Math.Max(0, partial.Length - 512), Math.Min(partial.Length, 512));
                    Type(tail);
                    // A prompt waiting for input (GRUB's "grub> " when nothing is scripted for it) fails the boot now.
                    if (o.PromptFailureMarkers.FirstOrDefault(m => tail.EndsWith(m, StringComparison.Ordinal)) is { } prompt && !o.Script.Skip(nextEntry).Any(x => x.Trigger.Trim() == prompt.Trim()))
                    {
                        failure ??= $"waiting at the prompt '{prompt.Trim()}'";
                        done.Set();
                    }
                }
            lock (console) if (partial.Length > 0) OnLine(partial.ToString());
        }) { IsBackground = true };
        reader.Start();
        p.ErrorDataReceived += (_, e) => OnLine(e.Data);
        p.BeginErrorReadLine();
        bool exited = false;
        while (clock.Elapsed < o.Timeout)
        {
            if (p.WaitForExit(500)) { exited = true; break; }
            // After a failure marker give the guest a moment to print its recovery text, then stop it.
            if (done.IsSet) { p.WaitForExit(5000); break; }
            if (o.StopOnSuccess && success.IsSet) break;
        }
        if (!p.HasExited) { try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } p.WaitForExit(); }
        else p.WaitForExit();
        reader.Join(5000);
        keys.CompleteAdding();
        string text;
        lock (console) text = console.ToString();
        bool stoppedOnSuccess = o.StopOnSuccess && success.IsSet;
        return new QemuOutcome(ok && failure is null, failure, !exited && !done.IsSet && !stoppedOnSuccess, exited ? p.ExitCode : null, text, line,
            clock.Elapsed) { SuccessLine = successLine };
    }
}

/// <summary>
/// Boots a whole disk image through the machine's firmware (SeaBIOS on -machine pc), as a real gateway boots: the
/// MBR, GRUB, then whatever GRUB loads. Reads the serial console character by character (GRUB's prompts end without
/// a newline) and ends when QEMU exits, at the timeout, or a few seconds after <c>okMarker</c> or a failure marker.
/// </summary>
internal static class QemuDiskBoot
{
    /// <summary>Console texts that mean the boot went wrong: GRUB's prompts (no grub.cfg, or a failed command), its
    /// errors, a kernel panic.</summary>
    public static readonly string[] FailureMarkers = ["grub rescue>", "grub>", "\nerror: ", "Kernel panic"];

    public static QemuOutcome Boot(string diskImage, string okMarker, TimeSpan timeout, int memoryMiB = 512)
    {
        string accel = Environment.GetEnvironmentVariable("NATIVEINIT_QEMU_ACCEL") is { Length: > 0 } a ? a : "tcg";
        string[] args =
        [
            "-machine", $"pc,accel={accel}", "-m", memoryMiB.ToString(System.Globalization.CultureInfo.InvariantCulture), "-smp", "1",
            "-nographic", "-no-reboot", "-drive", $"file={diskImage},format=raw,if=ide",
        ];
        string line = "qemu-system-x86_64 " + string.Join(' ', args.Select(Tool.Quote));
        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var x in args) psi.ArgumentList.Add(x);
        var console = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var reader = new Thread(() =>
        {
            var buf = new char[4096];
            int n;
            while ((n = p.StandardOutput.Read(buf, 0, buf.Length)) > 0)
                lock (console) console.Append(buf, 0, n);
        }) { IsBackground = true };
        reader.Start();
        bool ok = false, exited = false;
        string? failure = null;
        TimeSpan? endAt = null;
        while (clock.Elapsed < timeout)
        {
            if (p.WaitForExit(250)) { exited = true; break; }
            string text;
            lock (console) text = console.ToString();
            if (!ok && text.Contains(okMarker, StringComparison.Ordinal)) { ok = true; endAt ??= clock.Elapsed + TimeSpan.FromSeconds(10); }
            if (failure is null && FailureMarkers.FirstOrDefault(m => text.Contains(m, StringComparison.Ordinal)) is { } f)
            {
                failure = $"console shows '{f}'";
                endAt = clock.Elapsed + TimeSpan.FromSeconds(3);
            }
            if (endAt is { } e && clock.Elapsed > e) break;
        }
        if (!p.HasExited) { try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }
        p.WaitForExit();
        reader.Join(5000);
        string all;
        lock (console) all = console.ToString();
        if (!ok && all.Contains(okMarker, StringComparison.Ordinal)) ok = true;
        if (failure is null && FailureMarkers.FirstOrDefault(m => all.Contains(m, StringComparison.Ordinal)) is { } f2) failure = $"console shows '{f2}'";
        if (stderr.Result.Length > 0) all += "\n--- qemu stderr\n" + stderr.Result;
        return new QemuOutcome(ok && failure is null, failure, !exited && !ok && failure is null, exited ? p.ExitCode : null, all, line, clock.Elapsed);
    }
}

/// <summary>One disk of a QEMU machine: a raw (or qcow2) image on IDE or virtio-blk, with an optional serial (what
/// the guest finds it by) and <paramref name="Snapshot"/> to discard the guest's writes.</summary>
internal sealed record QemuDrive(string File, string Format = "raw", string Interface = "ide", string? Serial = null, bool Snapshot = false,
    string? Id = null);

/// <summary>What <see cref="QemuRunner.Boot(QemuOptions)"/> starts: either a kernel + initramfs (direct boot) or,
/// without <see cref="Kernel"/>, the firmware boots the first disk (BIOS, as a gateway does).</summary>
internal sealed record QemuOptions
{
    public static readonly IReadOnlyList<string> SelftestFailureMarkers = ["NATIVEINIT-SELFTEST-FAIL", "Kernel panic"];

    /// <summary>The accelerator: $NATIVEINIT_QEMU_ACCEL (e.g. kvm where /dev/kvm exists), default tcg.</summary>
    public static string Accelerator => Environment.GetEnvironmentVariable("NATIVEINIT_QEMU_ACCEL") is { Length: > 0 } a ? a : "tcg";

    public string? Kernel { get; init; }
    public string? Initrd { get; init; }
    public string? Append { get; init; }
    public IReadOnlyList<QemuDrive> Drives { get; init; } = [];
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(4);
    public int MemoryMiB { get; init; } = 768;
    public string Machine { get; init; } = "pc";
    public bool Network { get; init; }
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
    public IReadOnlyList<(string Trigger, string Input)> Script { get; init; } = [];
    public IReadOnlyList<string> SuccessMarkers { get; init; } = ["NATIVEINIT-SELFTEST-OK"];
    public IReadOnlyList<string> FailureMarkers { get; init; } = SelftestFailureMarkers;
    /// <summary>Prompts (the end of the console, no newline after them) that fail the boot unless a script entry
    /// answers them: GRUB's, when it found no configuration or a command failed.</summary>
    public IReadOnlyList<string> PromptFailureMarkers { get; init; } = ["grub> ", "grub rescue> "];
    /// <summary>Line beginnings that fail the boot (GRUB's "error: " lines, which the kernel's never start with).</summary>
    public IReadOnlyList<string> LineStartFailureMarkers { get; init; } = [];
    /// <summary>Pause after each typed character of <see cref="Script"/>.</summary>
    public TimeSpan KeyDelay { get; init; } = TimeSpan.FromMilliseconds(25);
    /// <summary>How long a typed key waits for the guest's echo before the next one goes anyway (a prompt that does
    /// not echo, such as a password's, costs this per key).</summary>
    public TimeSpan EchoWait { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Stop the machine as soon as a success marker is seen (a full system that does not power off).</summary>
    public bool StopOnSuccess { get; init; }

    /// <summary>A reboot of the guest restarts it in the same QEMU process (no -no-reboot): for runs through several boots.</summary>
    public bool Reboot { get; init; }

    /// <summary>-smp: virtual CPUs.</summary>
    public int Cpus { get; init; } = 1;
}
