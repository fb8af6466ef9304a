using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

/// <summary>
/// Device-mapper ioctl interface: struct layouts, flags and request numbers from linux
/// include/uapi/linux/dm-ioctl.h (interface version 4; kernel 3.10 has 4.24+, everything used here exists since 4.0).
/// Offsets are checked against the C header by tests/NativeInit.Tests/Disk/DmIoctlLayout.Tests.cs (gcc).
/// The P/Invokes carry a Dm prefix (EntryPoint names the libc function) so other areas' partial Libc files
/// may declare open/ioctl/mknod themselves without a name clash.
/// </summary>
internal static class DmIoctl
{
    public const string ControlPath = "/dev/mapper/control";
    /// <summary>misc device 10:236 (MAPPER_CTRL_MINOR in include/linux/miscdevice.h).</summary>
    public const uint ControlMajor = 10, ControlMinor = 236;

    public const int VersionMajor = 4;

    /// <summary>open(2) flags and mknod(2) file types used here (asm-generic/fcntl.h, sys/stat.h; x86-64).</summary>
    public const int OpenReadWrite = 2, OpenCloseOnExec = 0x80000;
    public const uint ModeCharDevice = 0x2000, ModeBlockDevice = 0x6000;
    public const int NameLength = 128;      // DM_NAME_LEN
    public const int UuidLength = 129;      // DM_UUID_LEN
    public const int MaxTypeName = 16;      // DM_MAX_TYPE_NAME

    // struct dm_ioctl
    public const int OffVersion = 0;        // __u32 version[3]
    public const int OffDataSize = 12;      // __u32 data_size
    public const int OffDataStart = 16;     // __u32 data_start
    public const int OffTargetCount = 20;   // __u32 target_count
    public const int OffOpenCount = 24;     // __s32 open_count
    public const int OffFlags = 28;         // __u32 flags
    public const int OffEventNr = 32;       // __u32 event_nr
    public const int OffPadding = 36;       // __u32 padding
    public const int OffDev = 40;           // __u64 dev
    public const int OffName = 48;          // char name[DM_NAME_LEN]
    public const int OffUuid = 176;         // char uuid[DM_UUID_LEN]
    public const int OffData = 305;         // char data[7]
    public const int SizeOfDmIoctl = 312;

    // struct dm_target_spec (followed by the NUL-terminated parameter string, next = 8-aligned offset of the next spec)
    public const int SpecOffSectorStart = 0; // __u64 sector_start
    public const int SpecOffLength = 8;      // __u64 length
    public const int SpecOffStatus = 16;     // __s32 status
    public const int SpecOffNext = 20;       // __u32 next
    public const int SpecOffTargetType = 24; // char target_type[DM_MAX_TYPE_NAME]
    public const int SizeOfTargetSpec = 40;

    // struct dm_name_list (DM_LIST_DEVICES result)
    public const int NameListOffDev = 0;     // __u64 dev
    public const int NameListOffNext = 8;    // __u32 next
    public const int NameListOffName = 12;   // char name[]

    // flags
    public const uint ReadOnlyFlag = 1u << 0;
    public const uint SuspendFlag = 1u << 1;
    public const uint PersistentDevFlag = 1u << 3;
    public const uint StatusTableFlag = 1u << 4;
    public const uint ActivePresentFlag = 1u << 5;
    public const uint InactivePresentFlag = 1u << 6;
    public const uint BufferFullFlag = 1u << 8;
    public const uint UuidFlag = 1u << 14;
    public const uint DataOutFlag = 1u << 16;

    // commands (enum in dm-ioctl.h) and request numbers _IOWR(0xfd, cmd, struct dm_ioctl)
    public const uint DmIoctlType = 0xfd;
    public const uint VersionCmd = 0, RemoveAllCmd = 1, ListDevicesCmd = 2, DevCreateCmd = 3, DevRemoveCmd = 4,
        DevRenameCmd = 5, DevSuspendCmd = 6, DevStatusCmd = 7, DevWaitCmd = 8, TableLoadCmd = 9, TableClearCmd = 10,
        TableDepsCmd = 11, TableStatusCmd = 12;

    /// <summary>_IOWR(type, nr, size) for x86/arm/generic ioctl encoding: dir 3 (read|write) in bits 30-31.</summary>
    public static uint Iowr(uint nr) => (3u << 30) | ((uint)SizeOfDmIoctl << 16) | (DmIoctlType << 8) | nr;

    public static readonly uint DM_VERSION = Iowr(VersionCmd);
    public static readonly uint DM_LIST_DEVICES = Iowr(ListDevicesCmd);
    public static readonly uint DM_DEV_CREATE = Iowr(DevCreateCmd);
    public static readonly uint DM_DEV_REMOVE = Iowr(DevRemoveCmd);
    public static readonly uint DM_DEV_SUSPEND = Iowr(DevSuspendCmd);
    public static readonly uint DM_DEV_STATUS = Iowr(DevStatusCmd);
    public static readonly uint DM_TABLE_LOAD = Iowr(TableLoadCmd);
    public static readonly uint DM_TABLE_CLEAR = Iowr(TableClearCmd);
    public static readonly uint DM_TABLE_STATUS = Iowr(TableStatusCmd);

    /// <summary>Kernel dev encoding used in dm_ioctl.dev (huge_encode_dev / new_encode_dev).</summary>
    public static ulong EncodeDev(uint major, uint minor) => (minor & 0xffu) | ((ulong)major << 8) | ((ulong)(minor & ~0xffu) << 12);
    public static uint DevMajor(ulong dev) => (uint)((dev & 0xfff00) >> 8);
    public static uint DevMinor(ulong dev) => (uint)((dev & 0xff) | ((dev >> 12) & 0xfff00));

    /// <summary>glibc's dev_t for mknod (gnu_dev_makedev).</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffu) << 8) | (minor & 0xffu) | ((ulong)(minor & 0xfff00u) << 12) | ((ulong)(major & 0xfffff000u) << 32);
}

internal static partial class Libc
{
    [LibraryImport(Name, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DmOpen(string path, int flags, int mode);

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int DmIoctlCall(int fd, nuint request, byte* arg);

    /// <summary>mknod(2). glibc before 2.33 has mknod only in libc_nonshared/libc.a; the static binary links it from libc.a.</summary>
    [LibraryImport(Name, EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DmMknod(string path, uint mode, ulong dev);
}
