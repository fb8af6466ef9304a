using System.Diagnostics;
using NativeInit.Core.Boot;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Tests.TestSupport;
using Xunit.Abstractions;

namespace NativeInit.Tests.Boot;

/// <summary>
/// The real proof of GrubBiosInstaller: SeaBIOS (qemu -machine pc, TCG) boots a GPT image through the boot.img and
/// core.img NativeInit placed, GRUB finds its grub.cfg on an ext4 /boot (partition 2) through the prefix built in, and
/// (a) prints a marker, or (b) boots the Debian kernel with a busybox initramfs through GrubConfigWriter's grub.cfg,
/// whose /init prints the kernel command line and a marker. No loop device or mount: /boot is made with
/// mkfs.ext4 -d and copied into the image at the partition's offset.
/// </summary>
[Trait("Category", "Qemu")]
public class GrubBiosQemuTests(ITestOutputHelper output)
{
    private const string BootUuid = "0b6f3c1e-4d2a-4e8f-9a51-2c7d8e9f0a1b";

    /// <summary>Makes /boot from <paramref name="bootTree"/> (ext4: mkfs.ext4 -d; xfs: mkfs.xfs -p with a protofile,
    /// which lists directories and files) and copies it into partition 2 of the image.</summary>
    internal static void PutBootFilesystem(TempDir dir, string img, string bootTree, string type = "ext4")
    {
        GptPartition part;
        using (var disk = DiskDevice.Open(img, writable: false)) part = GptReader.Read(disk).Table!.Find(2)!;
        string fs = dir.Combine("boot." + type);
        long bytes = part.ByteLength(512);
        if (type == "ext4")
        {
            Tool.Require("mkfs.ext4");
            Tool.Check("mkfs.ext4", "-q", "-F", "-U", BootUuid, "-L", "boot", "-d", bootTree, fs, (bytes / 1024) + "k");
        }
        else
        {
            Tool.Require("mkfs.xfs");
            var proto = new System.Text.StringBuilder("/dev/null\n0 0\nd--755 0 0\n");
            void Add(string d)
            {
                foreach (var f in Directory.GetFiles(d).Order(StringComparer.Ordinal)) proto.Append($"{Path.GetFileName(f)} ---644 0 0 {f}\n");
                foreach (var s in Directory.GetDirectories(d).Order(StringComparer.Ordinal))
                {
                    proto.Append($"{Path.GetFileName(s)} d--755 0 0\n");
                    Add(s);
                    proto.Append("$\n");
                }
            }
            Add(bootTree);
            proto.Append("$\n");
            string protoFile = dir.Combine("boot.proto");
            File.WriteAllText(protoFile, proto.ToString());
            using (var f = File.Create(fs)) f.SetLength(bytes);
            Tool.Check("mkfs.xfs", "-q", "-f", "-m", $"uuid={BootUuid}", "-L", "boot", "-p", protoFile, fs);
        }
        using var src = File.OpenRead(fs);
        using var dst = new FileStream(img, FileMode.Open, FileAccess.ReadWrite);
        dst.Position = part.ByteOffset(512);
        src.CopyTo(dst);
    }

    private static byte[] ReadBootFile(TempDir dir, string img, string path)
    {
        GptPartition part;
        using (var disk = DiskDevice.Open(img, writable: false)) part = GptReader.Read(disk).Table!.Find(2)!;
        string fs = dir.Combine("boot-after.ext4");
        using (var src = new FileStream(img, FileMode.Open, FileAccess.Read))
        using (var dst = File.Create(fs))
        {
            src.Position = part.ByteOffset(512);
            var buf = new byte[part.ByteLength(512)];
            src.ReadExactly(buf);
            dst.Write(buf);
        }
        string outFile = dir.Combine("out-" + Path.GetFileName(path));
        Tool.Check("debugfs", "-R", $"dump {path} {outFile}", fs);
        return File.ReadAllBytes(outFile);
    }

    /// <summary>Words whose GRUB quoting the boot checks: each is set through <see cref="GrubConfigWriter.Quote"/> and
    /// echoed between brackets, so a word split in two or a quote left in would show.</summary>
    private static readonly string[] QuotedWords = ["it's", "a b", "$x", "semi;colon", "{b}", "#h", "\"dq\"", "back\\slash", "plain=1,2"];

