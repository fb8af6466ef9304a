using NativeInit.Core.Platform;

namespace NativeInit.Core;

/// <summary>
/// State files written so that a power cut leaves either the old bytes or the new ones, never a mix (rauc's
/// status_file.c does the same with GLib): write <c>PATH.tmp</c>, fsync it, rename it over PATH, fsync the directory.
/// An unreadable state file is never destroyed: <see cref="KeepBroken"/> renames it to <c>PATH.broken</c>.
/// </summary>
public static class AtomicFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="bytes"/> atomically and durably.</summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, UnixFileMode mode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead)
    {
        string tmp = path + ".tmp";
        using (var handle = File.OpenHandle(tmp, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None,
                   preallocationSize: 0))
        {
            RandomAccess.Write(handle, bytes, 0);
            File.SetUnixFileMode(handle, mode);
            BootCalls.Fsync(handle, tmp);
        }
        File.Move(tmp, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>fsync(2) of a directory: a rename or a new name in it is on the disk.</summary>
    public static void SyncDirectory(string directory)
    {
        using var handle = BootCalls.OpenDirectory(directory);
        BootCalls.Fsync(handle, directory);
    }

    /// <summary>Moves an unreadable state file aside as <c>PATH.broken</c> (replacing an older one) and returns that path.</summary>
    public static string KeepBroken(string path)
    {
        string broken = path + ".broken";
        File.Move(path, broken, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return broken;
    }
}
