using NativeInit.Core;
using NativeInit.Core.Boot.Init;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

public class ModuleIndexTests
{
    /// <summary>A module tree shaped like depmod's output (paths relative to lib/modules/V).</summary>
    private static TempDir Tree()
    {
        var t = new TempDir();
        File.WriteAllText(t.Combine("modules.dep"),
            "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n" +
            "kernel/lib/crc16.ko:\n" +
            "kernel/fs/mbcache.ko:\n" +
            "kernel/fs/jbd2/jbd2.ko:\n" +
            "kernel/drivers/md/dm-mod.ko.xz:\n" +
            "kernel/crypto/crc32c_generic.ko:\n" +
            "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n" +
            "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n" +
            "kernel/drivers/virtio/virtio_ring.ko:\n");
        File.WriteAllText(t.Combine("modules.softdep"), "# comment\nsoftdep ext4 pre: crypto-crc32c\n");
        File.WriteAllText(t.Combine("modules.alias"), "alias crypto-crc32c crc32c_generic\nalias pci:v00001AF4d* virtio_pci\n");
        File.WriteAllText(t.Combine("modules.builtin"), "kernel/fs/tmpfs.ko\nkernel/drivers/block/loop.ko\n");
        return t;
    }

    [Fact]
    public void Resolves_dependencies_before_dependents_soft_dependencies_through_aliases_and_skips_builtins()
    {
        using var t = Tree();
        var index = new ModuleIndex(t.Path);
        var order = index.Resolve(["ext4", "virtio_blk", "loop", "dm_mod"]);
        Assert.Equal(
            ["kernel/crypto/crc32c_generic.ko", "kernel/lib/crc16.ko", "kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko",
             "kernel/fs/ext4/ext4.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
             "kernel/drivers/block/virtio_blk.ko", "kernel/drivers/md/dm-mod.ko.xz"],
            order);
        Assert.True(index.IsBuiltin("loop"));
        // '-' and '_' are the same in module names; each module appears once.
        Assert.Equal(order, index.Resolve(["ext4", "virtio-blk", "dm-mod", "virtio_blk", "jbd2"]));
    }

    [Fact]
    public void An_unknown_module_is_an_error_naming_it_unless_optional()
    {
        using var t = Tree();
        var index = new ModuleIndex(t.Path);
        var e = Assert.Throws<NativeInitException>(() => index.Resolve(["ext4", "no_such_fs"]));
        Assert.Contains("no_such_fs", e.Message);
        Assert.Equal(5, index.Resolve(["ext4", "no_such_fs"], optional: true).Count);
    }

    [Fact]
    public void A_missing_modules_dep_says_to_run_depmod()
    {
        using var t = new TempDir();
        var e = Assert.Throws<NativeInitException>(() => new ModuleIndex(t.Path));
        Assert.Contains("depmod", e.Message);
    }

    [SkippableFact]
    public void Agrees_with_modprobe_on_the_fetched_debian_kernel()
    {
        var moddir = KernelCache.ModuleDirectoryOrSkip();
        Tool.Require("modprobe");
        var index = new ModuleIndex(moddir);
        string kver = Path.GetFileName(moddir);
        string baseDir = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(moddir)!)!)!;
        foreach (var m in new[] { "ext4", "xfs", "virtio_blk", "sd_mod", "dm_mod" })
        {
            // modprobe --show-depends prints "insmod /path" lines in load order (soft dependencies included).
            var r = Tool.Run("modprobe", "-d", baseDir, "-S", kver, "--show-depends", m);
            Assert.True(r.ExitCode == 0, r.ToString());
            var expected = r.Stdout.Split('\n').Where(l => l.StartsWith("insmod ", StringComparison.Ordinal))
                .Select(l => Path.GetRelativePath(moddir, l[7..].Trim().Split(' ')[0])).Distinct().ToList();
            var ours = index.Resolve([m]);
            // Same set of files, and every file of ours comes after the files it depends on (checked above);
            // the relative order of independent modules may differ from modprobe's.
            Assert.Equal(expected.Order(StringComparer.Ordinal), ours.Order(StringComparer.Ordinal));
            Assert.Equal(expected[^1], ours[^1]);
        }
    }
}
