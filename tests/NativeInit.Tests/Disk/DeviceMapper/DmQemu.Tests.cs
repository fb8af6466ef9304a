using System.Text;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Layout;
using NativeInit.Tests.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Disk.DeviceMapper;

/// <summary>
/// Device-mapper activation proven in a VM (the host has no dm): a disk image laid out by NativeInit boots a Debian
/// kernel with a busybox initramfs that runs `nativeinit lvm activate /dev/vda3`, writes a marker through each
/// /dev/mapper node, re-activates (idempotent) and deactivates. The host then finds every marker at the LV's planned
/// byte offset in the image.
/// </summary>
[Trait("Category", "Qemu")]
public class DmQemuTests
{
    private const long MiB = 1 << 20;

    [SkippableFact]
    public void Lvm_activate_in_a_vm_maps_each_lv_to_its_planned_offset()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("qemu-system-x86_64", "sgdisk", "cpio", "gzip", "/usr/bin/busybox");
        KernelCache.FolderOrSkip();

        using var dir = new TempDir();
        string reference = dir.Combine("ref.img");
        using (var fs = File.Create(reference)) fs.SetLength(64 * MiB);
        Tool.Check("sgdisk", "-o", "-n", "1:2048:+1M", "-t", "1:EF02", "-n", "2:0:+8M", "-n", "3:0:0", "-t", "3:8E00", reference);
        Tool.Check("sgdisk", "--backup=" + dir.Combine("t.gpt"), reference);
        File.WriteAllText(dir.Combine("layout.json"), """
            { "partitionTable": "t.gpt", "volumeGroup": { "name": "V-A", "partition": 3, "extentSize": "1MiB",
              "logicalVolumes": [ { "name": "root", "size": "20MiB" }, { "name": "data-lv", "size": "rest" } ] } }
            """);
        string image = dir.Combine("disk.img");
        using (var fs = File.Create(image)) fs.SetLength(64 * MiB);
        LayoutPlan plan;
        using (var disk = DiskDevice.Open(image, writable: true))
        {
            plan = LayoutPlanner.Plan(LayoutFile.Load(dir.Combine("layout.json")), disk);
            LayoutApplier.Apply(plan, disk);
        }

        var script = new StringBuilder("""
            /nativeinit lvm activate /dev/vda3; echo "ACTIVATE-RC=$?"
            for d in /sys/block/dm-*; do echo "DM $(cat $d/dm/name) $(cat $d/dm/uuid) $(cat $d/size)"; done
            for l in /dev/V-A/*; do echo "LINK $l -> $(readlink $l)"; done

            """);
        foreach (var v in plan.Volumes)
            script.Append($"echo 'MARKER {v.Name}' | dd of=/dev/mapper/{v.DmName} bs=512 seek=8 conv=sync 2>/dev/null; echo \"DD-{v.Name}-RC=$?\"\n");
        script.Append("""
            sync
            j=$(/nativeinit lvm activate /dev/vda3 --json); echo "REACTIVATE-RC=$?"
            echo "ACTIVATE-JSON $(echo "$j" | tr -d '\n')"
            /nativeinit lvm deactivate /dev/vda3; echo "DEACTIVATE-RC=$?"
            echo "LEFT $(ls /sys/block | grep -c dm-)"

            """);
        string o = BusyboxVm.Run(dir, ni, image, script.ToString(), new Dictionary<string, string>());
        Assert.True(o.Contains("ACTIVATE-RC=0", StringComparison.Ordinal), o);
        foreach (var v in plan.Volumes)
        {
            Assert.Contains($"DM {v.DmName} {v.DmUuid} {v.SizeBytes / 512}", o);
            Assert.Contains($"LINK /dev/V-A/{v.Name} -> ../mapper/{v.DmName}", o);
            Assert.Contains($"DD-{v.Name}-RC=0", o);
        }
        Assert.Equal("V--A-data--lv", plan.Volumes[1].DmName);
        Assert.Contains("REACTIVATE-RC=0", o);
        // Issue 15: the JSON of `lvm activate --json` (re-activating: the same devices) matches its schema.
        string json = o.Split('\n').Single(l => l.StartsWith("ACTIVATE-JSON ", StringComparison.Ordinal))["ACTIVATE-JSON ".Length..].Trim();
        NativeInit.Tests.TestSupport.JsonSchemaFiles.AssertValid("lvm-activate", json, "lvm activate --json");
        Assert.Contains("\"mapper\": \"/dev/mapper/V--A-data--lv\"", json);
        Assert.Contains("DEACTIVATE-RC=0", o);
        Assert.Contains("LEFT 0", o);

