using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive.Tar;

/// <summary>A temporary directory on a filesystem that keeps user.* and security.* xattrs: the system's temporary
/// directory when it does (ext4, xfs), otherwise an ext4 loop mount made for the test (tmpfs on older kernels drops
/// user.*).</summary>
public sealed class XattrScratch : IDisposable
{
    private readonly Ext4Scratch? _ext4;
    private readonly TempDir _dir;

    private XattrScratch(Ext4Scratch? ext4, TempDir dir) => (_ext4, _dir) = (ext4, dir);

    public string Path => _dir.Path;
    public string Combine(params string[] parts) => _dir.Combine(parts);

    public static XattrScratch Create()
    {
        Tool.RequireRoot();
        Tool.Require("setfattr");
        var probe = new TempDir();
        var f = probe.Combine("probe");
        File.WriteAllText(f, "");
        bool ok = Tool.Run("setfattr", "-n", "user.probe", "-v", "1", f).ExitCode == 0 &&
                  Tool.Run("setfattr", "-n", "security.capability", "-v", TreeFixture.CapabilityHex, f).ExitCode == 0;
        if (ok && Environment.GetEnvironmentVariable("NATIVEINIT_TEST_FORCE_EXT4") != "1") return new XattrScratch(null, probe);
        probe.Dispose();
        var ext4 = Ext4Scratch.Create(512);
        return new XattrScratch(ext4, new TempDir(ext4.Mount));
    }

    public void Dispose()
    {
        _dir.Dispose();
        _ext4?.Dispose();
    }
}
