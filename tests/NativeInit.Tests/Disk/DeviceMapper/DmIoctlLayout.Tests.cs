using NativeInit.Core.Layout;
using NativeInit.Core.Lvm;
using System.Globalization;
using System.Text;
using NativeInit.Core.Disk.DeviceMapper;
using NativeInit.Core.Platform;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Disk.DeviceMapper;

/// <summary>
/// The device-mapper structures and request numbers NativeInit uses, checked against linux/dm-ioctl.h by compiling a
/// C program with gcc (package linux-libc-dev). The activation itself is proven in QEMU (the host has no dm).
/// </summary>
public class DmIoctlLayoutTests
{
    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Offsets_sizes_flags_and_request_numbers_match_the_kernel_header()
    {
        Tool.Require("gcc");
        Skip.IfNot(File.Exists("/usr/include/linux/dm-ioctl.h"), "linux/dm-ioctl.h missing (package linux-libc-dev)");
        using var dir = new TempDir();
        File.WriteAllText(dir.Combine("dm.c"), """
            #include <stdio.h>
            #include <stddef.h>
            #include <sys/ioctl.h>
            #include <linux/dm-ioctl.h>
            #define O(t, f) printf(#t "." #f "=%zu\n", offsetof(struct t, f))
            #define S(t) printf("sizeof." #t "=%zu\n", sizeof(struct t))
            #define N(x) printf(#x "=%lu\n", (unsigned long)(x))
            int main(void) {
                O(dm_ioctl, version); O(dm_ioctl, data_size); O(dm_ioctl, data_start); O(dm_ioctl, target_count);
                O(dm_ioctl, open_count); O(dm_ioctl, flags); O(dm_ioctl, event_nr); O(dm_ioctl, padding); O(dm_ioctl, dev);
                O(dm_ioctl, name); O(dm_ioctl, uuid); O(dm_ioctl, data); S(dm_ioctl);
                O(dm_target_spec, sector_start); O(dm_target_spec, length); O(dm_target_spec, status); O(dm_target_spec, next);
                O(dm_target_spec, target_type); S(dm_target_spec);
                O(dm_name_list, dev); O(dm_name_list, next); O(dm_name_list, name);
                N(DM_VERSION); N(DM_LIST_DEVICES); N(DM_DEV_CREATE); N(DM_DEV_REMOVE); N(DM_DEV_SUSPEND); N(DM_DEV_STATUS);
                N(DM_TABLE_LOAD); N(DM_TABLE_CLEAR); N(DM_TABLE_STATUS); N(DM_VERSION_MAJOR);
                N(DM_NAME_LEN); N(DM_UUID_LEN); N(DM_MAX_TYPE_NAME);
                N(DM_READONLY_FLAG); N(DM_SUSPEND_FLAG); N(DM_PERSISTENT_DEV_FLAG); N(DM_STATUS_TABLE_FLAG);
                N(DM_ACTIVE_PRESENT_FLAG); N(DM_INACTIVE_PRESENT_FLAG); N(DM_BUFFER_FULL_FLAG); N(DM_UUID_FLAG); N(DM_DATA_OUT_FLAG);
                return 0;
            }
            """);
        Tool.Check("gcc", "-o", dir.Combine("dm"), dir.Combine("dm.c"));
        var c = Tool.Check(dir.Combine("dm")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=')).ToDictionary(p => p[0], p => ulong.Parse(p[1], CultureInfo.InvariantCulture));

        var ours = new Dictionary<string, ulong>
        {
            ["dm_ioctl.version"] = DmIoctl.OffVersion, ["dm_ioctl.data_size"] = DmIoctl.OffDataSize,
            ["dm_ioctl.data_start"] = DmIoctl.OffDataStart, ["dm_ioctl.target_count"] = DmIoctl.OffTargetCount,
            ["dm_ioctl.open_count"] = DmIoctl.OffOpenCount, ["dm_ioctl.flags"] = DmIoctl.OffFlags,
            ["dm_ioctl.event_nr"] = DmIoctl.OffEventNr, ["dm_ioctl.padding"] = DmIoctl.OffPadding, ["dm_ioctl.dev"] = DmIoctl.OffDev,
            ["dm_ioctl.name"] = DmIoctl.OffName, ["dm_ioctl.uuid"] = DmIoctl.OffUuid, ["dm_ioctl.data"] = DmIoctl.OffData,
            ["sizeof.dm_ioctl"] = DmIoctl.SizeOfDmIoctl,
            ["dm_target_spec.sector_start"] = DmIoctl.SpecOffSectorStart, ["dm_target_spec.length"] = DmIoctl.SpecOffLength,
            ["dm_target_spec.status"] = DmIoctl.SpecOffStatus, ["dm_target_spec.next"] = DmIoctl.SpecOffNext,
            ["dm_target_spec.target_type"] = DmIoctl.SpecOffTargetType, ["sizeof.dm_target_spec"] = DmIoctl.SizeOfTargetSpec,
            ["dm_name_list.dev"] = DmIoctl.NameListOffDev, ["dm_name_list.next"] = DmIoctl.NameListOffNext,
            ["dm_name_list.name"] = DmIoctl.NameListOffName,
            ["DM_VERSION"] = DmIoctl.DM_VERSION, ["DM_LIST_DEVICES"] = DmIoctl.DM_LIST_DEVICES, ["DM_DEV_CREATE"] = DmIoctl.DM_DEV_CREATE,
            ["DM_DEV_REMOVE"] = DmIoctl.DM_DEV_REMOVE, ["DM_DEV_SUSPEND"] = DmIoctl.DM_DEV_SUSPEND, ["DM_DEV_STATUS"] = DmIoctl.DM_DEV_STATUS,
            ["DM_TABLE_LOAD"] = DmIoctl.DM_TABLE_LOAD, ["DM_TABLE_CLEAR"] = DmIoctl.DM_TABLE_CLEAR, ["DM_TABLE_STATUS"] = DmIoctl.DM_TABLE_STATUS,
            ["DM_VERSION_MAJOR"] = DmIoctl.VersionMajor, ["DM_NAME_LEN"] = DmIoctl.NameLength, ["DM_UUID_LEN"] = DmIoctl.UuidLength,
            ["DM_MAX_TYPE_NAME"] = DmIoctl.MaxTypeName,
            ["DM_READONLY_FLAG"] = DmIoctl.ReadOnlyFlag, ["DM_SUSPEND_FLAG"] = DmIoctl.SuspendFlag,
            ["DM_PERSISTENT_DEV_FLAG"] = DmIoctl.PersistentDevFlag, ["DM_STATUS_TABLE_FLAG"] = DmIoctl.StatusTableFlag,
            ["DM_ACTIVE_PRESENT_FLAG"] = DmIoctl.ActivePresentFlag, ["DM_INACTIVE_PRESENT_FLAG"] = DmIoctl.InactivePresentFlag,
            ["DM_BUFFER_FULL_FLAG"] = DmIoctl.BufferFullFlag, ["DM_UUID_FLAG"] = DmIoctl.UuidFlag, ["DM_DATA_OUT_FLAG"] = DmIoctl.DataOutFlag,
        };
        Assert.Equal(ours.Count, c.Count);
        foreach (var (k, v) in ours) Assert.True(c[k] == v, $"{k}: header {c[k]}, NativeInit {v}");
    }

    [Fact]
    public void Table_load_buffer_holds_one_aligned_spec_per_segment()
    {
        var buf = new byte[4096];
        int used = DeviceMapperControl.Prepare(buf, "VA-root", null, 0);
        used = DeviceMapperControl.WriteLinearTable(buf, used,
            [new LinearSegment(0, 8192, 8, 3, 2048), new LinearSegment(8192, 100, 259, 1048575, 123456789)]);
        Assert.Equal(2u, BitConverter.ToUInt32(buf, DmIoctl.OffTargetCount));
        Assert.Equal((uint)used, BitConverter.ToUInt32(buf, DmIoctl.OffDataSize));
        Assert.Equal("VA-root", Encoding.ASCII.GetString(buf, DmIoctl.OffName, 7));
        int spec = DmIoctl.SizeOfDmIoctl;
        Assert.Equal(0ul, BitConverter.ToUInt64(buf, spec + DmIoctl.SpecOffSectorStart));
        Assert.Equal(8192ul, BitConverter.ToUInt64(buf, spec + DmIoctl.SpecOffLength));
        Assert.Equal("linear", Encoding.ASCII.GetString(buf, spec + DmIoctl.SpecOffTargetType, 6));
        Assert.Equal("8:3 2048\0", Encoding.ASCII.GetString(buf, spec + DmIoctl.SizeOfTargetSpec, 9));
        int next = (int)BitConverter.ToUInt32(buf, spec + DmIoctl.SpecOffNext);
        Assert.Equal(0, next % 8);
        int spec2 = spec + next;
        Assert.Equal(8192ul, BitConverter.ToUInt64(buf, spec2));
        Assert.Equal("259:1048575 123456789\0", Encoding.ASCII.GetString(buf, spec2 + DmIoctl.SizeOfTargetSpec, 22));
        Assert.Equal(used, spec2 + (int)BitConverter.ToUInt32(buf, spec2 + DmIoctl.SpecOffNext));
    }

    [Theory]
    [InlineData(8u, 3u)]
    [InlineData(253u, 0u)]
    [InlineData(259u, 1048575u)]
    [InlineData(7u, 300u)]
    public void Dev_encoding_round_trips(uint major, uint minor)
    {
        ulong dev = DmIoctl.EncodeDev(major, minor);
        Assert.Equal(major, DmIoctl.DevMajor(dev));
        Assert.Equal(minor, DmIoctl.DevMinor(dev));
    }

    [Fact]
    public void Names_and_uuids_follow_lvm2()
    {
        Assert.Equal("VA-root", DmNames.DeviceName("VA", "root"));
        Assert.Equal("my--vg-lv--a", DmNames.DeviceName("my-vg", "lv-a"));
        Assert.Equal("/dev/mapper/VA-root", DmNames.MapperPath("VA", "root"));
        Assert.Equal("/dev/VA/root", DmNames.LinkPath("VA", "root"));
        Assert.Equal("LVM-Vgid01aaaabbbbccccddddeeeeffffffRoot01000011112222333344445555" + "55",
            DmNames.Uuid("Vgid01-aaaa-bbbb-cccc-dddd-eeee-ffffff", "Root01-0000-1111-2222-3333-4444-555555"));
    }

    [Fact]
    public void Activation_table_maps_extents_to_pv_sectors()
    {
        var (vg, _) = NativeInit.Core.Lvm.LvmBuilder.Create("VA", 4 << 20, 128L << 20, "/dev/sda3",
            [new("root", 60L << 20), new("image", 22L << 20), new("data", null)], identity: Lvm.LvmDiskFormatTests.FixedIds);
        var table = LvmActivation.Table(vg, vg.FindLv("image")!, new Dictionary<string, (uint, uint)> { ["pv0"] = (8, 3) });
        var seg = Assert.Single(table);
        Assert.Equal(new LinearSegment(0, 6 * 8192, 8, 3, 2048 + 15 * 8192), seg);
        Assert.Equal("8:3 124928", seg.Parameters);
    }

    [Fact]
    public void Name_list_is_parsed()
    {
        var buf = new byte[1024];
        DeviceMapperControl.Prepare(buf, null, null, 0);
        int start = DmIoctl.SizeOfDmIoctl;
        BitConverter.TryWriteBytes(buf.AsSpan(start), DmIoctl.EncodeDev(253, 0));
        BitConverter.TryWriteBytes(buf.AsSpan(start + 8), 32u);
        Encoding.ASCII.GetBytes("VA-root\0", buf.AsSpan(start + 12));
        BitConverter.TryWriteBytes(buf.AsSpan(start + 32), DmIoctl.EncodeDev(253, 1));
        Encoding.ASCII.GetBytes("VA-data\0", buf.AsSpan(start + 44));
        var list = DeviceMapperControl.ParseNameList(buf);
        Assert.Equal([("VA-root", 253u, 0u), ("VA-data", 253u, 1u)], list);
    }
}
