using System.IO.Hashing;
using System.Text.Json;
using NativeInit.Tests.TestSupport;
using NativeInit.Tests.Lvm;

namespace NativeInit.Tests.Conversion;

/// <summary>
/// A legacy gateway disk of layout (a): a 3 GiB image with an MBR and one xfs root partition holding CentOS-style
/// configuration and a signed single-file bundle at /boot/nativeinit/bundle.tar (placed after a 700 MiB filler, as
/// stage one places it clear of the new layout's early writes). Built once with the project's own `bundle create`
/// and standard tools; each test converts a sparse copy.
/// </summary>
public sealed class LegacyImageFixture : IDisposable
{
    public const long DiskBytes = 3L << 30;
    public const string Shadow = "root:$6$oldsalt$OLDROOTHASH:18000:0:99999:7:::\nadmin:$6$adminsalt$ADMINHASH:18001:0:99999:7:::\nbin:*:17000:0:99999:7:::\n";
    public const string Ifcfg = "DEVICE=eth0\nBOOTPROTO=static\nIPADDR=192.0.2.10\nNETMASK=255.255.255.0\nGATEWAY=192.0.2.1\nONBOOT=yes\n";

    public LegacyImageFixture()
    {
        if (!Tool.Exists(Tool.NativeInitBinary) || Environment.UserName != "root") return;
        Binary = Tool.NativeInitBinary;
        Tmp = new TempDir();
        Tool.Check(Binary, "bundle", "keygen", "--private", Tmp.Combine("vendor.key"), "--public", Public = Tmp.Combine("vendor.pub"));
        // The target's partition table: 1 BIOS boot, 2 /boot (300 MiB, the xfs minimum), 3 LVM to the end.
        string reference = Tmp.Combine("ref.img");
        using (var f = File.Create(reference)) f.SetLength(DiskBytes);
        Tool.Check("sgdisk", "-o", "-n1:2048:+2M", "-t1:ef02", "-c1:bios", "-n2:0:+300M", "-t2:8300", "-c2:boot", "-n3:0:0", "-t3:8e00", "-c3:lvm",
            "-U", "0C1B2A39-4857-6574-8392-A1B2C3D4E5F6", reference);
        Tool.Check("sgdisk", "--backup=" + (Backup = Tmp.Combine("target.gpt")), reference);
        File.Delete(reference);
        File.WriteAllText(Tmp.Combine("layout.json"), """
            { "partitionTable": "target.gpt",
              "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "4MiB", "grow": "data",
                "logicalVolumes": [
                  { "name": "root", "size": "1200MiB", "filesystem": "xfs", "mountPoint": "/", "label": "root" },
                  { "name": "swap", "size": "64MiB", "filesystem": "swap", "mountPoint": "swap" },
                  { "name": "data", "size": "rest", "filesystem": "xfs", "mountPoint": "/data" } ] },
              "partitions": [ { "number": 2, "filesystem": "xfs", "mountPoint": "/boot", "label": "boot" } ] }
            """);
        File.WriteAllText(Tmp.Combine("vmlinuz"), "conversion kernel\n");
        File.WriteAllText(Tmp.Combine("initramfs.img"), "conversion initramfs\n");
        // The target system's tree (owners, modes, xattrs, links, a kernel in /boot, its own fstab and shadow).
        Rootfs = Tmp.Combine("rootfs");
        Tool.Sh($"""
            set -e
            r={Tool.Quote(Rootfs)}
            mkdir -p $r/etc/sysconfig/network-scripts $r/etc/ssh $r/boot $r/usr/bin $r/var/lib/app $r/data $r/tmp
            printf 'NAME=Target\n' > $r/etc/os-release
            printf 'target-default\n' > $r/etc/hostname
            printf '127.0.0.1 localhost\n' > $r/etc/hosts
            printf 'root:!!:19500:0:99999:7:::\nadmin:!!:19500:0:99999:7:::\nsshd:!!:19500::::::\n' > $r/etc/shadow
            chmod 0000 $r/etc/shadow
            # The build machine's disks (every form of device name fstab(5) has), and one line that names none.
            printf '/dev/mapper/centos-root / xfs defaults 0 0\nUUID=2a1c0d4e-0b6f-4e8f-9a51-2c7d8e9f0a1b /boot xfs defaults 0 0\nPARTUUID=0c4a11b2-02 /boot/efi vfat umask=0077 0 2\nPARTLABEL=scratch /scratch xfs defaults 0 0\nLABEL=DATA /srv xfs defaults 0 0\nID=ata-QEMU_HARDDISK_QM00001-part5 /opt xfs defaults 0 0\ntmpfs /tmp tmpfs defaults 0 0\n' > $r/etc/fstab
            mkdir -p $r/etc/selinux && printf '# SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n' > $r/etc/selinux/config
            printf 'kernel\n' > $r/boot/vmlinuz-5.0
            printf 'initramfs\n' > $r/boot/initramfs-5.0.img
            head -c 6000000 /dev/urandom > $r/var/lib/app/blob
            for i in $(seq 1 50); do head -c $((i * 997)) /dev/urandom > $r/var/lib/app/f$i; done
            cp /bin/true $r/usr/bin/tool && chmod 4755 $r/usr/bin/tool
            setfattr -n user.demo -v hello $r/usr/bin/tool
            ln $r/usr/bin/tool $r/usr/bin/tool2
            ln -s ../usr/bin/tool $r/etc/tool-link
            chown -R 1000:1000 $r/var/lib/app
            chmod 1777 $r/tmp
            """);
        // CentOS 7's own /etc/default/grub (a shorter timeout): its GRUB_DISTRIBUTOR is shell code.
        Directory.CreateDirectory(Path.Combine(Rootfs, "etc/default"));
        File.WriteAllText(Path.Combine(Rootfs, "etc/default/grub"), NativeInit.Tests.Stage.FakeSystem.CentosDefaultGrub.Replace("GRUB_TIMEOUT=5", "GRUB_TIMEOUT=2"));
        File.WriteAllText(Tmp.Combine("selinux.json"), """{ "mode": "permissive" }""");
        Bundle = Tmp.Combine("bundle.tar");
        Tool.Check(Binary, "bundle", "create", "--rootfs", Rootfs, "--layout", Tmp.Combine("layout.json"), "--kernel", Tmp.Combine("vmlinuz"),
            "--initramfs", Tmp.Combine("initramfs.img"), "--key", Tmp.Combine("vendor.key"), "--out", Bundle, "--single-file", "--selinux-policy", Tmp.Combine("selinux.json"),
            "--product", "gateway", "--product-version", "2.0");
        Image = Tmp.Combine("legacy.img");
        BuildLegacy(Image, fillerFirst: true);
    }

