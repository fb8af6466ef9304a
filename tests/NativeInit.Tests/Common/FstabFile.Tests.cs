using NativeInit.Core;

namespace NativeInit.Tests.Common;

public class FstabFileTests
{
    [Theory]
    [InlineData("UUID=0a1b", true)]
    [InlineData("LABEL=root", true)]
    [InlineData("PARTUUID=5e1f-01", true)]
    [InlineData("PARTLABEL=data", true)]
    [InlineData("ID=wwn-0x5000", true)]
    [InlineData("/dev/mapper/vg-root", true)]
    [InlineData("tmpfs", false)]
    [InlineData("proc", false)]
    [InlineData("server:/export", false)]
    [InlineData("/srv/image.img", false)]
    public void Names_a_device(string spec, bool device) => Assert.Equal(device, FstabFile.NamesDevice(spec));

    /// <summary>The tree's own fstab is read; a symbolic link is not followed, wherever it points: here at a file
    /// outside the tree, which stays as it was when the new fstab replaces the link.</summary>
    [Fact]
    public void Reads_the_trees_fstab_but_not_through_a_link_and_replaces_the_link()
    {
        string dir = Directory.CreateTempSubdirectory("fstabfile-").FullName;
        try
        {
            string root = Path.Combine(dir, "root");
            Directory.CreateDirectory(Path.Combine(root, "etc"));
            string fstab = Path.Combine(root, "etc/fstab");
            Assert.Equal("", FstabFile.ReadTree(root));

            File.WriteAllText(fstab, "tmpfs /tmp tmpfs defaults 0 0\n");
            Assert.Equal("tmpfs /tmp tmpfs defaults 0 0\n", FstabFile.ReadTree(root));

            string outside = Path.Combine(dir, "outside-fstab");
            File.WriteAllText(outside, "/dev/sda1 / xfs defaults 0 1\n");
            File.Delete(fstab);
            File.CreateSymbolicLink(fstab, outside);
            Assert.Equal("", FstabFile.ReadTree(root));

            FstabFile.Write(root, "UUID=1234 / xfs defaults 0 1\n");
            Assert.Null(new FileInfo(fstab).LinkTarget);
            Assert.Equal("UUID=1234 / xfs defaults 0 1\n", File.ReadAllText(fstab));
            Assert.Equal("/dev/sda1 / xfs defaults 0 1\n", File.ReadAllText(outside));
        }
        finally { Directory.Delete(dir, true); }
    }
}
