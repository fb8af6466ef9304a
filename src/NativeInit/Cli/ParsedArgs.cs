using System.Globalization;
using NativeInit.Core;

namespace NativeInit.Cli;

/// <summary>The positional arguments and options given to one command, already checked against its spec.</summary>
internal sealed class ParsedArgs(string command, IReadOnlyList<string> arguments, Dictionary<string, List<string?>> options)
{
    public string Command { get; } = command;
    public IReadOnlyList<string> Arguments { get; } = arguments;

    /// <summary>True when the option or flag was given.</summary>
    public bool Has(string name) => options.ContainsKey(name);

    /// <summary>The option's (last) value, or null when absent or given without a value.</summary>
    public string? Get(string name) => options.TryGetValue(name, out var v) ? v[^1] : null;

    public IReadOnlyList<string> GetAll(string name) =>
        options.TryGetValue(name, out var v) ? v.Where(x => x is not null).Select(x => x!).ToList() : [];

    public string Require(string name) =>
        Get(name) ?? throw new UsageException($"{Command}: missing required option --{name}");

    public int GetInt(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = Get(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw new UsageException($"{Command}: --{name} expects an integer from {min} to {max}, not '{s}'");
        return n;
    }

    public long GetSize(string name, long fallback)
    {
        var s = Get(name);
        if (s is null) return fallback;
        return ByteSize.TryParse(s, out var b) ? b : throw new UsageException($"{Command}: --{name} expects a size such as 512MiB, not '{s}'");
    }
}