    /// <summary>MBR + one xfs root partition with CentOS-style configuration and the staged bundle (<see cref="Bundle"/>
    /// unless <paramref name="bundle"/> names another file). With <paramref name="fillerFirst"/> false the bundle is the
    /// first file written (it lands under the new /boot).</summary>
    public void BuildLegacy(string image, bool fillerFirst, string at = "boot/nativeinit/bundle.tar", string? bundle = null)
    {
        using (var f = File.Create(image)) f.SetLength(DiskBytes);
        Tool.Sh($"""
            set -e
            img={Tool.Quote(image)}
            echo 'start=2048, type=83, bootable' | sfdisk -q $img
            loop=$(losetup --find --show --offset $((2048 * 512)) $img)
            mkfs.xfs -q $loop
            m=$(mktemp -d)
            mount $loop $m
            mkdir -p $m/etc/sysconfig/network-scripts $m/etc/ssh $m/boot/nativeinit
            printf '{Ifcfg.Replace("\n", "\\n")}' > $m/etc/sysconfig/network-scripts/ifcfg-eth0
            printf 'DEVICE=lo\n' > $m/etc/sysconfig/network-scripts/ifcfg-lo
            printf 'nameserver 192.0.2.53\nsearch example.net\n' > $m/etc/resolv.conf
            printf 'gw-0042\n' > $m/etc/hostname
            printf '127.0.0.1 localhost\n192.0.2.10 gw-0042\n' > $m/etc/hosts
            printf '%s' {Tool.Quote(Shadow)} > $m/etc/shadow
            chmod 0000 $m/etc/shadow
            printf 'OLD-HOST-KEY\n' > $m/etc/ssh/ssh_host_ed25519_key && chmod 0600 $m/etc/ssh/ssh_host_ed25519_key
            {(fillerFirst ? "fallocate -l 700M $m/filler" : "")}
            cp {Tool.Quote(bundle ?? Bundle)} $m/{at}
            umount $m
            rmdir $m
            losetup -d $loop
            """);
    }

    /// <summary>Layout (b): MBR with a 300 MiB xfs /boot (partition 1) and an xfs root (partition 2) holding the
    /// configuration and the bundle at /nativeinit/bundle.tar.</summary>
    public void BuildLegacyBootRoot(string image)
    {
        using (var f = File.Create(image)) f.SetLength(DiskBytes);
        Tool.Sh($"""
            set -e
            img={Tool.Quote(image)}
            printf 'start=2048, size=614400, type=83, bootable\nstart=616448, type=83\n' | sfdisk -q $img
            b=$(losetup --find --show --offset $((2048 * 512)) --sizelimit $((614400 * 512)) $img)
            mkfs.xfs -q $b
            m=$(mktemp -d)
            mount $b $m; mkdir -p $m/grub2; echo old-kernel > $m/vmlinuz-3.10.0; umount $m
            losetup -d $b
            r=$(losetup --find --show --offset $((616448 * 512)) $img)
            mkfs.xfs -q $r
            mount $r $m
            mkdir -p $m/etc/sysconfig/network-scripts $m/etc/ssh $m/boot $m/nativeinit
            printf 'nameserver 192.0.2.54\n' > $m/etc/resolv.conf
            printf 'B-HOST-KEY\n' > $m/etc/ssh/ssh_host_ed25519_key && chmod 0600 $m/etc/ssh/ssh_host_ed25519_key
            printf '{Ifcfg.Replace("\n", "\\n")}' > $m/etc/sysconfig/network-scripts/ifcfg-eth0
            printf 'gw-b\n' > $m/etc/hostname
            printf '%s' {Tool.Quote(Shadow)} > $m/etc/shadow
            fallocate -l 700M $m/filler
            cp {Tool.Quote(Bundle)} $m/nativeinit/bundle.tar
            umount $m
            rmdir $m
            losetup -d $r
            """);
    }

    /// <summary>Layout (c), CentOS 7's default: MBR with a 300 MiB xfs /boot (partition 1) and an LVM PV (partition 2)
    /// with VG centos (swap 64 MiB, root the rest) made by lvm2's own pvcreate/vgcreate/lvcreate (metadata only:
    /// activation = 0, no device-mapper); xfs on the root LV through a loop device at its offset.</summary>
    public void BuildCentos(string image)
    {
        using (var f = File.Create(image)) f.SetLength(DiskBytes);
        Tool.Sh($"printf 'start=2048, size=614400, type=83, bootable\\nstart=616448, type=8e\\n' | sfdisk -q {Tool.Quote(image)}");
        using (var pv = new TestLoop(image, 616448L * 512))
        using (var lvm = new LvmOracle(pv.Device))
        {
            lvm.Check("pvcreate", "-y", pv.Device);
            lvm.Check("vgcreate", "centos", pv.Device);
            lvm.Check("lvcreate", "-Zn", "-Wn", "-y", "-n", "swap", "-L", "64M", "centos");
            lvm.Check("lvcreate", "-Zn", "-Wn", "-y", "-n", "root", "-l", "100%FREE", "centos");
        }
        using var doc = JsonDocument.Parse(Tool.Check(Binary, "lvm", "show", image, "--offset", (616448L * 512).ToString(System.Globalization.CultureInfo.InvariantCulture), "--json"));
        var vg = doc.RootElement.GetProperty("vg");
        var root = vg.GetProperty("logicalVolumes").EnumerateArray().First(l => l.GetProperty("name").GetString() == "root");
        long off = doc.RootElement.GetProperty("offset").GetInt64() + vg.GetProperty("physicalVolumes")[0].GetProperty("peStartSectors").GetInt64() * 512
            + root.GetProperty("segments")[0].GetProperty("pvStartExtent").GetInt64() * vg.GetProperty("extentSizeBytes").GetInt64();
        long size = root.GetProperty("size").GetInt64();
        Tool.Sh($"""
            set -e
            img={Tool.Quote(image)}
            m=$(mktemp -d)
            b=$(losetup --find --show --offset $((2048 * 512)) --sizelimit $((614400 * 512)) $img)
            mkfs.xfs -q $b; mount $b $m; mkdir -p $m/grub2; umount $m; losetup -d $b
            r=$(losetup --find --show --offset {off} --sizelimit {size} $img)
            mkfs.xfs -q $r
            mount $r $m
            mkdir -p $m/etc/sysconfig/network-scripts $m/etc/ssh $m/boot $m/nativeinit
            printf '{Ifcfg.Replace("\n", "\\n")}' > $m/etc/sysconfig/network-scripts/ifcfg-eth0
            printf 'nameserver 192.0.2.55\n' > $m/etc/resolv.conf
            printf 'gw-c\n' > $m/etc/hostname
            printf 'C-HOST-KEY\n' > $m/etc/ssh/ssh_host_ed25519_key && chmod 0600 $m/etc/ssh/ssh_host_ed25519_key
            printf '%s' {Tool.Quote(Shadow)} > $m/etc/shadow
            fallocate -l 700M $m/filler
            cp {Tool.Quote(Bundle)} $m/nativeinit/bundle.tar
            umount $m; rmdir $m; losetup -d $r
            """);
    }

