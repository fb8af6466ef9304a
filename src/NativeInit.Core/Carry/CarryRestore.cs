using System.Text;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Carry;

/// <summary>What <see cref="CarryRestore.Apply"/> did.</summary>
public sealed record CarryRestoreResult(IReadOnlyList<string> Written, IReadOnlyList<string> Created, IReadOnlyList<string> Skipped,
    IReadOnlyList<string> PasswordUsers, IReadOnlyList<string> PasswordUsersNotInNewSystem)
{
    /// <summary>One line: the counts, and by name what was not carried (a file that is a symbolic link in the new
    /// system, the password of a user the new system does not have), so nobody learns it only at the first login.</summary>
    public string Summary() =>
        $"{Written.Count} rewritten, {Created.Count} created, {Skipped.Count} skipped, password hashes of {PasswordUsers.Count} users merged" +
        (Skipped.Count > 0 ? $"; left as the new system has them: {string.Join(", ", Skipped)}" : "") +
        (PasswordUsersNotInNewSystem.Count > 0 ? $"; not carried, no such user in the new system: {string.Join(", ", PasswordUsersNotInNewSystem)}" : "");
}

/// <summary>
/// Stage two's restore of the carried configuration into the NEW root (mounted at <c>newRoot</c>):
/// <list type="bullet">
/// <item>a file the new system already has is rewritten in place (truncate and write, then fsync): it keeps the new
/// system's inode, owner, mode and xattrs, so its SELinux label stays the one the vendor's rootfs gave it (the field
/// lesson: files restored without labels broke logins);</item>
/// <item>a file the new system lacks (e.g. ifcfg-eth0) is created whole with the carried owner and mode (set-id bits
/// dropped; SSH private host keys root:root 0600, <see cref="IsPrivateHostKey"/>) and the security.selinux label of
/// its directory (/etc/sysconfig/network-scripts and its files are both net_conf_t in the CentOS 7 policy), under a
/// temporary name renamed into place (<see cref="AtomicFile.CreateWithAttributes"/>): a resumed step finds no file or
/// a finished one; a directory it needs that the new system lacks (a Debian target has no /etc/sysconfig) is made
/// level by level with its parent's label;</item>
/// <item>a path that is a symlink in the new system (e.g. resolv.conf managed by a resolver) is left alone and listed
/// as skipped;</item>
/// <item>/etc/shadow is never taken from the old system: the carried hashes are merged into the new file
/// (<see cref="ShadowFile.Merge"/>), and since the merge reads the file it writes, the file is replaced whole
/// (<see cref="AtomicFile.ReplaceKeepingAttributes"/>): a rewrite in place cut short by a power cut would leave the
/// resumed step merging into an empty file, a system without its accounts.</item>
/// </list>
/// Only paths under /etc are written; anything else in a record is refused.
/// </summary>
public static class CarryRestore
{
    public const string SelinuxXattr = "security.selinux";

