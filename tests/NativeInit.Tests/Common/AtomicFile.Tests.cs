using NativeInit.Core;

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
