using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Bundle;

/// <summary>Keys, a layout with an sgdisk backup of a 100 MiB disk, dummy kernel and initramfs, and the published
/// binary to make bundles with.</summary>
public sealed class BundleFixture : IDisposable
{
    public BundleFixture()
    {
        Binary = Tool.RequireNativeInit();
        Tool.Require("sgdisk");
        // On a filesystem with FIEMAP: stage one stages into fake roots made here (see DiskTemp).
        Tmp = new TempDir(DiskTemp.Root);
        Private = Tmp.Combine("vendor.key");
        Public = Tmp.Combine("vendor.pub");
        Check("bundle", "keygen", "--private", Private, "--public", Public);
        var img = Tmp.Combine("ref.img");
        using (var f = File.Create(img)) f.SetLength(100L << 20);
        Tool.Check("sgdisk", "-n1:2048:+1M", "-t1:ef02", "-n2:0:+20M", "-n3:0:0", "-t3:8e00", img);
        Tool.Check("sgdisk", "--backup=" + Tmp.Combine("target.gpt"), img);
        File.Delete(img);
        Layout = Tmp.Combine("layout.json");
        File.WriteAllText(Layout, """
            { "partitionTable": "target.gpt",
              "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "4MiB",
                "logicalVolumes": [ { "name": "root", "size": "rest", "filesystem": "xfs", "mountPoint": "/" } ] } }
            """);
        Kernel = Tmp.Combine("vmlinuz");
        File.WriteAllText(Kernel, "dummy kernel\n");
        Initramfs = Tmp.Combine("initramfs.img");
        File.WriteAllText(Initramfs, "dummy initramfs\n");
    }

    public TempDir Tmp { get; }
    public string Binary { get; }
    public string Private { get; }
    public string Public { get; }
    public string Layout { get; }
    public string Kernel { get; }
    public string Initramfs { get; }

    /// <summary>The reference disk is 100 MiB: the layout needs exactly that.</summary>
    public const long MinimumDisk = 100L << 20;

    public ToolResult Run(params string[] args) => Tool.Run(Binary, args);

    public string Check(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    /// <summary>Runs bundle create from <paramref name="rootfs"/> into <paramref name="out"/>.</summary>
    public string Create(string rootfs, string @out, params string[] extra)
    {
        Check(["bundle", "create", "--rootfs", rootfs, "--layout", Layout, "--kernel", Kernel, "--initramfs", Initramfs,
            "--key", Private, "--out", @out, "--product", "gateway", "--product-version", "2.0", "--cmdline", "console=ttyS0,115200n8", .. extra]);
        return @out;
    }

    /// <summary>A small rootfs directory without special files (no root needed).</summary>
    public string SmallRootfs(string name = "small-root")
    {
        var dir = Tmp.Combine(name);
        Directory.CreateDirectory(Path.Combine(dir, "etc"));
        File.WriteAllText(Path.Combine(dir, "etc/os-release"), "NAME=Target\n");
        File.WriteAllText(Path.Combine(dir, "etc/shadow"), "root:!:19500:0:99999:7:::\n");
        File.SetLastWriteTimeUtc(Path.Combine(dir, "etc/os-release"), new DateTime(2024, 1, 2, 0, 0, 0, DateTimeKind.Utc));
        return dir;
    }

    public void Dispose() => Tmp.Dispose();
}
