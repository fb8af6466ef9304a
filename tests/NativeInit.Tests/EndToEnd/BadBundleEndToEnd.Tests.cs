using System.Security.Cryptography;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.EndToEnd;

/// <summary>
/// Issue 13, scenario (d), a bad bundle handed to a running legacy gateway: the target bundle with one byte of its
/// rootfs part inverted, re-signed by another key, or signed and whole but with a layout for a 12 GiB disk
/// (tools/vm/make-bad-bundle), on the bundle disk with the "reboot" flag (stage one runs with --reboot). Stage one must
/// refuse with exit 3 and a console line naming the part, the signer or the sizes; nothing may arm the one-shot
/// conversion entry. The gateway goes on to multi-user (NATIVEINIT-LEGACY-OK) and
/// is powered off hard. On the host: the first MiB (MBR and GRUB's core.img), the partition table, grub.cfg and
/// grubenv are byte-identical, custom.cfg and /boot/nativeinit were not written. Then the disk boots again (bundle disk
/// removed) into the old system, with no rd.nativeinit=convert anywhere. `tools/vm-test bad-bundle` is the same run.
/// </summary>
[Trait("Category", "Qemu")]
public class BadBundleEndToEndTests(ITestOutputHelper output)
{
    private static readonly string[] BootFailures = ["Kernel panic", "emergency mode", "Give root password for maintenance", "ALERT!", "Dropping to a shell"];

    /// <summary>Lines that must never appear: stage one accepted the bundle, or GRUB booted the conversion.</summary>
    private static readonly string[] Accepted = ["NATIVEINIT-STAGE-OK", "rebooting into the conversion", "rd.nativeinit=convert"];

