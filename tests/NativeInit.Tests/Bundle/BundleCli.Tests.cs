using NativeInit.Tests.Archive.Tar;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Bundle;

[Trait("Category", "Integration")]
public class BundleCliTests
{
    [SkippableFact]
    public void Round_trip_from_a_tree_with_special_files_extracts_identically()
    {
        Tool.RequireRoot();
        Tool.Require("tar", "setfattr", "mknod");
        using var fx = new BundleFixture();
        using var scratch = XattrScratch.Create();
        var src = scratch.Combine("src");
        Directory.CreateDirectory(src);
        TreeFixture.Build(src);
        foreach (var (compress, single) in new[] { ("zstd", false), ("xz", true) })
        {
            var outPath = fx.Tmp.Combine($"bundle-{compress}" + (single ? ".tar" : ""));
            fx.Create(src, outPath, ["--compress", compress, .. single ? new[] { "--single-file" } : []]);
            var verify = fx.Check("bundle", "verify", outPath, "--key", fx.Public);
            Assert.Contains("good", verify);
            var show = fx.Check("bundle", "show", outPath, "--key", fx.Public, "--json");
            Assert.Contains("\"verified\": true", show);
            Assert.Contains($"\"compression\": \"{compress}\"", show);

            // Take the rootfs part out of the bundle and extract it with GNU tar as the oracle.
            var dir = single ? Unpack(fx, outPath) : outPath;
            var archive = Directory.GetFiles(dir, "rootfs.tar.*").Single();
            var dst = scratch.Combine("dst-" + compress);
            Directory.CreateDirectory(dst);
            Tool.Check("tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", archive, "-C", dst);
            TreeFixture.AssertSameTree(src, dst, symlinkMtimes: false);
            // And with NativeInit's own extractor (what stage two runs).
            var dst2 = scratch.Combine("dst-ni-" + compress);
            Directory.CreateDirectory(dst2);
            fx.Check("extract", archive, "--to", dst2);
            TreeFixture.AssertSameTree(src, dst2);
            var entries = Tool.Check("tar", "-tf", archive).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            Assert.Contains($"\"entries\": {entries}", show);
        }
    }

    private static string Unpack(BundleFixture fx, string single)
    {
        var dir = single + ".unpacked";
        Directory.CreateDirectory(dir);
        Tool.Check("tar", "-xf", single, "-C", dir);
        var first = Tool.Check("tar", "-tf", single).Split('\n')[0];
        Assert.Equal("manifest.json", first);
        return dir;
    }

