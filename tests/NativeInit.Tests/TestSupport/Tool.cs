using System.Diagnostics;
using System.Text;

namespace NativeInit.Tests.TestSupport;

/// <summary>The result of running a process: exit code and captured output.</summary>
public sealed record ToolResult(int ExitCode, string Stdout, string Stderr, string CommandLine)
{
    public override string ToString() => $"$ {CommandLine}\nexit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs external programs (the published nativeinit, GNU tar, sgdisk, lvm2...) for integration tests.</summary>
public static class Tool
{
    /// <summary>Repository root (the folder holding NativeInit.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The published binary: $NATIVEINIT_BIN, else artifacts/nativeinit/nativeinit (tools/build makes it).</summary>
    public static string NativeInitBinary =>
        Environment.GetEnvironmentVariable("NATIVEINIT_BIN") is { Length: > 0 } p ? p : Path.Combine(RepoRoot, "artifacts", "nativeinit", "nativeinit");

    /// <summary>Skips the test when the published binary is missing (run tools/build, or tools/test which does).</summary>
    public static string RequireNativeInit()
    {
        Skip.IfNot(File.Exists(NativeInitBinary), $"{NativeInitBinary} not found: run tools/build first");
        return NativeInitBinary;
    }

    public static bool Exists(string program) =>
        program.Contains('/') ? File.Exists(program) :
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Concat(["/usr/sbin", "/sbin"])
            .Any(d => File.Exists(Path.Combine(d, program)));

    /// <summary>Skips the test unless every program is installed (tools/setup installs them).</summary>
    public static void Require(params string[] programs)
    {
        foreach (var p in programs) Skip.IfNot(Exists(p), $"{p} is not installed (tools/setup installs it)");
    }

    /// <summary>For a check inside a test that needs a program: skips the test when it is missing (a skip fails
    /// tools/test under CI=true), never drops the check silently. Returns true.</summary>
    public static bool Required(string program)
    {
        Require(program);
        return true;
    }

    public static void RequireRoot() => Skip.IfNot(Environment.UserName == "root", "needs root (loop devices, mknod, chown)");

    public static ToolResult Run(string program, IEnumerable<string> args, string? stdin = null, string? workingDirectory = null,
        TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        string line = program + " " + string.Join(' ', psi.ArgumentList.Select(Quote));
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {program}");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (stdin is not null) { p.StandardInput.Write(stdin); p.StandardInput.Close(); }
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"timed out: {line}");
        }
        p.WaitForExit();
        return new ToolResult(p.ExitCode, stdout.ToString(), stderr.ToString(), line);
    }

    public static ToolResult Run(string program, params string[] args) => Run(program, (IEnumerable<string>)args);

    /// <summary>Runs and asserts exit code 0, returning standard output.</summary>
    public static string Check(string program, params string[] args)
    {
        var r = Run(program, args);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    /// <summary>Runs a shell snippet with bash -euo pipefail; asserts success.</summary>
    public static string Sh(string script, string? workingDirectory = null)
    {
        var r = Run("/bin/bash", ["-euo", "pipefail", "-c", script], workingDirectory: workingDirectory);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    public static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    private static string FindRepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "NativeInit.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("NativeInit.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A temporary directory removed on Dispose, unless $NATIVEINIT_KEEP_TEMP is set (non-empty, not "0"): then it
/// stays and its path is printed, so that a failing test's images can be inspected.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string? under = null)
    {
        Path = System.IO.Path.Combine(under ?? System.IO.Path.GetTempPath(), "nativeinit-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public static bool KeepRequested => Environment.GetEnvironmentVariable("NATIVEINIT_KEEP_TEMP") is { Length: > 0 } v && v != "0";

    public void Dispose()
    {
        if (KeepRequested)
        {
            Console.Error.WriteLine($"NATIVEINIT_KEEP_TEMP: keeping {Path}");
            return;
        }
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