    public static CarryRestoreResult Apply(string newRoot, CarryRecord record, Action<string>? log = null)
    {
        newRoot = Path.GetFullPath(newRoot);
        foreach (var f in record.Files) CheckPath(f.Path);
        var written = new List<string>();
        var created = new List<string>();
        var skipped = new List<string>();
        foreach (var f in record.Files)
        {
            var target = Path.Combine(newRoot, f.Path.TrimStart('/'));
            var fi = new FileInfo(target);
            if (fi.LinkTarget is not null)
            {
                skipped.Add(f.Path);
                log?.Invoke($"carry: {f.Path} is a symlink in the new system ({fi.LinkTarget}); left as it is");
                continue;
            }
            if (fi.Exists)
            {
                WriteInPlace(target, f.Content);
                written.Add(f.Path);
                log?.Invoke($"carry: {f.Path} rewritten in place ({f.Content.Length} bytes; owner, mode and labels of the new system kept)");
                continue;
            }
            var dir = Path.GetDirectoryName(target)!;
            if (!Directory.Exists(dir)) CreateDirectories(newRoot, dir, log);
            var (uid, gid, mode) = IsPrivateHostKey(f.Path) ? (0u, 0u, 0x180u) : (f.Uid, f.Gid, f.Mode & 0x1FF);
            var label = PosixPath.GetXattr(dir, SelinuxXattr);
            AtomicFile.CreateWithAttributes(target, f.Content, uid, gid, mode,
                label is null ? [] : [new KeyValuePair<string, byte[]>(SelinuxXattr, label)]);
            created.Add(f.Path);
            log?.Invoke($"carry: {f.Path} created (mode {Convert.ToString(mode, 8)}, owner {uid}:{gid})");
        }

        IReadOnlyList<string> users = [], notThere = [];
        var shadow = Path.Combine(newRoot, "etc/shadow");
        if (record.Passwords.Count > 0)
        {
            if (!File.Exists(shadow)) throw new NativeInitException($"carry: {shadow} does not exist in the new system; cannot merge password hashes");
            var (merged, m, s) = ShadowFile.Merge(File.ReadAllText(shadow), record.Passwords);
            AtomicFile.ReplaceKeepingAttributes(shadow, Encoding.UTF8.GetBytes(merged));
            (users, notThere) = (m, s);
            log?.Invoke($"carry: password hashes merged into /etc/shadow for {string.Join(", ", m)}" +
                (s.Count > 0 ? $"; not in the new system: {string.Join(", ", s)}" : ""));
        }
        return new CarryRestoreResult(written, created, skipped, users, notThere);
    }

    /// <summary>Creates <paramref name="dir"/> and its missing parents one level at a time, each labelled with its
    /// parent's security.selinux (what the kernel gives a new directory without a type transition): a Debian target has
    /// no /etc/sysconfig, and a directory created without a label is unlabeled_t under an enforcing policy.</summary>
    private static void CreateDirectories(string newRoot, string dir, Action<string>? log)
    {
        var missing = new Stack<string>();
        for (var d = dir; !Directory.Exists(d); d = Path.GetDirectoryName(d)!) missing.Push(d);
        while (missing.TryPop(out var d))
        {
            Directory.CreateDirectory(d);
            if (PosixPath.GetXattr(Path.GetDirectoryName(d)!, SelinuxXattr) is { } label) PosixPath.SetXattr(d, SelinuxXattr, label);
            log?.Invoke($"carry: created directory {Path.GetRelativePath(newRoot, d)}");
        }
    }

    /// <summary>An SSH private host key (/etc/ssh/ssh_host_*_key). CentOS 7 keeps them 0640 root:ssh_keys, a group
    /// whose number is chosen at install time: under that number in the new system there may be another group or none,
    /// and OpenSSH refuses a private key that its group can read unless the group is its own ssh_keys (RHEL's sshd) or
    /// never (upstream's); with every host key refused sshd does not start and the gateway is out of reach. So a key
    /// the new system lacks is created root:root and 0600, as both accept.</summary>
    public static bool IsPrivateHostKey(string path) =>
        path.StartsWith("/etc/ssh/ssh_host_", StringComparison.Ordinal) && path.EndsWith("_key", StringComparison.Ordinal) && path.LastIndexOf('/') == "/etc/ssh".Length;

    private static void CheckPath(string path)
    {
        if (!path.StartsWith("/etc/", StringComparison.Ordinal) || path.Split('/').Any(c => c is ".." or ".") || path.Contains('\0'))
            throw new InvalidDataFormatException($"carry record: path {path} is not a file under /etc");
        if (path == "/etc/shadow") throw new InvalidDataFormatException("carry record: /etc/shadow is carried as password hashes only");
    }

    private static void WriteInPlace(string path, byte[] bytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None);
        f.SetLength(0);
        f.Write(bytes);
        f.Flush(flushToDisk: true);
    }
}
