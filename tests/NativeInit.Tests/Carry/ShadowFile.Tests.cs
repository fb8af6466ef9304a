using NativeInit.Core;
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
        Assert.Equal("0:99999:7::", hashes[1].Aging);
    }

    [Fact]
    public void Merge_replaces_hash_last_change_and_aging_and_keeps_everything_else()
    {
        // The new system's admin has a maximum age of 60 days: with the old last change (18100, in 2019) under it, the
        // password would have expired years ago; the old aging (99999) keeps it as it was.
        var (merged, users, skipped) = ShadowFile.Merge(New, ShadowFile.ReadHashes(Old));
        Assert.Equal("root:$6$old$rootHash:18000:0:99999:7:::\nbin:*:19500:0:99999:7:::\nadmin:$6$salt$adminHash:18100:0:99999:7:::\nchrony:!!:19500::::::", merged);
        Assert.Equal(["root", "admin"], users);
        Assert.Equal(["gone"], skipped);
    }

    /// <summary>A record written before the aging was carried sets the last change only; a short line of the new file
    /// gets the fields it lacks.</summary>
    [Fact]
    public void Merge_of_a_record_without_aging_sets_the_last_change_only()
    {
        var (merged, _, _) = ShadowFile.Merge(New, [new PasswordEntry("admin", "$6$salt$adminHash", "18100")]);
        Assert.Contains("\nadmin:$6$salt$adminHash:18100:1:60:7:::\n", merged);
        (merged, _, _) = ShadowFile.Merge("admin:!!:19500\n", [new PasswordEntry("admin", "$6$h", "18100", "0:90:7:30:")]);
        Assert.Equal("admin:$6$h:18100:0:90:7:30::\n", merged);
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
        File.WriteAllText(tmp.Combine("etc/sysconfig/network-scripts/route-eth0"), "10.8.0.0/16 via 10.0.0.254\n");
        File.WriteAllText(tmp.Combine("etc/sysconfig/network-scripts/rule-eth0"), "from 10.0.0.5 table 2\n");
        File.WriteAllText(tmp.Combine("etc/resolv.conf"), "nameserver 10.0.0.1\n");
        File.WriteAllText(tmp.Combine("etc/hostname"), "gw1\n");
        File.WriteAllText(tmp.Combine("etc/shadow"), Old);
        var rec = CarryRecord.Capture(tmp.Path);
        Assert.Equal(["/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/sysconfig/network-scripts/route-eth0",
            "/etc/sysconfig/network-scripts/rule-eth0", "/etc/resolv.conf", "/etc/hostname"], rec.Files.Select(f => f.Path));
        Assert.Equal(3, rec.Passwords.Count);
        var back = CarryRecord.Parse(rec.ToJson(), "carry.json");
        Assert.Equal("DEVICE=eth0\nIPADDR=10.0.0.5\n"u8.ToArray(), back.Files[0].Content);
        Assert.Equal(rec.Passwords, back.Passwords);
    }

    /// <summary>A policy's glob that matches /etc/shadow does not carry it as a file (the restore would refuse it after
    /// the point of no return, on every resume); naming it outright is refused when the bundle is read.</summary>
    [Fact]
    public void Shadow_is_never_carried_as_a_file()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.Combine("etc"));
        File.WriteAllText(tmp.Combine("etc/shadow"), Old);
        File.WriteAllText(tmp.Combine("etc/sudoers"), "root ALL=(ALL) ALL\n");
        var policy = CarryPolicy.Parse("""{ "add": ["etc/s*"] }"""u8, "carry-policy.json");
        var rec = CarryRecord.Capture(tmp.Path, policy);
        Assert.Equal(["/etc/sudoers"], rec.Files.Select(f => f.Path));
        Assert.Equal(3, rec.Passwords.Count);
        var e = Assert.Throws<InvalidDataFormatException>(() => CarryPolicy.Parse("""{ "add": ["/etc/shadow"] }"""u8, "carry-policy.json"));
        Assert.Contains("'etc/shadow': /etc/shadow is carried as password hashes only", e.Message);
    }

    [Fact]
    public void The_aging_goes_through_the_record_and_an_older_record_without_it_still_reads()
    {
        var rec = new CarryRecord([], ShadowFile.ReadHashes(Old).ToList());
        Assert.Equal(rec.Passwords, CarryRecord.Parse(rec.ToJson(), "carry.json").Passwords);
        var older = CarryRecord.Parse("""{"formatVersion":1,"files":[],"passwords":[{"user":"admin","hash":"$6$h","lastChange":"18100"}]}"""u8, "carry.json");
        Assert.Equal(new PasswordEntry("admin", "$6$h", "18100"), older.Passwords.Single());
    }
}
