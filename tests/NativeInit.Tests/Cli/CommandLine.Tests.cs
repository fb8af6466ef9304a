using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Cli;

/// <summary>The published binary's conventions: --version, --help, COMMAND --help, exit code 2 on usage errors.</summary>
[Trait("Category", "Integration")]
public class CommandLineTests
{
    [SkippableFact]
    public void Version_prints_name_and_version()
    {
        var r = Tool.Run(Tool.RequireNativeInit(), "--version");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^nativeinit \d+\.\d+\.\d+\s*$", r.Stdout);
    }

    [SkippableFact]
    public void Output_on_a_terminal_has_no_escape_sequences()
    {
        // System.Console sends ESC[?1h ESC= to a TTY on its first write; on a serial console that is garbage.
        string bin = Tool.RequireNativeInit();
        Tool.Require("script");
        var r = Tool.Run("script", "-qec", bin + " --version", "/dev/null");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("nativeinit ", r.Stdout);
        Assert.DoesNotContain('\u001b', r.Stdout);
    }

    [SkippableFact]
    public void Output_to_a_shared_log_file_keeps_the_order_of_writes()
    {
        // stdout and stderr sharing one file (>log 2>&1) with other writers: every write appends in order.
        string bin = Tool.RequireNativeInit();
        using var dir = new TempDir();
        string log = dir.Combine("log");
        Tool.Sh($"{{ echo first; {Tool.Quote(bin)} --version; {Tool.Quote(bin)} frobnicate || true; echo last; }} >{Tool.Quote(log)} 2>&1");
        var lines = File.ReadAllLines(log);
        Assert.Equal(4, lines.Length);
        Assert.Equal("first", lines[0]);
        Assert.StartsWith("nativeinit ", lines[1]);
        Assert.Contains("'frobnicate' is not a command", lines[2]);
        Assert.Equal("last", lines[3]);
    }

    [SkippableFact]
    public void Help_lists_every_command()
    {
        var r = Tool.Run(Tool.RequireNativeInit(), "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("extract", r.Stdout);
        Assert.Contains("Exit codes", r.Stdout);
    }

    [SkippableFact]
    public void Command_help_shows_usage_and_options()
    {
        var r = Tool.Run(Tool.RequireNativeInit(), "extract", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Usage: nativeinit extract ARCHIVE --to DIR", r.Stdout);
        Assert.Contains("--stats[=json]", r.Stdout);
    }

    [SkippableTheory]
    [InlineData(new string[0], "Usage: nativeinit COMMAND")]
    [InlineData(new[] { "frobnicate" }, "'frobnicate' is not a command")]
    [InlineData(new[] { "extract", "a.tar", "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "extract" }, "missing argument")]
    [InlineData(new[] { "extract", "a.tar", "--to" }, "option --to needs a value")]
    [InlineData(new[] { "extract", "a.tar", "--progress=yes" }, "option --progress takes no value")]
    public void Usage_errors_exit_2_with_a_message(string[] args, string message)
    {
        var r = Tool.Run(Tool.RequireNativeInit(), args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stdout + r.Stderr);
    }
}
