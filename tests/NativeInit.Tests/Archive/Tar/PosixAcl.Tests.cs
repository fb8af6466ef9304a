using System.Text;
using NativeInit.Core.Archive.Tar;

namespace NativeInit.Tests.Archive.Tar;

public class PosixAclTests
{
    private sealed class Names(Dictionary<string, uint> users, Dictionary<string, uint> groups) : IAccountNames
    {
        public bool TryResolve(bool group, ReadOnlySpan<byte> name, out uint id) =>
            (group ? groups : users).TryGetValue(Encoding.UTF8.GetString(name), out id);
    }

    private static readonly Names Target = new(new() { ["bin"] = 2, ["gw"] = 4242 }, new() { ["adm"] = 4, ["wheel"] = 10 });

    /// <summary>The expected value, typed from linux include/uapi/linux/posix_acl_xattr.h (version 2, then tag, perm, id
    /// little endian), independently of the encoder's constants.</summary>
    private static byte[] Xattr(params (ushort Tag, ushort Perm, uint Id)[] entries)
    {
        var b = new List<byte> { 2, 0, 0, 0 };
        foreach (var (t, p, id) in entries)
        {
            b.AddRange(BitConverter.GetBytes(t));
            b.AddRange(BitConverter.GetBytes(p));
            b.AddRange(BitConverter.GetBytes(id));
        }
        return [.. b];
    }

    [Fact]
    public void Star_and_bsdtar_text_with_numeric_ids_in_the_fourth_field()
    {
        // bsdtar's order (named entries after the base ones) is sorted by tag then id, as the kernel requires; the
        // fourth field wins over the name (bin is 2 in the target, the archive says 7).
        var v = PosixAcl.Encode("user::rw-,group::r--,other::r--,user:bin:r--:7,group:adm:rw-:4,mask::rw-"u8, Target, out var error);
        Assert.Null(error);
        Assert.Equal(Xattr((0x01, 6, uint.MaxValue), (0x02, 4, 7), (0x04, 4, uint.MaxValue), (0x08, 6, 4), (0x10, 6, uint.MaxValue),
            (0x20, 4, uint.MaxValue)), v);
    }

    [Fact]
    public void Gnu_tar_text_with_names_resolved_against_the_target()
    {
        var v = PosixAcl.Encode("user::rwx\nuser:gw:r-x\ngroup::r-x\ngroup:wheel:r-x\nmask::r-x\nother::---\n"u8, Target, out var error);
        Assert.Null(error);
        Assert.Equal(Xattr((0x01, 7, uint.MaxValue), (0x02, 5, 4242), (0x04, 5, uint.MaxValue), (0x08, 5, 10), (0x10, 5, uint.MaxValue),
            (0x20, 0, uint.MaxValue)), v);
    }

    [Fact]
    public void Abbreviations_comments_and_numeric_qualifiers()
    {
        var v = PosixAcl.Encode("u::rw-, u:1000:r-- #effective:r--,g::r--,m:r--,o::r--"u8, Target, out var error);
        Assert.Null(error);
        Assert.Equal(Xattr((0x01, 6, uint.MaxValue), (0x02, 4, 1000), (0x04, 4, uint.MaxValue), (0x10, 4, uint.MaxValue), (0x20, 4, uint.MaxValue)), v);
    }

    [Theory]
    [InlineData("user::rw-,user:nobody-here:r--,group::r--,mask::r--,other::r--", "user 'nobody-here' is not in the target's etc/passwd")]
    [InlineData("group:staff:r--", "group 'staff' is not in the target's etc/group")]
    [InlineData("user::rwz", "bad permissions 'rwz'")]
    [InlineData("owner@:rw", "unknown tag 'owner@'")]
    [InlineData("user:bin:r--:x2", "bad numeric id 'x2'")]
    [InlineData("mask:bin:r--", "takes no qualifier")]
    [InlineData("user", "is not tag:qualifier:perms")]
    [InlineData("", "empty ACL")]
    public void Malformed_entries_and_unknown_names_are_errors_naming_the_entry(string text, string expected)
    {
        Assert.Null(PosixAcl.Encode(Encoding.UTF8.GetBytes(text), Target, out var error));
        Assert.Contains(expected, error);
    }
}
