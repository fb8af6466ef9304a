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
}
