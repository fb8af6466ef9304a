using System.Text;
using NativeInit.Core.Platform;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Platform;

/// <summary>The kernel behaviour the extractor's path safety rests on, checked on this machine.</summary>
public class DirectoryHandleTests
{
    private static DirectoryHandle Root(string path)
    {
        Assert.Equal(0, DirectoryHandle.TryOpenRoot(path, out var h));
        return h!;
    }

    [Fact]
    public void Opening_a_symlink_or_a_file_as_a_directory_fails_without_following()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.Combine("real"));
        File.CreateSymbolicLink(tmp.Combine("link"), tmp.Combine("real"));
        File.WriteAllText(tmp.Combine("file"), "x");
        using var root = Root(tmp.Path);
        // O_NOFOLLOW|O_DIRECTORY on a symlink: ENOTDIR on this kernel (ELOOP without O_DIRECTORY); both are refusals.
        Assert.Contains(root.TryOpenDirectory("link"u8, out var h1), new[] { PosixError.ENOTDIR, PosixError.ELOOP });
        Assert.Null(h1);
        Assert.Equal(PosixError.ENOTDIR, root.TryOpenDirectory("file"u8, out _));
        Assert.Equal(PosixError.ENOENT, root.TryOpenDirectory("missing"u8, out _));
        Assert.Equal(0, root.TryOpenDirectory("real"u8, out var real));
        real!.Dispose();
    }

    [Fact]
    public void Creating_a_file_over_a_symlink_never_writes_through_it()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.Combine("target"), "keep");
        File.CreateSymbolicLink(tmp.Combine("link"), tmp.Combine("target"));
        using var root = Root(tmp.Path);
        Assert.Equal(PosixError.EEXIST, root.TryCreateFile("link"u8, 0x1A4, out _));
        Assert.Equal(0, root.TryUnlink("link"u8, directory: false));
        Assert.Equal(0, root.TryCreateFile("link"u8, 0x1A4, out var f));
        using (f) Assert.Equal(0, f.TryWriteAll("new"u8));
        Assert.Equal("keep", File.ReadAllText(tmp.Combine("target")));
        Assert.Equal("new", File.ReadAllText(tmp.Combine("link")));
    }

    [Fact]
    public void MakeDev_matches_glibc()
    {
        Assert.Equal(0x0103UL, DirectoryHandle.MakeDev(1, 3));
        Assert.Equal((7UL << 8) | 44 | (1UL << 20), DirectoryHandle.MakeDev(7, 300)); // minor 300 = 0x12C: 0x2C low, 0x100 << 12
        Assert.Equal(((ulong)0x1000 << 32) | ((ulong)0x234 << 8), DirectoryHandle.MakeDev(0x1234 & 0xfffff000 | 0x234, 0));
    }

    /// <summary>The xattr path for symlinks and device nodes (lsetxattr on /proc/self/fd/DIRFD/NAME) sets the xattr on
    /// the link itself, never on what it points to.</summary>
    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Xattrs_on_a_symlink_land_on_the_link_not_its_target()
    {
        Tool.RequireRoot();
        Tool.Require("getfattr");
        using var tmp = new TempDir();
        File.WriteAllText(tmp.Combine("target"), "x");
        File.CreateSymbolicLink(tmp.Combine("link"), tmp.Combine("target"));
        using var root = Root(tmp.Path);
        int rc = root.TrySetXattrNoFollow("link"u8, "trusted.nativeinit-test"u8, [0, 1, 2]);
        Skip.If(rc == PosixError.EOPNOTSUPP, "the temp file system has no trusted.* xattrs");
        Assert.Equal(0, rc);
        string onLink = Tool.Check("getfattr", "-h", "-d", "-m", "trusted", "-e", "hex", tmp.Combine("link"));
        string onTarget = Tool.Run("getfattr", "-d", "-m", "trusted", "-e", "hex", tmp.Combine("target")).Stdout;
        Assert.Contains("trusted.nativeinit-test=0x000102", onLink);
        Assert.DoesNotContain("nativeinit-test", onTarget);
        // user.* is refused on symlinks by the kernel: the extractor counts it as skipped.
        Assert.Equal(PosixError.EPERM, root.TrySetXattrNoFollow("link"u8, "user.x"u8, Encoding.ASCII.GetBytes("v")));
    }
}
