using System.Text;
using NativeInit.Core;
using NativeInit.Core.Platform;
using NativeInit.Tests.Archive.Tar;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Common;

public class AtomicFileTests
{
    [Fact]
    public void Replaces_the_file_and_leaves_no_temporary()
    {
        string dir = Directory.CreateTempSubdirectory("atomicfile-").FullName;
        try
        {
            string path = Path.Combine(dir, "state.json");
            File.WriteAllText(path, "old, and longer than the new text");
            AtomicFile.Write(path, "new"u8, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Assert.Equal("new", File.ReadAllText(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(["state.json"], Directory.GetFiles(dir).Select(Path.GetFileName));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A file of another system's tree whose new text is computed from its old one: the old file is never
    /// written (a power cut leaves it or the new one), and the new one has its owner, mode (set-id bits too) and every
    /// xattr; a PATH+ left by an interrupted run does not get in the way.</summary>
    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Replacing_keeps_owner_mode_and_xattrs_and_never_writes_the_old_file()
    {
        using var scratch = XattrScratch.Create();
        string path = scratch.Combine("config");
        File.WriteAllText(path, "SELINUX=enforcing\nSELINUXTYPE=targeted\n");
        Tool.Check("chown", "12:34", path);
        File.SetUnixFileMode(path, UnixFileMode.SetGroup | UnixFileMode.UserRead | UnixFileMode.GroupRead);
        Tool.Check("setfattr", "-n", "security.selinux", "-v", "system_u:object_r:selinux_config_t:s0", path);
        Tool.Check("setfattr", "-n", "user.note", "-v", "kept", path);
        Tool.Check("ln", path, scratch.Combine("old-name"));
        File.WriteAllText(path + "+", "left by an interrupted run, longer than the new text");
        ulong ino = PosixPath.LStat(PosixPath.Z(path)).Ino;

        AtomicFile.ReplaceKeepingAttributes(path, "SELINUX=permissive\nSELINUXTYPE=targeted\n"u8);

        Assert.Equal("SELINUX=permissive\nSELINUXTYPE=targeted\n", File.ReadAllText(path));
        Assert.Equal("SELINUX=enforcing\nSELINUXTYPE=targeted\n", File.ReadAllText(scratch.Combine("old-name")));
        var st = PosixPath.LStat(PosixPath.Z(path));
        Assert.NotEqual(ino, st.Ino);
        Assert.Equal((12u, 34u), (st.Uid, st.Gid));
        Assert.Equal(UnixFileMode.SetGroup | UnixFileMode.UserRead | UnixFileMode.GroupRead, File.GetUnixFileMode(path));
        Assert.Equal("system_u:object_r:selinux_config_t:s0", Encoding.ASCII.GetString(PosixPath.GetXattr(path, "security.selinux")!));
        Assert.Equal("kept", Encoding.ASCII.GetString(PosixPath.GetXattr(path, "user.note")!));
        Assert.False(File.Exists(path + "+"));
    }

    [Fact]
    public void A_broken_file_is_kept_aside_not_deleted()
    {
        string dir = Directory.CreateTempSubdirectory("atomicfile-").FullName;
        try
        {
            string path = Path.Combine(dir, "journal.json");
            File.WriteAllText(path, "{ torn");
            string kept = AtomicFile.KeepBroken(path);
            Assert.Equal(path + ".broken", kept);
            Assert.False(File.Exists(path));
            Assert.Equal("{ torn", File.ReadAllText(kept));
        }
        finally { Directory.Delete(dir, true); }
    }
}
