using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace NativeInit.Tests.TestSupport;

/// <summary>Runs a program and sends it a signal (kill -SIG PID, from outside, as an operator's Ctrl-C, a hung-up
/// terminal or systemd would) when a line of its standard output or error matches.</summary>
public static class SignalRun
{
    /// <summary>Starts <paramref name="program"/> through <c>env --default-signal=INT,QUIT</c> (coreutils 8.31; env
    /// execs it, so the process id is the program's): a process inherits SIG_IGN across exec, and a shell without job
    /// control starts its background commands with SIGINT and SIGQUIT ignored (POSIX), so a test run started with `&amp;`
    /// would otherwise hand the program an ignored SIGINT, which the .NET runtime then never reports (seen: every
    /// SIGINT test of a run so started waited its minute and failed; the SIGTERM ones passed).</summary>
    public static ProcessStartInfo StartInfo(string program, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("env") { UseShellExecute = false };
        psi.ArgumentList.Add("--default-signal=INT,QUIT");
        psi.ArgumentList.Add(program);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>Runs <paramref name="program"/>; when a line (stdout or stderr) satisfies <paramref name="when"/>
    /// sends <paramref name="signal"/> ("INT", "TERM", "HUP") once. Asserts that the signal was sent while the process
    /// ran.</summary>
    public static ToolResult Run(string program, IEnumerable<string> args, Func<string, bool> when, string signal, TimeSpan? timeout = null)
    {
        var psi = StartInfo(program, args);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        int sent = 0;
        string? killResult = null;
        void Line(StringBuilder to, string? line)
        {
            if (line is null) return;
            lock (to) to.AppendLine(line);
            if (when(line) && Interlocked.Exchange(ref sent, 1) == 0)
            {
                var k = Tool.Run("kill", "-" + signal, p.Id.ToString(CultureInfo.InvariantCulture));
                killResult = k.ExitCode == 0 ? null : k.ToString();
            }
        }
        p.OutputDataReceived += (_, e) => Line(stdout, e.Data);
        p.ErrorDataReceived += (_, e) => Line(stderr, e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException($"{program} did not end"); }
        p.WaitForExit();
        var result = new ToolResult(p.ExitCode, stdout.ToString(), stderr.ToString(), $"{string.Join(' ', psi.ArgumentList.Skip(1))} (kill -{signal})");
        Assert.True(sent == 1, $"no line matched, SIG{signal} was not sent:\n{result}");
        Assert.True(killResult is null, $"kill -{signal} failed (the process had ended?): {killResult}\n{result}");
        return result;
    }

    /// <summary>Runs <paramref name="program"/> with the test hook NATIVEINIT_TEST_WAIT_AT=<paramref name="point"/>
    /// (Common/TestHooks.WaitAt); once it waits there sends <paramref name="signal"/>, lets it go on and returns
    /// when it ends.</summary>
    public static ToolResult AtPoint(string program, IEnumerable<string> args, string point, string signal, string dir)
    {
        string waitFile = Path.Combine(dir, "wait-" + point);
        var psi = StartInfo(program, args);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.Environment["NATIVEINIT_TEST_HOOKS"] = "1";
        psi.Environment["NATIVEINIT_TEST_WAIT_AT"] = point;
        psi.Environment["NATIVEINIT_TEST_WAIT_FILE"] = waitFile;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var until = DateTime.UtcNow.AddSeconds(120);
        while (!File.Exists(waitFile))
        {
            if (p.HasExited) Assert.Fail($"exited ({p.ExitCode}) before reaching {point}\n{stdout.Result}\n{stderr.Result}");
            Assert.True(DateTime.UtcNow < until, $"did not reach {point} within 120 s");
            Thread.Sleep(20);
        }
        Tool.Check("kill", "-" + signal, p.Id.ToString(CultureInfo.InvariantCulture));
        if (signal is "INT" or "TERM")
        {
            // The run leaves its wait point (and removes the file) once its signal thread has recorded the signal: no
            // guessed delay, which a loaded machine can outlast.
            var recorded = DateTime.UtcNow.AddSeconds(60);
            while (File.Exists(waitFile) && !p.HasExited && DateTime.UtcNow < recorded) Thread.Sleep(20);
            Assert.False(File.Exists(waitFile) && !p.HasExited, $"SIG{signal} was not recorded within 60 s at {point}");
        }
        else Thread.Sleep(200); // SIGHUP is ignored, never recorded: give a missing handler time to kill the process
        File.Delete(waitFile);
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException($"{program} did not end"); }
        p.WaitForExit();
        return new ToolResult(p.ExitCode, stdout.Result, stderr.Result, $"{string.Join(' ', psi.ArgumentList.Skip(1))} (kill -{signal} at {point})");
    }
}
