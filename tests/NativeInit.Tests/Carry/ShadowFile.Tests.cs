using NativeInit.Core.Carry;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Carry;

public class ShadowFileTests
{
    private const string Old = "root:$6$old$rootHash:18000:0:99999:7:::\nbin:*:17834:0:99999:7:::\nadmin:$6$salt$adminHash:18100:0:99999:7:::\nlocked:!!:18000::::::\ngone:$1$x$gone:17000:0:99999:7:::\n";
    private const string New = "root:!:19500:0:99999:7:::\nbin:*:19500:0:99999:7:::\nadmin:!!:19500:1:60:7:::\nchrony:!!:19500::::::";

    [Fact]
    public void Reads_only_users_with_a_password()
    {
        var hashes = ShadowFile.ReadHashes(Old).ToList();
        Assert.Equal(["root", "admin", "gone"], hashes.Select(h => h.User));
        Assert.Equal("$6$salt$adminHash", hashes[1].Hash);
        Assert.Equal("18100", hashes[1].LastChange);
    }

    [Fact]
    public void Merge_replaces_hash_and_last_change_and_keeps_everything_else()
    {
        var (merged, users, skipped) = ShadowFile.Merge(New, ShadowFile.ReadHashes(Old));
        Assert.Equal("root:$6$old$rootHash:18000:0:99999:7:::\nbin:*:19500:0:99999:7:::\nadmin:$6$salt$adminHash:18100:1:60:7:::\nchrony:!!:19500::::::", merged);
        Assert.Equal(["root", "admin"], users);
        Assert.Equal(["gone"], skipped);
    }

    [Fact]
    public void Merge_without_carried_users_is_the_identity()
    {
        var (merged, users, _) = ShadowFile.Merge(New + "\n", []);
        Assert.Equal(New + "\n", merged);
        Assert.Empty(users);
    }

    [Fact]
    public void Capture_reads_network_dns_hostname_and_hashes_from_a_root()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.Combine("etc/sysconfig/network-scripts"));
        File.WriteAllText(tmp.Combine("etc/sysconfig/network-scripts/ifcfg-eth0"), "DEVICE=eth0\nIPADDR=10.0.0.5\n");
        File.WriteAllText(tmp.Combine("etc/sysconfig/network-scripts/ifcfg-lo"), "DEVICE=lo\n");
        File.WriteAllText(tmp.Combine("etc/resolv.conf"), "nameserver 10.0.0.1\n");
        File.WriteAllText(tmp.Combine("etc/hostname"), "gw1\n");
        File.WriteAllText(tmp.Combine("etc/shadow"), Old);
        var rec = CarryRecord.Capture(tmp.Path);
        Assert.Equal(["/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/resolv.conf", "/etc/hostname"], rec.Files.Select(f => f.Path));
        Assert.Equal(3, rec.Passwords.Count);
        var back = CarryRecord.Parse(rec.ToJson(), "carry.json");
        Assert.Equal("DEVICE=eth0\nIPADDR=10.0.0.5\n"u8.ToArray(), back.Files[0].Content);
        Assert.Equal(rec.Passwords, back.Passwords);
    }
}
