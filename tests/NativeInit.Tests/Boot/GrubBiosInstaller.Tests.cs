using System.Buffers.Binary;
using System.Security.Cryptography;
using NativeInit.Core;
using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>
/// GrubBiosInstaller at the byte level, on GPT images made by sgdisk, against the host's grub-mkimage and boot.img.
/// The offsets below are typed from GRUB's boot.h / diskboot.S here, independently of <see cref="GrubPcFormat"/>, so
/// a wrong constant there cannot hide.
/// </summary>
[Trait("Category", "Integration")]
public class GrubBiosInstallerTests
{
    private const long MiB = 1 << 20;
    private const string Modules = "/usr/lib/grub/i386-pc";

    /// <summary>A 64 MiB GPT image: 1 BIOS boot (EF02, <paramref name="biosKiB"/> KiB at 1 MiB), 2 /boot (8300, 20 MiB),
    /// 3 LVM (8E00, the rest). sgdisk writes a protective MBR with disk signature 0 and zero code; the test puts
    /// recognisable bytes in the code area and the disk signature so "kept" and "overwritten" can be told apart.</summary>
    internal static string MakeDisk(TempDir dir, long biosKiB = 2048, string name = "disk.img", int diskMiB = 64, int bootMiB = 20)
    {
        Tool.Require("sgdisk", "grub-mkimage");
        Skip.IfNot(Directory.Exists(Modules), $"{Modules} missing (tools/setup installs grub-pc-bin)");
        string img = dir.Combine(name);
        using (var f = File.Create(img)) f.SetLength(diskMiB * MiB);
        Tool.Check("sgdisk", "-n", $"1:2048:+{biosKiB}K", "-t", "1:EF02", "-n", $"2:0:+{bootMiB}M", "-t", "2:8300", "-n", "3:0:0", "-t", "3:8E00", img);
        using (var f = new FileStream(img, FileMode.Open, FileAccess.ReadWrite))
        {
            var mbr = new byte[512];
            f.ReadExactly(mbr);
            for (int i = 0; i < 440; i++) mbr[i] = (byte)(0xA0 + i % 7);
            BinaryPrimitives.WriteUInt32LittleEndian(mbr.AsSpan(0x1b8), 0xC0FFEE42);
            f.Position = 0;
            f.Write(mbr);
        }
        return img;
    }

    internal static GrubBiosTarget Target(string img, long biosKiB = 2048, string fs = "ext2", int bootPart = 2) =>
        new(img, 2048 * 512, biosKiB * 1024, bootPart, fs, null);

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    [SkippableFact]
    public void Install_writes_patched_boot_img_and_core_img_and_nothing_else_and_is_idempotent()
    {
        using var dir = new TempDir();
        string img = MakeDisk(dir);
        var before = File.ReadAllBytes(img);
        var logs = new List<string>();
        var r = GrubBiosInstaller.Install(Target(img), logs.Add);
        var after = File.ReadAllBytes(img);

        Assert.True(r.Changed);
        Assert.Equal("(,gpt2)/grub2", r.Prefix);
        Assert.Equal(2048, r.CoreSector);
        Assert.Equal(Modules, r.ModuleDirectory);

        // boot.img: equal to grub's except the BPB (the disk's), the kernel sector, the boot drive and the drive check.
        var boot = File.ReadAllBytes(Path.Combine(Modules, "boot.img"));
        for (int i = 0; i < 440; i++)
        {
            byte want = i switch
            {
                >= 0x03 and < 0x5a => before[i],                                   // BPB kept from the disk
                >= 0x5c and < 0x64 => (byte)(2048L >> (8 * (i - 0x5c))),          // kernel_sector = LBA of core.img
                0x64 => 0xFF,                                                      // boot_drive: DL from the BIOS
                0x66 or 0x67 => 0x90,                                              // boot_drive_check jmp -> nops
                _ => boot[i],
            };
            Assert.True(want == after[i], $"MBR byte 0x{i:x}: 0x{after[i]:x2}, expected 0x{want:x2}");
        }
        Assert.Equal(0xEB, boot[0x66]); // the field patched really was the jmp
        Assert.Equal(before.AsSpan(440, 72).ToArray(), after.AsSpan(440, 72).ToArray()); // disk signature + partition table + 55AA

        // core.img: equal to grub-mkimage's output with the same modules and prefix, except the block list start.
        string core = dir.Combine("core.img");
        Tool.Check("grub-mkimage", ["-O", "i386-pc", "-d", Modules, "-p", "(,gpt2)/grub2", "-o", core,
            .. GrubBiosInstaller.RequiredModules, "ext2",
            .. GrubBiosInstaller.OptionalModules.Where(m => File.Exists(Path.Combine(Modules, m + ".mod")))]);
        var expected = File.ReadAllBytes(core);
        Assert.Equal(expected.Length, r.CoreImageBytes);
        int sectors = (expected.Length + 511) / 512;
        Assert.Equal(sectors - 1, BinaryPrimitives.ReadUInt16LittleEndian(expected.AsSpan(0x1fc)));  // grub-mkimage's len
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(0x1f4), 2048 + 1);                   // start: the sector after
        Assert.Equal(expected, after.AsSpan(2048 * 512, expected.Length).ToArray());
        Assert.True(after.AsSpan(2048 * 512 + expected.Length, sectors * 512 - expected.Length).IndexOfAnyExcept((byte)0) < 0);

