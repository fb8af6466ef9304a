using System.Security.Cryptography;
using System.Text;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Stage;

/// <summary>A directory holding the files of a CentOS 7 or a Debian gateway that stage one reads and writes: GRUB
/// (grub.cfg with the real 00_header next_entry logic and the 41_custom section, grubenv), network, DNS, host name,
/// shadow, /proc/meminfo, /proc/self/mountinfo and /sys entries for the disk holding /.</summary>
public static class FakeSystem
{
    public const string CentosSavedEntry = "CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)";

    /// <summary>/etc/default/grub as CentOS 7 installs it: GRUB_DISTRIBUTOR is shell code (line 2).</summary>
    public const string CentosDefaultGrub = """
        GRUB_TIMEOUT=5
        GRUB_DISTRIBUTOR="$(sed 's, release .*$,,g' /etc/system-release)"
        GRUB_DEFAULT=saved
        GRUB_DISABLE_SUBMENU=true
        GRUB_TERMINAL_OUTPUT="console"
        GRUB_CMDLINE_LINUX="crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet"
        GRUB_DISABLE_RECOVERY="true"

        """;
    public const string CentosPartUuid = "5e1f6a2b-01";
    public const uint DebianDiskSignature = 0x0d1e2c3b;
    /// <summary>The root partition's start in 512-byte sectors (sysfs "start").</summary>
    public const long PartitionStartSectors = 2048;

    private const string Header00 = """
        ### BEGIN /etc/grub.d/00_header ###
        set pager=1

        if [ -s $prefix/grubenv ]; then
          load_env
        fi
        if [ "${next_entry}" ] ; then
           set default="${next_entry}"
           set next_entry=
           save_env next_entry
           set boot_once=true
        else
           set default="${saved_entry}"
        fi
        ### END /etc/grub.d/00_header ###

        """;

    private const string Custom41 = """
        ### BEGIN /etc/grub.d/41_custom ###
        if [ -f  ${config_directory}/custom.cfg ]; then
          source ${config_directory}/custom.cfg
        elif [ -z "${config_directory}" -a -f  $prefix/custom.cfg ]; then
          source $prefix/custom.cfg;
        fi
        ### END /etc/grub.d/41_custom ###

        """;

    public static void Centos7(string root, long memKb = 8009876, long diskSectors = 20971520, bool sourcesCustom = true)
    {
        var grub = Path.Combine(root, "boot/grub2");
        Directory.CreateDirectory(grub);
        File.WriteAllText(Path.Combine(grub, "grub.cfg"), Header00 + """
            ### BEGIN /etc/grub.d/10_linux ###
            menuentry 'CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)' --class centos --class gnu-linux --class gnu --class os --unrestricted $menuentry_id_option 'gnulinux-3.10.0-1160.el7.x86_64-advanced-1f2e' {
            	load_video
            	set gfxpayload=keep
            	insmod gzio
            	insmod part_msdos
            	insmod xfs
            	set root='hd0,msdos1'
            	linux16 /boot/vmlinuz-3.10.0-1160.el7.x86_64 root=UUID=1f2e ro crashkernel=auto rhgb quiet LANG=en_US.UTF-8
            	initrd16 /boot/initramfs-3.10.0-1160.el7.x86_64.img
            }
            ### END /etc/grub.d/10_linux ###

            """ + (sourcesCustom ? Custom41 : ""));
        WriteGrubEnv(Path.Combine(grub, "grubenv"), $"saved_entry={CentosSavedEntry}\n");
        File.WriteAllText(Path.Combine(root, "boot/vmlinuz-3.10.0-1160.el7.x86_64"), "old kernel");
        var ns = Path.Combine(root, "etc/sysconfig/network-scripts");
        Directory.CreateDirectory(ns);
        File.WriteAllText(Path.Combine(ns, "ifcfg-eth0"), "TYPE=Ethernet\nBOOTPROTO=none\nDEVICE=eth0\nONBOOT=yes\nIPADDR=192.168.10.20\nPREFIX=24\nGATEWAY=192.168.10.1\n");
        File.WriteAllText(Path.Combine(ns, "ifcfg-lo"), "DEVICE=lo\n");
        File.WriteAllText(Path.Combine(root, "etc/sysconfig/network"), "NETWORKING=yes\n");
        Common(root, "gw-centos", memKb, diskSectors, "253:1", "vda");
        // A kernel that names the PARTUUID in the partition's uevent.
        File.WriteAllText(Path.Combine(root, "sys/devices/virtual/block/vda/vda1/uevent"), $"MAJOR=253\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\nPARTUUID={CentosPartUuid}\n");
    }

