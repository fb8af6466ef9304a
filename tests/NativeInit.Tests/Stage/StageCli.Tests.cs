using NativeInit.Core.Boot;
using NativeInit.Core.Carry;
using NativeInit.Tests.Bundle;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Stage;

[Trait("Category", "Integration")]
public class StageCliTests
{
    private static (BundleFixture Fx, string Bundle) MakeBundle(bool single)
    {
        var fx = new BundleFixture();
        var b = fx.Create(fx.SmallRootfs(), fx.Tmp.Combine(single ? "bundle.tar" : "bundle"), single ? ["--single-file"] : []);
        return (fx, b);
    }

    [SkippableTheory]
    [InlineData("centos7", true)]
    [InlineData("centos7", false)]
    [InlineData("debian", true)]
    public void Stage_writes_the_entry_and_one_shot_and_undo_restores_byte_for_byte(string distro, bool single)
    {
        var (fx, bundle) = MakeBundle(single);
        using var _ = fx;
        var root = fx.Tmp.Combine("root-" + distro);
        if (distro == "centos7") FakeSystem.Centos7(root); else FakeSystem.Debian(root);
        string grubDir = Path.Combine(root, "boot", distro == "centos7" ? "grub2" : "grub");
        var before = FakeSystem.Snapshot(root);

        // --dry-run changes nothing.
        var dry = fx.Check("stage", bundle, "--key", fx.Public, "--root", root, "--dry-run");
        Assert.Contains("dry run: nothing was written", dry);
        Assert.Equal(before, FakeSystem.Snapshot(root));
        var json = fx.Check("stage", bundle, "--key", fx.Public, "--root", root, "--dry-run", "--json");
        using (var doc = System.Text.Json.JsonDocument.Parse(json))
        {
            var checks = doc.RootElement.GetProperty("checks");
            Assert.Equal(20971520L * 512, checks.GetProperty("diskBytes").GetInt64());
            Assert.Equal(BundleFixture.MinimumDisk, checks.GetProperty("diskNeededBytes").GetInt64());
            Assert.Equal(8009876L * 1024, checks.GetProperty("ramBytes").GetInt64());
            Assert.Equal("grubenv", doc.RootElement.GetProperty("boot").GetProperty("oneShot").GetString());
            Assert.True(doc.RootElement.GetProperty("dryRun").GetBoolean());
            Assert.StartsWith("partuuid:", checks.GetProperty("diskIdentity").GetString());
            // The bundle's layout planned for this 10 GiB disk: what stage two writes first.
            var keepOut = doc.RootElement.GetProperty("keepOut").EnumerateArray().Select(r => r.GetProperty("what").GetString()!).ToList();
            Assert.Contains(keepOut, w => w.StartsWith("BIOS boot partition 1", StringComparison.Ordinal));
            Assert.Contains(keepOut, w => w == "partition 2");
            Assert.Contains(keepOut, w => w.StartsWith("LVM label and metadata of partition 3", StringComparison.Ordinal));
        }
        Assert.Equal(before, FakeSystem.Snapshot(root));

        var run = fx.Check("stage", bundle, "--key", fx.Public, "--root", root);
        Assert.Contains("undo: nativeinit stage --undo", run);
        var stage = Path.Combine(root, "boot/nativeinit");
        foreach (var f in new[] { "vmlinuz-convert", "initramfs-convert.img", "bundle.tar", "carry.json", "undo.json", "bundle.extents.json", "stage.log" })
            Assert.True(File.Exists(Path.Combine(stage, f)), f);
        Assert.Equal(File.ReadAllBytes(fx.Kernel), File.ReadAllBytes(Path.Combine(stage, "vmlinuz-convert")));
        // The staged bundle is a complete single-file bundle.
        fx.Check("bundle", "verify", Path.Combine(stage, "bundle.tar"), "--key", fx.Public);
        // Its physical extents are recorded, on the disk (the partition starts at sector 2048), as FIEMAP gives them.
        var recorded = NativeInit.Core.Disk.FileExtents.Parse(File.ReadAllBytes(Path.Combine(stage, "bundle.extents.json")), "bundle.extents.json");
        Assert.Equal("/boot/nativeinit/bundle.tar", recorded.File);
        Assert.Equal(FakeSystem.PartitionStartSectors * 512, recorded.PartitionOffset);
        Assert.Equal(NativeInit.Core.Disk.FileExtents.Read(Path.Combine(stage, "bundle.tar"), recorded.PartitionOffset).Extents, recorded.Extents);
        Assert.Equal(new FileInfo(Path.Combine(stage, "bundle.tar")).Length, recorded.FileBytes);

        var env = GrubEnv.Parse(File.ReadAllBytes(Path.Combine(grubDir, "grubenv")), "grubenv");
        Assert.Equal(ConversionMenuEntry.Id, env["next_entry"]);
        if (distro == "centos7") Assert.Equal(FakeSystem.CentosSavedEntry, env["saved_entry"]);
        var custom = File.ReadAllText(Path.Combine(grubDir, "custom.cfg"));
        Assert.Contains($"menuentry '{ConversionMenuEntry.Title}' --id {ConversionMenuEntry.Id}", custom);
        // The conversion boot finds exactly the disk holding / again: by PARTUUID (CentOS fake: from the uevent; Debian
        // fake: read from the MBR of ROOT/dev/sda, disk signature and partition number).
        string identity = distro == "centos7" ? "partuuid:" + FakeSystem.CentosPartUuid : $"partuuid:{FakeSystem.DebianDiskSignature:x8}-01";
        Assert.Contains("linux /boot/nativeinit/vmlinuz-convert rd.nativeinit=convert rd.nativeinit.bundle=/boot/nativeinit/bundle.tar " +
            $"rd.nativeinit.disk={identity} console=ttyS0,115200n8", custom);
        Assert.Contains("initrd /boot/nativeinit/initramfs-convert.img", custom);
        Assert.Contains("search --no-floppy --file --set=root /boot/nativeinit/vmlinuz-convert", custom);
        // grub.cfg sources custom.cfg from the directory the entry was written to.
        Assert.Contains("source ${config_directory}/custom.cfg", File.ReadAllText(Path.Combine(grubDir, "grub.cfg")));

        var carry = CarryRecord.Parse(File.ReadAllBytes(Path.Combine(stage, "carry.json")), "carry.json");
        Assert.Equal(["root", "admin"], carry.Passwords.Select(p => p.User));
        Assert.Contains(carry.Files, f => f.Path == (distro == "centos7" ? "/etc/sysconfig/network-scripts/ifcfg-eth0" : "/etc/network/interfaces"));
        Assert.Contains(carry.Files, f => f.Path == "/etc/hostname");
        Assert.DoesNotContain(carry.Files, f => f.Path.EndsWith("ifcfg-lo", StringComparison.Ordinal));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(stage, "carry.json")));

        // Staging twice is refused.
        var again = fx.Run("stage", bundle, "--key", fx.Public, "--root", root);
        Assert.Equal(3, again.ExitCode);
        Assert.Contains("already staged", again.Stderr);

        var undo = fx.Check("stage", "--undo", "--root", root);
        Assert.Contains("undone", undo);
        Assert.Equal(before, FakeSystem.Snapshot(root));
    }

    /// <summary>--reboot reboots the machine it runs on: only with --root / and never with --dry-run (usage errors, exit 2,
    /// before the bundle is read; nothing staged).</summary>
    [SkippableFact]
    public void Reboot_is_refused_for_another_root_and_with_a_dry_run()
    {
        var (fx, bundle) = MakeBundle(single: true);
        using var _ = fx;
        var root = fx.Tmp.Combine("root");
        FakeSystem.Centos7(root);
        var before = FakeSystem.Snapshot(root);
        var other = fx.Run("stage", bundle, "--key", fx.Public, "--root", root, "--reboot");
        Assert.True(other.ExitCode == 2, other.ToString());
        Assert.Contains("--reboot only with --root /", other.Stderr);
        var dry = fx.Run("stage", bundle, "--key", fx.Public, "--reboot", "--dry-run");
        Assert.True(dry.ExitCode == 2, dry.ToString());
        Assert.Contains("--reboot and --dry-run exclude each other", dry.Stderr);
        Assert.Equal(before, FakeSystem.Snapshot(root));
    }

    [SkippableTheory]
    [InlineData("ram")]
    [InlineData("disk")]
    [InlineData("no-custom-cfg")]
    [InlineData("bad-bundle")]
    [InlineData("no-disk-identity")]
    public void Refusals_write_nothing(string what)
    {
        var (fx, bundle) = MakeBundle(single: true);
        using var _ = fx;
        var root = fx.Tmp.Combine("root");
        switch (what)
        {
            case "ram": FakeSystem.Centos7(root, memKb: 500_000); break;
            case "disk": FakeSystem.Centos7(root, diskSectors: (BundleFixture.MinimumDisk / 512) - 1); break;
            case "no-custom-cfg": FakeSystem.Centos7(root, sourcesCustom: false); break;
            case "no-disk-identity":
                FakeSystem.Centos7(root);
                File.Delete(Path.Combine(root, "sys/devices/virtual/block/vda/vda1/uevent"));
                break;
            default:
                FakeSystem.Centos7(root);
                var bytes = File.ReadAllBytes(bundle);
                bytes[bytes.AsSpan().IndexOf("dummy kernel"u8)] ^= 0x20;
                File.WriteAllBytes(bundle, bytes);
                break;
        }
        var before = FakeSystem.Snapshot(root);
        var r = fx.Run("stage", bundle, "--key", fx.Public, "--root", root);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains(what switch
        {
            "ram" => "RAM 488.28 MiB is less than",
            "disk" => $"disk vda has {BundleFixture.MinimumDisk - 512} bytes, the layout needs {BundleFixture.MinimumDisk}",
            "no-custom-cfg" => "does not source custom.cfg",
            "no-disk-identity" => "cannot name the disk vda holding / so that the conversion boot finds it again (rd.nativeinit.disk=)",
            _ => "part vmlinuz-convert (kernel): blake3 hash differs from the manifest",
        }, r.Stderr);
        Assert.Equal(before, FakeSystem.Snapshot(root));
    }

    /// <summary>Stage two reads the bundle where it lies on the disk, so stage one's RAM rule counts the conversion
    /// kernel and initramfs and stage two's own memory, not the bundle: a 48 MiB bundle stages on a system with 120 MiB
    /// of RAM and a stage-two budget of 100 MiB (the old rule, bundle + stage two = 148 MiB, refused it).</summary>
    [SkippableFact]
    public void A_bundle_larger_than_the_ram_beside_stage_two_stages_since_it_stays_on_the_disk()
    {
        var fx = new BundleFixture();
        using var _ = fx;
        string rootfs = fx.SmallRootfs();
        using (var f = File.Create(Path.Combine(rootfs, "etc", "blob"))) f.Write(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48 << 20));
        string bundle = fx.Create(rootfs, fx.Tmp.Combine("bundle.tar"), ["--single-file", "--stage-two-memory", "100MiB"]);
        Assert.True(new FileInfo(bundle).Length > 48L << 20);
        var root = fx.Tmp.Combine("root");
        FakeSystem.Centos7(root, memKb: 120 * 1024);
        var r = fx.Run("stage", bundle, "--key", fx.Public, "--root", root, "--dry-run");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Matches(@"RAM:  120\.0 MiB \(MemTotal\); needs 100\.[0-9]+ MiB = max\(minimum .*, conversion kernel \+ initramfs .* \+ stage two 100\.0 MiB; the bundle stays on the disk\)", r.Stdout);
        // Below the rule it still refuses, naming the figures.
        var small = fx.Tmp.Combine("small");
        FakeSystem.Centos7(small, memKb: 90 * 1024);
        var refused = fx.Run("stage", bundle, "--key", fx.Public, "--root", small, "--dry-run");
        Assert.True(refused.ExitCode == 3, refused.ToString());
        Assert.Contains("RAM 90.0 MiB is less than the 100.", refused.Stderr);
    }

    [SkippableFact]
    public void A_failure_while_staging_undoes_itself()
    {
        var (fx, bundle) = MakeBundle(single: true);
        using var _ = fx;
        var root = fx.Tmp.Combine("root");
        FakeSystem.Centos7(root);
        // custom.cfg is a directory: the checks pass, writing the entry fails after the bundle was staged.
        Directory.CreateDirectory(Path.Combine(root, "boot/grub2/custom.cfg"));
        var before = FakeSystem.Snapshot(root);
        var r = fx.Run("stage", bundle, "--key", fx.Public, "--root", root);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("staging failed: undoing what was written", r.Stdout);
        Assert.Equal(before, FakeSystem.Snapshot(root));
        // The log of the failed run is kept (with the stack trace, which the terminal does not get).
        var kept = File.ReadAllText(Path.Combine(root, "var/log/nativeinit/stage-failed.log"));
        Assert.Contains("verifying bundle", kept);
        Assert.Contains("staging failed: undoing what was written", kept);
        Assert.Contains("   at ", kept);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [SkippableFact]
    public void A_boot_directory_without_FIEMAP_is_refused_and_left_as_it_was()
    {
        // Stage two reads the bundle from the disk by its extents: a filesystem that cannot say where a file lies
        // (tmpfs here) cannot be converted from, so stage one refuses (exit 3) and undoes its writes.
        Tool.RequireRoot();
        var (fx, bundle) = MakeBundle(single: true);
        using var _ = fx;
        var mnt = fx.Tmp.Combine("tmpfs");
        Directory.CreateDirectory(mnt);
        Tool.Check("mount", "-t", "tmpfs", "-o", "size=64m", "nativeinit-test", mnt);
        try
        {
            var root = Path.Combine(mnt, "root");
            FakeSystem.Centos7(root);
            var before = FakeSystem.Snapshot(root);
            var r = fx.Run("stage", bundle, "--key", fx.Public, "--root", root);
            Assert.True(r.ExitCode == 3, r.ToString());
            Assert.Contains("does not report where a file lies (FIEMAP: EOPNOTSUPP)", r.Stderr);
            Assert.Equal(before, FakeSystem.Snapshot(root));
        }
        finally { Tool.Run("umount", mnt); }
    }

    [SkippableFact]
    public void Undo_without_staging_says_so()
    {
        using var fx = new BundleFixture();
        var root = fx.Tmp.Combine("root");
        FakeSystem.Debian(root);
        var r = fx.Run("stage", "--undo", "--root", root);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("nothing to undo", r.Stderr);
    }
}