        // Nothing else changed: every byte outside [0,440) and core.img's sectors is as before.
        Assert.True(before.AsSpan(512, 2048 * 512 - 512).SequenceEqual(after.AsSpan(512, 2048 * 512 - 512)));
        long end = 2048 * 512 + sectors * 512;
        Assert.True(before.AsSpan((int)end).SequenceEqual(after.AsSpan((int)end)));

        // A second install writes the same bytes (here: none, it finds them in place).
        string h = Hash(img);
        var again = GrubBiosInstaller.Install(Target(img), logs.Add);
        Assert.False(again.Changed);
        Assert.Equal(h, Hash(img));
        Assert.Contains(logs, l => l.Contains("nothing written", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Check_refuses_a_bios_boot_partition_too_small_for_core_img_and_writes_nothing()
    {
        using var dir = new TempDir();
        string img = MakeDisk(dir, biosKiB: 64);
        string h = Hash(img);
        var e = Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img, biosKiB: 64)));
        Assert.Contains("does not fit the BIOS boot partition", e.Message);
        Assert.Equal(ExitCodes.Refused, e.ExitCode);
        Assert.Throws<RefusedException>(() => GrubBiosInstaller.Install(Target(img, biosKiB: 64)));
        Assert.Equal(h, Hash(img));
    }

    [SkippableFact]
    public void Check_refuses_a_disk_without_gpt_and_writes_nothing()
    {
        using var dir = new TempDir();
        Tool.Require("sfdisk", "grub-mkimage");
        string img = dir.Combine("mbr.img");
        using (var f = File.Create(img)) f.SetLength(64 * MiB);
        Tool.Run("sfdisk", ["-q", img], stdin: "label: dos\nstart=2048, size=40960, type=83\nstart=43008, type=8e\n");
        string h = Hash(img);
        var e = Assert.Throws<RefusedException>(() => GrubBiosInstaller.Install(Target(img)));
        Assert.Contains("not a GPT disk", e.Message);
        Assert.Equal(h, Hash(img));
    }

    [SkippableFact]
    public void Check_refuses_a_wrong_partition_offset_a_missing_boot_partition_and_an_unknown_filesystem()
    {
        using var dir = new TempDir();
        string img = MakeDisk(dir);
        string h = Hash(img);
        Assert.Contains("no partition of " + img + " starts at byte 1024000 as asked (BIOS boot: partition 1 at bytes 1048576+2097152)",
            Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img) with { BiosBootOffset = 1024000 })).Message);
        Assert.Contains("partition 2 of " + img + " at byte 3145728 is ",
            Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img) with { BiosBootOffset = 3145728 })).Message);
        Assert.Contains("is 2097152 bytes long, not 1048576 as asked",
            Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img) with { BiosBootLength = 1048576 })).Message);
        Assert.Contains("no GPT partition 7",
            Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img, bootPart: 7))).Message);
        Assert.Contains("'btrfs' is not xfs",
            Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img, fs: "btrfs"))).Message);
        Assert.Equal(h, Hash(img));
    }

    [SkippableFact]
    public void Check_refuses_a_host_without_grub_mkimage_or_without_modules_and_writes_nothing()
    {
        using var dir = new TempDir();
        string img = MakeDisk(dir);
        string h = Hash(img);
        string emptyBin = dir.Combine("bin");
        Directory.CreateDirectory(emptyBin);
        var e = Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img), Modules, [emptyBin]));
        Assert.Equal("grub: no grub-mkimage with i386-pc modules: the host has no grub-mkimage or grub2-mkimage on PATH (Debian: grub-common)", e.Message);
        Assert.Equal(ExitCodes.Refused, e.ExitCode);

        string[] path = ["/usr/bin", "/bin"];
        Assert.Contains($"but no {dir.Combine("nomods")} (Debian: grub-pc-bin)",
            Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img), dir.Combine("nomods"), path)).Message);

        string partial = dir.Combine("partial");
        Directory.CreateDirectory(partial);
        File.Copy(Path.Combine(Modules, "boot.img"), Path.Combine(partial, "boot.img"));
        File.Copy(Path.Combine(Modules, "biosdisk.mod"), Path.Combine(partial, "biosdisk.mod"));
        Assert.Equal($"grub: {partial} lacks diskboot.img, kernel.img, part_gpt.mod, normal.mod, configfile.mod, linux.mod, echo.mod, test.mod, xfs.mod",
            Assert.Throws<RefusedException>(() => GrubBiosInstaller.Check(Target(img, fs: "xfs"), partial, path)).Message);
        Assert.Equal(h, Hash(img));
    }

    [SkippableFact]
    public void A_target_root_with_modules_but_no_mkimage_falls_back_to_the_hosts_tool_and_says_why()
    {
        using var dir = new TempDir();
        string img = MakeDisk(dir);
        string root = dir.Combine("root");
        Directory.CreateDirectory(Path.Combine(root, "usr/lib/grub/i386-pc"));
        var logs = new List<string>();
        var r = GrubBiosInstaller.Install(Target(img) with { TargetRoot = root }, logs.Add);
        Assert.Equal(Modules, r.ModuleDirectory);
        Assert.Contains(logs, l => l.Contains("no grub2-mkimage or grub-mkimage", StringComparison.Ordinal) && l.Contains(root, StringComparison.Ordinal));
    }

    [SkippableFact]
    public void The_target_roots_own_mkimage_runs_through_chroot_with_its_modules()
    {
        Tool.RequireRoot();
        Tool.Require("chroot", "grub-mkimage");
        using var dir = new TempDir();
        string img = MakeDisk(dir);
        // A target root holding grub-mkimage (with its libraries, copied as ldd lists them) and a copy of the modules.
        string root = dir.Combine("root");
        Directory.CreateDirectory(Path.Combine(root, "usr/lib/grub"));
        Directory.CreateDirectory(Path.Combine(root, "usr/bin"));
        Directory.CreateDirectory(Path.Combine(root, "usr/sbin"));
        Directory.CreateDirectory(Path.Combine(root, "tmp"));
        Tool.Check("cp", "-a", Modules, Path.Combine(root, "usr/lib/grub/"));
        Tool.Check("cp", "/usr/bin/grub-mkimage", Path.Combine(root, "usr/bin/grub2-mkimage"));
        foreach (var lib in Tool.Check("ldd", "/usr/bin/grub-mkimage").Split('\n')
                     .Select(l => l.Trim()).Select(l => l.Contains("=> ") ? l[(l.IndexOf("=> ", StringComparison.Ordinal) + 3)..] : l)
                     .Select(l => l.Split(' ')[0]).Where(l => l.StartsWith('/')))
        {
            string dest = root + lib;
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(lib, dest, overwrite: true);
        }
        var logs = new List<string>();
        var r = GrubBiosInstaller.Install(Target(img) with { TargetRoot = root }, logs.Add);
        Assert.StartsWith($"chroot {root} /usr/bin/grub2-mkimage", r.MkimageTool);
        Assert.Equal(Path.Combine(root, "usr/lib/grub/i386-pc"), r.ModuleDirectory);
        Assert.Equal("grub2", r.GrubDirectory);
        Assert.True(r.CoreImageBytes > 512);
        // Same tool version and modules as the host: the same core.img as the host-tool install.
        using var dir2 = new TempDir();
        string img2 = MakeDisk(dir2);
        GrubBiosInstaller.Install(Target(img2));
        int written = 2048 * 512 + (int)((r.CoreImageBytes + 511) / 512 * 512);
        byte[] a = File.ReadAllBytes(img), b = File.ReadAllBytes(img2);
        Assert.Equal(b.AsSpan(0, 440).ToArray(), a.AsSpan(0, 440).ToArray());
        Assert.Equal(b.AsSpan(2048 * 512, written - 2048 * 512).ToArray(), a.AsSpan(2048 * 512, written - 2048 * 512).ToArray());
        Assert.Empty(Directory.GetFiles(Path.Combine(root, "tmp"))); // the temporary core.img is gone

        // Nothing is written into the root (bundle create packs it, perhaps in another process at the same time):
        // the same root mounted read-only gives the same image (grub-mkimage's temporary file goes to a host directory
        // bind-mounted over the root's /tmp in a mount namespace of the tool's own).
        Tool.Require("unshare", "mount", "umount");
        string readOnly = dir.Combine("ro");
        Directory.CreateDirectory(readOnly);
        Tool.Check("mount", "--bind", root, readOnly);
        try
        {
            Tool.Check("mount", "-o", "remount,bind,ro", readOnly);
            Assert.NotEqual(0, Tool.Run("touch", Path.Combine(readOnly, "tmp", "probe")).ExitCode);
            using var dirRo = new TempDir();
            string imgRo = MakeDisk(dirRo);
            var rRo = GrubBiosInstaller.Install(Target(imgRo) with { TargetRoot = readOnly });
            Assert.StartsWith($"chroot {readOnly} /usr/bin/grub2-mkimage", rRo.MkimageTool);
            byte[] ro = File.ReadAllBytes(imgRo);
            Assert.Equal(b.AsSpan(2048 * 512, written - 2048 * 512).ToArray(), ro.AsSpan(2048 * 512, written - 2048 * 512).ToArray());
        }
        finally
        {
            Tool.Run("umount", readOnly);
        }
        Assert.Empty(Directory.GetFiles(Path.Combine(root, "tmp")));
        Assert.DoesNotContain(File.ReadAllText("/proc/self/mountinfo").Split('\n'), l => l.Contains(root + "/tmp", StringComparison.Ordinal));

        // Without a chroot program (a minimal initramfs): the target's own loader runs its tool, same bytes again.
        using var dir3 = new TempDir();
        string img3 = MakeDisk(dir3);
        var logs3 = new List<string>();
        var r3 = GrubBiosInstaller.Install(Target(img3) with { TargetRoot = root }, logs3.Add, Modules, ["/usr/bin", "/bin"]);
        Assert.StartsWith($"{root}/lib64/ld-linux-x86-64.so.2 --library-path ", r3.MkimageTool);
        Assert.EndsWith($" {root}/usr/bin/grub2-mkimage", r3.MkimageTool);
        byte[] c = File.ReadAllBytes(img3);
        Assert.Equal(b.AsSpan(0, 440).ToArray(), c.AsSpan(0, 440).ToArray());
        Assert.Equal(b.AsSpan(2048 * 512, written - 2048 * 512).ToArray(), c.AsSpan(2048 * 512, written - 2048 * 512).ToArray());
    }

    [Fact]
    public void Paths_in_the_target_root_follow_its_links_inside_the_root()
    {
        using var dir = new TempDir();
        string root = dir.Combine("root");
        Directory.CreateDirectory(Path.Combine(root, "lib", "x86_64-linux-gnu"));
        Directory.CreateDirectory(Path.Combine(root, "lib64"));
        File.WriteAllText(Path.Combine(root, "lib", "x86_64-linux-gnu", "ld-2.17.so"), "");
        File.CreateSymbolicLink(Path.Combine(root, "lib", "x86_64-linux-gnu", "ld.so"), "ld-2.17.so");          // relative
        File.CreateSymbolicLink(Path.Combine(root, "lib64", "ld-linux-x86-64.so.2"), "/lib/x86_64-linux-gnu/ld.so"); // absolute: inside the root
        Assert.Equal(Path.Combine(root, "lib/x86_64-linux-gnu/ld-2.17.so"), GrubImageTool.ResolveInRoot(root, "lib64/ld-linux-x86-64.so.2"));
        Assert.Equal(Path.Combine(root, "usr/bin/none"), GrubImageTool.ResolveInRoot(root, "/usr/bin/none"));
    }

    [SkippableFact]
    public void Install_on_a_loop_block_device_writes_the_same_bytes_as_on_the_image_file()
    {
        Tool.RequireRoot();
        using var dir = new TempDir();
        string img = MakeDisk(dir);
        var copy = dir.Combine("copy.img");
        File.Copy(img, copy);
        var onFile = GrubBiosInstaller.Install(Target(copy));
        using (var loop = NativeInit.Core.Disk.Loop.LoopDevice.Attach(img))
        {
            var onDevice = GrubBiosInstaller.Install(Target(loop.DevicePath));
            Assert.Equal(onFile.CoreImageBytes, onDevice.CoreImageBytes);
            Assert.True(onDevice.Changed);
            Assert.False(GrubBiosInstaller.Install(Target(loop.DevicePath)).Changed);
        }
        Assert.Equal(Hash(copy), Hash(img));
    }

    /// <summary>Images made beforehand (the conversion's GRUB in a bundle) are checked against the planned layout before
    /// the disk has a GPT: what would refuse the install after the first write refuses them first. The disk named
    /// does not exist: nothing of it is read.</summary>
    [SkippableFact]
    public void Images_made_beforehand_are_checked_without_the_disk()
    {
        Tool.Require("grub-mkimage");
        Skip.IfNot(Directory.Exists(Modules), $"{Modules} missing (tools/setup installs grub-pc-bin)");
        using var dir = new TempDir();
        string corePath = dir.Combine("core.img");
        Tool.Check("grub-mkimage", "-O", "i386-pc", "-d", Modules, "-p", "(,gpt2)/grub", "-o", corePath, "biosdisk", "part_gpt", "ext2");
        byte[] core = File.ReadAllBytes(corePath), boot = File.ReadAllBytes(Path.Combine(Modules, "boot.img"));
        var target = Target(dir.Combine("not-there.img")) with { CoreOffset = 0 };

        GrubBiosInstaller.CheckImages(target, 512, core, boot, "test images");

        string Refused(Action a) => Assert.Throws<RefusedException>(a).Message;
        Assert.Contains("4096-byte sectors; GRUB for BIOS is installed on 512-byte-sector disks only",
            Refused(() => GrubBiosInstaller.CheckImages(target, 4096, core, boot, "test images")));
        var badList = (byte[])core.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(badList.AsSpan(0x1fc), 1); // diskboot.S's first block list: its length
        Assert.Contains("not an i386-pc diskboot image", Refused(() => GrubBiosInstaller.CheckImages(target, 512, badList, boot, "test images")));
        var badBoot = (byte[])boot.Clone();
        badBoot[0x66] = 0x90 ^ 0xFF; // boot.S: the drive check's jmp
        Assert.Contains("not a GRUB 2 i386-pc boot.img", Refused(() => GrubBiosInstaller.CheckImages(target, 512, core, badBoot, "test images")));
        Assert.Contains("does not fit the BIOS boot partition",
            Refused(() => GrubBiosInstaller.CheckImages(Target(dir.Combine("not-there.img"), biosKiB: 16), 512, core, boot, "test images")));
        Assert.Contains("is not xfs, ext2, ext3 or ext4",
            Refused(() => GrubBiosInstaller.CheckImages(Target(dir.Combine("not-there.img"), fs: "btrfs"), 512, core, boot, "test images")));
        Assert.False(File.Exists(dir.Combine("not-there.img")));
    }
}
