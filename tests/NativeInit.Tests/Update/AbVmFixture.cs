using System.Text.Json;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Update;

/// <summary>The VM tests that share one converted, bootable A/B disk (convert once; each test boots a copy).</summary>
[CollectionDefinition(Name)]
public sealed class AbVmCollection : ICollectionFixture<AbVmFixture>
{
    public const string Name = "A/B system in a VM";
}

/// <summary>
/// A small but whole A/B system for QEMU (issue 14): the bundles' rootfs is a busybox system, not the Debian target of
/// tools/vm, because every scenario boots it 2-3 times under TCG and updates it from inside; a busybox system boots in
/// seconds where the Debian target takes 68-94 s to its marker (README, VM harness). What makes it an A/B system is
/// all real: the Debian kernel and an initramfs in the rootfs's /boot (vmlinuz-V, initramfs-V.img, which convert and
/// update install as /boot/slot-X/), the initramfs activating the VG with `nativeinit lvm activate` and mounting
/// root= (/dev/mapper/VA-root_a|b) read-write, busybox init as PID 1 (so `update --reboot`'s `reboot` goes through
/// init), /usr/sbin/nativeinit and mkfs.xfs, and contrib/systemd/nativeinit-mark-good.service installed and enabled in
/// /etc/systemd/system/multi-user.target.wants/ as `systemctl enable` leaves it. There is no systemd: the system's
/// rc script (/etc/rc.slot, run once by init) stands in for multi-user.target: for each enabled unit it honours
/// ConditionKernelCommandLine= and runs ExecStart=, as systemd would (systemd's own reading of the unit is
/// Boot/MarkGoodUnit.Tests.cs). It prints on the console:
/// <c>NATIVEINIT-AB-BOOT slot=X version=V host=H</c>, <c>NATIVEINIT-SLOTS tag=before-units|after-units|after-update
/// JSON</c> (`nativeinit slots --json` on one line), <c>NATIVEINIT-UNIT NAME rc=N</c>, <c>NATIVEINIT-AB-UP</c>; then
/// does what the file <c>action</c> on a second disk (ext4, label nibundle) says: <c>update-reboot</c> (`nativeinit
/// update /mnt/bundle/bundle.tar --key /mnt/bundle/vendor.pub --reboot`), <c>update</c> (the same without --reboot,
/// then waits: for a power cut), <c>stop-before-units</c> (powers off before the units: a boot that never reaches
/// multi-user); without that disk it powers off.
/// Bundles: 2.0 (converted into slot A), 3.0 (the update), 4.0 (3.0 with 448 MiB of random data: its extraction
/// in the VM takes several seconds, about 80 MiB/s under TCG here, so progress lines come before its end and a power cut
/// can be placed inside it; with 128 MiB the extraction ended within the first 2 s, before any progress line).
/// </summary>
public sealed class AbVmFixture : IDisposable
{
    public const string BundleSerial = "nativeinit-bundle";

