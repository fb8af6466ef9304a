using System.Globalization;
using System.IO.Hashing;
using System.Text.Json;
using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Update;

/// <summary>The tests that share one converted A/B image (convert once, each test works on a copy).</summary>
[CollectionDefinition(Name)]
public sealed class AbImageCollection : ICollectionFixture<AbImageFixture>
{
    public const string Name = "A/B converted image";
}

/// <summary>
/// A legacy gateway disk (3 GiB, MBR, one xfs root with CentOS-style configuration) with a signed bundle of the A/B
/// layout staged in it, converted once with `nativeinit convert --image`; a second signed bundle (version 3.0: another
/// kernel, files added, changed and removed) for the updates. Built with the project's own `bundle create` and
/// standard tools; each test works on a sparse copy of the converted image.
/// </summary>
public sealed class AbImageFixture : IDisposable
{
    public const long DiskBytes = 3L << 30;
    /// <summary>GPT partition 2 (/boot, 300 MiB) starts at sector 2048 + 4096.</summary>
    public const long BootOffset = 6144L * 512, BootBytes = 300L << 20;
    public const string Shadow = "root:$6$oldsalt$OLDROOTHASH:18000:0:99999:7:::\nadmin:$6$adminsalt$ADMINHASH:18001:0:99999:7:::\n";
    public const string Ifcfg = "DEVICE=eth0\nBOOTPROTO=static\nIPADDR=192.0.2.10\nNETMASK=255.255.255.0\nGATEWAY=192.0.2.1\nONBOOT=yes\n";

    public const string Layout = """
        { "partitionTable": "target.gpt",
          "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "4MiB", "grow": "data",
            "logicalVolumes": [
              { "name": "root_a", "size": "1000MiB", "filesystem": "xfs", "mountPoint": "/", "label": "root_a", "slot": "A" },
              { "name": "root_b", "size": "1000MiB", "filesystem": "xfs", "label": "root_b", "slot": "B" },
              { "name": "data", "size": "rest", "filesystem": "xfs", "mountPoint": "/data" } ] },
          "partitions": [ { "number": 2, "filesystem": "xfs", "mountPoint": "/boot", "label": "boot" } ] }
        """;

    public AbImageFixture()
    {
        if (!Tool.Exists(Tool.NativeInitBinary) || Environment.UserName != "root") return;
        Binary = Tool.NativeInitBinary;
        Tmp = new TempDir();
        Tool.Check(Binary, "bundle", "keygen", "--private", Tmp.Combine("vendor.key"), "--public", Public = Tmp.Combine("vendor.pub"));
        WriteLayoutFiles(Tmp);
        RootfsV2 = Tmp.Combine("rootfs-2");
        RootfsV3 = Tmp.Combine("rootfs-3");
        Tool.Sh($"""
            set -e
            r={Tool.Quote(RootfsV2)}
            mkdir -p $r/etc/sysconfig/network-scripts $r/etc/ssh $r/etc/default $r/etc/selinux $r/boot $r/usr/bin $r/var/lib/app $r/data $r/tmp
            printf 'NAME=Target\nVERSION=2\n' > $r/etc/os-release
            printf 'target-default\n' > $r/etc/hostname
            printf '127.0.0.1 localhost\n' > $r/etc/hosts
            printf 'root:!!:19500:0:99999:7:::\nadmin:!!:19500:0:99999:7:::\nsshd:!!:19500::::::\n' > $r/etc/shadow
            chmod 0000 $r/etc/shadow
            printf 'tmpfs /tmp tmpfs defaults 0 0\n' > $r/etc/fstab
            printf 'GRUB_TIMEOUT=5\nGRUB_TERMINAL="serial console"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200 panic=1"\n' > $r/etc/default/grub
            printf 'SELINUX=enforcing\nSELINUXTYPE=targeted\n' > $r/etc/selinux/config
            printf 'kernel 5.0\n' > $r/boot/vmlinuz-5.0
            printf 'initramfs 5.0\n' > $r/boot/initramfs-5.0.img
            head -c 3000000 /dev/urandom > $r/var/lib/app/blob
            for i in $(seq 1 30); do head -c $((i * 997)) /dev/urandom > $r/var/lib/app/f$i; done
            cp /bin/true $r/usr/bin/tool && chmod 4755 $r/usr/bin/tool
            setfattr -n user.demo -v hello $r/usr/bin/tool
            ln $r/usr/bin/tool $r/usr/bin/tool2
            ln -s ../usr/bin/tool $r/etc/tool-link
            chown -R 1000:1000 $r/var/lib/app
            chmod 1777 $r/tmp
            v={Tool.Quote(RootfsV3)}
            cp -a $r $v
            printf 'NAME=Target\nVERSION=3\n' > $v/etc/os-release
            rm $v/boot/vmlinuz-5.0 $v/boot/initramfs-5.0.img $v/var/lib/app/f1
            printf 'kernel 5.1\n' > $v/boot/vmlinuz-5.1
            printf 'initramfs 5.1\n' > $v/boot/initramfs-5.1.img
            mkdir -p $v/usr/share/app && printf 'new in 3.0\n' > $v/usr/share/app/notes
            chown 1000:1000 $v/usr/share/app/notes
            """);
        BundleV2 = MakeBundle(RootfsV2, "2.0");
        BundleV3 = MakeBundle(RootfsV3, "3.0");
        var (legacy, output) = ConvertLegacy(Binary, Tmp, Public, BundleV2);
        ConvertOutput = output;
        Converted = legacy;
    }

