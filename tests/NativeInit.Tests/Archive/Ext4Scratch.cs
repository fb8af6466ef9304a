using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive;

/// <summary>
/// An ext4 file system on a loop device the test creates (tmpfs does not keep every xattr namespace): a sparse image
/// file in a temporary directory, attached with `losetup -f --show`, formatted and mounted. Dispose unmounts, detaches
/// the loop device and removes everything.
/// </summary>
public sealed class Ext4Scratch : IDisposable
{
    private readonly TempDir _dir;
    private string? _loop;
    private bool _mounted;

    private Ext4Scratch(TempDir dir) => _dir = dir;

    public string Mount => _dir.Combine("mnt");

    public static Ext4Scratch Create(long sizeMiB)
    {
        Tool.RequireRoot();
        Tool.Require("losetup", "mkfs.ext4", "mount", "umount");
        var s = new Ext4Scratch(new TempDir());
        try
        {
            string img = s._dir.Combine("ext4.img");
            using (var f = File.Create(img)) f.SetLength(sizeMiB << 20);
            s._loop = Tool.Check("losetup", "-f", "--show", img).Trim();
            Tool.Check("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", s._loop);
            Directory.CreateDirectory(s.Mount);
            Tool.Check("mount", s._loop, s.Mount);
            s._mounted = true;
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_mounted)
        {
            if (Tool.Run("umount", Mount).ExitCode != 0) Tool.Run("umount", "-l", Mount);
            _mounted = false;
        }
        if (_loop is not null)
        {
            Tool.Run("losetup", "-d", _loop);
            _loop = null;
        }
        _dir.Dispose();
    }
}