    public AbVmFixture()
    {
        if (!Tool.Exists(Tool.NativeInitBinary) || Environment.UserName != "root" || !Tool.Exists("qemu-system-x86_64")) return;
        string? kernelDir = null;
        try { kernelDir = KernelCache.FolderOrSkip(); }
        catch (SkipException) { return; }
        Binary = Tool.NativeInitBinary;
        Tmp = new TempDir();
        string version = KernelCache.Version(kernelDir);
        Tool.Check(Binary, "bundle", "keygen", "--private", Tmp.Combine("vendor.key"), "--public", Public = Tmp.Combine("vendor.pub"));
        AbImageFixture.WriteLayoutFiles(Tmp);

        string initramfs = BuildSlotInitramfs();
        Rootfs2 = BuildRootfs("2", kernelDir, version, initramfs);
        Rootfs3 = BuildRootfs("3", kernelDir, version, initramfs);
        Rootfs4 = Tmp.Combine("rootfs-4");
        Tool.Sh($"""
            set -e
            cp -a {Tool.Quote(Rootfs3)} {Tool.Quote(Rootfs4)}
            printf 'NAME=Target\nVERSION=4\n' > {Tool.Quote(Rootfs4)}/etc/os-release
            mkdir -p {Tool.Quote(Rootfs4)}/var/lib/app
            head -c {448 << 20} /dev/urandom > {Tool.Quote(Rootfs4)}/var/lib/app/blob
            """);
        Bundle2 = AbImageFixture.MakeBundle(Binary, Tmp, Rootfs2, "2.0");
        Bundle3 = AbImageFixture.MakeBundle(Binary, Tmp, Rootfs3, "3.0");
        Bundle4 = AbImageFixture.MakeBundle(Binary, Tmp, Rootfs4, "4.0");
        var (image, output) = AbImageFixture.ConvertLegacy(Binary, Tmp, Public, Bundle2);
        Converted = image;
        ConvertOutput = output;
        plain = new Lazy<PlainDisks>(BuildPlain);
    }

    /// <summary>The layout of <see cref="Plain"/>: the A/B layout's disk with one root LV and no slots.</summary>
    public const string PlainLayout = """
        { "partitionTable": "target.gpt",
          "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "4MiB", "grow": "data",
            "logicalVolumes": [
              { "name": "root", "size": "1000MiB", "filesystem": "xfs", "mountPoint": "/", "label": "root" },
              { "name": "data", "size": "rest", "filesystem": "xfs", "mountPoint": "/data" } ] },
          "partitions": [ { "number": 2, "filesystem": "xfs", "mountPoint": "/boot", "label": "boot" } ] }
        """;

    /// <summary>Two disks of the same busybox system (the 2.0 rootfs) in a layout without slots (<see cref="PlainLayout"/>),
    /// converted from a legacy disk with `convert --image`: <c>InProgress</c> as a SIGINT during the extract step left it
    /// (exit 4, the journal "in progress" before carry; the conversion's own GRUB in the MBR and BIOS boot partition),
    /// <c>Converted</c> the same disk after the conversion was run again to its end (the converted system's GRUB:
    /// nativeinit-system-VERSION and nativeinit-recovery). Built on first use (the docs/recovery.md tests only).</summary>
    public PlainDisks Plain => (plain ?? throw new InvalidOperationException("the A/B VM fixture was not built (see the fixture's constructor)")).Value;

    private readonly Lazy<PlainDisks>? plain;

    public sealed record PlainDisks(string InProgress, string Converted, string StoppedOutput);

    private PlainDisks BuildPlain()
    {
        File.WriteAllText(Tmp.Combine("layout-plain.json"), PlainLayout);
        string bundle = AbImageFixture.MakeBundle(Binary, Tmp, Rootfs2, "2.0", "layout-plain.json");
        string img = AbImageFixture.MakeLegacy(Tmp, bundle, "plain.img");
        string[] convert = ["convert", "--image", img, "--key", Public, "--yes"];
        var stopped = SignalRun.AtPoint(Binary, convert, "step:extract", "INT", Tmp.Path);
        if (stopped.ExitCode != 4) throw new InvalidOperationException("convert --image, SIGINT during extract: expected exit 4:\n" + stopped);
        string inProgress = Tmp.Combine("plain-in-progress.img");
        Tool.Check("cp", "--sparse=always", img, inProgress);
        var resumed = Tool.Run(Binary, convert, timeout: TimeSpan.FromMinutes(5));
        if (resumed.ExitCode != 0) throw new InvalidOperationException("convert --image run again after the SIGINT failed:\n" + resumed);
        return new PlainDisks(inProgress, img, stopped.ToString());
    }

