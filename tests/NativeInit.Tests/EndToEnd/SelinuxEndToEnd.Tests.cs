using System.Diagnostics;
using System.Text.RegularExpressions;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.EndToEnd;

/// <summary>
/// Issue 13, scenario (h), the field's own failure (after the switch the console said `localhost login` and refused the
/// right password: the labels were wrong): `tools/vm-test selinux`, run as the one command it is. The legacy gateway
/// converts itself to tools/vm/build-selinux's target (Debian's reference policy, enforcing, the tree labelled offline
/// with setfiles so the labels travel in the bundle's archive); on the converted system's serial console root logs in
/// with the legacy password. The command checks the session itself (exit 0); this test reads the kept session
/// (artifacts/vm/selinux.session) again: the prompt carries the legacy hostname, getenforce says Enforcing, root runs
/// unconfined_t, /etc/shadow is shadow_t and the carried network files net_conf_t as in the archive.
/// </summary>
[Trait("Category", "Qemu")]
public class SelinuxEndToEndTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void Converted_to_an_enforcing_target_root_logs_in_on_the_serial_console_with_the_legacy_password_and_the_carried_files_keep_their_labels()
    {
        VmMachines.Legacy();
        Tool.RequireNativeInit();
        Tool.Require("setfiles", "getfattr", "python3");
        var clock = Stopwatch.StartNew();
        var r = Tool.Run(Path.Combine(Tool.RepoRoot, "tools", "vm-test"), ["selinux"], timeout: TimeSpan.FromMinutes(60),
            environment: new Dictionary<string, string> { ["NATIVEINIT_BIN"] = Tool.NativeInitBinary });
        output.WriteLine($"tools/vm-test selinux: exit {r.ExitCode} after {clock.Elapsed.TotalSeconds:0} s (images included; TCG)");
        foreach (var line in r.Stderr.Split('\n').Where(l => l.StartsWith("serial-session:", StringComparison.Ordinal) || l.StartsWith("tools/vm-test selinux", StringComparison.Ordinal)))
            output.WriteLine(line);
        Assert.True(r.ExitCode == 0, r.ToString());

        var facts = VmMachines.Facts;
        string session = Regex.Replace(File.ReadAllText(Path.Combine(Tool.RepoRoot, "artifacts", "vm", "selinux.session")), @"\x1b\[[0-9;?]*[a-zA-Z]|\r", "");
        Assert.Contains($"{facts["VM_LEGACY_HOSTNAME"]} login: root", session, StringComparison.Ordinal);
        Assert.DoesNotContain("Login incorrect", session, StringComparison.Ordinal);
        var lines = session.Split('\n');
        int begin = Array.IndexOf(lines, "NI-BEGIN"), end = Array.IndexOf(lines, "NI-END");
        Assert.True(begin >= 0 && end > begin, "no NI-BEGIN ... NI-END block in the session\n" + session);
        var shell = lines[(begin + 1)..end].Select(l => l.Trim()).ToList();
        Assert.Equal("Enforcing", shell[0]);
        Assert.Matches("^unconfined_u:unconfined_r:unconfined_t:", shell[1]);
        Assert.Equal(facts["VM_LEGACY_HOSTNAME"], shell[2]);
        Assert.Equal("/dev/mapper/VA-root", shell[3]);
        Assert.Contains("system_u:object_r:shadow_t:s0 /etc/shadow", shell);
        Assert.Contains("system_u:object_r:net_conf_t:s0 /etc/hostname", shell);
        Assert.Contains("system_u:object_r:net_conf_t:s0 /etc/resolv.conf", shell);
        Assert.Contains("system_u:object_r:etc_t:s0 /etc/sysconfig/network-scripts/ifcfg-eth0", shell);
        Assert.Contains("NI-RESTORECON rc=0", shell);
    }
}
