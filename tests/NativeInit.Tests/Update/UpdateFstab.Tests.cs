using NativeInit.Core.Update;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Update;

public class UpdateFstabTests
{
    [Fact]
    public void The_new_slot_mounts_its_own_root_and_the_volumes_the_running_slot_shares()
    {
        const string running = "# by convert\nUUID=aaaa / xfs defaults 0 1\nUUID=bbbb /boot xfs defaults 0 2\nUUID=dddd /data xfs defaults 0 2\n" +
            "UUID=ssss swap swap defaults 0 0\ntmpfs /tmp tmpfs defaults 0 0\n";
        const string bundle = "/dev/sda1 / ext4 defaults 0 1\ntmpfs /tmp tmpfs size=1G 0 0\ntmpfs /run/extra tmpfs defaults 0 0\n# comment\n";
        string f = UpdateJob.Fstab(running, bundle, "xfs", "1234-new");
        var lines = f.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')).ToList();
        Assert.Equal(["UUID=1234-new / xfs defaults 0 1", "UUID=bbbb /boot xfs defaults 0 2", "UUID=dddd /data xfs defaults 0 2",
            "UUID=ssss swap swap defaults 0 0", "tmpfs /tmp tmpfs size=1G 0 0", "tmpfs /run/extra tmpfs defaults 0 0"], lines);
    }

    [SkippableFact]
    public void On_a_running_system_without_a_slot_on_the_kernel_command_line_it_refuses_and_writes_nothing()
    {
        Tool.RequireRoot();
        string ni = Tool.RequireNativeInit();
        Skip.If(File.ReadAllText("/proc/cmdline").Contains("nativeinit.slot=", StringComparison.Ordinal), "this machine was booted from an A/B slot");
        using var dir = new TempDir();
        Tool.Check(ni, "bundle", "keygen", "--private", dir.Combine("k.key"), "--public", dir.Combine("k.pub"));
        Directory.CreateDirectory(dir.Combine("rootfs", "etc"));
        File.WriteAllText(dir.Combine("rootfs", "etc", "hostname"), "x\n");
        Directory.CreateDirectory(dir.Combine("rootfs", "boot"));
        File.WriteAllText(dir.Combine("rootfs", "boot", "vmlinuz-1.0"), "kernel\n");
        File.WriteAllText(dir.Combine("rootfs", "boot", "initramfs-1.0.img"), "initramfs\n");
        File.WriteAllText(dir.Combine("layout.json"), AbImageFixture.Layout);
        Tool.Require("sgdisk");
        using (var f = File.Create(dir.Combine("ref.img"))) f.SetLength(AbImageFixture.DiskBytes);
        Tool.Check("sgdisk", "-o", "-n1:2048:+2M", "-t1:ef02", "-n2:0:+300M", "-t2:8300", "-n3:0:0", "-t3:8e00", dir.Combine("ref.img"));
        Tool.Check("sgdisk", "--backup=" + dir.Combine("target.gpt"), dir.Combine("ref.img"));
        File.Delete(dir.Combine("ref.img"));
        File.WriteAllText(dir.Combine("k"), "k\n");
        var made = Tool.Run(ni, "bundle", "create", "--rootfs", dir.Combine("rootfs"), "--layout", dir.Combine("layout.json"), "--kernel", dir.Combine("k"),
            "--initramfs", dir.Combine("k"), "--key", dir.Combine("k.key"), "--out", dir.Combine("b.tar"), "--single-file");
        Assert.True(made.ExitCode == 0, made.ToString());
        // A fake /boot as convert leaves it: the A/B layout and grubenv with the slots.
        string boot = dir.Combine("boot");
        Directory.CreateDirectory(Path.Combine(boot, "nativeinit", "layout"));
        File.WriteAllText(Path.Combine(boot, "nativeinit", "layout", "layout.json"), AbImageFixture.Layout);
        Directory.CreateDirectory(Path.Combine(boot, "grub2"));
        var env = NativeInit.Core.Boot.GrubEnv.Empty();
        var s = NativeInit.Core.Boot.BootSlots.Read(env);
        s.FinishWrite("A");
        s.MarkGood("A");
        s.WriteTo(env);
        File.WriteAllBytes(Path.Combine(boot, "grub2", "grubenv"), env.ToBytes());
        string before = AbImageFixture.HashFile(Path.Combine(boot, "grub2", "grubenv"));
        var r = Tool.Run(ni, "update", dir.Combine("b.tar"), "--key", dir.Combine("k.pub"), "--root", dir.Combine("rootfs"), "--boot-dir", boot);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("no nativeinit.slot=A|B", r.Stderr);
        Assert.Equal(before, AbImageFixture.HashFile(Path.Combine(boot, "grub2", "grubenv")));
        // The layout without slots: refused for that first.
        File.WriteAllText(Path.Combine(boot, "nativeinit", "layout", "layout.json"), AbImageFixture.Layout.Replace(", \"slot\": \"A\"", "").Replace(", \"slot\": \"B\"", ""));
        var plain = Tool.Run(ni, "update", dir.Combine("b.tar"), "--key", dir.Combine("k.pub"), "--root", dir.Combine("rootfs"), "--boot-dir", boot);
        Assert.True(plain.ExitCode == 3, plain.ToString());
        Assert.Contains("has no A/B slots", plain.Stderr);
    }
}
