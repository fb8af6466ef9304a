using System.Runtime.InteropServices;

namespace NativeInit.Core.Platform;

// File system freeze and thaw. Specification: linux include/uapi/linux/fs.h (FIFREEZE, FITHAW), and what a freeze
// does: fs/super.c freeze_super (sync, then the file system's freeze_fs: xfs_fs_freeze → xfs_log_quiesce, which
// writes every logged metadata block back in place and covers the log; ext4_freeze → jbd2_journal_flush).
internal static partial class Libc
{
    /// <summary>_IOWR('X', 119, int): freeze the file system holding the descriptor (fs.h).</summary>
    internal const uint FIFREEZE = 0xC0045877;
    /// <summary>_IOWR('X', 120, int): thaw it (fs.h).</summary>
    internal const uint FITHAW = 0xC0045878;

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int freeze_ioctl(int fd, nuint request, nint zero);

    [LibraryImport(Name, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int freeze_open(string path, int flags);
}
