using System.Text;

namespace NativeInit.Core;

/// <summary>The /etc/fstab that convert and update write into a new root: which lines name a device, and the write.</summary>
public static class FstabFile
{
    /// <summary>Whether an fstab line's first field names a block device or a file system on one (fstab(5): UUID=,
    /// LABEL=, PARTUUID=, PARTLABEL=, ID= tags and /dev paths): in a bundle's tree such a line names the disks of the
    /// machine it was built on, not the new layout's.</summary>
    public static bool NamesDevice(string spec) =>
        spec.StartsWith("UUID=", StringComparison.Ordinal) || spec.StartsWith("LABEL=", StringComparison.Ordinal) ||
        spec.StartsWith("PARTUUID=", StringComparison.Ordinal) || spec.StartsWith("PARTLABEL=", StringComparison.Ordinal) ||
        spec.StartsWith("ID=", StringComparison.Ordinal) || spec.StartsWith("/dev/", StringComparison.Ordinal);

    /// <summary>The text of ROOT/etc/fstab as the bundle's tree brought it, or "" when it has none. A symbolic link
    /// counts as none: the tree is not the root of the process reading it, so an absolute link would name a file
    /// outside it (the conversion initramfs's, the running slot's), and a relative one could climb out of it.</summary>
    public static string ReadTree(string root)
    {
        var info = new FileInfo(Path.Combine(root, "etc/fstab"));
        return info.Exists && info.LinkTarget is null ? File.ReadAllText(info.FullName) : "";
    }

    /// <summary>Writes <paramref name="text"/> to ROOT/etc/fstab. An existing file is replaced whole, keeping its owner,
    /// mode and label (<see cref="AtomicFile.ReplaceKeepingAttributes"/>: the text is computed from the file itself, so
    /// a rewrite in place cut short by a power cut would leave a resumed step nothing to start from); a symbolic link
    /// is replaced by a file (0644), as is a missing file.</summary>
    public static void Write(string root, string text)
    {
        string path = Path.Combine(root, "etc/fstab");
        var bytes = Encoding.UTF8.GetBytes(text);
        var info = new FileInfo(path);
        if (info.Exists && info.LinkTarget is null)
        {
            AtomicFile.ReplaceKeepingAttributes(path, bytes);
            return;
        }
        if (info.LinkTarget is not null) File.Delete(path);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (var n = new FileStream(path, new FileStreamOptions
               {
                   Mode = FileMode.CreateNew, Access = FileAccess.Write,
                   UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
               }))
        {
            n.Write(bytes);
            n.Flush(flushToDisk: true);
        }
        AtomicFile.SyncDirectory(Path.GetDirectoryName(path)!);
    }
}
