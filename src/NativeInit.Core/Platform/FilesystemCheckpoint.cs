namespace NativeInit.Core.Platform;

/// <summary>
/// Makes what was written to a mounted file system readable by a reader that does not replay its journal: GRUB reads
/// xfs and ext4 /boot without looking at the log, so a file that was written and fsynced, but whose inode and extents
/// are still only in the log, does not exist for GRUB after a power cut. Freezing the file system (FIFREEZE) writes
/// every dirty block and the logged metadata back in place and leaves the log clean; thawing it (FITHAW) right after
/// lets writers go on. Writers block for the few milliseconds between the two.
/// </summary>
public static class FilesystemCheckpoint
{
    /// <summary>Freezes and thaws the file system mounted at (or holding) <paramref name="path"/>.</summary>
    public static void Run(string path)
    {
        int fd = PosixError.Check(Libc.freeze_open(path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC), "open", path);
        try
        {
            PosixError.Check(Libc.freeze_ioctl(fd, Libc.FIFREEZE, 0), "ioctl FIFREEZE", path);
            PosixError.Check(Libc.freeze_ioctl(fd, Libc.FITHAW, 0), "ioctl FITHAW", path);
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