    [SkippableFact]
    public void Creating_twice_gives_identical_bundles()
    {
        Tool.RequireRoot();
        Tool.Require("setfattr", "mknod");
        using var fx = new BundleFixture();
        using var scratch = XattrScratch.Create();
        var src = scratch.Combine("src");
        Directory.CreateDirectory(src);
        TreeFixture.Build(src);
        foreach (var compress in new[] { "zstd", "xz" })
        {
            var a = fx.Create(src, fx.Tmp.Combine("a-" + compress), "--compress", compress, "--level", "3");
            var b = fx.Create(src, fx.Tmp.Combine("b-" + compress), "--compress", compress, "--level", "3");
            foreach (var f in Directory.GetFiles(a).Select(Path.GetFileName))
                Assert.True(File.ReadAllBytes(Path.Combine(a, f!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, f!))), $"{f} differs ({compress})");
            var sa = fx.Create(src, fx.Tmp.Combine("a-" + compress + ".tar"), "--compress", compress, "--level", "3", "--single-file");
            var sb = fx.Create(src, fx.Tmp.Combine("b-" + compress + ".tar"), "--compress", compress, "--level", "3", "--single-file");
            Assert.True(File.ReadAllBytes(sa).AsSpan().SequenceEqual(File.ReadAllBytes(sb)), "single-file bundles differ");
        }
    }

    /// <summary>bundle create records whether the rootfs has GRUB's BIOS tools (grub-mkimage and the i386-pc images), so
    /// that stage two's preflight knows it before the extraction; from a tree and from an archive alike.</summary>
    [SkippableFact]
    public void It_records_whether_the_rootfs_has_grub_mkimage()
    {
        using var fx = new BundleFixture();
        Tool.Require("tar", "zstd");
        var bare = fx.SmallRootfs();
        var b0 = fx.Create(bare, fx.Tmp.Combine("no-grub"));
        Assert.Contains("\"grubMkimage\": \"\"", fx.Check("bundle", "show", b0, "--json"));
        Assert.Contains("no GRUB BIOS tools", fx.Check("bundle", "show", b0));

        var grub = fx.Tmp.Combine("grub-root");
        Tool.Check("cp", "-a", bare, grub);
        Directory.CreateDirectory(Path.Combine(grub, "usr/bin"));
        Directory.CreateDirectory(Path.Combine(grub, "usr/lib/grub/i386-pc"));
        File.WriteAllText(Path.Combine(grub, "usr/bin/grub2-mkimage"), "#!/bin/sh\n");
        // Not yet: the images are missing.
        var b1 = fx.Create(grub, fx.Tmp.Combine("tool-only"));
        Assert.Contains("\"grubMkimage\": \"\"", fx.Check("bundle", "show", b1, "--json"));
        foreach (var img in (string[])["boot.img", "diskboot.img", "kernel.img"])
            File.WriteAllText(Path.Combine(grub, "usr/lib/grub/i386-pc", img), img);
        var b2 = fx.Create(grub, fx.Tmp.Combine("with-grub"));
        Assert.Contains("\"grubMkimage\": \"usr/bin/grub2-mkimage\"", fx.Check("bundle", "show", b2, "--json"));
        Assert.Contains("GRUB: /usr/bin/grub2-mkimage", fx.Check("bundle", "show", b2));

        var tzst = fx.Tmp.Combine("grub-root.tar.zst");
        Tool.Check("tar", "--zstd", "--numeric-owner", "-cf", tzst, "-C", grub, ".");
        var b3 = fx.Create(tzst, fx.Tmp.Combine("with-grub-archive"));
        Assert.Contains("\"grubMkimage\": \"usr/bin/grub2-mkimage\"", fx.Check("bundle", "show", b3, "--json"));
    }

    [SkippableFact]
    public void From_an_archive_it_counts_and_checks_it()
    {
        using var fx = new BundleFixture();
        Tool.Require("tar", "xz", "zstd");
        var root = fx.SmallRootfs();
        var txz = fx.Tmp.Combine("field.tar.xz");
        Tool.Check("tar", "--xattrs", "--numeric-owner", "-cJf", txz, "-C", root, ".");
        var b = fx.Create(txz, fx.Tmp.Combine("from-archive"));
        var show = fx.Check("bundle", "show", b, "--json");
        Assert.Contains("\"compression\": \"xz\"", show);
        Assert.Contains("\"entries\": 4", show); // ./ ./etc/ ./etc/os-release ./etc/shadow
        Assert.True(File.Exists(Path.Combine(b, "rootfs.tar.xz")));
        // A truncated archive does not read cleanly: refused before any bundle is written.
        var cut = fx.Tmp.Combine("cut.tar.zst");
        Tool.Check("bash", "-c", $"tar -cf - -C {Tool.Quote(root)} . | zstd -q -c | head -c 60 > {Tool.Quote(cut)}");
        var r = fx.Run("bundle", "create", "--rootfs", cut, "--layout", fx.Layout, "--kernel", fx.Kernel, "--initramfs", fx.Initramfs,
            "--key", fx.Private, "--out", fx.Tmp.Combine("bad"));
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("does not read cleanly", r.Stderr);
        Assert.False(Directory.Exists(fx.Tmp.Combine("bad")) && Directory.EnumerateFileSystemEntries(fx.Tmp.Combine("bad")).Any(f => f.EndsWith("manifest.json")));
    }

    public static TheoryData<string> Tamperings => new()
    {
        "manifest-byte", "part-byte", "signature-byte", "missing-part", "extra-part", "wrong-key",
        "single-truncated", "single-part-byte", "single-extra", "single-signature-byte",
    };

    [SkippableTheory]
    [MemberData(nameof(Tamperings))]
    public void Tampered_bundles_are_refused_naming_the_problem(string how)
    {
        using var fx = new BundleFixture();
        var root = fx.SmallRootfs();
        bool single = how.StartsWith("single", StringComparison.Ordinal);
        var b = fx.Create(root, fx.Tmp.Combine(single ? "b.tar" : "b"), single ? ["--single-file"] : []);
        var key = fx.Public;
        string expect;
        switch (how)
        {
            case "manifest-byte":
                Flip(Path.Combine(b, "manifest.json"), "\"version\": \"2.0\"", "\"version\": \"2.1\"");
                expect = "bad signature";
                break;
            case "part-byte":
                FlipByte(Path.Combine(b, "vmlinuz-convert"), 3);
                expect = "part vmlinuz-convert (kernel): blake3 hash differs";
                break;
            case "signature-byte":
                var sig = File.ReadAllText(Path.Combine(b, "manifest.sig"));
                int at = sig.IndexOf("signature: ", StringComparison.Ordinal) + 15;
                File.WriteAllText(Path.Combine(b, "manifest.sig"), sig[..at] + (sig[at] == 'A' ? 'B' : 'A') + sig[(at + 1)..]);
                expect = "bad signature";
                break;
            case "missing-part":
                File.Delete(Path.Combine(b, "initramfs-convert.img"));
                expect = "part initramfs-convert.img (initramfs) is missing";
                break;
            case "extra-part":
                File.WriteAllText(Path.Combine(b, "upgrade.sh"), "#!/bin/sh\n");
                expect = "extra file upgrade.sh is not in the manifest";
                break;
            case "wrong-key":
                key = fx.Tmp.Combine("other.pub");
                fx.Check("bundle", "keygen", "--private", fx.Tmp.Combine("other.key"), "--public", key);
                expect = "wrong public key";
                break;
            case "single-truncated":
                using (var f = new FileStream(b, FileMode.Open)) f.SetLength(f.Length - 3000);
                expect = "is truncated";
                break;
            case "single-part-byte":
                // The layout part's data: find "VA" inside the tar and change it.
                var bytes = File.ReadAllBytes(b);
                int i = bytes.AsSpan().IndexOf("\"VA\""u8);
                bytes[i + 1] = (byte)'B';
                File.WriteAllBytes(b, bytes);
                expect = "part layout.json (layout): blake3 hash differs";
                break;
            case "single-extra":
                AppendMember(b, "upgrade.sh", "#!/bin/sh\n"u8.ToArray());
                expect = "extra file upgrade.sh is not in the manifest";
                break;
            case "single-signature-byte":
                var raw = File.ReadAllBytes(b);
                int s = raw.AsSpan().IndexOf("signature: "u8) + 11;
                raw[s] = raw[s] == (byte)'A' ? (byte)'B' : (byte)'A';
                // Member data is not covered by the tar header checksum: the container stays well-formed.
                File.WriteAllBytes(b, raw);
                expect = "bad signature";
                break;
            default:
                throw new ArgumentException(how);
        }
        var r = fx.Run("bundle", "verify", b, "--key", key);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains(expect, r.Stderr);
    }

    private static void Flip(string file, string from, string to)
    {
        var text = File.ReadAllText(file);
        Assert.Contains(from, text);
        File.WriteAllText(file, text.Replace(from, to));
    }

    private static void FlipByte(string file, int offset)
    {
        var b = File.ReadAllBytes(file);
        b[offset] ^= 0x20;
        File.WriteAllBytes(file, b);
    }

    /// <summary>Appends a member before the end-of-archive blocks with GNU tar.</summary>
    private static void AppendMember(string tar, string name, byte[] content)
    {
        var dir = Path.Combine(Path.GetDirectoryName(tar)!, "append-src");
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, name), content);
        Tool.Check("tar", "-rf", tar, "-C", dir, name);
    }

    [SkippableFact]
    public void Show_without_key_says_not_verified_and_json_is_one_object()
    {
        using var fx = new BundleFixture();
        var b = fx.Create(fx.SmallRootfs(), fx.Tmp.Combine("b"));
        var text = fx.Check("bundle", "show", b);
        Assert.Contains("NOT verified", text);
        Assert.Contains("vmlinuz-convert", text);
        var json = fx.Check("bundle", "show", b, "--json");
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.False(doc.RootElement.GetProperty("verified").GetBoolean());
        Assert.Equal(BundleFixture.MinimumDisk, doc.RootElement.GetProperty("manifest").GetProperty("requirements").GetProperty("minimumDiskBytes").GetInt64());
    }
}
