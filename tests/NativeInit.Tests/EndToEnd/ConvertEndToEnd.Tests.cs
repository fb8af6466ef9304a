using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.EndToEnd;

/// <summary>
/// Issue 13, scenario (a), the main job on a real kernel: the legacy gateway (a copy of its 10 GiB MBR image) boots with
/// the bundle disk attached; its unit runs stage one with --reboot; GRUB's one-shot entry boots the conversion kernel
/// and initramfs (rd.nativeinit=convert), which converts the disk in place and reboots; the converted disk's own GRUB
/// (core.img in the BIOS boot partition) boots the target system from VA/root, which prints lsblk, root's hash from
/// /etc/shadow and NATIVEINIT-BOOT-OK with the hostname and address it runs with. One QEMU process through the reboots.
/// `tools/vm-test convert` is the same run from the shell.
/// </summary>
[Trait("Category", "Qemu")]
public class ConvertEndToEndTests(ITestOutputHelper output)
{
    private static readonly string[] Failures =
    [
        "Kernel panic", "emergency mode", "Give root password for maintenance", "ALERT!", "Dropping to a shell",
        "NATIVEINIT-STAGE-FAIL", "nativeinit-init: FAILED", "nativeinit: FAILED",
    ];

    [SkippableFact]
    public void Legacy_gateway_converts_itself_and_boots_the_target_with_its_own_hostname_address_and_password() =>
        ConvertsAndBoots(VmMachines.Target, dracut: false);

    /// <summary>Scenario (b): the same, with the bundle's conversion initramfs built by dracut with
    /// dracut-module/90nativeinit (tools/vm/build-target dracut): its pre-mount hook runs `nativeinit convert --yes
    /// --bundle /boot/nativeinit/bundle.tar --disk ID` and reboots through systemd. `tools/vm-test dracut`.</summary>
    [SkippableFact]
    public void With_the_dracut_conversion_initramfs_the_legacy_gateway_converts_itself_and_boots_the_target() =>
        ConvertsAndBoots(VmMachines.TargetDracut, dracut: true);

