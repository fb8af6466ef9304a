using System.CommandLine;
using System.CommandLine.Completions;
using System.CommandLine.Help;

namespace NativeInit.Cli;

/// <summary>
/// System.CommandLine's tree of the CLI, built from the declarative table (<see cref="CommandSpec"/>): one
/// <see cref="Command"/> per word ("gpt" holds "show" and "apply"), one <see cref="Option"/> per
/// <see cref="OptionSpec"/> (with its short alias), one <see cref="Argument"/> for the positional argument.
/// </summary>
/// <remarks>
/// Why System.CommandLine (issue 10): it is the .NET team's own parser (the dotnet CLI's), trim- and AOT-safe (no
/// reflection: options are objects, not attributes), and it brings what the hand-written parser lacked: POSIX
/// bundling (-ny), '--name=value' and '--name:value', the shell-completion protocol (the [suggest] directive that
/// `nativeinit completion bash` calls) and one tree per CLI where every command's grammar lives. Version 3.0.0 is
/// the newest served and builds without a trim or AOT warning; it adds 568,320 bytes (555 KiB) to the static
/// binary (tools/build: 8,134,088 bytes before, 8,702,408 after). ConsoleAppFramework 5 (a source generator, also
/// AOT-safe) was the other candidate; the built-in completion protocol decided it. What stays ours: the help texts
/// (they are the product's documentation and name the JSON schemas) and the one-line usage messages (exit 2).
/// </remarks>
internal sealed class CommandTree
{
    private readonly Dictionary<Command, CommandSpec> _specs = [];
    private readonly Dictionary<CommandSpec, Bound> _bound = [];

    /// <summary>The System.CommandLine objects made for one command's options and argument.</summary>
    private sealed record Bound(Command Command, Dictionary<string, Option[]> Options, Argument? Argument);

    public CommandTree(CommandSpec[] commands, Action<ParseResult, CommandSpec?> help, Action<ParseResult> version)
    {
        Specs = commands;
        Root = new RootCommand("nativeinit");
        // Only what the old parser accepted: --help/-h (not /?, /h, -?) and --version/-V; of the directives only
        // [suggest] (completion), not [env:...] (which would set environment variables from the command line).
        Root.Options.Clear();
        Root.Directives.Clear();
        Root.Directives.Add(new SuggestDirective());
        HelpOption = new HelpOption("--help", "-h") { Action = new Act(r => help(r, Find(r.CommandResult.Command))) };
        Root.Options.Add(HelpOption);
        Root.Options.Add(new VersionOption("--version", "-V") { Action = new Act(version) });

        foreach (var spec in commands)
        {
            Command parent = Root;
            var words = spec.Name.Split(' ');
            foreach (var word in words[..^1])
            {
                var group = parent.Subcommands.FirstOrDefault(c => c.Name == word);
                if (group is null) parent.Subcommands.Add(group = new Command(word, $"{word} commands"));
                parent = group;
            }
            var command = new Command(words[^1], spec.Summary);
            parent.Subcommands.Add(command);
            var options = new Dictionary<string, Option[]>(StringComparer.Ordinal);
            foreach (var o in spec.Options)
            {
                var made = Make(o);
                foreach (var m in made) command.Options.Add(m);
                options[o.Name] = made;
            }
            Argument? argument = null;
            if (spec.MaxArguments > 0)
            {
                if (spec.MaxArguments > 1) throw new InvalidOperationException($"{spec.Name}: more than one argument is not supported");
                argument = new Argument<string>(spec.ArgumentName)
                {
                    Arity = spec.MinArguments == 0 ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne,
                };
                if (spec.ArgumentValues is { } values) argument.CompletionSources.Add(values);
                command.Arguments.Add(argument);
            }
            _specs[command] = spec;
            _bound[spec] = new Bound(command, options, argument);
        }
    }

    public RootCommand Root { get; }
    public HelpOption HelpOption { get; }
    public CommandSpec[] Specs { get; }

    /// <summary>The table entry of a command of the tree (null for the root and the groups such as "gpt").</summary>
    public CommandSpec? Find(Command command) => _specs.GetValueOrDefault(command);

    /// <summary>The System.CommandLine options made for one option of the table (two for --stats[=json]); none for
    /// a name the command does not have (shared code such as ConvertCommand.Options reads --bundle for `status`
    /// too, which has none: absent, as before).</summary>
    public IReadOnlyList<Option> OptionsOf(CommandSpec spec, string name) =>
        _bound[spec].Options.TryGetValue(name, out var options) ? options : [];

    public Argument? ArgumentOf(CommandSpec spec) => _bound[spec].Argument;

    /// <summary>
    /// A flag is an Option&lt;bool&gt; that takes no value. An option with a value takes one per occurrence
    /// (--module a --module b; not --module a b). An option such as --stats[=json], whose value may only follow an
    /// '=', is two options: the flag --stats and a hidden flag spelled --stats=json (System.CommandLine matches a
    /// whole known token before it splits at '='), so `--stats FILE` never takes FILE as its value.
    /// </summary>
    private static Option[] Make(OptionSpec o)
    {
        string[] aliases = o.Short is null ? [] : ["-" + o.Short];
        if (!o.TakesValue) return [new Option<bool>("--" + o.Name, aliases) { Description = o.Help, Arity = ArgumentArity.Zero }];
        if (o.ValueIsOptional)
            return
            [
                new Option<bool>("--" + o.Name, aliases) { Description = o.Help, Arity = ArgumentArity.Zero },
                new Option<bool>($"--{o.Name}={o.ValueName}") { Description = o.Help, Arity = ArgumentArity.Zero, Hidden = true },
            ];
        return
        [
            new Option<string[]>("--" + o.Name, aliases)
            {
                Description = o.Help,
                HelpName = o.ValueName,
                Arity = ArgumentArity.OneOrMore,
                AllowMultipleArgumentsPerToken = false,
            },
        ];
    }

    /// <summary>A synchronous action from a delegate (help and version print; they return 0).</summary>
    private sealed class Act(Action<ParseResult> body) : System.CommandLine.Invocation.SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            body(parseResult);
            return 0;
        }
    }
}
