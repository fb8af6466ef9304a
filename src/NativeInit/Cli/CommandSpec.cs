namespace NativeInit.Cli;

/// <summary>One option of a command. <see cref="ValueName"/> null means a flag without a value.</summary>
/// <param name="Name">Long name without dashes, e.g. "to" for --to.</param>
/// <param name="Short">Optional one-letter alias without the dash, e.g. "o".</param>
/// <param name="ValueName">Placeholder shown in help ("DIR"); null for a flag.</param>
/// <param name="Help">One line of help.</param>
/// <param name="ValueIsOptional">For options such as --stats[=json]: the value may only follow an '='.</param>
/// <param name="Repeatable">The option may be given several times (read with ParsedArgs.GetAll).</param>
internal sealed record OptionSpec(
    string Name, string? Short, string? ValueName, string Help, bool ValueIsOptional = false, bool Repeatable = false)
{
    public bool TakesValue => ValueName is not null;

    public string Display => (Short is null ? "" : $"-{Short}, ") + "--" + Name +
        (ValueName is null ? "" : ValueIsOptional ? $"[={ValueName}]" : $" {ValueName}");
}

/// <summary>A command: its words ("gpt show"), help text, options and what it runs. This table is the one place a
/// command is declared: <see cref="CommandTree"/> builds System.CommandLine's tree from it (which parses, completes
/// and finds help), and the help printer reads its texts (usage, description, JSON schema) from it.</summary>
internal sealed class CommandSpec
{
    /// <summary>The words that select the command, e.g. "extract" or "gpt show".</summary>
    public required string Name { get; init; }
    /// <summary>One line for `nativeinit --help`.</summary>
    public required string Summary { get; init; }
    /// <summary>The synopsis after "nativeinit ", e.g. "extract ARCHIVE --to DIR [--threads N]".</summary>
    public required string Usage { get; init; }
    /// <summary>Optional paragraphs printed after the option list.</summary>
    public string? Description { get; init; }
    public OptionSpec[] Options { get; init; } = [];
    /// <summary>For a command with JSON output (--json, --stats=json): NAME of its schema, docs/json/NAME.schema.json
    /// (named in its help; a test fails for a command that offers JSON without one).</summary>
    public string? JsonSchema { get; init; }
    public int MinArguments { get; init; }
    public int MaxArguments { get; init; }
    /// <summary>The values the argument takes, offered by shell completion (null: any, e.g. a file).</summary>
    public string[]? ArgumentValues { get; init; }

    /// <summary>The positional argument's name as the usage line shows it ("ARCHIVE" for "extract ARCHIVE --to DIR").</summary>
    public string ArgumentName =>
        Usage.Length > Name.Length && Usage.StartsWith(Name + " ", StringComparison.Ordinal) &&
        Usage[(Name.Length + 1)..].Split(' ')[0].TrimStart('[').TrimEnd(']') is { Length: > 0 } word && word.ToUpperInvariant() == word && word[0] != '-'
            ? word
            : "ARGUMENT";
    /// <summary>Runs the command; returns the exit code. Throw NativeInitException for user-facing errors.</summary>
    public required Func<ParsedArgs, CommandContext, int> Run { get; init; }
}

/// <summary>Where a command writes. Commands never touch Console directly, so tests can capture output.</summary>
internal sealed class CommandContext(TextWriter stdout, TextWriter stderr)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Error { get; } = stderr;
}