    /// <summary>target.gpt (the converted disk's partition table, from sgdisk) and layout.json (<see cref="Layout"/>)
    /// in <paramref name="tmp"/>, with the placeholder conversion kernel, initramfs and SELinux policy the bundles name.</summary>
    public static void WriteLayoutFiles(TempDir tmp)
    {
        string reference = tmp.Combine("ref.img");
        using (var f = File.Create(reference)) f.SetLength(DiskBytes);
        Tool.Check("sgdisk", "-o", "-n1:2048:+2M", "-t1:ef02", "-n2:0:+300M", "-t2:8300", "-n3:0:0", "-t3:8e00", reference);
        Tool.Check("sgdisk", "--backup=" + tmp.Combine("target.gpt"), reference);
        File.Delete(reference);
        File.WriteAllText(tmp.Combine("layout.json"), Layout);
        File.WriteAllText(tmp.Combine("vmlinuz"), "conversion kernel\n");
        File.WriteAllText(tmp.Combine("initramfs.img"), "conversion initramfs\n");
        File.WriteAllText(tmp.Combine("selinux.json"), """{ "mode": "permissive" }""");
    }

    /// <summary>A legacy gateway disk (<see cref="DiskBytes"/>, MBR, xfs root with the CentOS-style configuration of
    /// <see cref="Ifcfg"/> and <see cref="Shadow"/>) with <paramref name="bundle"/> staged in /boot/nativeinit,
    /// converted with `convert --image`; returns the image and convert's output.</summary>
    public static (string Image, string Output) ConvertLegacy(string binary, TempDir tmp, string publicKey, string bundle)
    {
        string legacy = MakeLegacy(tmp, bundle);
        var convert = Tool.Run(binary, ["convert", "--image", legacy, "--key", publicKey, "--yes"], timeout: TimeSpan.FromMinutes(5));
        if (convert.ExitCode != 0) throw new InvalidOperationException("the A/B conversion failed:\n" + convert);
        return (legacy, convert.ToString());
    }

    /// <summary>The legacy gateway disk of <see cref="ConvertLegacy"/>, not converted: <paramref name="name"/> in
    /// <paramref name="tmp"/> with <paramref name="bundle"/> staged in /boot/nativeinit.</summary>
    public static string MakeLegacy(TempDir tmp, string bundle, string name = "legacy.img")
    {
        string legacy = tmp.Combine(name);
        using (var f = File.Create(legacy)) f.SetLength(DiskBytes);
        Tool.Sh($"""
            set -e
            img={Tool.Quote(legacy)}
            echo 'start=2048, type=83, bootable' | sfdisk -q $img
            loop=$(losetup --find --show --offset $((2048 * 512)) $img)
            mkfs.xfs -q $loop
            m=$(mktemp -d)
            mount $loop $m
            mkdir -p $m/etc/sysconfig/network-scripts $m/etc/ssh $m/boot/nativeinit
            printf '{Ifcfg.Replace("\n", "\\n")}' > $m/etc/sysconfig/network-scripts/ifcfg-eth0
            printf 'nameserver 192.0.2.53\nsearch example.net\n' > $m/etc/resolv.conf
            printf 'gw-0042\n' > $m/etc/hostname
            printf '127.0.0.1 localhost\n192.0.2.10 gw-0042\n' > $m/etc/hosts
            printf '%s' {Tool.Quote(Shadow)} > $m/etc/shadow
            chmod 0000 $m/etc/shadow
            printf 'OLD-HOST-KEY\n' > $m/etc/ssh/ssh_host_ed25519_key && chmod 0600 $m/etc/ssh/ssh_host_ed25519_key
            fallocate -l 700M $m/filler
            cp {Tool.Quote(bundle)} $m/boot/nativeinit/bundle.tar
            umount $m
            rmdir $m
            losetup -d $loop
            """);
        return legacy;
    }

