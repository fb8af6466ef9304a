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
        using var dir = new TempDir("/var/tmp");
        var (disk, bundleDisk) = Machines(dir, targetMachine);
        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(disk), new QemuDrive(bundleDisk, Interface: "virtio", Serial: "nativeinit-bundle")],
            MemoryMiB = 1536, Cpus = 2, Reboot = true, Network = true, Timeout = TimeSpan.FromMinutes(40), StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-BOOT-OK"], FailureMarkers = Failures,
        });
        output.WriteLine($"legacy boot + stage one + conversion + first boot of the target: {outcome.Elapsed.TotalSeconds:0.0} s (TCG, 2 vCPUs)");
        AssertConverted(outcome);
        // stage --reboot reboots from inside the unit, before it could print NATIVEINIT-STAGE-OK: its own last line.
        Assert.Contains("rebooting into the conversion", outcome.Console, StringComparison.Ordinal);
        Assert.Contains("rd.nativeinit=convert", outcome.Console, StringComparison.Ordinal);
        if (dracut)
        {
            // dracut's pre-mount hook ran convert (not nativeinit as /init) and rebooted on its success.
            Assert.True(outcome.Console.Contains("nativeinit: running nativeinit convert --yes --bundle /boot/nativeinit/bundle.tar --disk ", StringComparison.Ordinal),
                "no line of the dracut hook running convert\n" + outcome.Report());
            Assert.True(outcome.Console.Contains("' succeeded", StringComparison.Ordinal), "the dracut hook did not report convert's success\n" + outcome.Report());
        }
    }

    /// <summary>
    /// Issue 13, scenario (c) at one point, and issue 12's power-safety: the same run as (a), but QEMU is killed (the
    /// power cut: what the guest had not written to its disk is lost) once the extraction of the root file system
    /// has printed progress. The disk is then booted again, with no bundle disk and nothing else: the MBR loads the
    /// conversion's own GRUB (installed in the boot-files step), whose default entry boots the conversion kernel with
    /// rd.nativeinit=resume; the conversion resumes from its journal on /boot, reading the bundle where it lies on
    /// the disk, finishes, reboots, and the converted system boots as in (a). Then scenario (g) on a copy of the cut
    /// disk: the resume typed by hand at GRUB's prompt as docs/recovery.md says; and on another copy, the menu's shell
    /// entry, with `status` and `convert` typed in the initramfs's shell.
    /// </summary>
    [SkippableFact]
    public void Power_cut_during_the_extraction_boots_into_the_resume_which_finishes_the_conversion_and_so_do_the_resumes_by_hand()
    {
        using var dir = new TempDir("/var/tmp");
        var (disk, bundleDisk) = Machines(dir, VmMachines.Target);
        var cut = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(disk), new QemuDrive(bundleDisk, Interface: "virtio", Serial: "nativeinit-bundle")],
            MemoryMiB = 1536, Cpus = 2, Reboot = true, Network = true, Timeout = TimeSpan.FromMinutes(40), StopOnSuccess = true,
            // A progress line of the extraction ("convert: extract:  5.0% ..."), not the step's first line.
            SuccessMarkers = ["convert: extract: "], FailureMarkers = Failures,
        });
        output.WriteLine($"legacy boot + stage one + conversion until the power cut: {cut.Elapsed.TotalSeconds:0.0} s; cut after: {cut.SuccessLine}");
        Assert.True(cut.SawOk, "the conversion never reached the extraction's progress\n" + cut.Report());
        string byHand = dir.Combine("by-hand.img"), inShell = dir.Combine("in-shell.img");
        Tool.Check("cp", "--sparse=always", disk, byHand);
        Tool.Check("cp", "--sparse=always", disk, inShell);

        var outcome = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(disk)],
            MemoryMiB = 1536, Cpus = 2, Reboot = true, Network = true, Timeout = TimeSpan.FromMinutes(40), StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-BOOT-OK"], FailureMarkers = Failures, LineStartFailureMarkers = ["error: "],
        });
        output.WriteLine($"after the power cut: resume + first boot of the target: {outcome.Elapsed.TotalSeconds:0.0} s (TCG, 2 vCPUs)");
        Assert.True(outcome.Console.Contains("rd.nativeinit=resume", StringComparison.Ordinal),
            "the disk did not boot the conversion's resume entry\n" + outcome.Report());
        Assert.True(outcome.Console.Contains("lvm: done earlier, skipped", StringComparison.Ordinal),
            "the resumed conversion did not continue from the journal\n" + outcome.Report());
        AssertConverted(outcome);

        // docs/recovery.md, section 3, on a copy of the disk as the power cut left it: at GRUB's menu, `c`, then the
        // documented commands with the new /boot's UUID (the arguments in another order than the menu entry's, so
        // that the kernel's "Command line:" shows which of the two booted).
        string bootUuid = Tool.Sh($"l=$(losetup --find --show -r --offset {6144L * 512} --sizelimit {1L << 30} {Tool.Quote(byHand)}); " +
            "blkid -p -o value -s UUID $l; losetup -d $l").Trim();
        string args = $"console=ttyS0,115200 rd.nativeinit=resume rd.nativeinit.disk=uuid:{bootUuid}";
        var manual = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(byHand)],
            MemoryMiB = 1536, Cpus = 2, Reboot = true, Network = true, Timeout = TimeSpan.FromMinutes(40), StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-BOOT-OK"], FailureMarkers = Failures, LineStartFailureMarkers = ["error: "],
            Script =
            [
                ("NativeInit: resume the conversion", "c"),
                // One command a prompt (GRUB redraws its prompt as "grub>" then "grub >" while echoing).
                ("grub>", "set root=(hd0,gpt2)\r"),
                ("grub>", $"linux /nativeinit/vmlinuz {args}\r"),
                ("grub>", "initrd /nativeinit/initramfs.img\r"),
                ("grub>", "boot\r"),
            ],
        });
        output.WriteLine($"after the power cut, resumed by hand from GRUB's prompt: {manual.Elapsed.TotalSeconds:0.0} s");
        Assert.True(manual.Console.Contains("Command line: BOOT_IMAGE=/nativeinit/vmlinuz " + args, StringComparison.Ordinal),
            "the kernel was not booted with the commands typed at GRUB's prompt\n" + manual.Report());
        AssertConverted(manual);

        // docs/recovery.md, section 3, the shell: the menu's second entry (`v` moves down, Enter boots it), then in the
        // initramfs's shell `nativeinit status` and `nativeinit convert --disk /dev/sda --yes`, and a reboot.
        var shell = QemuRunner.Boot(new QemuOptions
        {
            Drives = [new QemuDrive(inShell)],
            MemoryMiB = 1536, Cpus = 2, Reboot = true, Network = true, Timeout = TimeSpan.FromMinutes(40), StopOnSuccess = true,
            SuccessMarkers = ["NATIVEINIT-BOOT-OK"], FailureMarkers = Failures, LineStartFailureMarkers = ["error: "],
            Script =
            [
                ("NativeInit: shell (recovery, no conversion)", "v\r"),
                ("on the console (exit it", "nativeinit status --disk /dev/sda\r"),
                ("  next boot: ", "nativeinit convert --disk /dev/sda --yes && reboot -f\r"),
            ],
        });
        output.WriteLine($"after the power cut, resumed from the initramfs's shell: {shell.Elapsed.TotalSeconds:0.0} s");
        Assert.True(shell.Console.Contains("rd.nativeinit=shell", StringComparison.Ordinal), "the shell entry was not booted\n" + shell.Report());
        Assert.True(shell.Console.Contains("in progress at step extract", StringComparison.Ordinal),
            "status in the shell did not say where the conversion stopped\n" + shell.Report());
        AssertConverted(shell);
    }

    /// <summary>A copy of the legacy gateway's disk and a disk holding the target bundle, its key and the binary.</summary>
    private (string Disk, string BundleDisk) Machines(TempDir dir, Func<VmMachines.Built> targetMachine)
    {
        var legacy = VmMachines.Legacy();
        var target = targetMachine();
        string ni = Tool.RequireNativeInit();
        Tool.Require("mkfs.ext4");
        output.WriteLine($"legacy image ready after {legacy.Took.TotalSeconds:0.0} s, target bundle after {target.Took.TotalSeconds:0.0} s");
        string disk = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", legacy.Path, disk);
        return (disk, VmMachines.BundleDisk(dir, Path.Combine(target.Path, "bundle.tar"), Path.Combine(target.Path, "vendor.pub"), ni,
            "reboot", "stage one with --reboot\n"));
    }

    /// <summary>The converted system booted from its own GRUB: the legacy hostname, address and root hash, the layout.</summary>
    private void AssertConverted(QemuOutcome outcome)
    {
        string legacyTree = Tool.Check(Path.Combine(Tool.RepoRoot, "tools", "vm", "build-tree"), "legacy").Trim();
        string rootHash = File.ReadAllLines(Path.Combine(legacyTree, "etc", "shadow"))
            .Select(l => l.Split(':')).First(f => f[0] == "root")[1];
        var facts = VmMachines.Facts;
        foreach (var line in outcome.Console.Split('\n').Where(l => l.Contains("convert: ", StringComparison.Ordinal) || l.Contains("NATIVEINIT-", StringComparison.Ordinal)))
            output.WriteLine(line.TrimEnd('\r'));
        Assert.True(outcome.SawOk, outcome.Report());
        Assert.True(outcome.Console.Contains("converted; journal", StringComparison.Ordinal), "no 'converted' line from convert\n" + outcome.Report());
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
