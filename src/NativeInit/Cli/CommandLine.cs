using System.Reflection;
using NativeInit.Core;
using NativeInit.Core.Platform;

namespace NativeInit.Cli;

/// <summary>
/// Picks the command from the leading words, parses its options (--name VALUE, --name=VALUE, -x VALUE, flags,
/// "--" ends options), prints help and version, and maps exceptions to exit codes. No logic of its own.
/// </summary>
internal static class CommandLine
{
    public static string Version =>
        typeof(CommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    public static int Run(string[] args, CommandSpec[] commands, TextWriter stdout, TextWriter stderr)
    {
        var tracked = new TrackingWriter(stdout);
        var ctx = new CommandContext(tracked, stderr);
        if (args.Length == 0)
        {
            PrintOverview(commands, stderr);
            return ExitCodes.Usage;
        }
        if (args[0] is "--help" or "-h" or "help")
        {
            if (args.Length > 1 && Find(commands, args[1..], out _) is { } target) { PrintHelp(target, stdout); return 0; }
            PrintOverview(commands, stdout);
            return ExitCodes.Success;
        }
        if (args[0] is "--version" or "-V")
        {
            stdout.WriteLine($"nativeinit {Version}");
            return ExitCodes.Success;
        }

        var spec = Find(commands, args, out int words);
        if (spec is null)
        {
            var known = commands.Where(c => c.Name.StartsWith(args[0] + " ", StringComparison.Ordinal)).Select(c => c.Name).ToList();
            stderr.WriteLine(known.Count > 0
                ? $"nativeinit: '{string.Join(' ', args.Take(2))}' is not a command; try one of: {string.Join(", ", known)}"
                : $"nativeinit: '{args[0]}' is not a command. See 'nativeinit --help'.");
            return ExitCodes.Usage;
        }

        bool json = false;
        try
        {
            var rest = args[words..];
            json = rest.Contains("--json") && spec.Options.Any(o => o.Name == "json");
            if (rest.Any(a => a is "--help" or "-h"))
            {
                PrintHelp(spec, stdout);
                return ExitCodes.Success;
            }
            var parsed = Parse(spec, rest);
            return spec.Run(parsed, ctx);
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

    /// <summary>The command whose words are the longest prefix of <paramref name="args"/>.</summary>
    private static CommandSpec? Find(CommandSpec[] commands, string[] args, out int words)
    {
        CommandSpec? best = null;
        words = 0;
        foreach (var c in commands)
        {
            var parts = c.Name.Split(' ');
            if (parts.Length > args.Length || parts.Length <= words) continue;
            bool match = true;
            for (int i = 0; i < parts.Length; i++) match &= parts[i] == args[i];
            if (match) { best = c; words = parts.Length; }
        }
        return best;
    }

    public static ParsedArgs Parse(CommandSpec spec, string[] args)
    {
        var positional = new List<string>();
        var options = new Dictionary<string, List<string?>>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                positional.AddRange(args[(i + 1)..]);
                break;
            }
            if (a.Length > 1 && a[0] == '-' && a != "-")
            {
                string name;
                string? inline = null;
                OptionSpec? opt;
                if (a.StartsWith("--", StringComparison.Ordinal))
                {
                    int eq = a.IndexOf('=');
                    name = eq < 0 ? a[2..] : a[2..eq];
                    if (eq >= 0) inline = a[(eq + 1)..];
                    opt = spec.Options.FirstOrDefault(o => o.Name == name);
                }
                else
                {
                    name = a[1..2];
                    if (a.Length > 2) inline = a[2] == '=' ? a[3..] : a[2..];
                    opt = spec.Options.FirstOrDefault(o => o.Short == name);
                }
                if (opt is null) throw new UsageException($"unknown option '{a}'");
                string? value = null;
                if (opt.TakesValue)
                {
                    if (inline is not null) value = inline;
                    else if (!opt.ValueIsOptional)
                    {
                        if (i + 1 >= args.Length) throw new UsageException($"option --{opt.Name} needs a value ({opt.ValueName})");
                        value = args[++i];
                    }
                }
                else if (inline is not null)
                {
                    throw new UsageException($"option --{opt.Name} takes no value");
                }
                if (!options.TryGetValue(opt.Name, out var list)) options[opt.Name] = list = [];
                else if (!opt.Repeatable) throw new UsageException($"option --{opt.Name} given twice");
                list.Add(value);
                continue;
            }
            positional.Add(a);
        }
        if (positional.Count < spec.MinArguments)
            throw new UsageException(spec.MinArguments == 1 ? "missing argument" : $"expected at least {spec.MinArguments} arguments, got {positional.Count}");
        if (positional.Count > spec.MaxArguments)
            throw new UsageException($"unexpected argument '{positional[spec.MaxArguments]}'");
        return new ParsedArgs(spec.Name, positional, options);
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