    /// <summary>A signed single-file bundle of <paramref name="rootfs"/> with the A/B layout, in the fixture's folder.</summary>
    public string MakeBundle(string rootfs, string version) => MakeBundle(Binary, Tmp, rootfs, version);

    /// <summary>A signed single-file bundle (zstd) of <paramref name="rootfs"/> with the A/B layout of
    /// <see cref="WriteLayoutFiles"/> (or the layout file <paramref name="layout"/> of <paramref name="tmp"/>) and the key
    /// vendor.key of <paramref name="tmp"/>.</summary>
    public static string MakeBundle(string binary, TempDir tmp, string rootfs, string version, string layout = "layout.json")
    {
        string b = tmp.Combine(layout == "layout.json" ? $"bundle-{version}.tar" : $"bundle-{version}-{Path.GetFileNameWithoutExtension(layout)}.tar");
        Tool.Check(binary, "bundle", "create", "--rootfs", rootfs, "--layout", tmp.Combine(layout), "--kernel", tmp.Combine("vmlinuz"),
            "--initramfs", tmp.Combine("initramfs.img"), "--key", tmp.Combine("vendor.key"), "--out", b, "--single-file",
            "--selinux-policy", tmp.Combine("selinux.json"), "--product", "gateway", "--product-version", version, "--compress", "zstd");
        return b;
    }

    public string Binary { get; } = "";
    public TempDir Tmp { get; } = null!;
    public string Public { get; } = "";
    public string RootfsV2 { get; } = "";
    public string RootfsV3 { get; } = "";
    public string BundleV2 { get; } = "";
    public string BundleV3 { get; } = "";
    public string Converted { get; } = "";
    public string ConvertOutput { get; } = "";

    public void Dispose() => Tmp?.Dispose();

    // ---------------------------------------------------------------- helpers for the tests

    public void Require()
    {
        Tool.RequireRoot();
        Tool.RequireNativeInit();
        Tool.Require("sgdisk", "mkfs.xfs", "xfs_growfs", "blkid", "sfdisk", "setfattr", "fallocate", "grub-editenv", "grub-fstest");
    }

    public string Copy(TempDir dir, string name = "disk.img")
    {
        string p = dir.Combine(name);
        Tool.Check("cp", "--sparse=always", Converted, p);
        return p;
    }

    /// <summary>An LV's byte range in the image, from `nativeinit lvm show --json`.</summary>
    public (long Offset, long Bytes) Lv(string img, string name)
    {
        using var doc = JsonDocument.Parse(Tool.Check(Binary, "lvm", "show", img, "--partition", "3", "--json"));
        var d = doc.RootElement;
        var vg = d.GetProperty("vg");
        long ext = vg.GetProperty("extentSizeBytes").GetInt64();
        long pe = vg.GetProperty("physicalVolumes")[0].GetProperty("peStartSectors").GetInt64() * 512;
        var lv = vg.GetProperty("logicalVolumes").EnumerateArray().First(l => l.GetProperty("name").GetString() == name);
        return (d.GetProperty("offset").GetInt64() + pe + lv.GetProperty("segments")[0].GetProperty("pvStartExtent").GetInt64() * ext,
            lv.GetProperty("size").GetInt64());
    }

    /// <summary>xxHash128 of a byte range of the image (a slot's LV).</summary>
    public static string HashRange(string img, long offset, long bytes)
    {
        var h = new XxHash128();
        using var fs = File.OpenRead(img);
        fs.Position = offset;
        var buf = new byte[1 << 20];
        long left = bytes;
        while (left > 0)
        {
            int n = fs.Read(buf, 0, (int)Math.Min(buf.Length, left));
            if (n <= 0) break;
            h.Append(buf.AsSpan(0, n));
            left -= n;
        }
        return Convert.ToHexString(h.GetCurrentHash());
    }

    public static string HashFile(string path) => HashRange(path, 0, new FileInfo(path).Length);