    /// <summary>The busybox initramfs every slot boots: modules, `nativeinit lvm activate`, root= mounted, switch_root.</summary>
    private string BuildSlotInitramfs() =>
        BusyboxVm.BuildInitramfs(Tmp.Path, Binary, """
            mkdir -p /newroot
            root=
            for w in $(cat /proc/cmdline); do case $w in root=*) root=${w#root=} ;; esac; done
            for i in $(seq 1 40); do [ -b /dev/vda3 ] && break; sleep 0.25; done
            /nativeinit lvm activate /dev/vda3 >/dev/null || echo "NATIVEINIT-INITRAMFS-FAIL lvm activate /dev/vda3"
            if ! mount -t xfs -o rw "$root" /newroot; then echo "NATIVEINIT-INITRAMFS-FAIL mount $root"; poweroff -f; fi
            mount --move /dev /newroot/dev; mount --move /proc /newroot/proc; mount --move /sys /newroot/sys
            # The kernel's arguments for init ("single" from a recovery entry) go on to the system's init, as an
            # initramfs's switch_root passes them: busybox init then starts a shell on the console instead of inittab.
            exec switch_root /newroot /sbin/init "$@"

            """, new Dictionary<string, string>(), [.. BusyboxVm.XfsModules, .. BusyboxVm.Ext4Modules]);

    /// <summary>The rc script that stands in for multi-user.target (see the class summary).</summary>
    private const string RcSlot = """
        #!/bin/sh
        export PATH=/usr/sbin:/usr/bin:/sbin:/bin
        mount -t tmpfs tmpfs /tmp
        mount /boot || echo "NATIVEINIT-AB-FAIL mount /boot (from /etc/fstab)"
        slot=
        for w in $(cat /proc/cmdline); do case $w in nativeinit.slot=*) slot=${w#nativeinit.slot=} ;; esac; done
        . /etc/os-release
        echo "NATIVEINIT-AB-BOOT slot=$slot version=$VERSION host=$(cat /etc/hostname)"
        slots() { echo "NATIVEINIT-SLOTS tag=$1 $(nativeinit slots --json 2>&1 | tr -d '\n')"; }
        action=none
        d=$(findfs LABEL=nibundle 2>/dev/null)
        if [ -n "$d" ] && mount -t ext4 -o ro "$d" /mnt/bundle; then action=$(cat /mnt/bundle/action); fi
        echo "NATIVEINIT-AB-ACTION $action"
        slots before-units
        if [ "$action" = stop-before-units ]; then echo "NATIVEINIT-AB-STOPPED before multi-user"; poweroff -f; sleep 60; fi
        # What systemd does for the enabled units of multi-user.target that matter here.
        for u in /etc/systemd/system/multi-user.target.wants/*.service; do
          cond=$(sed -n 's/^ConditionKernelCommandLine=//p' "$u")
          if [ -n "$cond" ] && ! grep -qE "(^| )$cond(=| |\$)" /proc/cmdline; then echo "NATIVEINIT-UNIT $(basename "$u") skipped"; continue; fi
          cmd=$(sed -n 's/^ExecStart=//p' "$u")
          $cmd; echo "NATIVEINIT-UNIT $(basename "$u") rc=$?"
        done
        slots after-units
        echo "NATIVEINIT-AB-UP slot=$slot version=$VERSION"
        case $action in
          update-reboot)
            ( nativeinit update /mnt/bundle/bundle.tar --key /mnt/bundle/vendor.pub --reboot 2>&1; echo "NATIVEINIT-UPDATE-RC=$?" ) | cat
            sleep 600 ;;
          update)
            ( nativeinit update /mnt/bundle/bundle.tar --key /mnt/bundle/vendor.pub 2>&1; echo "NATIVEINIT-UPDATE-RC=$?" ) | cat
            slots after-update
            echo "NATIVEINIT-AB-HOLD"
            sleep 600 ;;
          *) poweroff ;;
        esac

        """;

