using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Conversion;

/// <summary>What the initramfs hooks hand to `convert`: a disk named the way rd.nativeinit.disk= names it, and
/// --resume (every run resumes from the journal).</summary>
[Trait("Category", "Integration")]
public class ConvertCliTests
{
    [SkippableFact]
    public void A_disk_identity_that_names_no_disk_is_refused_and_resume_is_accepted()
    {
        string ni = Tool.RequireNativeInit();
        var r = Tool.Run(ni, "convert", "--disk", "serial:nativeinit-no-such-disk", "--resume", "--yes");
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("disk serial:nativeinit-no-such-disk: no such disk is present (nothing was written)", r.Stderr);
        var bad = Tool.Run(ni, "convert", "--disk", "sdz", "--yes");
        Assert.True(bad.ExitCode == 2, bad.ToString());
        Assert.Contains("serial:SERIAL", bad.Stderr);
    }
}