    /// <summary>Runs <paramref name="script"/> with $b the image's /boot mounted at $m (read-write when asked), unmounted after.</summary>
    public static string WithBoot(string img, string script, bool write = false)
    {
        return Tool.Sh($"""
            set -e
            img={Tool.Quote(img)}
            m=$(mktemp -d)
            bl=
            trap 'umount $m 2>/dev/null; [ -n "$bl" ] && losetup -d $bl 2>/dev/null; rmdir $m; true' EXIT
            # Other test runs on this machine attach loop devices too: a device taken between losetup's search and its
            # attach fails the mount; detach and try again.
            for try in 1 2 3 4 5; do
              bl=$(losetup --find --show {(write ? "" : "-r")} --offset {BootOffset} --sizelimit {BootBytes} $img)
              if mount {(write ? "" : "-o ro,norecovery")} $bl $m 2>/dev/null; then break; fi
              losetup -d $bl 2>/dev/null || true; bl=
              if [ $try = 5 ]; then echo "cannot mount /boot of $img" >&2; exit 1; fi
              sleep 1
            done
            # The GRUB directory holding grubenv (none on a disk whose conversion has not reached its bootloader step).
            g=$(for f in $m/grub*/grubenv; do [ -e "$f" ] && dirname "$f"; done | head -1) || true
            {script}
            """);
    }

    /// <summary>grubenv of the image's /boot, parsed.</summary>
    public static GrubEnv Env(string img)
    {
        using var dir = new TempDir();
        string copy = dir.Combine("grubenv");
        WithBoot(img, $"cp $g/grubenv {Tool.Quote(copy)}");
        return GrubEnv.Parse(File.ReadAllBytes(copy), copy);
    }

    /// <summary>`nativeinit mark-good --slot S` on the image's /boot (what the unit does once multi-user is reached).</summary>
    public void MarkGood(string img, string slot) =>
        WithBoot(img, $"{Tool.Quote(Binary)} mark-good --boot-dir $m --slot {slot}", write: true);

    /// <summary>Runs <paramref name="script"/> with the LV <paramref name="lv"/> mounted read-only at $s (and /boot at $m).</summary>
    public string WithSlot(string img, string lv, string script)
    {
        var (off, len) = Lv(img, lv);
        return WithBoot(img, $"""
            s=$(mktemp -d)
            sl=
            trap 'umount $s 2>/dev/null; [ -n "$sl" ] && losetup -d $sl 2>/dev/null; rmdir $s; umount $m 2>/dev/null; losetup -d $bl 2>/dev/null; rmdir $m; true' EXIT
            for try in 1 2 3 4 5; do
              sl=$(losetup --find --show -r --offset {off.ToString(CultureInfo.InvariantCulture)} --sizelimit {len.ToString(CultureInfo.InvariantCulture)} $img)
              if mount -o ro,norecovery $sl $s 2>/dev/null; then break; fi
              losetup -d $sl 2>/dev/null || true; sl=
              if [ $try = 5 ]; then echo "cannot mount LV {lv} of $img" >&2; exit 1; fi
              sleep 1
            done
            {script}
            """);
    }

    /// <summary>treediff lines expected between a slot and its bundle's tree: the carried files, fstab and SELinux
    /// config, /etc's and the root's times, and /boot (the slot's own /boot directory holds the bundle's kernel).</summary>
    private static readonly string[] CarriedOrChanged =
    [
        "etc/hostname:", "etc/hosts:", "etc/resolv.conf", "etc/shadow:", "etc/fstab:", "etc/selinux/config:", "etc/ssh", "etc/sysconfig/network-scripts",
        "etc: mtime_ns", "etc/selinux: mtime_ns" /* the config replaced by a rename */, ".: ", "treediff:",
    ];

    public static List<string> Unexpected(string treediff) =>
        treediff.Split('\n').Where(l => l.Length > 0)
            .Where(l => !CarriedOrChanged.Any(c => l.StartsWith(c, StringComparison.Ordinal)))
            .Where(l => !(l.StartsWith("only in", StringComparison.Ordinal) && (l.Contains(" etc/", StringComparison.Ordinal) || l.Contains("etc/ssh", StringComparison.Ordinal) || l.Contains("etc/sysconfig", StringComparison.Ordinal))))
            .ToList();

    /// <summary>tools/treediff of the bundle's tree against a slot's LV (mounted read-only).</summary>
    public string TreeDiff(string img, string lv, string rootfs) =>
        WithSlot(img, lv, $"{Tool.Quote(Path.Combine(Tool.RepoRoot, "tools/treediff"))} --ignore-root-mtime {Tool.Quote(rootfs)} $s || true");
}
