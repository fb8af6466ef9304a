using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using NativeInit.Core;
using NativeInit.Core.Platform;

namespace NativeInit.Cli;

/// <summary>
/// Parses the command line with System.CommandLine (the tree is built from the command table, see
/// <see cref="CommandTree"/>), prints help, version and one-line usage errors (exit 2), runs the command and maps
/// exceptions to exit codes. No logic of its own.
/// </summary>
internal static class CommandLine
{
    public static string Version =>
        typeof(CommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    /// <summary>Response files (@FILE) are off: an argument that starts with '@' is a path like any other.</summary>
    private static readonly ParserConfiguration Parsing = new() { ResponseFileTokenReplacer = null };

    public static int Run(string[] args, CommandSpec[] commands, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0)
        {
            PrintOverview(commands, stderr);
            return ExitCodes.Usage;
        }
        // `nativeinit help [COMMAND...]` is `nativeinit [COMMAND...] --help`; so is `nativeinit --help COMMAND...`.
        if (args[0] is "help" or "--help" or "-h" && args.Length > 1) args = [.. args[1..], "--help"];
        else if (args[0] is "help") args = ["--help"];

        var tree = new CommandTree(commands,
            help: (_, spec) => { if (spec is null) PrintOverview(commands, stdout); else PrintHelp(spec, stdout); },
            version: _ => stdout.WriteLine($"nativeinit {Version}"));
        var result = tree.Root.Parse(args, Parsing);
        var spec = tree.Find(result.CommandResult.Command);
        if (result.Action is not (null or ParseErrorAction))
            return result.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        if (spec is null)
        {
            stderr.WriteLine(NotACommand(result, tree));
            return ExitCodes.Usage;
        }
        return Run(spec, args, result, tree, stdout, stderr);
    }

    /// <summary>The message for words that name no command: a group ("gpt") lists its commands.</summary>
    private static string NotACommand(ParseResult result, CommandTree tree)
    {
        var command = result.CommandResult.Command;
        string? word = result.UnmatchedTokens.FirstOrDefault();
        if (command == tree.Root)
            return $"nativeinit: '{word ?? result.Tokens.FirstOrDefault()?.Value}' is not a command. See 'nativeinit --help'.";
        string group = string.Join(' ', Words(result.CommandResult));
        var known = tree.Specs.Where(c => c.Name.StartsWith(group + " ", StringComparison.Ordinal)).Select(c => c.Name);
        return $"nativeinit: '{group}{(word is null ? "" : " " + word)}' is not a command; try one of: {string.Join(", ", known)}. See 'nativeinit --help'.";
    }

    private static IEnumerable<string> Words(System.CommandLine.Parsing.CommandResult? r)
    {
        var words = new List<string>();
        for (; r?.Parent is System.CommandLine.Parsing.CommandResult parent; r = parent) words.Insert(0, r.Command.Name);
        return words;
    }

    /// <summary>
    /// The first usage error of a parse, as one line naming the offending word; null when there is none. Beside
    /// System.CommandLine's own errors (unknown option, missing value, surplus or missing argument) it checks two
    /// rules the old parser had and the library does not: a flag takes no value (--progress=yes), and an option
    /// that is not repeatable is given once.
    /// </summary>
    private static string? UsageError(ParseResult result, CommandTree tree, CommandSpec spec, string[] args)
    {
        foreach (string a in args.TakeWhile(a => a != "--"))
        {
            int eq = a.IndexOf('=');
            if (!a.StartsWith("--", StringComparison.Ordinal) || eq < 0) continue;
            var o = spec.Options.FirstOrDefault(o => o.Name == a[2..eq]);
            if (o is null) continue;
            if (!o.TakesValue) return $"option --{o.Name} takes no value";
            if (o.ValueIsOptional && a[(eq + 1)..] != o.ValueName)
                return $"option --{o.Name} takes no value or ={o.ValueName}, not '{a[(eq + 1)..]}'";
        }
        foreach (string token in result.UnmatchedTokens)
            return token.Length > 1 && token[0] == '-' ? $"unknown option '{token}'" : $"unexpected argument '{token}'";
        foreach (var e in result.Errors)
        {
            if (e.SymbolResult is System.CommandLine.Parsing.OptionResult { Tokens.Count: 0 } r)
            {
                var o = spec.Options.First(o => tree.OptionsOf(spec, o.Name).Contains(r.Option));
                return $"option --{o.Name} needs a value ({o.ValueName})";
            }
        }
        var parsed = new ParsedArgs(result, tree, spec);
        // System.CommandLine gives a free argument slot an unknown word that starts with '-'; the old parser did
        // not, and neither do we: only after "--" is such a word an argument.
        int dashDash = Array.IndexOf(args, "--");
        foreach (string a in parsed.Arguments)
            if (a.Length > 1 && a[0] == '-' && (dashDash < 0 || Array.IndexOf(args, a) < dashDash)) return $"unknown option '{a}'";
        foreach (var o in spec.Options)
            if (!o.Repeatable && parsed.Count(o.Name) > 1) return $"option --{o.Name} given twice";
        if (parsed.Arguments.Count < spec.MinArguments) return $"missing argument {spec.ArgumentName}";
        return result.Errors.Count > 0 ? result.Errors[0].Message : null;
    }