    public string Binary { get; } = "";
    public TempDir Tmp { get; } = null!;
    public string Public { get; } = "";
    public string Backup { get; } = "";
    public string Rootfs { get; } = "";
    public string Bundle { get; } = "";
    public string Image { get; } = "";

    public void Dispose() => Tmp?.Dispose();
}

[Trait("Category", "Integration")]
public class ConvertImageTests(LegacyImageFixture fx) : IClassFixture<LegacyImageFixture>
{
    private static string Hash(string path)
    {
        var h = new XxHash128();
        using var fs = File.OpenRead(path);
        h.Append(fs);
        return System.Convert.ToHexString(h.GetCurrentHash());
    }

    private void Require()
    {
        Tool.RequireRoot();
        Tool.RequireNativeInit();
        Tool.Require("sgdisk", "mkfs.xfs", "xfs_growfs", "mkswap", "blkid", "sfdisk", "setfattr", "fallocate", "grub-fstest");
    }

    private string Copy(TempDir dir, string name = "disk.img")
    {
        string p = dir.Combine(name);
        Tool.Check("cp", "--sparse=always", fx.Image, p);
        return p;
    }

    private ToolResult Convert(string image, params string[] extra) =>
        Tool.Run(fx.Binary, ["convert", "--image", image, "--key", fx.Public, .. extra], timeout: TimeSpan.FromMinutes(5));

    private ToolResult ConvertWith(string image, string killAt) =>
        Tool.Run(fx.Binary, ["convert", "--image", image, "--key", fx.Public, "--yes"], timeout: TimeSpan.FromMinutes(5),
            environment: new Dictionary<string, string> { ["NATIVEINIT_TEST_HOOKS"] = "1", ["NATIVEINIT_TEST_KILL_AT"] = killAt });

