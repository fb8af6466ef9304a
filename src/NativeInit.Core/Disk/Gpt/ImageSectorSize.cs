namespace NativeInit.Core.Disk.Gpt;

/// <summary>
/// The one rule for the logical sector size of a disk image (a block device reports its own, and
/// <see cref="DiskDevice.Open"/> ignores this value for one): the size asked for; else the size the partition table
/// to be written was made for; else 512 or 4096, whichever has a GPT header at LBA 1 of the image; else 512.
/// </summary>
public static class ImageSectorSize
{
    public static int Choose(string path, int? requested = null, SgdiskBackup? backup = null)
    {
        if (requested is { } r) return r;
        if (backup is not null) return backup.SourceSectorSize;
        return IsRegularFile(path) ? GptReader.DetectSectorSize(path) : 512;
    }

    private static bool IsRegularFile(string path)
    {
        try { return File.Exists(path) && (File.GetAttributes(path) & (FileAttributes.Device | FileAttributes.Directory)) == 0 && new FileInfo(path).Length >= 4096 + 8; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}
