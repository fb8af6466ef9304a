using System.Text;
using NativeInit.Core;
using NativeInit.Core.Bundle;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Bundle;

public class BundleFormatTests
{
    [Fact]
    public void Blake3_matches_the_reference_vector_and_chunking_does_not_matter()
    {
        Assert.Equal("f890484173e516bfd935ef3d22b912dc9738de38743993cfedf2c9473b3216a4",
            ContentHash.Hash(new MemoryStream("BLAKE3"u8.ToArray())).Hex);
        var data = new byte[9 << 20];
        new Random(5).NextBytes(data);
        var (whole, n) = ContentHash.Hash(new MemoryStream(data));
        Assert.Equal(data.Length, n);
        Assert.Equal(Blake3.Hasher.Hash(data).ToString(), whole);
        var (part, m) = ContentHash.Hash(new MemoryStream(data), 5_000_001);
        Assert.Equal(5_000_001, m);
        Assert.Equal(Blake3.Hasher.Hash(data.AsSpan(0, 5_000_001)).ToString(), part);
    }

    [Fact]
    public void Ed25519_signs_and_rejects_a_changed_message_or_another_key()
    {
        var (seed, pub) = BundleKeys.Generate();
        var (_, otherPub) = BundleKeys.Generate();
        var msg = "manifest"u8.ToArray();
        var sig = BundleKeys.Sign(seed, msg);
        Assert.Equal(64, sig.Length);
        Assert.True(BundleKeys.Verify(pub, msg, sig));
        Assert.False(BundleKeys.Verify(pub, "manifesT"u8, sig));
        Assert.False(BundleKeys.Verify(otherPub, msg, sig));
        sig[10] ^= 1;
        Assert.False(BundleKeys.Verify(pub, msg, sig));
    }

    [Fact]
    public void Rfc8032_test_vector_1()
    {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        var seed = Convert.FromHexString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        Assert.Equal("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", Convert.ToHexStringLower(BundleKeys.PublicFromPrivate(seed)));
        Assert.Equal("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            Convert.ToHexStringLower(BundleKeys.Sign(seed, [])));
    }

    [Fact]
    public void Key_files_round_trip_and_the_wrong_kind_is_named()
    {
        using var tmp = new TempDir();
        var (seed, pub) = BundleKeys.Generate();
        BundleKeys.WriteFiles(tmp.Combine("k"), tmp.Combine("k.pub"), seed, pub);
        Assert.Equal(seed, BundleKeys.ReadPrivate(tmp.Combine("k")));
        Assert.Equal(pub, BundleKeys.ReadPublic(tmp.Combine("k.pub")));
        var e = Assert.Throws<NativeInitException>(() => BundleKeys.ReadPublic(tmp.Combine("k")));
        Assert.Contains("private key", e.Message);
        Assert.Throws<NativeInitException>(() => BundleKeys.WriteFiles(tmp.Combine("k"), tmp.Combine("k2.pub"), seed, pub));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tmp.Combine("k")));
    }

    private static BundleManifest Sample() => new()
    {
        ProductName = "gateway", ProductVersion = "2.0",
        Parts =
        [
            new("layout.json", PartRoles.Layout, 10, new string('a', 64)),
            new("target.gpt", PartRoles.PartitionTable, 17920, new string('b', 64)),
            new("rootfs.tar.zst", PartRoles.Rootfs, 5, new string('c', 64)),
            new("vmlinuz-convert", PartRoles.Kernel, 1, new string('d', 64)),
            new("initramfs-convert.img", PartRoles.Initramfs, 1, new string('e', 64)),
        ],
        Rootfs = new RootfsInfo("zstd", 10240, 3),
        MinimumDiskBytes = 1 << 30, MinimumRamBytes = 8L << 30, KernelCommandLine = "console=ttyS0",
    };

    [Fact]
    public void Manifest_round_trips_and_is_deterministic()
    {
        var json = Sample().ToJson();
        Assert.Equal(json, Sample().ToJson());
        var back = BundleManifest.Parse(json);
        Assert.Equal(json, back.ToJson());
        Assert.Equal(8L << 30, back.MinimumRamBytes);
        Assert.Equal("console=ttyS0", back.KernelCommandLine);
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("/abs")]
    [InlineData("a//b")]
    [InlineData("manifest.json")]
    public void Bad_part_names_are_refused(string name)
    {
        var m = Sample() with { Parts = [.. Sample().Parts, new BundlePart(name, PartRoles.CarryPolicy, 1, new string('f', 64))] };
        Assert.Throws<InvalidDataFormatException>(() => BundleManifest.Parse(m.ToJson()));
    }

    [Fact]
    public void A_missing_role_is_refused()
    {
        var m = Sample() with { Parts = Sample().Parts.Where(p => p.Role != PartRoles.Kernel).ToList() };
        var e = Assert.Throws<InvalidDataFormatException>(() => BundleManifest.Parse(m.ToJson()));
        Assert.Contains("kernel", e.Message);
    }

    [Fact]
    public void Signature_file_round_trips()
    {
        var sig = new BundleSignature("0123456789abcdef", new byte[64]);
        var back = BundleSignature.Parse(Encoding.ASCII.GetBytes(sig.ToText()), "sig");
        Assert.Equal(sig.KeyId, back.KeyId);
        Assert.Throws<BundleVerificationException>(() => BundleSignature.Parse("nope"u8, "sig"));
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Minimum_disk_size_from_an_sgdisk_backup()
    {
        Tool.Require("sgdisk");
        using var tmp = new TempDir();
        var img = tmp.Combine("d.img");
        var bak = tmp.Combine("d.gpt");
        using (var f = File.Create(img)) f.SetLength(100L << 20);
        Tool.Check("sgdisk", "-n1:2048:+1M", "-t1:ef02", "-n2:0:+20M", "-n3:0:+30M", "-t3:8e00", img);
        Tool.Check("sgdisk", "--backup=" + bak, img);
        // Partition 3 ends at sector 2048 + 2048 + 40960 + 61440 - 1 = 106495: + 1 + 33 backup sectors.
        Assert.Equal((106495L + 1 + 33) * 512, PartitionTableFacts.MinimumDiskBytes(File.ReadAllBytes(bak), bak));
        Assert.Throws<InvalidDataFormatException>(() => PartitionTableFacts.MinimumDiskBytes(new byte[4096], "zeros"));
    }
}