    public static void Debian(string root, long memKb = 8009876, long diskSectors = 20971520)
    {
        var grub = Path.Combine(root, "boot/grub");
        Directory.CreateDirectory(grub);
        File.WriteAllText(Path.Combine(grub, "grub.cfg"), Header00.Replace("${saved_entry}", "0") + """
            ### BEGIN /etc/grub.d/10_linux ###
            menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-7d1c' {
            	insmod part_msdos
            	insmod ext2
            	linux	/boot/vmlinuz-6.1.0-18-amd64 root=UUID=7d1c ro quiet
            	initrd	/boot/initrd.img-6.1.0-18-amd64
            }
            ### END /etc/grub.d/10_linux ###

            """ + Custom41);
        WriteGrubEnv(Path.Combine(grub, "grubenv"), "");
        Directory.CreateDirectory(Path.Combine(root, "etc/network"));
        File.WriteAllText(Path.Combine(root, "etc/network/interfaces"), "auto eth0\niface eth0 inet static\n  address 10.1.2.3/24\n  gateway 10.1.2.1\n");
        Common(root, "gw-debian", memKb, diskSectors, "8:1", "sda");
        // No PARTUUID in uevent (as CentOS 7's 3.10 kernel): stage reads the MBR of ROOT/dev/sda, here an image file.
        Directory.CreateDirectory(Path.Combine(root, "dev"));
        var mbr = new byte[512];
        BitConverter.GetBytes(DebianDiskSignature).CopyTo(mbr, 440);
        mbr[446 + 4] = 0x83;
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        File.WriteAllBytes(Path.Combine(root, "dev/sda"), mbr);
    }

    private static void Common(string root, string hostname, long memKb, long diskSectors, string devno, string disk)
    {
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.WriteAllText(Path.Combine(root, "etc/hostname"), hostname + "\n");
        File.WriteAllText(Path.Combine(root, "etc/resolv.conf"), "nameserver 192.168.10.1\nsearch example.net\n");
        File.WriteAllText(Path.Combine(root, "etc/shadow"), "root:$6$abc$rootHashValue:18000:0:99999:7:::\nbin:*:17834:0:99999:7:::\nadmin:$6$def$adminHashValue:18100:0:99999:7:::\n");
        File.SetUnixFileMode(Path.Combine(root, "etc/shadow"), UnixFileMode.None);
        Directory.CreateDirectory(Path.Combine(root, "proc/self"));
        File.WriteAllText(Path.Combine(root, "proc/meminfo"), $"MemTotal:       {memKb} kB\nMemFree:         7000000 kB\n");
        File.WriteAllText(Path.Combine(root, "proc/self/mountinfo"),
            $"20 1 0:19 / /sys rw,nosuid - sysfs sysfs rw\n22 1 {devno} / / rw,relatime shared:1 - xfs /dev/{disk}1 rw\n");
        var diskDir = Path.Combine(root, "sys/devices/virtual/block", disk);
        Directory.CreateDirectory(Path.Combine(diskDir, disk + "1"));
        File.WriteAllText(Path.Combine(diskDir, "size"), diskSectors + "\n");
        File.WriteAllText(Path.Combine(diskDir, disk + "1", "partition"), "1\n");
        File.WriteAllText(Path.Combine(diskDir, disk + "1", "size"), (diskSectors - PartitionStartSectors) + "\n");
        File.WriteAllText(Path.Combine(diskDir, disk + "1", "start"), PartitionStartSectors + "\n");
        Directory.CreateDirectory(Path.Combine(root, "sys/dev/block"));
        File.CreateSymbolicLink(Path.Combine(root, "sys/dev/block", devno), $"../../devices/virtual/block/{disk}/{disk}1");
    }

    private static void WriteGrubEnv(string path, string vars)
    {
        var b = new byte[1024];
        var text = Encoding.ASCII.GetBytes("# GRUB Environment Block\n" + vars);
        text.CopyTo(b, 0);
        b.AsSpan(text.Length).Fill((byte)'#');
        File.WriteAllBytes(path, b);
    }

    /// <summary>Every path with its type, mode and content hash (or link target): equal strings mean equal trees.
    /// The logs stage keeps of a failed run and of undo (ROOT/var/log/nativeinit) are not part of the compared state.</summary>
    public static string Snapshot(string root)
    {
        var sb = new StringBuilder();
        foreach (var p in Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                     .Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(root, p);
            if (relative is "var" or "var/log" or "var/log/nativeinit" || relative.StartsWith("var/log/nativeinit/", StringComparison.Ordinal)) continue;
            var fi = new FileInfo(p);
            var rel = Path.GetRelativePath(root, p);
            if (fi.LinkTarget is { } t) sb.Append($"{rel} -> {t}\n");
            else if (Directory.Exists(p)) sb.Append($"{rel}/ {File.GetUnixFileMode(p)}\n");
            else sb.Append($"{rel} {File.GetUnixFileMode(p)} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p)))}\n");
        }
        return sb.ToString();
    }
}