    [SkippableTheory]
    [InlineData("flip", "part rootfs.tar.zst (rootfs): blake3 hash differs from the manifest (corrupted or changed)")]
    [InlineData("other-key", "manifest.sig names signing key")]
    [InlineData("too-big", "disk sda has 10737418240 bytes, the layout needs ")]
    public void Stage_one_refuses_a_bad_bundle_and_the_legacy_system_boots_again_unchanged(string damage, string reason)
    {
        var legacy = VmMachines.Legacy();
        var target = VmMachines.Target();
        string ni = Tool.RequireNativeInit();
        Tool.Require("mkfs.ext4", "python3", "openssl", "sfdisk");
        output.WriteLine($"legacy image ready after {legacy.Took.TotalSeconds:0.0} s, target bundle after {target.Took.TotalSeconds:0.0} s");

        using var dir = new TempDir("/var/tmp");
        string disk = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", legacy.Path, disk);
        string bad = dir.Combine("bad-bundle.tar");
        var made = Tool.Run(Path.Combine(Tool.RepoRoot, "tools", "vm", "make-bad-bundle"),
            [damage, damage == "too-big" ? target.Path : Path.Combine(target.Path, "bundle.tar"), bad, dir.Combine("made")],
            environment: new Dictionary<string, string> { ["NATIVEINIT_BIN"] = ni });
        Assert.True(made.ExitCode == 0, made.ToString());
        output.WriteLine("make-bad-bundle: " + made.Stdout.Trim());
        string bundleDisk = VmMachines.BundleDisk(dir, bad, Path.Combine(target.Path, "vendor.pub"), ni, "reboot", "stage one with --reboot\n");

        var before = Snapshot(disk, dir.Combine("mnt"));
        Assert.False(before.CustomCfg, "the legacy image already has a custom.cfg: the check below would prove nothing");

        // Boot 1: stage one from the bundle disk (--reboot) must refuse; the gateway carries on to multi-user.
        var first = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(disk), new QemuDrive(bundleDisk, Interface: "virtio", Serial: "nativeinit-bundle")],
            MemoryMiB = 1536, Cpus = 2, Network = true, Timeout = TimeSpan.FromMinutes(15), StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-LEGACY-OK"], FailureMarkers = [.. BootFailures, .. Accepted],
        });
        output.WriteLine($"boot with the bad bundle to NATIVEINIT-LEGACY-OK: {first.Elapsed.TotalSeconds:0.0} s (TCG, 2 vCPUs)");
        foreach (var l in first.Console.Split('\n').Where(l => l.Contains("nativeinit", StringComparison.OrdinalIgnoreCase) || l.Contains("NATIVEINIT-", StringComparison.Ordinal)))
            output.WriteLine(l.TrimEnd('\r'));
        Assert.True(first.SawOk, first.Report());
        string console = first.Console;
        int fail = console.IndexOf("NATIVEINIT-STAGE-FAIL rc=3", StringComparison.Ordinal);
        Assert.True(fail >= 0, "stage one did not end with exit 3 (NATIVEINIT-STAGE-FAIL rc=3)\n" + first.Report());
        Assert.True(console.Contains("nativeinit stage /mnt/bundle.tar --key /mnt/vendor.pub --reboot", StringComparison.Ordinal),
            "stage one did not run with --reboot\n" + first.Report());
        Assert.True(console.Contains(reason, StringComparison.Ordinal), $"no console line naming what is wrong ('{reason}')\n" + first.Report());
        Assert.True(fail < console.IndexOf("NATIVEINIT-LEGACY-OK", StringComparison.Ordinal), "the legacy marker came before stage one ended\n" + first.Report());

        var after = Snapshot(disk, dir.Combine("mnt"));
        Assert.Equal(before.FirstMiB, after.FirstMiB);
        Assert.Equal(before.Table, after.Table);
        Assert.Equal(before.GrubCfg, after.GrubCfg);
        Assert.Equal(before.GrubEnv, after.GrubEnv);
        Assert.False(after.CustomCfg, "stage one wrote /boot/grub/custom.cfg although it refused");
        Assert.False(after.Staged, "stage one left /boot/nativeinit although it refused");

        // Boot 2: the same disk without the bundle disk: GRUB's default entry, the old system.
        var second = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(disk)], MemoryMiB = 1024, Network = true, Timeout = TimeSpan.FromMinutes(8), StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-LEGACY-OK"], FailureMarkers = [.. BootFailures, .. Accepted],
        });
        output.WriteLine($"second boot to NATIVEINIT-LEGACY-OK: {second.Elapsed.TotalSeconds:0.0} s");
        Assert.True(second.SawOk, second.Report());
        Assert.True(second.Console.Contains("Loading Linux", StringComparison.Ordinal), "GRUB's 'Loading Linux' is not on the console\n" + second.Report());
        var facts = VmMachines.Facts;
        string want = $"NATIVEINIT-LEGACY-OK hostname={facts["VM_LEGACY_HOSTNAME"]} ip={facts["VM_LEGACY_IP"]} root=/dev/sda1";
        Assert.True(second.SuccessLine!.EndsWith(want, StringComparison.Ordinal), $"expected '{want}', got '{second.SuccessLine}'\n{second.Report()}");
    }

    private sealed record DiskState(string FirstMiB, string Table, string GrubCfg, string GrubEnv, bool CustomCfg, bool Staged);

    /// <summary>What stage one could have changed: the first MiB (MBR, GRUB's core.img after it), the partition table,
    /// and GRUB's files in the root file system. The file system is mounted read-write (on the test's own copy) so that
    /// XFS replays its log after a hard power-off: what a fsync put in the log counts as written.</summary>
    private static DiskState Snapshot(string disk, string mnt)
    {
        byte[] head = new byte[1 << 20];
        using (var f = File.OpenRead(disk)) f.ReadExactly(head);
        string table = Tool.Check("sfdisk", "--dump", disk);
        Directory.CreateDirectory(mnt);
        Tool.Check("mount", "-o", $"loop,offset={2048 * 512}", disk, mnt);
        try
        {
            string grub = Path.Combine(mnt, "boot", "grub");
            return new DiskState(Convert.ToHexString(SHA256.HashData(head)), table,
                Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(grub, "grub.cfg")))),
                File.ReadAllText(Path.Combine(grub, "grubenv")),
                File.Exists(Path.Combine(grub, "custom.cfg")), Directory.Exists(Path.Combine(mnt, "boot", "nativeinit")));
        }
        finally
        {
            Tool.Run("umount", mnt);
        }
    }
}
