using System.Diagnostics;
using System.Text.Json;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.EndToEnd;

/// <summary>
/// The legacy gateway of issue 13 (tools/vm/build-legacy: 10 GiB MBR image, xfs root, GRUB on the MBR, Debian 12
/// dressed as the field's CentOS 7 gateways) booted by SeaBIOS in QEMU TCG, as a real gateway boots: firmware, MBR,
/// GRUB, kernel, initramfs, systemd. The guest reports what it reads from the running system on ttyS0.
/// </summary>
[Trait("Category", "Qemu")]
public class LegacyGatewayTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(5);

    private static readonly string[] BootFailures = ["Kernel panic", "emergency mode", "Give root password for maintenance", "ALERT!", "Dropping to a shell"];

    [SkippableFact]
    public void Legacy_gateway_boots_from_its_MBR_and_reports_its_hostname_and_address()
    {
        var legacy = VmMachines.Legacy();
        output.WriteLine($"legacy image {legacy.Path}: ready after {legacy.Took.TotalSeconds:0.0} s (cache hit when short)");
        var outcome = AssertBootsToLegacyOk(legacy.Path);
        Assert.True(outcome.SuccessLine!.Contains("root=/dev/sda1", StringComparison.Ordinal), $"expected root=/dev/sda1 in '{outcome.SuccessLine}'");
    }

    /// <summary>CentOS 7's default layout: GRUB reads /boot (xfs, p1), the initramfs activates VG centos on p2 (PV,
    /// VG and LVs written by lvm2 without device-mapper on the host) and mounts centos/root.</summary>
    [SkippableFact]
    public void Legacy_gateway_in_the_CentOS_7_layout_boots_with_its_root_on_LVM()
    {
        var image = VmMachines.Centos7();
        output.WriteLine($"centos7-layout image {image.Path}: ready after {image.Took.TotalSeconds:0.0} s (cache hit when short)");
        var outcome = AssertBootsToLegacyOk(image.Path);
        Assert.True(outcome.SuccessLine!.Contains("root=/dev/mapper/centos-root", StringComparison.Ordinal),
            $"expected root=/dev/mapper/centos-root in '{outcome.SuccessLine}'\n{outcome.Report()}");
    }

    /// <summary>
    /// The expected end state of a conversion (tools/vm/build-reference: the bundle's layout applied to a 10 GiB image
    /// with `nativeinit layout apply`, its rootfs extracted with `nativeinit extract`, the legacy configuration copied,
    /// GRUB in the BIOS boot partition) boots the target system from VA/root with the gateway's hostname and address.
    /// </summary>
    [SkippableFact]
    public void Reference_conversion_boots_the_target_system_from_VA_root_with_the_carried_configuration()
    {
        var image = VmMachines.Reference();
        output.WriteLine($"reference image {image.Path}: ready after {image.Took.TotalSeconds:0.0} s (cache hit when short)");
        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(image.Path, Snapshot: true)],
            MemoryMiB = 1024, Network = true, Timeout = BootTimeout, StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-BOOT-OK"], FailureMarkers = BootFailures,
        });
        output.WriteLine($"boot to NATIVEINIT-BOOT-OK: {outcome.Elapsed.TotalSeconds:0.0} s (TCG)");
        Assert.True(outcome.SawOk, outcome.Report());
        var facts = VmMachines.Facts;
        string want = $"NATIVEINIT-BOOT-OK hostname={facts["VM_LEGACY_HOSTNAME"]} ip={facts["VM_LEGACY_IP"]} root=/dev/mapper/VA-root selinux=disabled";
        Assert.True(outcome.SuccessLine!.EndsWith(want, StringComparison.Ordinal), $"expected '{want}', got '{outcome.SuccessLine}'\n{outcome.Report()}");
    }

    private QemuOutcome AssertBootsToLegacyOk(string image)
    {
        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(image, Snapshot: true)],
            MemoryMiB = 1024, Network = true, Timeout = BootTimeout, StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-LEGACY-OK"], FailureMarkers = BootFailures,
        });
        output.WriteLine($"boot to NATIVEINIT-LEGACY-OK: {outcome.Elapsed.TotalSeconds:0.0} s (TCG)");
        Assert.True(outcome.SawOk, outcome.Report());
        var facts = VmMachines.Facts;
        Assert.True(outcome.SuccessLine!.Contains($"hostname={facts["VM_LEGACY_HOSTNAME"]} ", StringComparison.Ordinal) &&
                    outcome.SuccessLine.Contains($"ip={facts["VM_LEGACY_IP"]}", StringComparison.Ordinal),
            $"expected hostname={facts["VM_LEGACY_HOSTNAME"]} ip={facts["VM_LEGACY_IP"]} in '{outcome.SuccessLine}'\n{outcome.Report()}");
        // The first stage of the boot really was GRUB from the MBR on the serial terminal, not a direct kernel boot.
        Assert.True(outcome.Console.Contains("Loading Linux", StringComparison.Ordinal), "GRUB's 'Loading Linux' is not on the console\n" + outcome.Report());
        return outcome;
    }

    /// <summary>
    /// Stage one for real on the running legacy gateway: a second disk (virtio, serial nativeinit-bundle) holding the
    /// target bundle, the vendor key, the nativeinit binary and a "poweroff" flag; the image's unit runs
    /// `nativeinit stage` from it at boot and powers off. Then the image is read on the host: the staged files are the
    /// bundle's, custom.cfg holds the conversion entry and grubenv names it as next_entry; the legacy root is intact.
    /// </summary>
    [SkippableFact]
    public void Stage_one_runs_at_boot_from_a_bundle_disk_and_leaves_the_one_shot_entry()
    {
        var legacy = VmMachines.Legacy();
        var target = VmMachines.Target();
        string ni = Tool.RequireNativeInit();
        Tool.Require("mkfs.ext4", "grub-editenv");
        output.WriteLine($"legacy image ready after {legacy.Took.TotalSeconds:0.0} s, target bundle after {target.Took.TotalSeconds:0.0} s");
        using var dir = new TempDir("/var/tmp");
        string disk = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", legacy.Path, disk);

        string bundle = Path.Combine(target.Path, "bundle.tar");
        string bundleDisk = VmMachines.BundleDisk(dir, bundle, Path.Combine(target.Path, "vendor.pub"), ni, "poweroff", "power off after stage one (test)\n");

        // RAM: stage one needs bundle + the stage-two budget (768 MiB); a field gateway has 8 GiB.
        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(disk), new QemuDrive(bundleDisk, Interface: "virtio", Serial: "nativeinit-bundle")],
            MemoryMiB = 1536, Network = true, Timeout = TimeSpan.FromMinutes(8),
            SuccessMarkers = ["NATIVEINIT-STAGE-OK"], FailureMarkers = ["NATIVEINIT-STAGE-FAIL", .. BootFailures],
        });
        output.WriteLine($"boot + stage one + power off: {outcome.Elapsed.TotalSeconds:0.0} s (TCG)");
        Assert.True(outcome.SawOk, outcome.Report());
        Assert.False(outcome.TimedOut, "the guest did not power off after stage one\n" + outcome.Report());
        Assert.Contains("nativeinit-convert", outcome.Console, StringComparison.Ordinal);

        // Read the image afterwards (loop device at the partition's offset, read-only).
        string mnt = dir.Combine("mnt");
        Directory.CreateDirectory(mnt);
        Tool.Check("mount", "-o", $"ro,loop,offset={2048 * 512}", disk, mnt);
        try
        {
            string staged = Path.Combine(mnt, "boot", "nativeinit");
            foreach (var f in new[] { "vmlinuz-convert", "initramfs-convert.img", "bundle.tar", "carry.json", "undo.json" })
                Assert.True(File.Exists(Path.Combine(staged, f)), $"{staged}/{f} is missing after stage one");
            Assert.True(FilesEqual(bundle, Path.Combine(staged, "bundle.tar")), "the staged bundle.tar differs from the bundle on the disk");
            var custom = File.ReadAllText(Path.Combine(mnt, "boot", "grub", "custom.cfg"));
            Assert.Contains("--id nativeinit-convert", custom, StringComparison.Ordinal);
            Assert.Contains("rd.nativeinit.bundle=/boot/nativeinit/bundle.tar", custom, StringComparison.Ordinal);
            var env = Tool.Check("grub-editenv", Path.Combine(mnt, "boot", "grub", "grubenv"), "list");
            Assert.Contains("next_entry=nativeinit-convert", env, StringComparison.Ordinal);
            // What stage one carries, read from the running gateway: the field's network files, hostname, both accounts.
            using var carry = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(staged, "carry.json")));
            string carryText = carry.RootElement.GetRawText();
            foreach (var want in new[] { "/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/network/interfaces", "/etc/resolv.conf", "/etc/hostname",
                         "\"root\"", $"\"{VmMachines.Facts["VM_SECOND_USER"]}\"" })
                Assert.True(carryText.Contains(want, StringComparison.Ordinal), $"carry.json lacks {want}: {carryText[..Math.Min(600, carryText.Length)]}");
            Assert.Equal(VmMachines.Facts["VM_LEGACY_HOSTNAME"] + "\n", File.ReadAllText(Path.Combine(mnt, "etc", "hostname")));
        }
        finally
        {
            Tool.Run("umount", mnt);
        }
    }

    private static bool FilesEqual(string a, string b) => Tool.Run("cmp", "-s", a, b).ExitCode == 0;
}

