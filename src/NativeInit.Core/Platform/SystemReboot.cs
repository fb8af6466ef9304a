using System.Diagnostics;

namespace NativeInit.Core.Platform;

/// <summary>
/// Asks the running system's init to reboot (systemctl reboot where systemd is, else reboot), the one place that does
/// so. PID 1 of the minimal initramfs reboots through the reboot(2) system call instead (<see cref="BootCalls"/>).
/// </summary>
public static class SystemReboot
{
    /// <summary>Starts the reboot; throws when the tool cannot be started or fails (the caller says what is staged).</summary>
    public static void Request(string root = "/")
    {
        bool systemd = File.Exists(Path.Combine(root, "usr/bin/systemctl")) || File.Exists(Path.Combine(root, "bin/systemctl"));
        string tool = systemd ? "systemctl" : "reboot";
        var psi = new ProcessStartInfo(tool) { UseShellExecute = false };
        if (systemd) psi.ArgumentList.Add("reboot");
        Process p;
        try { p = Process.Start(psi) ?? throw new NativeInitException($"cannot start {tool}"); }
        catch (System.ComponentModel.Win32Exception e) { throw new NativeInitException($"cannot start {tool}: {IoErrors.Reason(e)}", ExitCodes.Failure, e); }
        using (p)
        {
            p.WaitForExit();
            if (p.ExitCode != 0) throw new NativeInitException($"{tool} failed with exit code {p.ExitCode}");
        }
    }
}