    private void ConvertsAndBoots(Func<VmMachines.Built> targetMachine, bool dracut)
    {
        var legacy = VmMachines.Legacy();
        var target = targetMachine();
        string ni = Tool.RequireNativeInit();
        Tool.Require("mkfs.ext4");
        string legacyTree = Tool.Check(Path.Combine(Tool.RepoRoot, "tools", "vm", "build-tree"), "legacy").Trim();
        string rootHash = File.ReadAllLines(Path.Combine(legacyTree, "etc", "shadow"))
            .Select(l => l.Split(':')).First(f => f[0] == "root")[1];
        output.WriteLine($"legacy image ready after {legacy.Took.TotalSeconds:0.0} s, target bundle after {target.Took.TotalSeconds:0.0} s");

        using var dir = new TempDir("/var/tmp");
        string disk = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", legacy.Path, disk);
        string content = dir.Combine("bundle-disk");
        Directory.CreateDirectory(content);
        File.Copy(Path.Combine(target.Path, "bundle.tar"), Path.Combine(content, "bundle.tar"));
        File.Copy(Path.Combine(target.Path, "vendor.pub"), Path.Combine(content, "vendor.pub"));
        File.Copy(ni, Path.Combine(content, "nativeinit"));
        File.WriteAllText(Path.Combine(content, "reboot"), "stage one with --reboot\n");
        long bytes = new DirectoryInfo(content).EnumerateFiles().Sum(f => f.Length);
        string bundleDisk = dir.Combine("bundle-disk.img");
        Tool.Check("mkfs.ext4", "-q", "-F", "-L", "nibundle", "-d", content, bundleDisk, $"{bytes / (1 << 20) + 64}M");

        var facts = VmMachines.Facts;
        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(disk), new QemuDrive(bundleDisk, Interface: "virtio", Serial: "nativeinit-bundle")],
            MemoryMiB = 1536, Cpus = 2, Reboot = true, Network = true, Timeout = TimeSpan.FromMinutes(40), StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-BOOT-OK"], FailureMarkers = Failures,
        });
        output.WriteLine($"legacy boot + stage one + conversion + first boot of the target: {outcome.Elapsed.TotalSeconds:0.0} s (TCG, 2 vCPUs)");
        foreach (var line in outcome.Console.Split('\n').Where(l => l.Contains("convert: ", StringComparison.Ordinal) || l.Contains("NATIVEINIT-", StringComparison.Ordinal)))
            output.WriteLine(line.TrimEnd('\r'));
        Assert.True(outcome.SawOk, outcome.Report());
        // stage --reboot reboots from inside the unit, before it could print NATIVEINIT-STAGE-OK: its own last line.
        Assert.Contains("rebooting into the conversion", outcome.Console, StringComparison.Ordinal);
        Assert.Contains("rd.nativeinit=convert", outcome.Console, StringComparison.Ordinal);
        Assert.True(outcome.Console.Contains("converted; journal", StringComparison.Ordinal), "no 'converted' line from convert\n" + outcome.Report());
        if (dracut)
        {
            // dracut's pre-mount hook ran convert (not nativeinit as /init) and rebooted on its success.
            Assert.True(outcome.Console.Contains("nativeinit: running nativeinit convert --yes --bundle /boot/nativeinit/bundle.tar --disk ", StringComparison.Ordinal),
                "no line of the dracut hook running convert\n" + outcome.Report());
            Assert.True(outcome.Console.Contains("' succeeded", StringComparison.Ordinal), "the dracut hook did not report convert's success\n" + outcome.Report());
        }
        string want = $"NATIVEINIT-BOOT-OK hostname={facts["VM_LEGACY_HOSTNAME"]} ip={facts["VM_LEGACY_IP"]} root=/dev/mapper/VA-root selinux=disabled";
        Assert.True(outcome.SuccessLine!.EndsWith(want, StringComparison.Ordinal), $"expected '{want}', got '{outcome.SuccessLine}'\n{outcome.Report()}");
        Assert.True(outcome.Console.Contains($"NATIVEINIT-SHADOW root={rootHash}", StringComparison.Ordinal),
            $"/etc/shadow of the converted system does not hold the legacy root hash {rootHash}\n{outcome.Report()}");
        // The field layout as the running kernel sees it: BIOS boot 2M, /boot 1G (xfs), VA-root/image/data on LVM.
        var lsblk = outcome.Console.Split('\n').Where(l => l.Contains("NATIVEINIT-LSBLK", StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => w.TrimStart('│', '├', '└', '─')).Where(w => w.Length > 0).ToArray()).ToList();
        string shown = string.Join('\n', lsblk.Select(f => string.Join(' ', f)));
        // NAME SIZE TYPE [FSTYPE] [MOUNTPOINT] after the marker.
        bool Has(string name, string size, string type, params string[] rest) =>
            lsblk.Any(f => f.Length >= 4 + rest.Length && f[1] == name && f[2] == size && f[3] == type && rest.Select((r, i) => f[4 + i] == r).All(b => b));
        Assert.True(Has("sda1", "2M", "part"), "lsblk: no 2M partition sda1 (BIOS boot)\n" + shown);
        Assert.True(Has("sda2", "1G", "part", "xfs", "/boot"), "lsblk: no 1G xfs /boot on sda2\n" + shown);
        Assert.True(Has("sda3", lsblk.FirstOrDefault(f => f.Length > 1 && f[1] == "sda3")?[2] ?? "?", "part", "LVM2_member"), "lsblk: sda3 is no LVM PV\n" + shown);
        foreach (var (lv, mount) in new[] { ("VA-root", "/"), ("VA-image", "/image"), ("VA-data", "/data") })
            Assert.True(lsblk.Any(f => f.Length >= 6 && f[1] == lv && f[3] == "lvm" && f[4] == "xfs" && f[5] == mount),
                $"lsblk: no {lv} (lvm, xfs) mounted on {mount}\n" + shown);
    }
}
