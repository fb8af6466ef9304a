using System.Text;
using NativeInit.Core;
using NativeInit.Core.Carry;
using NativeInit.Core.Platform;
using NativeInit.Tests.Archive.Tar;
using NativeInit.Tests.Stage;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Carry;

public class CarryRestoreTests
{
    private const string NewShadow = "root:!:19500:0:99999:7:::\nbin:*:19500:0:99999:7:::\nadmin:!!:19500:1:60:7:::\n";

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Restore_keeps_the_new_files_labels_creates_missing_ones_and_merges_shadow()
    {
        using var scratch = XattrScratch.Create();
        var old = scratch.Combine("old");
        FakeSystem.Centos7(old);
        // A static route beside the ifcfg file, and SSH host keys as CentOS 7 keeps them: the private key 0640
        // root:ssh_keys, a group whose number (997 here) names nothing, or another group, in the new system.
        File.WriteAllText(Path.Combine(old, "etc/sysconfig/network-scripts/route-eth0"), "10.8.0.0/16 via 192.168.10.254 dev eth0\n");
        Directory.CreateDirectory(Path.Combine(old, "etc/ssh"));
        string oldKey = Path.Combine(old, "etc/ssh/ssh_host_ed25519_key");
        File.WriteAllText(oldKey, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
        Tool.Check("chown", "0:997", oldKey);
        File.SetUnixFileMode(oldKey, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        File.WriteAllText(oldKey + ".pub", "ssh-ed25519 AAAA root@gw\n");
        var record = CarryRecord.Capture(old);

        var nr = scratch.Combine("new");
        Directory.CreateDirectory(Path.Combine(nr, "etc/sysconfig/network-scripts"));
        Directory.CreateDirectory(Path.Combine(nr, "etc/ssh"));
        // What an interrupted run left: the route file's temporary name, with the wrong bytes.
        File.WriteAllText(Path.Combine(nr, "etc/sysconfig/network-scripts/route-eth0+"), "half");
        File.WriteAllText(Path.Combine(nr, "etc/hostname"), "localhost.localdomain\n");
        File.WriteAllText(Path.Combine(nr, "etc/shadow"), NewShadow);
        File.SetUnixFileMode(Path.Combine(nr, "etc/shadow"), UnixFileMode.None);
        Tool.Check("setfattr", "-n", "security.selinux", "-v", "system_u:object_r:shadow_t:s0", Path.Combine(nr, "etc/shadow"));
        Tool.Check("setfattr", "-n", "security.selinux", "-v", "system_u:object_r:net_conf_t:s0", Path.Combine(nr, "etc/sysconfig/network-scripts"));
        Tool.Check("setfattr", "-n", "security.selinux", "-v", "system_u:object_r:etc_t:s0", Path.Combine(nr, "etc"));
        File.CreateSymbolicLink(Path.Combine(nr, "etc/resolv.conf"), "../run/resolv.conf");
        Tool.Check("chown", "0:15", Path.Combine(nr, "etc/shadow"));
        // A second name for the new system's shadow as it was, and a shadow+ that an interrupted run left behind.
        Tool.Check("ln", Path.Combine(nr, "etc/shadow"), Path.Combine(nr, "etc/shadow.before"));
        File.WriteAllText(Path.Combine(nr, "etc/shadow+"), "half a merge");
        var shadowIno = PosixPath.LStat(PosixPath.Z(Path.Combine(nr, "etc/shadow"))).Ino;

        var r = CarryRestore.Apply(nr, record);

        Assert.Equal("gw-centos\n", File.ReadAllText(Path.Combine(nr, "etc/hostname")));
        Assert.Contains("/etc/hostname", r.Written);
        Assert.Contains("/etc/sysconfig/network-scripts/ifcfg-eth0", r.Created);
        Assert.Equal(["/etc/resolv.conf"], r.Skipped);
        Assert.Equal("../run/resolv.conf", new FileInfo(Path.Combine(nr, "etc/resolv.conf")).LinkTarget);
        var ifcfg = Path.Combine(nr, "etc/sysconfig/network-scripts/ifcfg-eth0");
        Assert.Contains("IPADDR=192.168.10.20", File.ReadAllText(ifcfg));
        Assert.Equal("system_u:object_r:net_conf_t:s0", Encoding.ASCII.GetString(PosixPath.GetXattr(ifcfg, "security.selinux")!));
        var route = Path.Combine(nr, "etc/sysconfig/network-scripts/route-eth0");
        Assert.Equal("10.8.0.0/16 via 192.168.10.254 dev eth0\n", File.ReadAllText(route));
        Assert.Equal("system_u:object_r:net_conf_t:s0", Encoding.ASCII.GetString(PosixPath.GetXattr(route, "security.selinux")!));
        Assert.False(File.Exists(route + "+"), "route-eth0+ was left behind");
        var key = PosixPath.LStat(PosixPath.Z(Path.Combine(nr, "etc/ssh/ssh_host_ed25519_key")));
        Assert.Equal((0u, 0u, 0x180u), (key.Uid, key.Gid, key.Mode & 0xFFF));
        Assert.Equal("-----BEGIN OPENSSH PRIVATE KEY-----\n", File.ReadAllText(Path.Combine(nr, "etc/ssh/ssh_host_ed25519_key")));
        Assert.True(File.Exists(Path.Combine(nr, "etc/ssh/ssh_host_ed25519_key.pub")));
        Assert.False(CarryRestore.IsPrivateHostKey("/etc/ssh/ssh_host_ed25519_key.pub"));
        Assert.False(CarryRestore.IsPrivateHostKey("/etc/ssh/keys/ssh_host_rsa_key"));

        var shadow = Path.Combine(nr, "etc/shadow");
        Assert.Equal("root:$6$abc$rootHashValue:18000:0:99999:7:::\nbin:*:19500:0:99999:7:::\nadmin:$6$def$adminHashValue:18100:0:99999:7:::\n", File.ReadAllText(shadow));
        // Replaced whole, never rewritten in place: the old file is untouched under its other name (a power cut
        // leaves the old bytes or the merged ones), and the new one has its owner, mode and label.
        var st = PosixPath.LStat(PosixPath.Z(shadow));
        Assert.NotEqual(shadowIno, st.Ino);
        Assert.Equal(NewShadow, File.ReadAllText(Path.Combine(nr, "etc/shadow.before")));
        Assert.False(File.Exists(shadow + "+"), "shadow+ was left behind");
        Assert.Equal((0u, 15u), (st.Uid, st.Gid));
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(shadow));
        Assert.Equal("system_u:object_r:shadow_t:s0", Encoding.ASCII.GetString(PosixPath.GetXattr(shadow, "security.selinux")!));
        Assert.Equal(["root", "admin"], r.PasswordUsers);
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Directories_the_new_system_lacks_get_their_parents_label()
    {
        // A Debian target (tools/vm/build-selinux) has no /etc/sysconfig: the CentOS network scripts carried there must
        // not land in unlabeled directories under an enforcing policy (unlabeled_t).
        using var scratch = XattrScratch.Create();
        var old = scratch.Combine("old");
        FakeSystem.Centos7(old);
        var record = CarryRecord.Capture(old);
        var nr = scratch.Combine("new");
        Directory.CreateDirectory(Path.Combine(nr, "etc"));
        File.WriteAllText(Path.Combine(nr, "etc/shadow"), NewShadow);
        File.WriteAllText(Path.Combine(nr, "etc/hostname"), "va-gateway\n");
        Tool.Check("setfattr", "-n", "security.selinux", "-v", "system_u:object_r:etc_t:s0", Path.Combine(nr, "etc"));
        Tool.Check("setfattr", "-n", "security.selinux", "-v", "system_u:object_r:hostname_etc_t:s0", Path.Combine(nr, "etc/hostname"));
        var log = new List<string>();

        var r = CarryRestore.Apply(nr, record, log.Add);

        string Label(string rel) => Encoding.ASCII.GetString(PosixPath.GetXattr(Path.Combine(nr, rel), "security.selinux") ?? "(none)"u8.ToArray());
        Assert.Contains("/etc/sysconfig/network-scripts/ifcfg-eth0", r.Created);
        Assert.Equal("system_u:object_r:etc_t:s0", Label("etc/sysconfig"));
        Assert.Equal("system_u:object_r:etc_t:s0", Label("etc/sysconfig/network-scripts"));
        Assert.Equal("system_u:object_r:etc_t:s0", Label("etc/sysconfig/network-scripts/ifcfg-eth0"));
        Assert.Equal("system_u:object_r:hostname_etc_t:s0", Label("etc/hostname"));
        Assert.Contains("carry: created directory etc/sysconfig", log);
        Assert.Contains("carry: created directory etc/sysconfig/network-scripts", log);
    }

    [Fact]
    public void Paths_outside_etc_are_refused()
    {
        using var tmp = new TempDir();
        var rec = new CarryRecord([new CarriedFile("/etc/../root/.ssh/authorized_keys", 0x180, 0, 0, [])], []);
        Assert.Throws<InvalidDataFormatException>(() => CarryRestore.Apply(tmp.Path, rec));
        rec = new CarryRecord([new CarriedFile("/usr/bin/x", 0x1ED, 0, 0, [])], []);
        Assert.Throws<InvalidDataFormatException>(() => CarryRestore.Apply(tmp.Path, rec));
    }
}