    private string BuildRootfs(string version, string kernelDir, string kernelVersion, string initramfs)
    {
        string r = Tmp.Combine("rootfs-" + version);
        string mkfs = Tool.Check("/bin/sh", "-c", "command -v mkfs.xfs").Trim();
        string unit = Path.Combine(Tool.RepoRoot, "contrib", "systemd", "nativeinit-mark-good.service");
        Tool.Sh($"""
            set -e
            r={Tool.Quote(r)}
            mkdir -p $r/bin $r/sbin $r/usr/sbin $r/usr/bin $r/proc $r/sys $r/dev $r/boot $r/tmp $r/data $r/mnt/bundle $r/root $r/etc/default
            mkdir -p $r/etc/systemd/system/multi-user.target.wants
            cp /usr/bin/busybox $r/bin/busybox
            for a in $(/usr/bin/busybox --list); do [ -e $r/bin/$a ] || ln -s busybox $r/bin/$a; done
            ln -s ../bin/busybox $r/sbin/init
            cp {Tool.Quote(Binary)} $r/usr/sbin/nativeinit
            cp {Tool.Quote(unit)} $r/etc/systemd/system/
            ln -s ../nativeinit-mark-good.service $r/etc/systemd/system/multi-user.target.wants/nativeinit-mark-good.service
            printf '::once:/etc/rc.slot\n::shutdown:/bin/umount -a -r\n' > $r/etc/inittab
            printf 'NAME=Target\nVERSION={version}\n' > $r/etc/os-release
            printf 'target-default\n' > $r/etc/hostname
            printf '127.0.0.1 localhost\n' > $r/etc/hosts
            printf 'root:x:0:0:root:/root:/bin/sh\n' > $r/etc/passwd
            printf 'root:x:0:\n' > $r/etc/group
            printf 'root:!!:19500:0:99999:7:::\n' > $r/etc/shadow
            chmod 0000 $r/etc/shadow
            printf 'tmpfs /tmp tmpfs defaults 0 0\n' > $r/etc/fstab
            printf 'GRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX="console=ttyS0,115200 panic=1 quiet"\n' > $r/etc/default/grub
            cp {Tool.Quote(KernelCache.KernelImage(kernelDir))} $r/boot/vmlinuz-{kernelVersion}
            cp {Tool.Quote(initramfs)} $r/boot/initramfs-{kernelVersion}.img
            chmod 1777 $r/tmp
            """);
        BusyboxVm.CopyWithLibraries(mkfs, r); // at its host path, which the slot system's PATH holds
        // GRUB's environment editor, as the target system has it (docs/recovery.md gives a slot tries again with it).
        BusyboxVm.CopyWithLibraries(Tool.Check("/bin/sh", "-c", "command -v grub-editenv").Trim(), r);
        File.WriteAllText(Path.Combine(r, "etc", "rc.slot"), RcSlot.Replace("\r", "", StringComparison.Ordinal));
        File.SetUnixFileMode(Path.Combine(r, "etc", "rc.slot"), (UnixFileMode)0x1ed);
        return r;
    }

    public string Binary { get; } = "";
    public TempDir Tmp { get; } = null!;
    public string Public { get; } = "";
    public string Rootfs2 { get; } = "";
    public string Rootfs3 { get; } = "";
    public string Rootfs4 { get; } = "";
    public string Bundle2 { get; } = "";
    public string Bundle3 { get; } = "";
    public string Bundle4 { get; } = "";
    public string Converted { get; } = "";
    public string ConvertOutput { get; } = "";

    public void Dispose() => Tmp?.Dispose();

    private string? _brokenInit;