    /// <summary>Runs one command: a usage error found by the parser or thrown by the command exits 2 with the usage
    /// line; the product's errors exit with their code; anything else is an internal error with a crash report.</summary>
    private static int Run(CommandSpec spec, string[] args, ParseResult result, CommandTree tree, TextWriter stdout, TextWriter stderr)
    {
        var tracked = new TrackingWriter(stdout);
        var ctx = new CommandContext(tracked, stderr);
        bool json = false;
        try
        {
            json = args.TakeWhile(a => a != "--").Contains("--json") && spec.Options.Any(o => o.Name == "json");
            if (UsageError(result, tree, spec, args) is { } error) throw new UsageException(error);
            return spec.Run(new ParsedArgs(result, tree, spec), ctx);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"nativeinit {spec.Name}: {e.Message}");
            stderr.WriteLine($"Usage: nativeinit {spec.Usage}");
            stderr.WriteLine($"See 'nativeinit {spec.Name} --help'.");
            return Failed(ExitCodes.Usage, e.Message);
        }
        catch (NativeInitException e)
        {
            stderr.WriteLine($"nativeinit {spec.Name}: error: {e.Message}");
            return Failed(e.ExitCode, e.Message);
        }
        catch (Exception e) when (IoErrors.IsFileError(e))
        {
            // A base-library file error no Core boundary named: its runtime text is a resource key.
            string message = IoErrors.Describe(e);
            stderr.WriteLine($"nativeinit {spec.Name}: error: {message}");
            return Failed(ExitCodes.Failure, message);
        }
        catch (System.Text.Json.JsonException e)
        {
            string message = JsonErrors.Reason(e);
            stderr.WriteLine($"nativeinit {spec.Name}: error: {message}");
            return Failed(ExitCodes.Failure, message);
        }
        catch (Exception e)
        {
            // One line for the operator; the stack trace goes to a file, never over the message (issue 18).
            string message = $"{e.GetType().Name}: {e.Message}";
            string? trace = CrashReport.Write(spec.Name, e);
            stderr.WriteLine($"nativeinit {spec.Name}: internal error: {message}" + (trace is null ? "" : $" (stack trace in {trace})"));
            return Failed(ExitCodes.Failure, "internal error: " + message);
        }

        // With --json, a failure is also one JSON object on standard output, so a rollout tool reads the exit code's
        // reason from the same stream it reads results from (docs/json/error.schema.json).
        int Failed(int exitCode, string message)
        {
            // Only when the command printed nothing yet: stdout stays one JSON document (a plan printed before a
            // refusal, as `convert --json` without --yes does, is that document; the exit code says it was refused).
            if (json && !tracked.Written)
            {
                stdout.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WriteNumber("schemaVersion", 1);
                    w.WriteString("command", spec.Name);
                    w.WriteStartObject("error");
                    w.WriteNumber("exitCode", exitCode);
                    w.WriteString("kind", exitCode switch
                    {
                        ExitCodes.Usage => "usage",
                        ExitCodes.Refused => "refused",
                        ExitCodes.FailedAfterPointOfNoReturn => "failed-after-point-of-no-return",
                        _ => "failed",
                    });
                    w.WriteString("message", message);
                    w.WriteEndObject();
                    w.WriteEndObject();
                });
                stdout.WriteLine();
            }
            return exitCode;
        }
    }

    private static void PrintOverview(CommandSpec[] commands, TextWriter w)
    {
        w.WriteLine($"nativeinit {Version} - converts a legacy MBR gateway in place to a GPT + LVM dual-system layout");
        w.WriteLine();
        w.WriteLine("Usage: nativeinit COMMAND [ARGS] [OPTIONS]");
        w.WriteLine();
        w.WriteLine("Commands:");
        int width = commands.Max(c => c.Name.Length) + 2;
        foreach (var c in commands) w.WriteLine($"  {c.Name.PadRight(width)}{c.Summary}");
        w.WriteLine();
        w.WriteLine("Options:");
        w.WriteLine("  --help, -h    show help (also: nativeinit COMMAND --help)");
        w.WriteLine("  --version     show the version");
        w.WriteLine();
        w.WriteLine("Exit codes: 0 done, 1 failed, 2 usage error, 3 refused before any write, 4 failed after the point of no return.");
    }

    private static void PrintHelp(CommandSpec spec, TextWriter w)
    {
        w.WriteLine($"Usage: nativeinit {spec.Usage}");
        w.WriteLine();
        w.WriteLine(spec.Summary);
        if (spec.Options.Length > 0)
        {
            w.WriteLine();
            w.WriteLine("Options:");
            int width = spec.Options.Max(o => o.Display.Length) + 2;
            foreach (var o in spec.Options) w.WriteLine($"  {o.Display.PadRight(width)}{o.Help}");
        }
        if (spec.Description is not null)
        {
            w.WriteLine();
            w.WriteLine(spec.Description.TrimEnd());
        }
        if (spec.JsonSchema is not null)
        {
            w.WriteLine();
            w.WriteLine($"JSON output: docs/json/{spec.JsonSchema}.schema.json (\"schemaVersion\": 1).");
        }
    }
}