        using var img = File.OpenRead(image);
        foreach (var v in plan.Volumes)
        {
            var buf = new byte[32];
            img.Position = v.DiskOffset + 8 * 512;
            img.ReadExactly(buf);
            Assert.StartsWith($"MARKER {v.Name}\n", Encoding.ASCII.GetString(buf));
        }
    }

    [SkippableFact]
    public void Layout_apply_on_a_block_device_in_a_vm_writes_gpt_pv_and_activates()
    {
        string ni = Tool.RequireNativeInit();
        Tool.Require("qemu-system-x86_64", "sgdisk", "cpio", "gzip", "/usr/bin/busybox");
        KernelCache.FolderOrSkip();
        using var dir = new TempDir();
        string reference = dir.Combine("ref.img");
        using (var fs = File.Create(reference)) fs.SetLength(48 * MiB);
        Tool.Check("sgdisk", "-o", "-n", "1:2048:+1M", "-t", "1:EF02", "-n", "2:0:+8M", "-n", "3:0:0", "-t", "3:8E00", reference);
        Tool.Check("sgdisk", "--backup=" + dir.Combine("t.gpt"), reference);
        File.WriteAllText(dir.Combine("layout.json"), """
            { "partitionTable": "t.gpt", "volumeGroup": { "name": "VA", "partition": 3, "extentSize": "1MiB",
              "grow": "root", "logicalVolumes": [ { "name": "root", "size": "12MiB" }, { "name": "data", "size": "rest" } ] } }
            """);
        // A 64 MiB disk holding an old MBR partition: the GPT of the 48 MiB reference is moved to its end.
        string image = dir.Combine("disk.img");
        using (var fs = File.Create(image)) fs.SetLength(64 * MiB);
        Tool.Sh($"printf 'label: dos\\nstart=2048, size=100000, type=83\\n' | sfdisk -q {Tool.Quote(image)}");
        LayoutPlan plan;
        using (var disk = DiskDevice.Open(image, writable: false))
            plan = LayoutPlanner.Plan(LayoutFile.Load(dir.Combine("layout.json")), disk);

        var script = new StringBuilder("""
            /nativeinit layout apply --layout /layout.json --disk /dev/vda --yes; echo "APPLY-RC=$?"
            for p in /sys/block/vda/vda*; do echo "PART $(basename $p) $(cat $p/start) $(cat $p/size)"; done
            for d in /sys/block/dm-*; do echo "DM $(cat $d/dm/name) $(cat $d/size) on $(ls $d/slaves)"; done

            """);
        foreach (var v in plan.Volumes)
            script.Append($"echo 'BLOCK {v.Name}' | dd of=/dev/VA/{v.Name} bs=512 seek=16 conv=sync 2>/dev/null; echo \"DD-{v.Name}-RC=$?\"\n");
        script.Append("""
            sync
            /nativeinit layout grow --layout /layout.json --disk /dev/vda --yes; echo "GROW-RC=$?"
            echo "GROWN-PART $(cat /sys/block/vda/vda3/size)"
            for d in /sys/block/dm-*; do echo "GROWN $(cat $d/dm/name) $(cat $d/size)"; done
            /nativeinit lvm deactivate /dev/vda3; echo "DEACTIVATE-RC=$?"
            /nativeinit lvm activate /dev/vda3 >/dev/null; echo "ACTIVATE-FROM-DISK-RC=$?"
            /nativeinit lvm deactivate /dev/vda3 >/dev/null

            """);
        string o = BusyboxVm.Run(dir, ni, image, script.ToString(),
            new Dictionary<string, string> { ["layout.json"] = dir.Combine("layout.json"), ["t.gpt"] = dir.Combine("t.gpt") });

        Assert.True(o.Contains("APPLY-RC=0", StringComparison.Ordinal), o);
        foreach (var p in plan.Table.Partitions)
            Assert.Contains($"PART vda{p.Number} {p.FirstLba} {p.Sectors}", o);
        foreach (var v in plan.Volumes)
        {
            Assert.Contains($"DM {v.DmName} {v.SizeBytes / 512} on vda3", o); // mapped through the partition
            Assert.Contains($"DD-{v.Name}-RC=0", o);
        }
        Assert.Contains("DEACTIVATE-RC=0", o);
        Assert.Contains("ACTIVATE-FROM-DISK-RC=0", o);

        // layout grow: partition 3 (in use, held by dm) grew to the end of the disk; root took the new extents live.
        Assert.Contains("GROW-RC=0", o);
        ulong lastUsable = (ulong)(64 * MiB / 512 - 34);
        ulong p3Sectors = lastUsable - plan.PvPartition.FirstLba + 1;
        Assert.Contains($"GROWN-PART {p3Sectors}", o);
        long peCount = ((long)p3Sectors * 512 - MiB) / MiB;
        long rootSectors = (peCount - plan.Volumes[1].Extents) * 2048;
        Assert.Contains($"GROWN VA-root {rootSectors}", o);
        Assert.Contains($"GROWN VA-data {plan.Volumes[1].SizeBytes / 512}", o);

        var v2 = Tool.Run("sgdisk", "-v", image);
        Assert.True(v2.Stdout.Contains("No problems found", StringComparison.Ordinal), v2.ToString());
        using var img = File.OpenRead(image);
        foreach (var v in plan.Volumes)
        {
            var buf = new byte[32];
            img.Position = v.DiskOffset + 16 * 512;
            img.ReadExactly(buf);
            Assert.StartsWith($"BLOCK {v.Name}\n", Encoding.ASCII.GetString(buf));
        }
        using var h = File.OpenHandle(image);
        var pv = NativeInit.Core.Lvm.LvmDiskFormat.Read(h, plan.PvOffset, image);
        Assert.Equal(["root", "data"], pv.VolumeGroup!.LogicalVolumes.Select(l => l.Name));
        Assert.Equal(rootSectors / 2048, pv.VolumeGroup.FindLv("root")!.ExtentCount);
        Assert.Equal(2, pv.VolumeGroup.Seqno);
        Assert.Equal("/dev/vda3", pv.VolumeGroup.PhysicalVolumes[0].Device);
    }
}
