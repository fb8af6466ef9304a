using NativeInit.Core.Lvm;
using NativeInit.Core.Archive;
using NativeInit.Core.Archive.Extraction;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Layout;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Conversion;

public sealed partial class SelfTest
{
    /// <summary>Volume group and logical volume the self-test makes on the scratch disk.</summary>
    public const string VolumeGroupName = "nist", RootVolume = "root", SpareVolume = "spare";

    /// <summary>
    /// The stage-two disk path on the scratch disk, with the real code: a GPT (BIOS boot + LVM partition) written from
    /// an sgdisk backup file, as a bundle ships it; PV, VG and two LVs written by NativeInit's LVM writer; the LVs
    /// activated through device-mapper ioctls; ext4 made on one; the test archive (binary xattrs, owners, setuid,
    /// symlink) extracted onto it by the tar extractor; read back; unmounted; the LVs removed from device-mapper.
    /// </summary>
    private void RunDiskSteps(string dev)
    {
        string work = Path.Combine(_options.WorkDirectory, "layout");
        Directory.CreateDirectory(work);
        using var disk = DiskDevice.Open(dev, writable: true);
        var plan = Step("plan", () =>
        {
            ulong sectors = disk.Sectors;
            var table = GptTable.CreateEmpty(sectors, disk.LogicalSectorSize, Guid.NewGuid());
            ulong perMiB = (ulong)((1 << 20) / disk.LogicalSectorSize);
            table = table.WithPartition(GptPartitionTypes.BiosBoot.Guid, perMiB, 2 * perMiB - 1, "bios")
                         .WithPartition(GptPartitionTypes.LinuxLvm.Guid, 2 * perMiB, table.LastUsableLba / perMiB * perMiB - 1, "pv");
            File.WriteAllBytes(Path.Combine(work, "selftest.gpt"), SgdiskBackup.Save(table));
            File.WriteAllText(Path.Combine(work, "layout.json"),
                "{ \"partitionTable\": \"selftest.gpt\", \"volumeGroup\": { \"name\": \"" + VolumeGroupName + "\", \"partition\": 2, " +
                "\"logicalVolumes\": [ { \"name\": \"" + RootVolume + "\", \"size\": \"64MiB\", \"filesystem\": \"ext4\", \"label\": \"st-root\" }, " +
                "{ \"name\": \"" + SpareVolume + "\", \"size\": \"16MiB\" } ] } }");
            var p = LayoutPlanner.Plan(LayoutFile.Load(Path.Combine(work, "layout.json")), disk);
            return (p, $"GPT with {p.Table.Partitions.Count} partitions, PV at {p.PvOffset >> 20} MiB, VG {p.VolumeGroup.Name} with {p.Volumes.Count} LVs");
        });
        var volumes = Step("apply", () =>
        {
            var v = LayoutApplier.Apply(plan, disk, line => _out.WriteLine("selftest:   " + line));
            _cleanup.Add(() => LvmActivation.Deactivate(plan.VolumeGroup));
            return (v, string.Join(", ", v.Select(x => $"{x.Name} -> {x.Device}{(x.Filesystem is null ? "" : " (" + x.Filesystem + ")")}")));
        });
        string lvName = DmNames.DeviceName(VolumeGroupName, RootVolume);
        Step("dm-status", () =>
        {
            var st = DeviceMapperControl.GetStatus(lvName) ?? throw new NativeInitException($"device-mapper has no device {lvName} after activation");
            if (!st.HasActiveTable || st.Suspended) throw new NativeInitException($"{lvName}: flags 0x{st.Flags:x}: no active table or suspended");
            return ((object?)null, $"{lvName} is {st.Major}:{st.Minor}, active, {st.NodePath}");
        });
        string device = volumes.First(v => v.Name == RootVolume).Device;
        string mnt = Path.Combine(_options.WorkDirectory, "mnt");
        Directory.CreateDirectory(mnt);
        Step("mount", () =>
        {
            BootCalls.Mount(device, mnt, "ext4");
            _cleanup.Add(() => BootCalls.Unmount(mnt));
            return ((object?)null, $"{device} on {mnt}");
        });
        Step("extract", () =>
        {
            string archive = Path.Combine(work, "selftest.tar");
            using (var f = File.Create(archive)) SelfTestArchive.Write(f);
            using var extractor = TarExtractor.Open(mnt);
            using var input = ArchiveExtraction.Input.Open(archive);
            var report = ArchiveExtraction.Run(input, extractor, new DecoderOptions { Threads = 1 });
            return ((object?)null, $"{report.Stats.Entries} entries, {report.Stats.XattrsSet} xattrs set, {report.TarBytes} bytes of tar");
        });
        Step("read-back", () => ((object?)null, Verify(mnt, withSymlink: true)));
        Step("umount", () =>
        {
            BootCalls.Sync();
            BootCalls.Unmount(mnt);
            _cleanup.RemoveAt(_cleanup.Count - 1);
            return ((object?)null, mnt);
        });
        Step("deactivate", () =>
        {
            LvmActivation.Deactivate(plan.VolumeGroup);
            _cleanup.RemoveAt(_cleanup.Count - 1);
            if (DeviceMapperControl.GetStatus(lvName) is not null) throw new NativeInitException($"{lvName} is still in device-mapper after deactivation");
            return ((object?)null, $"{plan.Volumes.Count} LVs removed from device-mapper");
        });
    }
}