    /// <summary>Bundle 5.0: 3.0 whose /sbin/init (PID 1 of the new root) prints NATIVEINIT-BROKEN-INIT and exits at
    /// once, so the kernel panics ("Attempted to kill init") and, with panic=1, reboots. Made on first use (one test
    /// needs it).</summary>
    public string BrokenInitBundle()
    {
        if (_brokenInit is not null) return _brokenInit;
        string r = Tmp.Combine("rootfs-5");
        Tool.Sh($"""
            set -e
            cp -a {Tool.Quote(Rootfs3)} {Tool.Quote(r)}
            printf 'NAME=Target\nVERSION=5\n' > {Tool.Quote(r)}/etc/os-release
            rm {Tool.Quote(r)}/sbin/init
            printf '#!/bin/sh\necho NATIVEINIT-BROKEN-INIT pid $$\nexit 1\n' > {Tool.Quote(r)}/sbin/init
            chmod 0755 {Tool.Quote(r)}/sbin/init
            """);
        return _brokenInit = AbImageFixture.MakeBundle(Binary, Tmp, r, "5.0");
    }

    public void Require()
    {
        Tool.RequireRoot();
        Tool.RequireNativeInit();
        QemuRunner.RequireQemu();
        KernelCache.FolderOrSkip();
        Tool.Require("sgdisk", "mkfs.xfs", "mkfs.ext4", "sfdisk", "cpio", "gzip", "/usr/bin/busybox", "ldd", "fallocate", "grub-editenv");
        if (Converted.Length == 0) throw new InvalidOperationException("the A/B VM fixture was not built (see the fixture's constructor)");
    }

    public string Copy(TempDir dir)
    {
        string p = dir.Combine("disk.img");
        Tool.Check("cp", "--sparse=always", Converted, p);
        return p;
    }

    /// <summary>The second disk: ext4 labelled nibundle with the file <c>action</c> and, when given, the bundle and key.</summary>
    public string ControlDisk(TempDir dir, string name, string action, string? bundle = null)
    {
        string content = dir.Combine(name + ".d");
        Directory.CreateDirectory(content);
        File.WriteAllText(Path.Combine(content, "action"), action + "\n");
        if (bundle is not null)
        {
            File.Copy(bundle, Path.Combine(content, "bundle.tar"));
            File.Copy(Public, Path.Combine(content, "vendor.pub"));
        }
        string img = dir.Combine(name + ".img");
        long mib = Directory.GetFiles(content).Sum(f => new FileInfo(f).Length) * 11 / 10 / (1 << 20) + 32; // ext4 metadata
        Tool.Check("mkfs.ext4", "-q", "-F", "-L", "nibundle", "-d", content, img, mib + "M");
        return img;
    }

    /// <summary>Boots <paramref name="disk"/> through SeaBIOS and the disk's GRUB (virtio-blk, TCG, -no-reboot), with
    /// <paramref name="control"/> as the second disk. Ends when the guest powers off or reboots, on a failure line,
    /// or (with <paramref name="killOn"/>) as soon as a console line contains it: QEMU is then SIGKILLed, a power cut.
    /// With <paramref name="writeLog"/> the system disk is behind QEMU's blklogwrites driver: every write and flush of
    /// the machine (GRUB's save_env through the BIOS included) goes into that file in the dm-log-writes format
    /// (TestSupport/BlkLog.cs), its super block updated after every entry, so that a SIGKILL leaves every entry counted.
    /// With <paramref name="panicReboots"/> a kernel panic is no failure and the guest's reboot restarts it in the same
    /// QEMU process (no -no-reboot): for a slot that panics and the fallback GRUB then boots by itself.</summary>
    internal static QemuOutcome Boot(string disk, string? control, string? killOn = null, TimeSpan? timeout = null, string? writeLog = null,
        bool panicReboots = false) =>
        QemuRunner.Boot(new QemuOptions
        {
            Reboot = panicReboots,
            Drives = writeLog is not null ? [] :
            [
                new QemuDrive(disk, Interface: "virtio", Id: "system"),
                .. control is null ? Array.Empty<QemuDrive>() : [new QemuDrive(control, Interface: "virtio", Serial: BundleSerial, Id: "bundle")],
            ],
            // The same two virtio-blk disks in the same order (the system disk is vda), the first through blklogwrites.
            ExtraArguments = writeLog is null ? [] :
            [
                "-blockdev", $"driver=file,node-name=systemfile,filename={disk}",
                "-blockdev", $"driver=file,node-name=logfile,filename={writeLog}",
                "-blockdev", "driver=blklogwrites,node-name=system,file=systemfile,log=logfile,log-append=off,log-super-update-interval=1",
                "-device", "virtio-blk-pci,drive=system",
                .. control is null ? Array.Empty<string>() :
                    ["-drive", $"file={control},if=none,id=bundle,format=raw", "-device", $"virtio-blk-pci,drive=bundle,serial={BundleSerial}"],
            ],
            MemoryMiB = 768,
            Timeout = timeout ?? TimeSpan.FromMinutes(4),
            SuccessMarkers = [killOn ?? "NATIVEINIT-AB-BOOT"],
            StopOnSuccess = killOn is not null,
            FailureMarkers = ["NATIVEINIT-AB-FAIL", "NATIVEINIT-INITRAMFS-FAIL", "INSMOD-FAILED", .. panicReboots ? Array.Empty<string>() : ["Kernel panic"],
                "NATIVEINIT-UNIT nativeinit-mark-good.service rc=1", "NATIVEINIT-UPDATE-RC=1", "NATIVEINIT-UPDATE-RC=2", "NATIVEINIT-UPDATE-RC=3", "NATIVEINIT-UPDATE-RC=4"],
            LineStartFailureMarkers = ["error: "],
        });

