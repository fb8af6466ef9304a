namespace NativeInit.Core.Conversion;

public sealed partial class SelfTest
{
    /// <summary>The disk steps. Until the GPT, LVM and extractor pieces are merged, the file system goes on the
    /// whole scratch disk and the files are written directly.</summary>
    private void RunDiskSteps(string disk)
    {
        FilesystemRoundTrip(disk, "nativeinit-st");
    }

    /// <summary>Puts the test tree on the mounted file system and reads it back.</summary>
    private static string FillAndVerify(string root)
    {
        Populate(root);
        return Verify(root);
    }
}
