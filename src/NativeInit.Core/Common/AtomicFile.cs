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

    /// <summary>
    /// Replaces an existing file of another system's tree (the new root's /etc/shadow, /etc/fstab,
    /// /etc/selinux/config) as shadow-utils replaces /etc/shadow: PATH+ is written with the old file's owner, mode and
    /// every xattr (its SELinux label among them; chown before the mode and the xattrs, since chown clears set-id bits
    /// and security.capability), synced, renamed over PATH, and the directory synced. For a file whose new content is
    /// computed from its old one: a power cut leaves the old bytes or the new ones, so a step run again computes the
    /// same content, where a rewrite in place cut short (the file truncated, the new bytes not on the disk yet) would
    /// leave it an empty file to start from. A PATH+ left by an interrupted run is written anew.
    /// </summary>
    public static void ReplaceKeepingAttributes(string path, ReadOnlySpan<byte> bytes)
    {
        var z = PosixPath.Z(path);
        var st = PosixPath.LStat(z);
        WriteWhole(path, bytes, st.Uid, st.Gid, st.Mode & 0xFFF, PosixPath.ListXattrs(z), replace: true);
    }

    /// <summary>
    /// Creates <paramref name="path"/>, which must not exist, whole: PATH+ gets the bytes, the owner, the mode and the
    /// xattrs, is synced and renamed to PATH, and the directory synced. A power cut leaves no PATH or the finished one,
    /// never a PATH with the right bytes and the wrong owner or no label, which a step run again would take for done.
    /// </summary>
    public static void CreateWithAttributes(string path, ReadOnlySpan<byte> bytes, uint uid, uint gid, uint mode,
        IEnumerable<KeyValuePair<string, byte[]>> xattrs) => WriteWhole(path, bytes, uid, gid, mode, xattrs, replace: false);

    /// <summary>Chown before the mode and the xattrs: chown clears set-id bits and security.capability.</summary>
    private static void WriteWhole(string path, ReadOnlySpan<byte> bytes, uint uid, uint gid, uint mode,
        IEnumerable<KeyValuePair<string, byte[]>> xattrs, bool replace)
    {
        string tmp = path + "+";
        using (var handle = File.OpenHandle(tmp, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None, preallocationSize: 0))
        {
            File.SetUnixFileMode(handle, UnixFileMode.None); // FileMode.Create truncated a leftover; nobody reads it meanwhile
            RandomAccess.Write(handle, bytes, 0);
            PosixPath.Chown(tmp, uid, gid);
            File.SetUnixFileMode(handle, (UnixFileMode)mode);
            foreach (var (name, value) in xattrs) PosixPath.SetXattr(tmp, name, value);
            BootCalls.Fsync(handle, tmp);
        }
        File.Move(tmp, path, overwrite: replace);
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