    [SkippableTheory]
    [InlineData("ext4")]
    [InlineData("xfs")]
    public void Seabios_boots_grub_from_the_bios_boot_partition_and_grub_reads_grub_cfg_on_boot(string fsType)
    {
        QemuRunner.RequireQemu();
        using var dir = new TempDir();
        // mkfs.xfs makes nothing under 300 MiB: a sparse 400 MiB image.
        string img = fsType == "xfs" ? GrubBiosInstallerTests.MakeDisk(dir, diskMiB: 400, bootMiB: 320) : GrubBiosInstallerTests.MakeDisk(dir);
        string tree = dir.Combine("boot");
        Directory.CreateDirectory(Path.Combine(tree, "grub2"));
        var cfg = new System.Text.StringBuilder("serial --unit=0 --speed=115200\nterminal_output serial\n");
        for (int i = 0; i < QuotedWords.Length; i++)
            cfg.Append($"set w={GrubConfigWriter.Quote(QuotedWords[i])}\necho \"W{i}[$w]\"\n");
        cfg.Append("echo NATIVEINIT-GRUB-OK prefix=$prefix root=$root\nhalt\n");
        File.WriteAllText(Path.Combine(tree, "grub2", "grub.cfg"), cfg.ToString());
        PutBootFilesystem(dir, img, tree, fsType);
        var clock = Stopwatch.StartNew();
        var r = GrubBiosInstaller.Install(GrubBiosInstallerTests.Target(img, fs: fsType));
        output.WriteLine($"install {clock.ElapsedMilliseconds} ms");
        output.WriteLine($"core.img {r.CoreImageBytes} bytes, prefix {r.Prefix}");

        var outcome = QemuDiskBoot.Boot(img, "NATIVEINIT-GRUB-OK", TimeSpan.FromMinutes(2));
        output.WriteLine(outcome.Report());
        Assert.True(outcome.SawOk, outcome.Report());
        // The drive was filled in from the BIOS boot drive: hd0 here, gpt2 from the prefix.
        Assert.Contains("prefix=(hd0,gpt2)/grub2 root=hd0,gpt2", outcome.Console);
        for (int i = 0; i < QuotedWords.Length; i++) Assert.Contains($"W{i}[{QuotedWords[i]}]", outcome.Console);
    }

    /// <summary>A busybox initramfs whose /init prints "CMDLINE: " + /proc/cmdline, then NATIVEINIT-LINUX-OK, and
    /// powers off.</summary>
    internal static byte[] MarkerInitramfs(TempDir dir)
    {
        Tool.Require("cpio");
        string root = dir.Combine("initramfs");
        string image = dir.Combine("initramfs.cpio");
        if (!File.Exists(image))
        {
            Directory.CreateDirectory(Path.Combine(root, "bin"));
            Directory.CreateDirectory(Path.Combine(root, "proc"));
            File.Copy("/usr/bin/busybox", Path.Combine(root, "bin", "busybox"));
            File.WriteAllText(Path.Combine(root, "init"),
                "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\necho \"CMDLINE: $(/bin/busybox cat /proc/cmdline)\"\n" +
                "echo NATIVEINIT-LINUX-OK\n/bin/busybox poweroff -f\n");
            File.SetUnixFileMode(Path.Combine(root, "init"), (UnixFileMode)0x1ed);
            Tool.Sh($"cd {Tool.Quote(root)} && find . | cpio -o -H newc 2>/dev/null > {Tool.Quote(image)}");
        }
        return File.ReadAllBytes(image);
    }

