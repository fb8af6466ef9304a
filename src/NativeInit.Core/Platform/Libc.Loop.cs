using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

// Loop device ioctls. Specification: linux include/uapi/linux/loop.h.
// LOOP_CONFIGURE (5.8) is tried first; on ENOTTY/EINVAL the code falls back to LOOP_SET_FD + LOOP_SET_STATUS64,
// which exist in 3.10. LOOP_SET_BLOCK_SIZE (4.14) is only used when a sector size other than 512 is asked.
internal static partial class Libc
{
    internal const uint LOOP_SET_FD = 0x4C00;
    internal const uint LOOP_CLR_FD = 0x4C01;
    internal const uint LOOP_SET_STATUS64 = 0x4C04;
    internal const uint LOOP_GET_STATUS64 = 0x4C05;
    internal const uint LOOP_SET_BLOCK_SIZE = 0x4C09;
    internal const uint LOOP_CONFIGURE = 0x4C0A;
    internal const uint LOOP_CTL_GET_FREE = 0x4C82;

    internal const uint LO_FLAGS_READ_ONLY = 1, LO_FLAGS_AUTOCLEAR = 4, LO_FLAGS_PARTSCAN = 8, LO_FLAGS_DIRECT_IO = 16;

    /// <summary>Block major number of loop devices (Documentation/admin-guide/devices.txt).</summary>
    internal const uint LoopMajor = 7;

    internal const int ENOTTY = 25, ENXIO = 6;
}

/// <summary>struct loop_info64 (loop.h), 232 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct LoopInfo64
{
    internal const int Size = 232;
    internal const int NameSize = 64; // LO_NAME_SIZE
    [FieldOffset(0)] public ulong Device;
    [FieldOffset(8)] public ulong Inode;
    [FieldOffset(16)] public ulong RDevice;
    [FieldOffset(24)] public ulong Offset;
    [FieldOffset(32)] public ulong SizeLimit;
    [FieldOffset(40)] public uint Number;
    [FieldOffset(44)] public uint EncryptType;
    [FieldOffset(48)] public uint EncryptKeySize;
    [FieldOffset(52)] public uint Flags;
    [FieldOffset(56)] public fixed byte FileName[NameSize];
    [FieldOffset(120)] public fixed byte CryptName[NameSize];
    [FieldOffset(184)] public fixed byte EncryptKey[32]; // LO_KEY_SIZE
    [FieldOffset(216)] public fixed ulong Init[2];
}

/// <summary>struct loop_config (loop.h, Linux 5.8): u32 fd, u32 block_size, struct loop_info64 info, u64 reserved[8].</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct LoopConfig
{
    internal const int Size = 304;
    [FieldOffset(0)] public uint Fd;
    [FieldOffset(4)] public uint BlockSize;
    [FieldOffset(8)] public LoopInfo64 Info;
    [FieldOffset(240)] public fixed ulong Reserved[8];
}
