using System.Text.RegularExpressions;
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
    [InlineData(new[] { "gpt", "frob" }, "'gpt frob' is not a command; try one of: gpt show, gpt apply")]
    [InlineData(new[] { "gpt" }, "'gpt' is not a command; try one of: gpt show, gpt apply")]
    [InlineData(new[] { "extract", "a.tar", "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "extract" }, "missing argument ARCHIVE")]
    [InlineData(new[] { "extract", "a.tar", "--to" }, "option --to needs a value (DIR)")]
    [InlineData(new[] { "extract", "a.tar", "--progress=yes" }, "option --progress takes no value")]
    [InlineData(new[] { "extract", "a.tar", "--to", "d", "--to", "e" }, "option --to given twice")]
    [InlineData(new[] { "extract", "a.tar", "-n", "-n" }, "option --dry-run given twice")]
    [InlineData(new[] { "extract", "a.tar", "--to", "d", "--stats=xml" }, "option --stats takes no value or =json, not 'xml'")]
    [InlineData(new[] { "decompress", "f.xz", "-j", "many" }, "--threads expects an integer from 0 to 256, not 'many'")]
    [InlineData(new[] { "decompress", "f.xz", "--memory-limit", "lots" }, "--memory-limit expects a size such as 512MiB, not 'lots'")]
    [InlineData(new[] { "gpt", "show" }, "missing argument DISK")]
    [InlineData(new[] { "gpt", "show", "a.img", "b.img" }, "unexpected argument 'b.img'")]
    [InlineData(new[] { "gpt", "apply", "t.gpt", "--disk", "d.img", "--sector-size", "4k" }, "--sector-size expects an integer from 512 to 4096, not '4k'")]
    [InlineData(new[] { "lvm", "show", "pv.img", "--partition", "0" }, "--partition expects an integer from 1 to 128, not '0'")]
    [InlineData(new[] { "lvm", "activate" }, "missing argument PV-DEVICE")]
    [InlineData(new[] { "layout", "plan", "--layout", "l.json", "--frob" }, "unknown option '--frob'")]
    [InlineData(new[] { "layout", "apply", "--layout", "l.json" }, "give exactly one of --disk DEV or --image FILE")]
    [InlineData(new[] { "bundle", "keygen", "--public", "p", "--private" }, "option --private needs a value (FILE)")]
    [InlineData(new[] { "initramfs", "extra", "--output", "x" }, "unexpected argument 'extra'")]
    [InlineData(new[] { "slots", "-x" }, "unknown option '-x'")]
    [InlineData(new[] { "gpt", "show", "--no-such-option" }, "unknown option '--no-such-option'")]
    [InlineData(new[] { "gpt", "show", "-q" }, "unknown option '-q'")]
    [InlineData(new[] { "completion", "zsh" }, "'zsh' is not a supported shell")]
    public void Usage_errors_exit_2_with_a_message(string[] args, string message)
    {
        var r = Tool.Run(Tool.RequireNativeInit(), args);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(message, r.Stdout + r.Stderr);
        if (args.Length == 0) return;
        // One line names the offending word; the next lines give the usage and point at --help.
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(message, lines[0]);
        Assert.Contains("--help'", lines[^1]);
        if (lines.Length > 1) Assert.StartsWith("Usage: nativeinit " + args[0], lines[1]);
        Assert.Equal("", r.Stdout);
    }

    [SkippableFact]
    public void A_usage_error_with_json_is_also_a_json_error_object()
    {
        var r = Tool.Run(Tool.RequireNativeInit(), "gpt", "show", "--json");
        Assert.Equal(2, r.ExitCode);
        JsonSchemaFiles.AssertValid("error", r.Stdout, "gpt show --json without DISK");
        Assert.Contains("\"kind\": \"usage\"", r.Stdout);
        Assert.Contains("missing argument DISK", r.Stdout);
    }

    [SkippableFact]
    public void Help_before_or_after_the_command_and_help_word_print_the_same()
    {
        string ni = Tool.RequireNativeInit();
        string help = Tool.Check(ni, "lvm", "show", "--help");
        Assert.StartsWith("Usage: nativeinit lvm show DEVICE", help);
        Assert.Equal(help, Tool.Check(ni, "lvm", "show", "-h"));
        Assert.Equal(help, Tool.Check(ni, "help", "lvm", "show"));
        Assert.Equal(help, Tool.Check(ni, "--help", "lvm", "show"));
        // Help wins over a usage error on the same line, as before.
        Assert.Equal(help, Tool.Check(ni, "lvm", "show", "--bogus", "--help"));
        Assert.Equal(Tool.Check(ni, "--help"), Tool.Check(ni, "-h"));
        Assert.Equal(Tool.Check(ni, "--version"), Tool.Check(ni, "-V"));
    }

    /// <summary>The options a command accepts, from the parser's own tree: System.CommandLine's [suggest] directive
    /// (what shell completion calls) lists every option of the command at "COMMAND -".</summary>
    private static List<string> OptionsFromTheTree(string ni, string command)
    {
        string line = command + " -";
        return Tool.Check(ni, $"[suggest:{line.Length}]", line).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(o => o.StartsWith('-') && o is not ("--help" or "-h")).ToList();
    }

    private static List<string> CommandNames(string ni) =>
        Regex.Matches(Tool.Check(ni, "--help"), @"^  ([a-z-]+(?: [a-z-]+)?)  ", RegexOptions.Multiline).Select(m => m.Groups[1].Value).Where(n => n[0] != '-').ToList();

    [SkippableFact]
    public void Every_command_help_names_every_option_it_accepts_and_accepts_every_option_it_names()
    {
        string ni = Tool.RequireNativeInit();
        var names = CommandNames(ni);
        Assert.True(names.Count >= 24, string.Join(", ", names));
        var problems = new List<string>();
        int checkedOptions = 0;
        foreach (var name in names)
        {
            var accepted = OptionsFromTheTree(ni, name);
            string help = Tool.Check(ni, [.. name.Split(' '), "--help"]);
            foreach (var option in accepted)
            {
                checkedOptions++;
                string listed = option.StartsWith("--", StringComparison.Ordinal)
                    ? @"^  (-\w, )?" + Regex.Escape(option) + @"(?![\w-])"
                    : "^  " + Regex.Escape(option) + ", ";
                if (!Regex.IsMatch(help, listed, RegexOptions.Multiline))
                    problems.Add($"{name}: accepts {option}, but its help does not list it");
            }
            foreach (Match m in Regex.Matches(help, @"^  (?:(-\w), )?(--[a-z-]+)", RegexOptions.Multiline))
            {
                if (!accepted.Contains(m.Groups[2].Value)) problems.Add($"{name}: help lists {m.Groups[2].Value}, which it does not accept");
                if (m.Groups[1].Success && !accepted.Contains(m.Groups[1].Value)) problems.Add($"{name}: help lists {m.Groups[1].Value}, which it does not accept");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        // Not vacuous: the tree has the options and short aliases the help shows.
        Assert.True(checkedOptions > 80, $"{checkedOptions} options");
        Assert.Contains("-C", OptionsFromTheTree(ni, "extract"));
        Assert.Contains("--sector-size", OptionsFromTheTree(ni, "gpt apply"));
    }

    [SkippableFact]
    public void Optional_values_and_repeated_options_parse_as_before()
    {
        // --stats[=json]: `--stats FILE` is the flag and the argument, not --stats=FILE.
        string ni = Tool.RequireNativeInit();
        Tool.Require("xz");
        using var dir = new TempDir();
        File.WriteAllText(dir.Combine("plain"), "hello\n");
        Tool.Check("xz", "-k", dir.Combine("plain"));
        var r = Tool.Run(ni, "decompress", "--stats", dir.Combine("plain.xz"), "-o", dir.Combine("out"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello\n", File.ReadAllText(dir.Combine("out")));
        Assert.Contains("wall time:", r.Stderr);
        var json = Tool.Run(ni, "decompress", "--stats=json", dir.Combine("plain.xz"), "-o", dir.Combine("out2"));
        Assert.True(json.ExitCode == 0, json.ToString());
        JsonSchemaFiles.AssertValid("decompress-stats", json.Stderr, "decompress --stats=json");
        // Repeatable options keep every value, in order, long and short spelling alike...
        var tools = Tool.Run(ni, "initramfs", "--output", dir.Combine("i.img"), "--dry-run", "-t", "/bin/true", "--tool=/bin/ls");
        Assert.True(tools.ExitCode == 0, tools.ToString());
        Assert.Equal(["tool    /bin/true", "tool    /bin/ls"], tools.Stdout.Split('\n').Where(l => l.StartsWith("tool ", StringComparison.Ordinal)));
        // ... one value per occurrence: `-m a b` is not two modules.
        var modules = Tool.Run(ni, "initramfs", "--output", dir.Combine("i.img"), "--no-tools", "--dry-run", "-m", "a", "b");
        Assert.Equal(2, modules.ExitCode);
        Assert.Contains("unexpected argument 'b'", modules.Stderr);
    }

    private static string Complete(string ni, string script, params string[] words)
    {
        // What bash does on TAB: COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT set, the function called, COMPREPLY read.
        string line = string.Join(' ', [ni, .. words]);
        string array = string.Join(' ', new[] { ni }.Concat(words).Select(Tool.Quote));
        return Tool.Sh($$"""
            source {{Tool.Quote(script)}}
            COMP_WORDS=({{array}}); COMP_CWORD={{words.Length}}; COMP_LINE={{Tool.Quote(line)}}; COMP_POINT=${#COMP_LINE}
            _nativeinit_complete
            printf '%s\n' "${COMPREPLY[@]}"
            """).Trim();
    }

    [SkippableFact]
    public void Bash_completion_completes_commands_and_options_from_the_binary()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("bash");
        using var dir = new TempDir();
        string script = dir.Combine("nativeinit.bash");
        File.WriteAllText(script, Tool.Check(ni, "completion", "bash"));
        var syntax = Tool.Run("bash", "-n", script);
        Assert.True(syntax.ExitCode == 0, syntax.ToString());
        Assert.Contains("complete -o default -F _nativeinit_complete nativeinit", File.ReadAllText(script));

        Assert.Equal("gpt", Complete(ni, script, "gp"));
        Assert.Equal(["apply", "show"], Complete(ni, script, "gpt", "").Split('\n').Order());
        Assert.Equal(["--help", "--json", "--sector-size"], Complete(ni, script, "gpt", "show", "--").Split('\n').Order());
        Assert.Equal("--dry-run", Complete(ni, script, "gpt", "apply", "x", "--dr"));
        Assert.Equal("bash", Complete(ni, script, "completion", ""));
        // A word that is no option: no candidates, so bash completes a file name (-o default).
        Assert.Equal("", Complete(ni, script, "gpt", "show", ""));
    }
}