/// <summary>The target system's bundle (tools/vm/build-target): signed, in the field layout, holding the new system.</summary>
[Trait("Category", "Qemu")]
public class TargetBundleTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void Target_bundle_verifies_with_the_vendor_key_and_not_with_another()
    {
        var target = VmMachines.Target();
        string ni = Tool.RequireNativeInit();
        output.WriteLine($"target bundle ready after {target.Took.TotalSeconds:0.0} s: {target.Path}");
        string bundle = Path.Combine(target.Path, "bundle.tar");
        var ok = Tool.Run(ni, "bundle", "verify", bundle, "--key", Path.Combine(target.Path, "vendor.pub"));
        Assert.True(ok.ExitCode == 0, ok.ToString());

        using var dir = new TempDir();
        Tool.Check(ni, "bundle", "keygen", "--private", dir.Combine("other.key"), "--public", dir.Combine("other.pub"));
        var wrong = Tool.Run(ni, "bundle", "verify", bundle, "--key", dir.Combine("other.pub"));
        Assert.True(wrong.ExitCode == 3, "a bundle verified with another vendor's key must be refused (exit 3)\n" + wrong);

        // The parts, in the single-file order, and the field layout.
        var list = Tool.Check("tar", "-tf", bundle).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["manifest.json", "manifest.sig"], list.Take(2));
        foreach (var part in new[] { "layout.json", "target.gpt", "rootfs.tar.zst", "vmlinuz-convert", "initramfs-convert.img" })
            Assert.Contains(part, list);
        // The field's partition table: the backup loaded onto a 10 GiB sparse image and printed.
        string reference = dir.Combine("ref.img");
        Tool.Check("truncate", "-s", "10G", reference);
        Tool.Check("sgdisk", "--load-backup=" + Path.Combine(target.Path, "target.gpt"), reference);
        var table = Tool.Check("sgdisk", "-p", reference);
        Assert.Matches(@"(?m)^\s+1\s+2048\s+6143\s+2\.0 MiB\s+EF02", table);
        Assert.Matches(@"(?m)^\s+2\s+\d+\s+\d+\s+1024\.0 MiB\s+8300", table);
        Assert.Matches(@"(?m)^\s+3\s+\d+\s+\d+\s+[\d.]+ GiB\s+8E00", table);
        // The new system inside: its kernel, lvm2 and the unit that reports NATIVEINIT-BOOT-OK.
        var rootfs = Tool.Sh($"tar -xOf {Tool.Quote(bundle)} rootfs.tar.zst | zstd -dc | tar -t");
        foreach (var want in new[] { "./etc/systemd/system/nativeinit-boot-ok.service", "./usr/local/sbin/nativeinit-report", "./usr/sbin/lvm" })
            Assert.Contains(want, rootfs, StringComparison.Ordinal);
        Assert.Matches(@"\./boot/vmlinuz-\d", rootfs);
    }
}