    /// <summary>A failure inside the unprotected window (here: the image turns immutable once its GPT is written, as a
    /// disk that fails its writes), before the journal is on the new /boot: a run again cannot resume, so
    /// the message does not tell to run it again; it says how to tell the two cases apart, and status does.</summary>
    [SkippableFact]
    public void A_failure_inside_the_unprotected_window_says_that_a_run_again_cannot_resume()
    {
        Require();
        using var dir = new TempDir();
        string img = Copy(dir);
        string waitFile = dir.Combine("wait");
        var psi = new System.Diagnostics.ProcessStartInfo(fx.Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "convert", "--image", img, "--key", fx.Public, "--yes" }) psi.ArgumentList.Add(a);
        psi.Environment["NATIVEINIT_TEST_HOOKS"] = "1";
        psi.Environment["NATIVEINIT_TEST_WAIT_AT"] = "step:boot-filesystem";
        psi.Environment["NATIVEINIT_TEST_WAIT_FILE"] = waitFile;
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var until = DateTime.UtcNow.AddMinutes(2);
        while (!File.Exists(waitFile) && !p.HasExited && DateTime.UtcNow < until) Thread.Sleep(20);
        if (!File.Exists(waitFile)) Assert.Fail($"did not reach step:boot-filesystem\n{stdout.Result}\n{stderr.Result}");
        // The image made immutable: the loop device for /boot cannot be attached read-write.
        Tool.Check("chattr", "+i", img);
        try
        {
            File.Delete(waitFile);
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)));
            p.WaitForExit();
        }
        finally { Tool.Run("chattr", "-i", img); }
        string err = stderr.Result;
        Assert.True(p.ExitCode == 4, $"exit {p.ExitCode}\n{stdout.Result}\n{err}");
        Assert.Contains("step boot-filesystem", err);
        Assert.Contains("inside the unprotected window, before the journal was on the new /boot, so a run again cannot resume it", err);
        Assert.Contains($"`nativeinit status --image {img}`", err);
        Assert.DoesNotContain("again to resume", err);
        // What status and a run again say of the disk: a GPT without a journal, and where to read on.
        var status = Tool.Run(fx.Binary, "status", "--image", img);
        Assert.Contains("no conversion journal", status.Stdout);
        Assert.Contains("Inside the unprotected window", status.Stdout);
        var again = Convert(img, "--yes");
        Assert.True(again.ExitCode == 3, again.ToString());
        Assert.Contains("Inside the unprotected window", again.Stderr);
    }

    [SkippableFact]
    public void Without_yes_and_with_dry_run_it_prints_the_plan_and_writes_nothing()
    {
        Require();
        using var dir = new TempDir();
        string img = Copy(dir);
        string before = Hash(img);
        var plain = Convert(img);
        Assert.True(plain.ExitCode == 3, plain.ToString());
        Assert.Contains("(a) MBR with one root partition", plain.Stdout);
        Assert.Contains("Add --yes", plain.Stderr);
        var dry = Convert(img, "--dry-run", "--json");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        using var doc = JsonDocument.Parse(dry.Stdout);
        Assert.Equal("image", doc.RootElement.GetProperty("mode").GetString());
        Assert.Contains("/etc/sysconfig/network-scripts/ifcfg-eth0", doc.RootElement.GetProperty("carry").GetProperty("files").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(before, Hash(img));
        var status = Tool.Run(fx.Binary, "status", "--image", img);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("not converted", status.Stdout);
        Assert.Equal(before, Hash(img));
    }

    [SkippableFact]
    public void Refusals_leave_the_image_byte_identical()
    {
        Require();
        using var dir = new TempDir();
        // The bundle written first into the old root's top directory (allocation group 0) lies under the new /boot:
        // refused, naming the extent and the fix.
        string under = dir.Combine("under.img");
        fx.BuildLegacy(under, fillerFirst: false, at: "bundle.tar");
        string h = Hash(under);
        var r = Convert(under, "--yes", "--bundle", "/bundle.tar");
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("lies under an early write", r.Stderr);
        Assert.Contains("stage again", r.Stderr);
        Assert.Equal(h, Hash(under));
        // A wrong key.
        string img = Copy(dir);
        string before = Hash(img);
        string otherPub = dir.Combine("other.pub");
        Tool.Check(fx.Binary, "bundle", "keygen", "--private", dir.Combine("other.key"), "--public", otherPub);
        var wrong = Tool.Run(fx.Binary, "convert", "--image", img, "--key", otherPub, "--yes");
        Assert.True(wrong.ExitCode == 3, wrong.ToString());
        Assert.Contains("public key", wrong.Stderr);
        Assert.Equal(before, Hash(img));
        // No bundle staged at the place asked.
        var none = Convert(img, "--yes", "--bundle", "/nativeinit/elsewhere.tar");
        Assert.True(none.ExitCode == 3, none.ToString());
        Assert.Contains("no staged bundle", none.Stderr);
        Assert.Equal(before, Hash(img));
        // A bundle without the conversion's GRUB (as bundle create made them before it built one): a power cut during
        // the conversion would leave a disk that boots nothing, so convert refuses it.
        string noGrub = dir.Combine("nogrub.tar");
        NativeInit.Core.Bundle.BundleCreator.Create(new NativeInit.Core.Bundle.BundleCreateOptions
        {
            Rootfs = fx.Rootfs, Layout = fx.Tmp.Combine("layout.json"), Kernel = fx.Tmp.Combine("vmlinuz"), Initramfs = fx.Tmp.Combine("initramfs.img"),
            PrivateKey = NativeInit.Core.Bundle.BundleKeys.ReadPrivate(fx.Tmp.Combine("vendor.key")), Out = noGrub, SingleFile = true,
        });
        string old = dir.Combine("old-bundle.img");
        fx.BuildLegacy(old, fillerFirst: true, bundle: noGrub);
        string h3 = Hash(old);
        var noGrubRun = Convert(old, "--yes");
        Assert.True(noGrubRun.ExitCode == 3, noGrubRun.ToString());
        Assert.Contains("no conversion GRUB (parts with roles grub-core and grub-boot)", noGrubRun.Stderr);
        Assert.Equal(h3, Hash(old));
        // bundle create refuses a conversion bundle whose system could not boot (no kernel with an initramfs in /boot).
        string bare = dir.Combine("bare");
        Directory.CreateDirectory(Path.Combine(bare, "boot"));
        File.WriteAllText(Path.Combine(bare, "boot", "vmlinuz-5.0"), "a kernel without its initramfs\n");
        var bareRun = Tool.Run(fx.Binary, "bundle", "create", "--rootfs", bare, "--layout", fx.Tmp.Combine("layout.json"), "--kernel", fx.Tmp.Combine("vmlinuz"),
            "--initramfs", fx.Tmp.Combine("initramfs.img"), "--key", fx.Tmp.Combine("vendor.key"), "--out", dir.Combine("bare.tar"), "--single-file");
        Assert.True(bareRun.ExitCode == 3, bareRun.ToString());
        Assert.Contains("/boot has no kernel with an initramfs", bareRun.Stderr);
        Assert.False(File.Exists(dir.Combine("bare.tar")));
        // The same tree given as an archive: refused too, by the names of its boot/ entries; with the initramfs added
        // to the archive, taken.
        string bareTar = dir.Combine("bare-rootfs.tar.zst");
        Tool.Check("tar", "--zstd", "--numeric-owner", "-cf", bareTar, "-C", bare, ".");
        ToolResult CreateFrom(string rootfs, string outName) => Tool.Run(fx.Binary, "bundle", "create", "--rootfs", rootfs, "--layout", fx.Tmp.Combine("layout.json"),
            "--kernel", fx.Tmp.Combine("vmlinuz"), "--initramfs", fx.Tmp.Combine("initramfs.img"), "--key", fx.Tmp.Combine("vendor.key"), "--out", dir.Combine(outName), "--single-file");
        var bareArchive = CreateFrom(bareTar, "bare-archive.tar");
        Assert.True(bareArchive.ExitCode == 3, bareArchive.ToString());
        Assert.Contains("/boot has no kernel with an initramfs", bareArchive.Stderr);
        Assert.False(File.Exists(dir.Combine("bare-archive.tar")));
        File.WriteAllText(Path.Combine(bare, "boot", "initramfs-5.0.img"), "its initramfs\n");
        string bootable = dir.Combine("bootable-rootfs.tar.zst");
        Tool.Check("tar", "--zstd", "--numeric-owner", "-cf", bootable, "-C", bare, ".");
        var bootableArchive = CreateFrom(bootable, "bootable-archive.tar");
        Assert.True(bootableArchive.ExitCode == 0, bootableArchive.ToString());
        // Not a legacy layout: two partitions.
        string two = dir.Combine("two.img");
        using (var f = File.Create(two)) f.SetLength(64 << 20);
        Tool.Sh($"printf 'start=2048, size=20480, type=83\\nstart=22528, type=8e\\n' | sfdisk -q {Tool.Quote(two)}");
        string h2 = Hash(two);
        var odd = Convert(two, "--yes");
        Assert.True(odd.ExitCode == 3, odd.ToString());
        Assert.Contains("partition 2 type 8e", odd.Stderr);
        Assert.Equal(h2, Hash(two));
    }

    /// <summary>What a converted image holds, for comparing runs: tables, LVM metadata (without ids and times),
    /// file system types, and the trees of /, /boot and /data compared by treediff.</summary>
    private sealed record Converted(string Table, string Lvm, string Blkid);

    private static Converted Inspect(string img)
    {
        string table = Tool.Check("sgdisk", "-p", img);
        table = string.Join('\n', table.Split('\n').Where(l => !l.StartsWith("Disk " , StringComparison.Ordinal) || l.Contains("identifier")));
        var lvm = Tool.Check(Tool.NativeInitBinary, "lvm", "show", img, "--partition", "3", "--json");
        using var doc = JsonDocument.Parse(lvm);
        var vg = doc.RootElement.GetProperty("vg");
        string lvs = string.Join(";", vg.GetProperty("logicalVolumes").EnumerateArray().Select(l => $"{l.GetProperty("name").GetString()}:{l.GetProperty("size").GetInt64()}"));
        return new Converted(table, $"{vg.GetProperty("name").GetString()} {lvs}", "");
    }

    private static readonly string[] CarriedOrChanged =
    [
        "etc/hostname:", "etc/hosts:", "etc/resolv.conf", "etc/shadow:", "etc/fstab:", "etc/selinux/config:", "etc/ssh", "etc/sysconfig/network-scripts",
        "etc: mtime_ns", "etc/selinux: mtime_ns" /* the config replaced by a rename */, "boot/nativeinit", "boot: mtime_ns" /* bootloader step: boot/grub2 */, "only in", ".: ", "data:",
    ];

    /// <summary>LBA 2048: the BIOS boot partition (2 MiB) of the fixture's table; the conversion's core.img lies at its
    /// start, the converted system's in its second half (Boot/ConversionGrub).</summary>
    private const long BiosBootLba = 2048, SystemCoreLba = BiosBootLba + 2048;

    /// <summary>The LBA of core.img that the MBR's boot code (GRUB boot.img) loads.</summary>
    private static long BootCodeLoads(string img)
    {
        var mbr = new byte[512];
        using (var f = File.OpenRead(img)) f.ReadExactly(mbr);
        return (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(mbr.AsSpan(0x5c, 8));
    }

    /// <summary>The bundle's conversion core.img equals the disk's at LBA 2048 but for the block list grub-setup patches
    /// (the first sector's last 12 bytes).</summary>
    private void AssertConversionCoreInstalled(string img, TempDir dir)
    {
        string core = dir.Combine("grub-core.img");
        Tool.Check("tar", "-xf", fx.Bundle, "-C", dir.Path, "grub-core.img");
        var want = File.ReadAllBytes(core);
        var got = new byte[want.Length];
        using (var f = File.OpenRead(img)) { f.Position = BiosBootLba * 512; f.ReadExactly(got); }
        Assert.True(want.AsSpan(0, 500).SequenceEqual(got.AsSpan(0, 500)) && want.AsSpan(512).SequenceEqual(got.AsSpan(512)),
            "the disk's core.img at LBA 2048 is not the bundle's conversion core.img");
        Assert.Equal(BiosBootLba + 1, (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(got.AsSpan(500, 8)));
    }

    /// <summary>/boot/nativeinit/grub/grub.cfg and the /boot file system's UUID.</summary>
    private static (string Cfg, string BootUuid, string Listing) ConversionGrubCfg(string img)
    {
        var r = Tool.Run("bash", "-c", $"""
            set -e
            bl=$(losetup --find --show -r --offset $((6144 * 512)) --sizelimit $((300 * 1048576)) {Tool.Quote(img)})
            m=$(mktemp -d); trap 'umount $m 2>/dev/null; losetup -d $bl; rmdir $m' EXIT
            blkid -p -o value -s UUID $bl; mount -o ro,norecovery $bl $m
            ls $m/nativeinit | tr '\n' ' '; echo; cat $m/nativeinit/grub/grub.cfg
            """);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', 3);
        return (lines[2], lines[0].Trim(), lines[1]);
    }

    /// <summary>The inode numbers of the conversion kernel, initramfs and grub.cfg on /boot (mounted read-only without
    /// log recovery, as GRUB sees the file system).</summary>
    private static string BootFileInodes(string img) => Tool.Check("bash", "-c", $"""
        set -e
        bl=$(losetup --find --show -r --offset $((6144 * 512)) --sizelimit $((300 * 1048576)) {Tool.Quote(img)})
        m=$(mktemp -d); trap 'umount $m 2>/dev/null; losetup -d $bl; rmdir $m' EXIT
        mount -o ro,norecovery $bl $m
        stat -c '%i %n' $m/nativeinit/vmlinuz $m/nativeinit/initramfs.img $m/nativeinit/grub/grub.cfg | sed "s|$m||"
        """);

    private (string RootDiff, string[] Fstab) CheckTree(string img, string workDir)
    {
        // Mount root (loop at the LV's offset) and /boot; compare with the bundle's tree.
        var lvm = Tool.Check(Tool.NativeInitBinary, "lvm", "show", img, "--partition", "3", "--json");
        using var doc = JsonDocument.Parse(lvm);
        var d = doc.RootElement;
        long ext = d.GetProperty("vg").GetProperty("extentSizeBytes").GetInt64();
        long pe = d.GetProperty("vg").GetProperty("physicalVolumes")[0].GetProperty("peStartSectors").GetInt64() * 512;
        long off = d.GetProperty("offset").GetInt64();
        var root = d.GetProperty("vg").GetProperty("logicalVolumes").EnumerateArray().First(l => l.GetProperty("name").GetString() == "root");
        long rootOff = off + pe + root.GetProperty("segments")[0].GetProperty("pvStartExtent").GetInt64() * ext;
        long rootSize = root.GetProperty("size").GetInt64();
        string m = Path.Combine(workDir, "mnt");
        Directory.CreateDirectory(m);
        string script = $"""
            set -e
            img={Tool.Quote(img)}; m={Tool.Quote(m)}
            rl=$(losetup --find --show --offset {rootOff} --sizelimit {rootSize} $img)
            bl=$(losetup --find --show --offset $((6144 * 512)) --sizelimit $((300 * 1048576)) $img)
            echo "root-type $(blkid -p -o value -s TYPE $rl) $(blkid -p -o value -s UUID $rl)"
            echo "boot-type $(blkid -p -o value -s TYPE $bl) $(blkid -p -o value -s UUID $bl)"
            trap 'umount $m/boot 2>/dev/null; umount $m 2>/dev/null; losetup -d $rl $bl 2>/dev/null; true' EXIT
            mount -o ro $rl $m; mount -o ro $bl $m/boot
            echo "size $(df -B1 --output=size $m | tail -1)"
            {Tool.Quote(Path.Combine(Tool.RepoRoot, "tools/treediff"))} --ignore-root-mtime {Tool.Quote(fx.Rootfs)} $m || true
            echo "---files"
            cat $m/etc/sysconfig/network-scripts/ifcfg-eth0; echo "---"; cat $m/etc/resolv.conf; echo "---"; cat $m/etc/hostname; echo "---"; cat $m/etc/shadow; echo "---"; cat $m/etc/fstab; echo "---"
            cat $m/etc/ssh/ssh_host_ed25519_key; stat -c '%a %u' $m/etc/ssh/ssh_host_ed25519_key $m/etc/shadow; test ! -e $m/etc/sysconfig/network-scripts/ifcfg-lo && echo no-ifcfg-lo; grep '^SELINUX=' $m/etc/selinux/config
            echo "---"; cat $m/boot/grub2/grub.cfg
            """;
        var r = Tool.Run("bash", "-c", script);
        Assert.True(r.ExitCode == 0, r.ToString());
        return (r.Stdout, []);
    }

    [SkippableFact]
    public void Converts_layout_a_and_a_second_run_writes_nothing()
    {
        Require();
        using var dir = new TempDir();
        string img = Copy(dir);
        var r = Convert(img, "--yes");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("unprotected window", r.Stdout);
        // The run's memory is reported (issue 12 step 5): a peak RSS the kernel measured, within the 256 MiB budget.
        var mem = System.Text.RegularExpressions.Regex.Match(r.Stdout,
            @"convert: memory: peak RSS ([0-9.]+) MiB \(VmHWM\); machine: peak in use ([0-9.]+) MiB of ([0-9.]+) MiB");
        Assert.True(mem.Success, r.Stdout);
        double rss = double.Parse(mem.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(rss, 1, 256);
        Assert.True(double.Parse(mem.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, mem.Value);

        // sgdisk: clean, and the same table as the vendor's backup moved to this disk.
        var v = Tool.Check("sgdisk", "-v", img);
        Assert.Contains("No problems found", v);
        string reference = dir.Combine("reference.img");
        using (var f = File.Create(reference)) f.SetLength(LegacyImageFixture.DiskBytes);
        Tool.Check("sgdisk", "--load-backup=" + fx.Backup, "-e", reference);
        Assert.Equal(Tool.Check("sgdisk", "-p", reference).Replace(reference, "X"), Tool.Check("sgdisk", "-p", img).Replace(img, "X"));

        // LVM: names and sizes, read back by lvm2 (vgck, lvs) on a loop device of the PV partition.
        using (var pv = new NativeInit.Tests.Lvm.TestLoop(img, 620544L * 512))
        using (var lvm = new NativeInit.Tests.Lvm.LvmOracle(pv.Device))
        {
            var rows = lvm.Report("lvs", "vg_name,lv_name,lv_size");
            Assert.Equal(["VA|root|1258291200", "VA|swap|67108864"], rows.Select(x => string.Join('|', x)).Where(x => !x.Contains("|data|")).Order());
            Assert.Contains(rows, x => x[1] == "data");
            var ck = lvm.Run("vgck", "VA");
            Assert.True(ck.ExitCode == 0, ck.ToString());
        }
        var inspect = Inspect(img);
        Assert.Contains("VA root:1258291200;swap:67108864;data:", inspect.Lvm);

        var (tree, _) = CheckTree(img, dir.Path);
        Assert.Contains("root-type xfs", tree);
        Assert.Contains("boot-type xfs", tree);
        // The new root is the bundle's tree except the carried files (and /etc's time, /boot/nativeinit, lost+found).
        var diffs = tree.Split("---files")[0].Split('\n').Where(l => l.Length > 0 && !l.StartsWith("root-type") && !l.StartsWith("boot-type") && !l.StartsWith("size ") && !l.StartsWith("treediff:"))
            .Where(l => !CarriedOrChanged.Any(c => l.StartsWith(c, StringComparison.Ordinal) || (l.StartsWith("only in") && (l.Contains("boot/nativeinit") || l.Contains("etc/")))))
            .ToList();
        Assert.True(diffs.Count == 0, "unexpected differences:\n" + string.Join('\n', diffs) + "\n\n" + tree);
        var files = tree.Split("---files")[1].Split("---\n");
        Assert.Equal(LegacyImageFixture.Ifcfg, files[0].TrimStart('\n'));
        Assert.Equal("nameserver 192.0.2.53\nsearch example.net\n", files[1]);
        Assert.Equal("gw-0042\n", files[2]);
        Assert.Equal("root:$6$oldsalt$OLDROOTHASH:18000:0:99999:7:::\nadmin:$6$adminsalt$ADMINHASH:18001:0:99999:7:::\nsshd:!!:19500::::::\n", files[3]);
        // fstab: every volume with a mount point by the UUID blkid sees, plus the bundle's tmpfs line.
        string fstab = files[4];
        string rootUuid = tree.Split('\n').First(l => l.StartsWith("root-type")).Split(' ')[2];
        string bootUuid = tree.Split('\n').First(l => l.StartsWith("boot-type")).Split(' ')[2];
        Assert.Contains($"UUID={rootUuid} / xfs", fstab);
        Assert.Contains($"UUID={bootUuid} /boot xfs", fstab);
        Assert.Contains(" /data xfs", fstab);
        Assert.Contains(" swap swap", fstab);
        Assert.Contains("tmpfs /tmp tmpfs defaults 0 0", fstab);
        // None of the build machine's disks: a mount of a device that is not there stops the boot in emergency mode.
        foreach (var gone in (string[])["centos-root", "2a1c0d4e", "PARTUUID=", "PARTLABEL=", "LABEL=DATA", "ID=ata", "/boot/efi", "/scratch", "/srv", "/opt"])
            Assert.DoesNotContain(gone, fstab);
        Assert.Contains("OLD-HOST-KEY", files[5]);
        Assert.Contains("600 0\n0 0\nno-ifcfg-lo\nSELINUX=permissive\n", files[5]);
        // The system's grub.cfg follows the target's stock /etc/default/grub: its timeout and arguments (without the
        // old layout's rd.lvm.lv), the product's name where GRUB_DISTRIBUTOR is shell code, which the step reports.
        string grubCfg = files[6];
        Assert.Contains("set timeout=2\n", grubCfg);
        Assert.Contains("menuentry 'gateway (5.0)' --id nativeinit-system-5.0 {", grubCfg);
        Assert.Matches(@"linux /vmlinuz-5\.0 root=/dev/mapper/VA-root ro rd\.lvm\.lv=VA/root crashkernel=auto rhgb quiet\n", grubCfg);
        Assert.DoesNotContain("centos", grubCfg);
        Assert.Contains("GRUB_DISTRIBUTOR uses $(...), command substitution NativeInit does not run: the menu is named after the product", r.Stdout);
        // The root grew to its LV once the bundle was consumed.
        long size = long.Parse(tree.Split('\n').First(l => l.StartsWith("size ")).Split(' ')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(size > 1100L << 20, $"root file system is {size} bytes: not grown to the 1200 MiB LV");

        // The whole output of the run, with its plan, is kept on /boot beside the journal (read as GRUB reads it).
        var kept = Tool.Check("grub-fstest", img, "-r", "loop0,gpt2", "cat", "/nativeinit/convert.txt");
        Assert.Contains("(a) MBR with one root partition", kept);
        Assert.Contains("convert: unprotected window: ", kept);
        Assert.Contains("converted; journal", kept);

        // GRUB: the MBR loads the converted system's core.img (second half of the BIOS boot partition); the
        // conversion's stays where the boot-files step put it.
        Assert.Equal(SystemCoreLba, BootCodeLoads(img));
        AssertConversionCoreInstalled(img, dir);

        var status = Tool.Run(fx.Binary, "status", "--image", img, "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        using (var doc = JsonDocument.Parse(status.Stdout))
        {
            Assert.Equal("done", doc.RootElement.GetProperty("state").GetString());
            Assert.True(doc.RootElement.GetProperty("unprotectedWindow").GetProperty("bytes").GetInt64() > 0);
        }

        // A second run: "no changes", the image byte-identical.
        string after = Hash(img);
        var again = Convert(img, "--yes");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("no changes", again.Stderr);
        Assert.Equal(after, Hash(img));

        // grow: the disk got 1 GiB larger; without --yes nothing is written, with it the data LV and its xfs take it.
        using (var f = new FileStream(img, FileMode.Open)) f.SetLength(LegacyImageFixture.DiskBytes + (1L << 30));
        string bigger = Hash(img);
        var plan = Tool.Run(fx.Binary, "grow", "--image", img);
        Assert.True(plan.ExitCode == 3, plan.ToString());
        Assert.Contains("LV VA/data", plan.Stdout);
        Assert.Equal(bigger, Hash(img));
        var grow = Tool.Run(fx.Binary, "grow", "--image", img, "--yes");
        Assert.True(grow.ExitCode == 0, grow.ToString());
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
        using var lvdoc = JsonDocument.Parse(Tool.Check(fx.Binary, "lvm", "show", img, "--partition", "3", "--json"));
        var vgEl = lvdoc.RootElement.GetProperty("vg");
        var data = vgEl.GetProperty("logicalVolumes").EnumerateArray().First(l => l.GetProperty("name").GetString() == "data");
        long dataSize = data.GetProperty("size").GetInt64();
        long ext = vgEl.GetProperty("extentSizeBytes").GetInt64();
        long dataOff = lvdoc.RootElement.GetProperty("offset").GetInt64() + vgEl.GetProperty("physicalVolumes")[0].GetProperty("peStartSectors").GetInt64() * 512
            + data.GetProperty("segments")[0].GetProperty("pvStartExtent").GetInt64() * ext;
        Assert.True(dataSize > (1L << 30) + (1000L << 20), $"data LV is {dataSize} bytes after grow");
        string xfsBlocks = Tool.Sh($"l=$(losetup --find --show -r --offset {dataOff} --sizelimit {dataSize} {Tool.Quote(img)}); xfs_db -r -c 'sb 0' -c 'p dblocks' -c 'p blocksize' $l; losetup -d $l");
        var nums = xfsBlocks.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => long.Parse(l.Split('=')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(nums[0] * nums[1] > dataSize - (64L << 20), $"xfs on data is {nums[0] * nums[1]} bytes, its LV {dataSize}");
    }

    [SkippableFact]
    public void Converts_layout_b_boot_and_root_partitions_capturing_from_the_root()
    {
        Require();
        using var dir = new TempDir();
        string img = dir.Combine("b.img");
        fx.BuildLegacyBootRoot(img);
        var status = Tool.Run(fx.Binary, "status", "--image", img);
        Assert.Contains("(b) MBR with a /boot and a root partition", status.Stdout);
        var r = Convert(img, "--yes");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("(b) MBR with a /boot and a root partition: partitions 1", r.Stdout);
        Assert.Contains("/nativeinit/bundle.tar on the old system", r.Stdout);
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
        var (tree, _) = CheckTree(img, dir.Path);
        var files = tree.Split("---files")[1].Split("---\n");
        Assert.Equal(LegacyImageFixture.Ifcfg, files[0].TrimStart('\n'));
        Assert.Equal("nameserver 192.0.2.54\n", files[1]);
        Assert.Equal("gw-b\n", files[2]);
        Assert.Contains("B-HOST-KEY", files[5]);
        Assert.Contains("OLDROOTHASH", files[3]);
        Assert.Contains("done", Tool.Check(fx.Binary, "status", "--image", img));
    }

    [SkippableFact]
    public void Converts_layout_c_centos_lvm_reading_the_old_root_through_the_lvm_reader()
    {
        Require();
        Tool.Require("lvm");
        using var dir = new TempDir();
        string img = dir.Combine("c.img");
        fx.BuildCentos(img);
        var r = Convert(img, "--yes");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("(c) CentOS default: /boot partition 1 (xfs) and PV partition 2 with VG centos (LVs swap, root)", r.Stdout);
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
        var (tree, _) = CheckTree(img, dir.Path);
        var files = tree.Split("---files")[1].Split("---\n");
        Assert.Equal(LegacyImageFixture.Ifcfg, files[0].TrimStart('\n'));
        Assert.Equal("nameserver 192.0.2.55\n", files[1]);
        Assert.Equal("gw-c\n", files[2]);
        Assert.Contains("OLDROOTHASH", files[3]);
        Assert.Contains("C-HOST-KEY", files[5]);
    }

    // A kill before boot-files has saved the journal falls in the unprotected window (no journal yet): not resumable
    // by design. boot-files:grub-installed: after the MBR boots the resume, before the step's end (tools/vm-test
    // powercut found a replayed power cut there that booted a resume with no journal to find).
    [SkippableTheory]
    [InlineData("boot-files:grub-installed")]
    [InlineData("lvm")]
    [InlineData("extract:1")]
    [InlineData("extract:3000000")]
    [InlineData("carry")]
    [InlineData("fstab")]
    [InlineData("volumes")]
    [InlineData("bootloader")]
    [InlineData("finish")]
    public void Killed_at_a_step_it_resumes_to_the_same_disk(string killAt)
    {
        Require();
        using var dir = new TempDir();
        string img = Copy(dir);
        var killed = ConvertWith(img, killAt);
        // The killed run's mounts and loop devices go even when an assertion fails (left behind, they once made later
        // tests' mounts fail).
        try
        {
            Assert.True(killed.ExitCode == 137 || killed.ExitCode == -9 || killed.ExitCode == 9, $"expected SIGKILL: {killed}");
            // Before anything unmounts the killed run's file systems (an unmount writes the log back in place; a power cut
            // does not): GRUB's own file system code (grub-fstest), which does not replay the log, reads the conversion's
            // grub.cfg, kernel and initramfs on /boot as the converted disk's GRUB would after a power cut here.
            var fstest = Tool.Run("grub-fstest", img, "-r", "loop0,gpt2", "cat", "/nativeinit/grub/grub.cfg");
            Assert.True(fstest.ExitCode == 0 && fstest.Stdout.Contains("rd.nativeinit=resume", StringComparison.Ordinal),
                "GRUB (grub-fstest, no log replay) cannot read /nativeinit/grub/grub.cfg on /boot: " + fstest);
            var ls = Tool.Run("grub-fstest", img, "-r", "loop0,gpt2", "ls", "/nativeinit/");
            Assert.True(ls.ExitCode == 0 && ls.Stdout.Contains("vmlinuz", StringComparison.Ordinal) && ls.Stdout.Contains("initramfs.img", StringComparison.Ordinal),
                "GRUB (grub-fstest) does not see the conversion kernel and initramfs in /boot/nativeinit: " + ls);
            KilledRun.ForgetKernelState(img);
            var status = Tool.Run(fx.Binary, "status", "--image", img);
            Assert.True(status.ExitCode == 0, status.ToString());
            // Killed before finish: every write is on the disk and the MBR loads the system's GRUB; only the journal's
            // closing is missing, which nothing on the converted system would ever write: status says done.
            if (killAt == "finish")
                Assert.Contains(": done\n", status.Stdout.ReplaceLineEndings("\n"));
            else
                Assert.Contains("in progress at step " + killAt.Split(':')[0], status.Stdout);
            // Every kill point lies after boot-files: the disk boots by itself into the resume. The MBR loads the
            // conversion's core.img, whose grub.cfg (on /boot) has the resume entry as its default, naming the disk by
            // the new /boot's UUID and the conversion kernel and initramfs that are there.
            // After the bootloader step the MBR loads the converted system's GRUB instead.
            AssertConversionCoreInstalled(img, dir);
            if (killAt == "finish")
            {
                Assert.Contains("the run stopped after the MBR switched to the converted system's GRUB, before the journal recorded finish: nothing is left to write", status.Stdout);
                Assert.Equal(SystemCoreLba, BootCodeLoads(img));
                // grow takes such a disk for converted: its dry run plans (here nothing to grow, the image has no room
                // left); it refused "the conversion is not done" before.
                var grow = Tool.Run(fx.Binary, "grow", "--image", img);
                Assert.True(grow.Stdout.Contains("LV VA/data:", StringComparison.Ordinal) && !grow.Stderr.Contains("not done", StringComparison.Ordinal), grow.ToString());
            }
            else if (killAt is "volumes" or "bootloader")
            {
                var grow = Tool.Run(fx.Binary, "grow", "--image", img);
                Assert.True(grow.ExitCode == 3 && grow.Stderr.Contains("the conversion is not done", StringComparison.Ordinal), grow.ToString());
            }
            else
            {
                Assert.Contains("the conversion's GRUB", status.Stdout);
                Assert.Equal(BiosBootLba, BootCodeLoads(img));
            }
            var (cfg, bootUuid, listing) = ConversionGrubCfg(img);
            Assert.Contains("set default=nativeinit-resume", cfg);
            Assert.Contains($"search --no-floppy --fs-uuid --set=root {bootUuid}", cfg);
            Assert.Matches($@"linux /nativeinit/vmlinuz rd.nativeinit=resume rd.nativeinit.disk=uuid:{bootUuid}", cfg);
            Assert.Contains("initrd /nativeinit/initramfs.img", cfg);
            Assert.Contains("vmlinuz", listing);
            Assert.Contains("initramfs.img", listing);
            string inodes = BootFileInodes(img);
            var resumed = Convert(img, "--yes");
            Assert.True(resumed.ExitCode == 0, resumed.ToString());
            // Killed after the MBR loaded the conversion's GRUB and before boot-files was marked done: the step runs
            // again and leaves the kernel, initramfs and grub.cfg that GRUB already reads where they are (rewritten, a
            // second power cut could leave GRUB their old names over freed blocks).
            if (killAt == "boot-files:grub-installed") Assert.Equal(inodes, BootFileInodes(img));
            Assert.Contains("done earlier, skipped", resumed.Stdout);
            Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", img));
            var inspect = Inspect(img);
            Assert.Contains("VA root:1258291200;swap:67108864;data:", inspect.Lvm);
            var (tree, _) = CheckTree(img, dir.Path);
            var diffs = tree.Split("---files")[0].Split('\n').Where(l => l.Length > 0 && !l.StartsWith("root-type") && !l.StartsWith("boot-type") && !l.StartsWith("size ") && !l.StartsWith("treediff:"))
                .Where(l => !CarriedOrChanged.Any(c => l.StartsWith(c, StringComparison.Ordinal) || (l.StartsWith("only in") && (l.Contains("boot/nativeinit") || l.Contains("etc/")))))
                .ToList();
            Assert.True(diffs.Count == 0, "unexpected differences after resume:\n" + string.Join('\n', diffs) + "\n\n" + tree);
            Assert.Contains("gw-0042", tree);
            Assert.Contains("OLDROOTHASH", tree);
            Assert.Equal(SystemCoreLba, BootCodeLoads(img));
        }
        finally { KilledRun.ForgetKernelState(img); }
    }
    /// <summary>After the extraction the bundle is consumed: the volumes step makes the other LVs' file systems and grows
    /// the root over the disk where the bundle lay. A run resumed from there must not need it: boot-files kept the signed
    /// manifest and the small parts on /boot. Killed at the bootloader step, the bundle's every extent zeroed (what
    /// the later steps may do to it), the resume still verifies and finishes.</summary>
    [SkippableFact]
    public void Resumed_after_the_extraction_it_needs_nothing_of_the_bundle_on_the_disk()
    {
        Require();
        using var dir = new TempDir();
        string img = Copy(dir);
        var killed = ConvertWith(img, "bootloader");
        try
        {
            Assert.True(killed.ExitCode == 137 || killed.ExitCode == -9 || killed.ExitCode == 9, $"expected SIGKILL: {killed}");
            KilledRun.ForgetKernelState(img);
            // The extents the conversion read the bundle from, as boot-files recorded them on /boot (GRUB's reader).
            var extents = Tool.Run("grub-fstest", img, "-r", "loop0,gpt2", "cat", "/nativeinit/bundle.extents.json");
            Assert.True(extents.ExitCode == 0, extents.ToString());
            using var doc = System.Text.Json.JsonDocument.Parse(extents.Stdout);
            var runs = doc.RootElement.GetProperty("runs").EnumerateArray()
                .Select(r => (Offset: r.GetProperty("diskOffset").GetInt64(), Length: r.GetProperty("length").GetInt64())).ToList();
            Assert.NotEmpty(runs);
            var kept = Tool.Run("grub-fstest", img, "-r", "loop0,gpt2", "ls", "/nativeinit/bundle-kept/");
            Assert.True(kept.ExitCode == 0 && kept.Stdout.Contains("manifest.json", StringComparison.Ordinal) && kept.Stdout.Contains("manifest.sig", StringComparison.Ordinal),
                "no kept copy of the bundle on /boot: " + kept);
            using (var f = new FileStream(img, FileMode.Open, FileAccess.Write))
            {
                var zero = new byte[1 << 20];
                foreach (var (offset, length) in runs)
                    for (long at = 0; at < length; at += zero.Length)
                    {
                        f.Position = offset + at;
                        f.Write(zero, 0, (int)Math.Min(zero.Length, length - at));
                    }
            }
            var resumed = Convert(img, "--yes");
            Assert.True(resumed.ExitCode == 0, resumed.ToString());
            Assert.Contains("the copy of the bundle kept on /boot", resumed.Stdout + resumed.Stderr);
            Assert.Contains("done earlier, skipped", resumed.Stdout);
            Assert.Equal(SystemCoreLba, BootCodeLoads(img));
            KilledRun.ForgetKernelState(img);
            var status = Tool.Run(fx.Binary, "status", "--image", img);
            Assert.True(status.ExitCode == 0 && status.Stdout.Contains(": done", StringComparison.Ordinal), status.ToString());

            // The same damage before the extraction is done is refused, naming the bundle (it is still needed there).
            string img2 = Copy(dir, "disk2.img");
            var killed2 = ConvertWith(img2, "extract:1");
            Assert.True(killed2.ExitCode == 137 || killed2.ExitCode == -9 || killed2.ExitCode == 9, $"expected SIGKILL: {killed2}");
            KilledRun.ForgetKernelState(img2);
            var extents2 = Tool.Run("grub-fstest", img2, "-r", "loop0,gpt2", "cat", "/nativeinit/bundle.extents.json");
            using var doc2 = System.Text.Json.JsonDocument.Parse(extents2.Stdout);
            var first = doc2.RootElement.GetProperty("runs")[0];
            using (var f = new FileStream(img2, FileMode.Open, FileAccess.Write))
            {
                f.Position = first.GetProperty("diskOffset").GetInt64() + first.GetProperty("length").GetInt64() / 2;
                f.Write(new byte[4096]);
            }
            var refused = Convert(img2, "--yes");
            Assert.True(refused.ExitCode == 4, refused.ToString());
            Assert.Contains("extents the journal records", refused.Stderr);
            KilledRun.ForgetKernelState(img2);
        }
        finally { KilledRun.ForgetKernelState(img); }
    }
}
