using NativeInit.Core;
using NativeInit.Core.Conversion;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Conversion;

/// <summary>The self-test's in-guest archive, judged by GNU tar and bsdtar; and the self-test's own read-back
/// (owners, modes, binary xattrs), judged against what GNU tar restored.</summary>
[Trait("Category", "Integration")]
public class SelfTestArchiveTests
{
    [SkippableFact]
    public void Gnu_tar_restores_owners_modes_symlink_and_binary_xattrs_that_the_selftest_then_verifies()
    {
        Tool.RequireRoot();
        Tool.Require("tar");
        using var t = new TempDir();
        using (var f = File.Create(t.Combine("st.tar"))) SelfTestArchive.Write(f);
        string listing = Tool.Check("tar", "--numeric-owner", "-tvf", t.Combine("st.tar"));
        Assert.Contains("-rwsr-xr-x 0/0", listing);
        Assert.Contains("4242/4343", listing);
        Assert.Contains("etc/ping-link -> ../usr/bin/ping", listing);
        Directory.CreateDirectory(t.Combine("out"));
        Tool.Check("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", t.Combine("st.tar"), "-C", t.Combine("out"));
        string summary = SelfTest.Verify(t.Combine("out"), withSymlink: true);
        Assert.Contains("3 xattrs", summary);
    }

    [SkippableFact]
    public void Verify_notices_a_lost_capability_and_a_wrong_owner()
    {
        Tool.RequireRoot();
        Tool.Require("setfattr");
        using var t = new TempDir();
        SelfTest.Populate(t.Path);
        SelfTest.Verify(t.Path);
        Tool.Check("setfattr", "-x", "security.capability", t.Combine("usr", "bin", "ping"));
        var e = Assert.Throws<NativeInitException>(() => SelfTest.Verify(t.Path));
        Assert.Contains("security.capability", e.Message);
        SelfTest.Populate(t.Path);
        Tool.Check("chown", "-h", "1:1", t.Combine("home", "user", "notes.txt"));
        e = Assert.Throws<NativeInitException>(() => SelfTest.Verify(t.Path));
        Assert.Contains("owner 1:1", e.Message);
    }

    [SkippableFact]
    public void Bsdtar_lists_the_same_entries()
    {
        Tool.Require("bsdtar");
        using var t = new TempDir();
        using (var f = File.Create(t.Combine("st.tar"))) SelfTestArchive.Write(f);
        var names = Tool.Check("bsdtar", "-tf", t.Combine("st.tar")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(n => n.TrimEnd('/')).ToHashSet();
        foreach (var e in SelfTest.Tree) Assert.Contains(e.Path, names);
        Assert.Contains(SelfTestArchive.SymlinkPath, names);
    }
}
