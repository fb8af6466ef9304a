using System.Text.Json;
using Json.Schema;

namespace NativeInit.Tests.TestSupport;

/// <summary>The JSON Schemas in docs/json, built once into one registry so that one schema's $ref to another
/// ("layout-plan.schema.json", "gpt-apply.schema.json#/$defs/table") resolves; validated with JsonSchema.Net.</summary>
public static class JsonSchemaFiles
{
    public static string Directory { get; } = Path.Combine(Tool.RepoRoot, "docs", "json");

    private static readonly Lazy<Dictionary<string, JsonSchema>> All = new(Build);

    /// <summary>Every schema file's name (NAME of NAME.schema.json).</summary>
    public static IEnumerable<string> Names =>
        System.IO.Directory.GetFiles(Directory, "*.schema.json").Select(f => Path.GetFileName(f)[..^".schema.json".Length]).Order();

    private static Dictionary<string, JsonSchema> Build()
    {
        var options = new BuildOptions { SchemaRegistry = new SchemaRegistry() };
        var pending = Names.ToList();
        var built = new Dictionary<string, JsonSchema>();
        // A schema is built once the ones it refers to are registered: retry the rest until a round builds none.
        while (pending.Count > 0)
        {
            var errors = new List<string>();
            foreach (var name in pending.ToList())
            {
                try
                {
                    var schema = JsonSchema.FromFile(Path.Combine(Directory, name + ".schema.json"), options);
                    options.SchemaRegistry.Register(schema);
                    built[name] = schema;
                    pending.Remove(name);
                }
                catch (Exception e) when (e is not IOException)
                {
                    errors.Add($"{name}: {e.Message}");
                }
            }
            if (errors.Count == pending.Count && pending.Count > 0)
                throw new InvalidOperationException("docs/json: these schemas cannot be built:\n" + string.Join("\n", errors));
        }
        return built;
    }

    public static JsonSchema Get(string name) =>
        All.Value.TryGetValue(name, out var s) ? s : throw new FileNotFoundException($"docs/json/{name}.schema.json does not exist");

    public static bool IsValid(string schema, string json)
    {
        using var doc = JsonDocument.Parse(json);
        return Get(schema).Evaluate(doc.RootElement).IsValid;
    }

    /// <summary>Asserts that <paramref name="json"/> (one JSON document) matches docs/json/<paramref name="schema"/>.schema.json.</summary>
    public static void AssertValid(string schema, string json, string what)
    {
        using var doc = JsonDocument.Parse(json);
        var result = Get(schema).Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        var errors = (result.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"));
        Assert.True(result.IsValid, $"{what} does not match docs/json/{schema}.schema.json:\n{string.Join("\n", errors)}\n{json}");
    }
}
