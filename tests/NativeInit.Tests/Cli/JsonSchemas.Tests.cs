using System.Text.Json;
using NativeInit.Core.Boot;
using NativeInit.Tests.Bundle;
using NativeInit.Tests.Stage;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Cli;

/// <summary>Every --json output a rollout reads validates against its written schema in docs/json (JsonSchema.Net),
/// and so does the JSON error object any command prints with --json when it fails.</summary>
[Trait("Category", "Integration")]
public class JsonSchemasTests
{
    private static void AssertValid(string schema, string json, string what) => JsonSchemaFiles.AssertValid(schema, json, what);

    private static bool IsValid(string schema, string json) => JsonSchemaFiles.IsValid(schema, json);

    [SkippableFact]
    public void Stage_bundle_and_error_outputs_match_their_schemas()
    {
        using var fx = new BundleFixture();
        string bundle = fx.Create(fx.SmallRootfs(), fx.Tmp.Combine("bundle.tar"), ["--single-file"]);
        using var disk = new TempDir(DiskTemp.Root);
        string root = disk.Combine("gw");
        FakeSystem.Centos7(root);

        string dry = fx.Check("stage", bundle, "--key", fx.Public, "--root", root, "--dry-run", "--json");
        AssertValid("stage", dry, "stage --dry-run --json");
        string staged = fx.Check("stage", bundle, "--key", fx.Public, "--root", root, "--json");
        AssertValid("stage", staged, "stage --json");
        using (var doc = JsonDocument.Parse(staged)) Assert.NotEmpty(doc.RootElement.GetProperty("changed").EnumerateArray());

        AssertValid("bundle-show", fx.Check("bundle", "show", bundle, "--json"), "bundle show --json");
        AssertValid("bundle-show", fx.Check("bundle", "verify", bundle, "--key", fx.Public, "--json"), "bundle verify --json");

        // A gateway stage one refuses (too little RAM): exit 3, the reason as a JSON object on standard output.
        string small = disk.Combine("small");
        FakeSystem.Centos7(small, memKb: 262144);
        var refused = Tool.Run(fx.Binary, ["stage", bundle, "--key", fx.Public, "--root", small, "--dry-run", "--json"]);
        Assert.Equal(3, refused.ExitCode);
        AssertValid("error", refused.Stdout, "a refused stage --json");
        using (var doc = JsonDocument.Parse(refused.Stdout))
        {
            Assert.Equal("refused", doc.RootElement.GetProperty("error").GetProperty("kind").GetString());
            Assert.Contains("RAM", doc.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);
        }
        Assert.Contains("error:", refused.Stderr);

        var missing = Tool.Run(fx.Binary, ["bundle", "verify", fx.Tmp.Combine("no-such-bundle"), "--key", fx.Public, "--json"]);
        Assert.Equal(3, missing.ExitCode);
        AssertValid("error", missing.Stdout, "bundle verify --json of a missing bundle");

        // The schemas are not vacuous: an output is refused by another command's schema.
        Assert.False(IsValid("slots", dry));
        Assert.False(IsValid("error", dry));
        Assert.False(IsValid("stage", refused.Stdout));
    }

    [SkippableFact]
    public void Slots_output_matches_its_schema()
    {
        string ni = Tool.RequireNativeInit();
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.Combine("grub"));
        var env = GrubEnv.Empty();
        BootSlots.AfterConversion().WriteTo(env);
        File.WriteAllBytes(tmp.Combine("grub", "grubenv"), env.ToBytes());
        var r = Tool.Run(ni, "slots", "--boot-dir", tmp.Path, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        AssertValid("slots", r.Stdout, "slots --json");
    }
}
