using System.CommandLine;
using System.Globalization;
using NativeInit.Core;

namespace NativeInit.Cli;

/// <summary>What System.CommandLine parsed for one command, read by the option names of the command's table entry
/// (<see cref="CommandSpec"/>): the commands read their options by name and never see the parser.</summary>
internal sealed class ParsedArgs
{
    private readonly ParseResult _result;
    private readonly CommandTree _tree;
    private readonly CommandSpec _spec;

    public ParsedArgs(ParseResult result, CommandTree tree, CommandSpec spec)
    {
        _result = result;
        _tree = tree;
        _spec = spec;
        Arguments = tree.ArgumentOf(spec) is { } a && result.GetResult(a) is { } r ? r.Tokens.Select(t => t.Value).ToList() : [];
    }

    public string Command => _spec.Name;
    public IReadOnlyList<string> Arguments { get; }

    /// <summary>How many times the option was given (the flag and the '=VALUE' spelling of --stats[=json] together).</summary>
    public int Count(string name) =>
        _tree.OptionsOf(_spec, name).Sum(o => _result.GetResult(o) is { Implicit: false } r ? Math.Max(r.IdentifierTokenCount, 1) : 0);

    /// <summary>True when the option or flag was given.</summary>
    public bool Has(string name) => Count(name) > 0;

    /// <summary>The option's (last) value, or null when absent or given without a value.</summary>
    public string? Get(string name)
    {
        var options = _tree.OptionsOf(_spec, name);
        var spec = _spec.Options.FirstOrDefault(o => o.Name == name);
        if (spec is null) return null;
        if (spec.ValueIsOptional) return _result.GetResult(options[1]) is { Implicit: false } ? spec.ValueName : null;
        if (!spec.TakesValue) return null;
        return _result.GetResult(options[0]) is { Implicit: false } r && r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;
    }

    public IReadOnlyList<string> GetAll(string name) =>
        _tree.OptionsOf(_spec, name) is [var option, ..] && _result.GetResult(option) is { Implicit: false } r
            ? r.Tokens.Select(t => t.Value).ToList()
            : [];

    public string Require(string name) =>
        Get(name) ?? throw new UsageException($"missing required option --{name}");

    public int GetInt(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = Get(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw new UsageException($"--{name} expects an integer from {min} to {max}, not '{s}'");
        return n;
    }

    public long GetSize(string name, long fallback)
    {
        var s = Get(name);
        if (s is null) return fallback;
        return ByteSize.TryParse(s, out var b) ? b : throw new UsageException($"--{name} expects a size such as 512MiB, not '{s}'");
    }
}