    /// <summary>The console without carriage returns.</summary>
    internal static string Text(QemuOutcome o) => o.Console.Replace("\r", "", StringComparison.Ordinal);

    /// <summary>The `slots --json` the guest printed with <paramref name="tag"/> (the only one in this boot), validated
    /// against docs/json/slots.schema.json.</summary>
    internal static SlotsView Slots(QemuOutcome o, string tag)
    {
        string prefix = $"NATIVEINIT-SLOTS tag={tag} ";
        var lines = Text(o).Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count == 1, $"expected one console line '{prefix}…', found {lines.Count}:\n{o.Tail(60)}");
        return SlotsView.Parse(lines[0][prefix.Length..], $"slots --json in the VM ({tag})");
    }

    /// <summary>`nativeinit slots --json` run on the host over the disk's /boot (mounted read-only, no log replay).</summary>
    public SlotsView HostSlots(string disk) =>
        SlotsView.Parse(AbImageFixture.WithBoot(disk, $"{Tool.Quote(Binary)} slots --boot-dir $m --json"), "slots --json on the host");
}

/// <summary>One `slots --json` document, validated against its schema when parsed.</summary>
public sealed record SlotsView(IReadOnlyList<string> Order, IReadOnlyDictionary<string, SlotsView.Slot> Slots, string Json)
{
    /// <summary><see cref="Good"/> is the document's "good", <see cref="Ok"/> its "ok" (the same value, checked when parsed).</summary>
    public sealed record Slot(bool Booted, bool Ok, int Tries, bool Bootable, string? BundleVersion, string? WrittenAt, bool Good);

    public Slot this[string name] => Slots[name];

    public string OrderText => string.Join(' ', Order);

    public static SlotsView Parse(string json, string what)
    {
        JsonSchemaFiles.AssertValid("slots", json, what);
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        var order = r.GetProperty("order").EnumerateArray().Select(e => e.GetString()!).ToList();
        var slots = r.GetProperty("slots").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!, s => new Slot(
            s.GetProperty("booted").GetBoolean(), s.GetProperty("ok").GetBoolean(), s.GetProperty("tries").GetInt32(), s.GetProperty("bootable").GetBoolean(),
            s.GetProperty("bundleVersion").GetString(), s.GetProperty("writtenAt").GetString(), s.GetProperty("good").GetBoolean()));
        foreach (var (name, slot) in slots)
            Assert.True(slot.Good == slot.Ok, $"{what}: slot {name} has good={slot.Good} but ok={slot.Ok}: {json}");
        return new SlotsView(order, slots, json);
    }

    public override string ToString() => Json;
}
