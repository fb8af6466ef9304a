using System.Diagnostics;
using System.Text;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>What a QEMU boot printed on its serial console, and how it ended.</summary>
internal sealed record QemuOutcome(bool SawOk, string? Failure, bool TimedOut, int? ExitCode, string Console, string CommandLine, TimeSpan Elapsed)
{
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
/// Boots a kernel and an initramfs in QEMU with software emulation (no KVM needed) and a scratch disk on virtio
/// with the serial "nativeinit-scratch", and watches the serial console for the self-test's markers.
/// </summary>
internal static class QemuRunner
{
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
        IReadOnlyList<(string Trigger, string Input)> script, string? bundleDiskImage = null, bool failOnInitFailure = true)
    {
        string[] args =
        [
            "-machine", "accel=tcg", "-m", "768", "-smp", "1", "-nographic", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd, "-append", append.Trim(),
            "-drive", $"file={scratchImage},if=none,id=scratch,format=raw",
            "-device", $"virtio-blk-pci,drive=scratch,serial={ScratchSerial}",
            // The disk holding the bundle, as stage one leaves it: on IDE (ata_piix, sd_mod), found by searching.
            .. (bundleDiskImage is null ? Array.Empty<string>() : ["-drive", $"file={bundleDiskImage},if=ide,format=raw"]),
        ];
        string line = "qemu-system-x86_64 " + string.Join(' ', args.Select(Tool.Quote));
        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var console = new StringBuilder();
        var done = new ManualResetEventSlim();
        bool ok = false;
        string? failure = null;
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var typed = new HashSet<string>(StringComparer.Ordinal);
        void OnLine(string? l)
        {
            if (l is null) return;
            lock (console)
            {
                console.AppendLine(l);
                foreach (var (trigger, input) in script)
                    if (l.Contains(trigger, StringComparison.Ordinal) && typed.Add(trigger))
                    {
                        p.StandardInput.Write(input);
                        p.StandardInput.Flush();
                    }
                if (l.Contains("NATIVEINIT-SELFTEST-OK", StringComparison.Ordinal)) { ok = true; }
                else if (l.Contains("NATIVEINIT-SELFTEST-FAIL", StringComparison.Ordinal) || l.Contains("Kernel panic", StringComparison.Ordinal) ||
                         (failOnInitFailure && l.Contains(": FAILED: ", StringComparison.Ordinal)))
                {
                    failure ??= l.Trim();
                    done.Set();
                }
            }
        }
        p.OutputDataReceived += (_, e) => OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => OnLine(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool exited = false;
        while (clock.Elapsed < timeout)
        {
            if (p.WaitForExit(500)) { exited = true; break; }
            // After a failure marker give the guest a moment to print its recovery text, then stop it.
            if (done.IsSet) { p.WaitForExit(5000); break; }
        }
        if (!p.HasExited) { try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } p.WaitForExit(); }
        else p.WaitForExit();
        string text;
        lock (console) text = console.ToString();
        return new QemuOutcome(ok && failure is null, failure, !exited && !done.IsSet, exited ? p.ExitCode : null, text, line, clock.Elapsed);
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
