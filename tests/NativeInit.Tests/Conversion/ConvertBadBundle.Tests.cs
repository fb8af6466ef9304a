using System.IO.Hashing;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Conversion;

/// <summary>
/// Issue 13 (d) without QEMU: a legacy image (layout a, <see cref="LegacyImageFixture"/>) whose staged bundle went bad
/// between stage one and stage two — one byte of the rootfs part inverted, or the manifest re-signed by another key
/// (tools/vm/make-bad-bundle, the same damage the VM scenario hands to stage one) — or whose layout is larger than the
/// disk. `convert --image --yes` must refuse with exit 3 naming the part, the signer or the sizes, and the image must
/// be byte for byte what it was.
/// </summary>
[Trait("Category", "Integration")]
public class ConvertBadBundleTests(LegacyImageFixture fx) : IClassFixture<LegacyImageFixture>
{
    private static string Hash(string path)
    {
        var h = new XxHash128();
        using var fs = File.OpenRead(path);
        h.Append(fs);
        return System.Convert.ToHexString(h.GetCurrentHash());
    }

    [SkippableTheory]
    [InlineData("flip", "(rootfs): blake3 hash differs from the manifest (corrupted or changed)")]
    [InlineData("other-key", "manifest.sig names signing key")]
    [InlineData("too-big", "")]
    public void A_staged_bundle_that_went_bad_is_refused_before_any_write(string damage, string reason)
    {
        Tool.RequireRoot();
        Tool.RequireNativeInit();
        Tool.Require("sgdisk", "mkfs.xfs", "sfdisk", "fallocate", "python3", "openssl");
        using var dir = new TempDir();
        string bad = dir.Combine("bad.tar");
        if (damage == "too-big")
        {
            // Signed and whole, but its partition table is for a disk 1 GiB larger than the image.
            string made = dir.Combine("big");
            Directory.CreateDirectory(made);
            string img = dir.Combine("big.img");
            using (var f = File.Create(img)) f.SetLength(LegacyImageFixture.DiskBytes + (1L << 30));
            Tool.Check("sgdisk", "-o", "-n1:2048:+2M", "-t1:ef02", "-n2:0:+300M", "-t2:8300", "-n3:0:0", "-t3:8e00", img);
            Tool.Check("sgdisk", "--backup=" + Path.Combine(made, "target.gpt"), img);
            File.Copy(fx.Tmp.Combine("layout.json"), Path.Combine(made, "layout.json"));
            Tool.Check(fx.Binary, "bundle", "create", "--rootfs", fx.Rootfs, "--layout", Path.Combine(made, "layout.json"), "--kernel", fx.Tmp.Combine("vmlinuz"),
                "--initramfs", fx.Tmp.Combine("initramfs.img"), "--key", fx.Tmp.Combine("vendor.key"), "--out", bad, "--single-file");
            reason = $"{LegacyImageFixture.DiskBytes / 512} sectors of 512 bytes are too small for the GPT backup";
        }
        else
        {
            Tool.Check(Path.Combine(Tool.RepoRoot, "tools", "vm", "make-bad-bundle"), damage, fx.Bundle, bad, dir.Combine("other"));
            // The damaged file still reads as a bundle of the same size; only the hash or the signature tells.
            Assert.Equal(new FileInfo(fx.Bundle).Length, new FileInfo(bad).Length);
            Assert.NotEqual(Hash(fx.Bundle), Hash(bad));
        }

        string image = dir.Combine("legacy.img");
        fx.BuildLegacy(image, fillerFirst: true, bundle: bad);
        string before = Hash(image);
        var r = Tool.Run(fx.Binary, ["convert", "--image", image, "--key", fx.Public, "--yes"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 3, "a bad staged bundle must be refused before any write (exit 3)\n" + r);
        Assert.True(r.Stderr.Contains(reason, StringComparison.Ordinal), $"no error naming the damage ('{reason}')\n{r}");
        Assert.Equal(before, Hash(image));
        // Nothing was started: no journal, so status still says the disk is not converted.
        var status = Tool.Run(fx.Binary, "status", "--image", image);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("not converted", status.Stdout);
        Assert.Equal(before, Hash(image));
    }
}