    [SkippableFact]
    public void During_a_conversion_grub_boots_the_resume_entry_even_with_a_saved_entry()
    {
        QemuRunner.RequireQemu();
        string kernelDir = KernelCache.FolderOrSkip();
        string version = KernelCache.Version(kernelDir);
        using var dir = new TempDir();
        string tree = dir.Combine("boot");
        Directory.CreateDirectory(Path.Combine(tree, "grub2"));
        Directory.CreateDirectory(Path.Combine(tree, "nativeinit"));
        // The conversion kernel in /nativeinit and the target's kernel in /: both the same Debian kernel here.
        File.Copy(KernelCache.KernelImage(kernelDir), Path.Combine(tree, "nativeinit", "vmlinuz"));
        File.WriteAllBytes(Path.Combine(tree, "nativeinit", "initramfs.img"), MarkerInitramfs(dir));
        File.Copy(KernelCache.KernelImage(kernelDir), Path.Combine(tree, "vmlinuz-" + version));
        File.WriteAllBytes(Path.Combine(tree, "initramfs-" + version + ".img"), MarkerInitramfs(dir));
        var spec = new GrubConfigSpec
        {
            BootFilesystemUuid = BootUuid, VolumeGroup = "vg0", RootVolume = "root", Kernels = BootKernel.Find(tree),
            ConsoleArguments = ["console=ttyS0,115200n8"], Serial = new GrubSerial(), TimeoutSeconds = 0,
            Conversion = new GrubConversionEntry("/nativeinit/vmlinuz", "/nativeinit/initramfs.img", "partuuid:0b6f3c1e-02", "/nativeinit/bundle.tar")
            {
                ExtraArguments = ["quiet", "panic=-1"],
            },
        };
        File.WriteAllText(Path.Combine(tree, "grub2", "grub.cfg"), GrubConfigWriter.Text(spec));
        var env = GrubEnv.Empty();
        env.Set("saved_entry", GrubConfigWriter.SystemIdPrefix + version);
        File.WriteAllBytes(Path.Combine(tree, "grub2", "grubenv"), env.ToBytes());
        string img = GrubBiosInstallerTests.MakeDisk(dir, diskMiB: 96, bootMiB: 48); // two kernels
        PutBootFilesystem(dir, img, tree);
        GrubBiosInstaller.Install(GrubBiosInstallerTests.Target(img, fs: "ext4"));

        var outcome = QemuDiskBoot.Boot(img, "NATIVEINIT-LINUX-OK", TimeSpan.FromMinutes(4));
        output.WriteLine(outcome.Report());
        Assert.True(outcome.SawOk, outcome.Report());
        Assert.Contains("CMDLINE: BOOT_IMAGE=/nativeinit/vmlinuz rd.nativeinit=resume rd.nativeinit.disk=partuuid:0b6f3c1e-02 " +
            "rd.nativeinit.bundle=/nativeinit/bundle.tar quiet panic=-1 console=ttyS0,115200n8\n", outcome.Console.Replace("\r", "", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Grub_boots_the_debian_kernel_through_the_written_grub_cfg_and_honours_a_one_shot_next_entry()
    {
        QemuRunner.RequireQemu();
        Tool.Require("debugfs");
        string kernelDir = KernelCache.FolderOrSkip();
        string version = KernelCache.Version(kernelDir);
        using var dir = new TempDir();

        // /boot: the kernel, a busybox initramfs whose /init prints the command line and a marker, grub.cfg, grubenv.
        string tree = dir.Combine("boot");
        Directory.CreateDirectory(Path.Combine(tree, "grub2"));
        File.Copy(KernelCache.KernelImage(kernelDir), Path.Combine(tree, "vmlinuz-" + version));
        File.WriteAllBytes(Path.Combine(tree, "initrd.img-" + version), MarkerInitramfs(dir));
        var kernels = BootKernel.Find(tree);
        Assert.Equal([new BootKernel(version, "vmlinuz-" + version, "initrd.img-" + version)], kernels);
        var spec = new GrubConfigSpec
        {
            BootFilesystemUuid = BootUuid, VolumeGroup = "vg0", RootVolume = "root", Kernels = kernels,
            TargetArguments = ["quiet", "panic=-1"], ConsoleArguments = ["console=ttyS0,115200n8"], Serial = new GrubSerial(), TimeoutSeconds = 0,
        };
        File.WriteAllText(Path.Combine(tree, "grub2", "grub.cfg"), GrubConfigWriter.Text(spec));
        var env = GrubEnv.Empty();
        env.Set("next_entry", GrubConfigWriter.RecoveryId);
        File.WriteAllBytes(Path.Combine(tree, "grub2", "grubenv"), env.ToBytes());

        string img = GrubBiosInstallerTests.MakeDisk(dir);
        PutBootFilesystem(dir, img, tree);
        GrubBiosInstaller.Install(GrubBiosInstallerTests.Target(img, fs: "ext4"));

        var outcome = QemuDiskBoot.Boot(img, "NATIVEINIT-LINUX-OK", TimeSpan.FromMinutes(4));
        output.WriteLine(outcome.Report());
        Assert.True(outcome.SawOk, outcome.Report());
        // The one-shot entry booted (recovery: "single"), with the arguments GrubConfigWriter wrote...
        Assert.Contains($"CMDLINE: BOOT_IMAGE=/vmlinuz-{version} root=/dev/mapper/vg0-root ro rd.lvm.lv=vg0/root quiet panic=-1 console=ttyS0,115200n8 single",
            outcome.Console);
        // ...and GRUB's save_env cleared next_entry on the ext4 /boot.
        var after = GrubEnv.Parse(ReadBootFile(dir, img, "/grub2/grubenv"), "grubenv after boot");
        Assert.Equal("", after["next_entry"]);

        // Second boot: the default (newest kernel, no "single").
        var second = QemuDiskBoot.Boot(img, "NATIVEINIT-LINUX-OK", TimeSpan.FromMinutes(4));
        output.WriteLine(second.Report());
        Assert.True(second.SawOk, second.Report());
        Assert.Contains($"root=/dev/mapper/vg0-root ro rd.lvm.lv=vg0/root quiet panic=-1 console=ttyS0,115200n8\n",
            second.Console.Replace("\r", "", StringComparison.Ordinal));
    }
}
