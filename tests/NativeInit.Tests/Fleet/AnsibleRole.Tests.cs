using System.Text.Json;
using System.Text.RegularExpressions;
using NativeInit.Tests.Bundle;
using NativeInit.Tests.Stage;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Fleet;

/// <summary>The Ansible role in contrib/ansible: lint-clean and syntactically valid (ansible-lint and
/// ansible-playbook from Debian's packages, installed by tools/setup).</summary>
[Trait("Category", "Integration")]
public class AnsibleRoleTests
{
    private static string AnsibleDir => Path.Combine(Tool.RepoRoot, "contrib", "ansible");

    [SkippableFact]
    public void Playbook_passes_its_syntax_check()
    {
        Tool.Require("ansible-playbook");
        var r = Tool.Run("ansible-playbook", ["--syntax-check", "-i", "inventory/example.yml", "site.yml"],
            workingDirectory: AnsibleDir, timeout: TimeSpan.FromMinutes(3));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [SkippableFact]
    public void Role_and_playbook_are_clean_for_ansible_lint_production_profile()
    {
        Tool.Require("ansible-lint");
        var r = Tool.Run("ansible-lint", ["--nocolor", "--offline", "--profile", "production", "site.yml", "roles/nativeinit"],
            workingDirectory: AnsibleDir, timeout: TimeSpan.FromMinutes(5),
            environment: new Dictionary<string, string> { ["HOME"] = Path.GetTempPath() });
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("0 failure(s), 0 warning(s)", r.Stdout + r.Stderr);
    }

    /// <summary>The role run for real, over Ansible's local connection, against three fake gateways (the `--root`
    /// systems the stage tests use) with the reboot left out: two are staged, the third (too little RAM) is refused in
    /// the preflight with stage one's reason and takes no part in the batches; a second run changes nothing.</summary>
    [SkippableFact]
    public void The_rollout_stages_good_gateways_stops_a_refused_one_and_a_second_run_changes_nothing()
    {
        Tool.Require("ansible-playbook");
        using var fx = new BundleFixture();
        string bundle = fx.Create(fx.SmallRootfs(), fx.Tmp.Combine("bundle.tar"), ["--single-file"]);
        using var disk = new TempDir(DiskTemp.Root);
        var roots = new Dictionary<string, string>();
        foreach (var gw in new[] { "gw1", "gw2", "gw3" }) roots[gw] = disk.Combine(gw);
        FakeSystem.Centos7(roots["gw1"]);
        FakeSystem.Debian(roots["gw2"]);
        FakeSystem.Centos7(roots["gw3"], memKb: 262144);

        string inventory = disk.Combine("inventory.yml");
        var hosts = string.Concat(roots.Select(r => $"""
                {r.Key}:
                  nativeinit_root: {r.Value}
                  nativeinit_remote_dir: {disk.Combine("remote-" + r.Key)}

            """));
        File.WriteAllText(inventory, $"""
            gateways:
              hosts:
            {hosts}  vars:
                ansible_connection: local
                ansible_python_interpreter: /usr/bin/python3
                ansible_become: false
                nativeinit_reboot: false
                nativeinit_local_binary: {fx.Binary}
                nativeinit_local_bundle: {bundle}
                nativeinit_local_key: {fx.Public}

            """);
        var env = new Dictionary<string, string>
        {
            ["HOME"] = disk.Path, ["ANSIBLE_LOCAL_TEMP"] = disk.Combine("ansible-local"), ["ANSIBLE_REMOTE_TEMP"] = disk.Combine("ansible-remote"),
            ["ANSIBLE_NOCOLOR"] = "1", ["ANSIBLE_FORCE_COLOR"] = "0", ["ANSIBLE_RETRY_FILES_ENABLED"] = "0",
        };
        ToolResult Play() => Tool.Run("ansible-playbook", ["-i", inventory, "site.yml"], workingDirectory: AnsibleDir,
            timeout: TimeSpan.FromMinutes(10), environment: env);

        var first = Play();
        string out1 = first.Stdout + first.Stderr;
        Assert.NotEqual(0, first.ExitCode); // a refused gateway fails the play's result
        Assert.Matches(new Regex(@"gw3\s*:.*failed=1"), out1);
        Assert.Contains("nativeinit stage would refuse gw3 (exit 3)", out1);
        Assert.Contains("RAM", out1);
        foreach (var gw in new[] { "gw1", "gw2" })
        {
            Assert.Matches(new Regex(gw + @"\s*:.*changed=[1-9].*failed=0"), out1);
            var status = Tool.Run(fx.Binary, "status", "--root", roots[gw], "--json");
            Assert.True(status.ExitCode == 0, status.ToString());
            using var doc = JsonDocument.Parse(status.Stdout);
            Assert.Equal("staged", doc.RootElement.GetProperty("state").GetString());
        }
        Assert.False(Directory.Exists(Path.Combine(roots["gw3"], "boot", "nativeinit")), "the refused gateway was written to");
        var gw3Status = Tool.Check(fx.Binary, "status", "--root", roots["gw3"], "--json");
        Assert.Contains("\"not converted\"", gw3Status);

        var second = Play();
        string out2 = second.Stdout + second.Stderr;
        foreach (var gw in new[] { "gw1", "gw2" }) Assert.Matches(new Regex(gw + @"\s*:.*changed=0 .*failed=0"), out2);
        Assert.Contains("gw1: staged", out2);
    }
}
