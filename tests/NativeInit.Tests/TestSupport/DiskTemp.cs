using NativeInit.Core.Disk;

namespace NativeInit.Tests.TestSupport;

/// <summary>
/// A parent directory for temporary directories on a filesystem that reports file extents (FIEMAP), as a gateway's
/// /boot (xfs, ext4) does and tmpfs does not: the system's temp directory when it can, else the repository's
/// artifacts/test-tmp (on the disk the checkout is on). Stage one refuses a boot directory without FIEMAP.
/// </summary>
public static class DiskTemp
{
    private static readonly Lazy<string> Parent = new(Find);

    public static string Root => Parent.Value;

    private static string Find()
    {
        foreach (var candidate in new[] { Path.GetTempPath(), Path.Combine(Tool.RepoRoot, "artifacts", "test-tmp") })
        {
            Directory.CreateDirectory(candidate);
            var probe = Path.Combine(candidate, "nativeinit-fiemap-probe-" + Guid.NewGuid().ToString("N")[..8]);
            try
            {
                File.WriteAllBytes(probe, new byte[8192]);
                FileExtents.Read(probe, 0);
                return candidate;
            }
            catch (NativeInit.Core.Platform.PosixException) { }
            finally { File.Delete(probe); }
        }
        throw new InvalidOperationException("neither the temp directory nor artifacts/test-tmp is on a filesystem with FIEMAP");
    }
}
