using System.Diagnostics.CodeAnalysis;
using NativeInit.Core.Archive.Tar;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Archive.Extraction;

/// <summary>Counters of one extraction.</summary>
public sealed class ExtractionStats
{
    public long Regular, Directories, Symlinks, HardLinks, CharDevices, BlockDevices, Fifos, Sparse;
    /// <summary>File data bytes written (sparse files: the data segments, not the holes).</summary>
    public long BytesWritten;
    public long XattrsSet;
    /// <summary>user.* xattrs on symlinks: the kernel refuses them (EPERM) on every file system.</summary>
    public long XattrsSkipped;
    /// <summary>POSIX ACLs restored from their pax text form (SCHILY.acl.access / .default), each also counted as an xattr.</summary>
    public long AclsFromText;
    /// <summary>Lone zero blocks followed by more entries, read past (see <see cref="TarReader.LoneZeroBlocks"/>).</summary>
    public long LoneZeroBlocks;
    /// <summary>Archive offset (uncompressed) of the first of them, -1 when none.</summary>
    public long FirstLoneZeroBlockOffset = -1;

    public long Entries => Regular + Directories + Symlinks + HardLinks + CharDevices + BlockDevices + Fifos;
}

/// <summary>
/// Applies tar entries beneath a target directory, never creating, changing or following anything outside it.
/// <para>Path safety: every entry is resolved relative to the target's directory descriptor one component at a time
/// with openat(O_NOFOLLOW|O_DIRECTORY) (works on Linux 3.10, which has no openat2/RESOLVE_BENEATH). Absolute paths,
/// ".." components, hard link targets outside, and any path through a symbolic link (ELOOP/ENOTDIR), including a
/// symlink the archive created earlier, are refused with a message naming the entry. Leaves are created with
/// O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat, symlinkat, linkat (flags 0: never follows) and mknodat. An existing
/// non-directory in the way is unlinked and replaced (GNU tar's default); an existing directory is kept and gets the
/// entry's metadata. The descriptors of the current parent chain are cached (archives are mostly sorted).</para>
/// <para>Metadata order: chown (numeric ids; only as root, as GNU tar), then the full mode including setuid, setgid
/// and sticky, then every xattr, then the mtime in nanoseconds — so neither chown clears the setuid bits or
/// security.capability. Directories get their metadata after their contents (deferred, children first).</para>
/// </summary>
public sealed class TarExtractor : IDisposable
{
    private const uint NewFileMode = 0x180;      // 0600 until the entry's mode is applied
    private const uint NewDirMode = 0x1C0;       // 0700 until the deferred metadata
    private const uint ImplicitDirMode = 0x1FF;  // 0777 & ~umask, as GNU tar for missing parents

    private readonly DirectoryHandle _root;
    private readonly string _rootDisplay;
    private readonly bool _restoreOwners;
    private readonly List<(int Start, int Length)> _components = [];
    private readonly List<(int Start, int Length)> _linkComponents = [];
    private readonly ByteBuffer _cachePath = new();
    private readonly List<(int Start, int Length)> _cacheComponents = [];
    private readonly List<DirectoryHandle> _cacheHandles = [];
    private readonly DeferredDirectories _deferred = new();
    private TarEntry _current = null!;

    private readonly TargetAccounts _accounts;
    private readonly List<(byte[] Path, bool IsDefault, byte[] Text, long Offset)> _pendingAcls = [];

    private TarExtractor(DirectoryHandle root, string display, bool restoreOwners)
    {
        _root = root;
        _rootDisplay = display;
        _restoreOwners = restoreOwners;
        _accounts = new TargetAccounts(root);
    }

    public ExtractionStats Stats { get; } = new();

    /// <summary>Dry run: read and check every entry (format, checksums, names: absolute, "..", hard link targets) and
    /// count what would be made, without touching the file system beneath the target. Checks that depend on what the
    /// archive creates (a path through a symlink made earlier) are not simulated.</summary>
    public bool DryRun { get; init; }

    /// <summary>Called after each entry and each written chunk (progress reporting).</summary>
    public Action? Tick { get; set; }

    /// <summary>Opens the target directory; <see cref="RefusedException"/> when it is missing or not a directory.</summary>
    public static TarExtractor Open(string directory, bool? restoreOwners = null, bool dryRun = false)
    {
        int rc = DirectoryHandle.TryOpenRoot(directory, out var root);
        if (rc != 0)
            throw new RefusedException($"target directory {directory}: {PosixError.Message(rc)} ({PosixError.Name(rc)}); it must exist");
        return new TarExtractor(root!, directory, restoreOwners ?? ProcessIdentity.IsRoot) { DryRun = dryRun };
    }

    /// <summary>Extracts every entry of <paramref name="reader"/>, then applies the directories' metadata.</summary>
    public void ExtractAll(TarReader reader)
    {
        while (reader.Next() is { } entry)
        {
            Extract(entry, reader);
            Tick?.Invoke();
        }
        Stats.LoneZeroBlocks = reader.LoneZeroBlocks;
        Stats.FirstLoneZeroBlockOffset = reader.FirstLoneZeroBlockOffset;
        if (DryRun) return;
        ApplyDeferredDirectories();
        ApplyPendingAcls();
    }

    /// <summary>Applies one entry; file data is read from <paramref name="reader"/>.</summary>
    public void Extract(TarEntry entry, TarReader reader)
    {
        _current = entry;
        _accounts.Generation++;
        if (!entry.AclNfs4Text.IsEmpty)
            FailFormat("carries an NFSv4 ACL (pax SCHILY.acl.ace), which Linux file systems other than NFS cannot take; " +
                       "it cannot be restored");
        if (!DryRun && (!entry.AclAccessText.IsEmpty || !entry.AclDefaultText.IsEmpty)) AclsToXattrs(entry);
        Split(entry.Path, _components, "path");
        if (_components.Count == 0)
        {
            // "." or "./": the target directory itself.
            if (entry.Type != TarEntryType.Directory) Refuse("names the target directory itself but is not a directory");
            _deferred.Add(entry, [], 0);
            Stats.Directories++;
            return;
        }
        if (DryRun)
        {
            CountDryRun(entry);
            return;
        }
        var parent = WalkParents(entry.Path, _components.Count - 1);
        var leafPart = _components[^1];
        var leaf = entry.Path.Slice(leafPart.Start, leafPart.Length);
        switch (entry.Type)
        {
            case TarEntryType.Regular: ExtractFile(entry, reader, parent, leaf); break;
            case TarEntryType.Directory: ExtractDirectory(entry, parent, leaf); break;
            case TarEntryType.SymbolicLink: ExtractSymlink(entry, parent, leaf); break;
            case TarEntryType.HardLink: ExtractHardLink(entry, parent, leaf); break;
            case TarEntryType.CharacterDevice: ExtractNode(entry, parent, leaf, Libc.S_IFCHR); Stats.CharDevices++; break;
            case TarEntryType.BlockDevice: ExtractNode(entry, parent, leaf, Libc.S_IFBLK); Stats.BlockDevices++; break;
            case TarEntryType.Fifo: ExtractNode(entry, parent, leaf, Libc.S_IFIFO); Stats.Fifos++; break;
        }
    }

    private void CountDryRun(TarEntry e)
    {
        switch (e.Type)
        {
            case TarEntryType.Regular:
                Stats.Regular++;
                if (e.IsSparse) Stats.Sparse++;
                Stats.BytesWritten += e.Size;
                break;
            case TarEntryType.Directory: Stats.Directories++; break;
            case TarEntryType.SymbolicLink: Stats.Symlinks++; break;
            case TarEntryType.HardLink:
                Split(e.LinkTarget, _linkComponents, "hard link target");
                if (_linkComponents.Count == 0) Refuse("is a hard link to the target directory itself");
                Stats.HardLinks++;
                break;
            case TarEntryType.CharacterDevice: Stats.CharDevices++; break;
            case TarEntryType.BlockDevice: Stats.BlockDevices++; break;
            case TarEntryType.Fifo: Stats.Fifos++; break;
        }
        Stats.XattrsSet += e.XattrCount;
    }

    // ---- entry types ----

    private void ExtractFile(TarEntry e, TarReader reader, DirectoryHandle parent, ReadOnlySpan<byte> leaf)
    {
        int rc = parent.TryCreateFile(leaf, NewFileMode, out var file);
        if (rc == PosixError.EEXIST)
        {
            RemoveExisting(parent, leaf);
            rc = parent.TryCreateFile(leaf, NewFileMode, out file);
        }
        if (rc != 0) Fail("create", rc);
        try
        {
            if (e.IsSparse)
            {
                var map = e.SparseMap;
                int seg = 0;
                long segDone = 0;
                while (reader.TryReadData(out var data))
                {
                    while (!data.IsEmpty)
                    {
                        while (seg < map.Count && segDone == map[seg].Length) { seg++; segDone = 0; }
                        if (seg >= map.Count) FailFormat("more data than its sparse map describes");
                        int take = (int)Math.Min(data.Length, map[seg].Length - segDone);
                        rc = file.TryWriteAllAt(data[..take], map[seg].Offset + segDone);
                        if (rc != 0) Fail("write", rc);
                        segDone += take;
                        data = data[take..];
                        Stats.BytesWritten += take;
                    }
                    Tick?.Invoke();
                }
                rc = file.TryTruncate(e.RealSize);
                if (rc != 0) Fail("ftruncate", rc);
                Stats.Sparse++;
            }
            else
            {
                while (reader.TryReadData(out var data))
                {
                    rc = file.TryWriteAll(data);
                    if (rc != 0) Fail("write", rc);
                    Stats.BytesWritten += data.Length;
                    Tick?.Invoke();
                }
            }
            ApplyMetadata(file, e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
        rc = file.TryClose();
        if (rc != 0) Fail("close", rc);
        Stats.Regular++;
    }

    private void ExtractDirectory(TarEntry e, DirectoryHandle parent, ReadOnlySpan<byte> leaf)
    {
        int rc = parent.TryMakeDirectory(leaf, NewDirMode);
        if (rc == PosixError.EEXIST)
        {
            rc = parent.TryOpenDirectory(leaf, out var existing);
            if (rc == 0) existing!.Dispose();
            else if (rc is PosixError.ELOOP or PosixError.ENOTDIR)
            {
                RemoveExisting(parent, leaf);
                rc = parent.TryMakeDirectory(leaf, NewDirMode);
            }
        }
        if (rc != 0) Fail("mkdir", rc);
        _deferred.Add(e, _components, _components.Count);
        Stats.Directories++;
    }

    private void ExtractSymlink(TarEntry e, DirectoryHandle parent, ReadOnlySpan<byte> leaf)
    {
        if (e.LinkTarget.IsEmpty) FailFormat("symbolic link with an empty target");
        if (e.LinkTarget.Contains((byte)0)) FailFormat("symbolic link target contains a NUL byte");
        int rc = parent.TrySymlink(e.LinkTarget, leaf);
        if (rc == PosixError.EEXIST)
        {
            RemoveExisting(parent, leaf);
            rc = parent.TrySymlink(e.LinkTarget, leaf);
        }
        if (rc != 0) Fail("symlink", rc);
        ApplyMetadataAt(parent, leaf, e, isSymlink: true);
        Stats.Symlinks++;
    }

    private void ExtractHardLink(TarEntry e, DirectoryHandle parent, ReadOnlySpan<byte> leaf)
    {
        var target = e.LinkTarget;
        Split(target, _linkComponents, "hard link target");
        if (_linkComponents.Count == 0) Refuse("is a hard link to the target directory itself");
        // Linking an entry to itself (some writers emit it) leaves the file as it is.
        if (SamePath(e.Path, _components, target, _linkComponents)) { Stats.HardLinks++; return; }
        using var targetDir = WalkUncached(target, _linkComponents, _linkComponents.Count - 1, "hard link target");
        var tl = _linkComponents[^1];
        var targetLeaf = target.Slice(tl.Start, tl.Length);
        // WalkUncached does not touch the cached chain, so `parent` is still open.
        var dir = targetDir ?? _root;
        int rc = parent.TryLink(dir, targetLeaf, leaf);
        if (rc == PosixError.EEXIST)
        {
            RemoveExisting(parent, leaf);
            rc = parent.TryLink(dir, targetLeaf, leaf);
        }
        if (rc == PosixError.ENOENT)
            throw new NativeInitException($"{Name()}: hard link target '{e.DisplayLinkTarget}' does not exist (it must come earlier in the archive)");
        if (rc != 0) Fail("link", rc);
        Stats.HardLinks++;
    }

    private void ExtractNode(TarEntry e, DirectoryHandle parent, ReadOnlySpan<byte> leaf, uint type)
    {
        int rc = parent.TryMakeNode(leaf, type | NewFileMode, e.DevMajor, e.DevMinor);
        if (rc == PosixError.EEXIST)
        {
            RemoveExisting(parent, leaf);
            rc = parent.TryMakeNode(leaf, type | NewFileMode, e.DevMajor, e.DevMinor);
        }
        if (rc != 0) Fail("mknod", rc);
        ApplyMetadataAt(parent, leaf, e, isSymlink: false);
    }

    // ---- metadata ----

    /// <summary>POSIX ACLs given as text (SCHILY.acl.access / .default: what star and bsdtar write, GNU tar --acls too)
    /// become the system.posix_acl_* xattrs, applied with the other xattrs (after chmod, so the group bits end as the
    /// ACL mask, as on the source). Names without a numeric id are resolved against the target's etc/passwd and
    /// etc/group. An xattr of the same name in the archive (GNU tar --xattrs also stores the binary form) wins.
    /// Symlinks and hard links take no ACL; only directories take a default ACL.</summary>
    private void AclsToXattrs(TarEntry e)
    {
        if (e.Type is TarEntryType.SymbolicLink or TarEntryType.HardLink) return;
        if (!e.AclAccessText.IsEmpty && !e.HasXattr(PosixAcl.AccessXattr))
            AclToXattr(e, e.AclAccessText, isDefault: false);
        if (!e.AclDefaultText.IsEmpty && e.Type == TarEntryType.Directory && !e.HasXattr(PosixAcl.DefaultXattr))
            AclToXattr(e, e.AclDefaultText, isDefault: true);
    }

    private void AclToXattr(TarEntry e, ReadOnlySpan<byte> text, bool isDefault)
    {
        var value = PosixAcl.Encode(text, _accounts, out string? error, out bool unknownName);
        if (value is null && unknownName)
        {
            // The target's etc/passwd or etc/group may come later in the archive (archives in directory order): set
            // this ACL at the end, when the whole tree is there.
            _pendingAcls.Add((e.Path.ToArray(), isDefault, text.ToArray(), e.HeaderOffset));
            return;
        }
        if (value is null) FailFormat($"pax record {AclRecord(isDefault)}: {error}");
        e.SetXattr(isDefault ? PosixAcl.DefaultXattr : PosixAcl.AccessXattr, value);
        Stats.AclsFromText++;
    }

    private static string AclRecord(bool isDefault) => isDefault ? "SCHILY.acl.default" : "SCHILY.acl.access";

    /// <summary>The ACLs whose names the target's accounts did not know when their entry was extracted, now that every
    /// entry is there: set by name beneath the target (never through a symlink); still unknown names are an error.</summary>
    private void ApplyPendingAcls()
    {
        foreach (var (path, isDefault, text, offset) in _pendingAcls)
        {
            _current = null!;
            string who = $"entry '{TarEntry.Display(path)}' (at offset {offset})";
            var value = PosixAcl.Encode(text, _accounts, out string? error);
            if (value is null) throw new InvalidDataFormatException($"tar: {who}: pax record {AclRecord(isDefault)}: {error}");
            _components.Clear();
            int start = 0;
            for (int k = 0; k <= path.Length; k++)
            {
                if (k < path.Length && path[k] != (byte)'/') continue;
                if (k > start && !(k - start == 1 && path[start] == (byte)'.')) _components.Add((start, k - start));
                start = k + 1;
            }
            if (_components.Count == 0) continue;
            var parent = Walk(path, _components.Count - 1, create: false);
            if (parent is null) continue; // replaced by a later entry
            var (ls, ll) = _components[^1];
            int rc = parent.TrySetXattrNoFollow(path.AsSpan(ls, ll), isDefault ? PosixAcl.DefaultXattr : PosixAcl.AccessXattr, value);
            if (rc == PosixError.ENOENT) continue;
            if (rc != 0)
                throw new NativeInitException($"{who}: setxattr {(isDefault ? "system.posix_acl_default" : "system.posix_acl_access")}: " +
                    $"{PosixError.Message(rc)} ({PosixError.Name(rc)})");
            Stats.AclsFromText++;
            Stats.XattrsSet++;
        }
        _pendingAcls.Clear();
        CloseCache();
    }

    private void ApplyMetadata(FileHandle f, TarEntry e) =>
        ApplyMetadata(f, e.Uid, e.Gid, e.Mode, e.MtimeSeconds, e.MtimeNanoseconds, e, null, 0, 0);

    private void ApplyMetadata(FileHandle f, long uid, long gid, uint mode, long sec, int nsec,
        TarEntry? xattrsOf, DeferredDirectories? deferred, int xattrStart, int xattrCount)
    {
        int rc;
        if (_restoreOwners)
        {
            rc = f.TryChown(Id(uid, "uid"), Id(gid, "gid"));
            if (rc != 0) Fail("chown", rc);
        }
        rc = f.TryChmod(mode);
        if (rc != 0) Fail("chmod", rc);
        if (xattrsOf is not null)
        {
            for (int i = 0; i < xattrsOf.XattrCount; i++)
            {
                rc = f.TrySetXattr(xattrsOf.XattrName(i), xattrsOf.XattrValue(i));
                if (rc != 0) Fail($"setxattr {TarEntry.Display(xattrsOf.XattrName(i))}", rc);
                Stats.XattrsSet++;
            }
        }
        else if (deferred is not null)
        {
            for (int i = xattrStart; i < xattrStart + xattrCount; i++)
            {
                rc = f.TrySetXattr(deferred.XattrName(i), deferred.XattrValue(i));
                if (rc != 0) Fail($"setxattr {TarEntry.Display(deferred.XattrName(i))}", rc);
                Stats.XattrsSet++;
            }
        }
        rc = f.TrySetMtime(sec, nsec);
        if (rc != 0) Fail("futimens", rc);
    }

    /// <summary>Metadata of a symlink or device node by name, never following it.</summary>
    private void ApplyMetadataAt(DirectoryHandle parent, ReadOnlySpan<byte> leaf, TarEntry e, bool isSymlink)
    {
        int rc;
        if (_restoreOwners)
        {
            rc = parent.TryChown(leaf, Id(e.Uid, "uid"), Id(e.Gid, "gid"));
            if (rc != 0) Fail("lchown", rc);
        }
        if (!isSymlink)
        {
            rc = parent.TryChmodNode(leaf, e.Mode);
            if (rc != 0) Fail("chmod", rc);
        }
        for (int i = 0; i < e.XattrCount; i++)
        {
            rc = parent.TrySetXattrNoFollow(leaf, e.XattrName(i), e.XattrValue(i));
            if (rc == PosixError.EPERM && isSymlink && e.XattrName(i).StartsWith("user."u8)) { Stats.XattrsSkipped++; continue; }
            if (rc != 0) Fail($"lsetxattr {TarEntry.Display(e.XattrName(i))}", rc);
            Stats.XattrsSet++;
        }
        rc = parent.TrySetMtime(leaf, e.MtimeSeconds, e.MtimeNanoseconds);
        if (rc != 0) Fail("utimensat", rc);
    }

    private uint Id(long id, string what)
    {
        if (id is < 0 or >= uint.MaxValue) FailFormat($"{what} {id} is out of range");
        return (uint)id;
    }

    /// <summary>Directories last, each after everything beneath it (children first, in reverse path order so the
    /// walk reuses the cached parent chain), re-opened from the root without following symlinks. A directory that a
    /// later entry replaced (by a file or a symlink) is skipped, as GNU tar does.</summary>
    private void ApplyDeferredDirectories()
    {
        foreach (int i in _deferred.ChildrenFirst())
        {
            var r = _deferred[i];
            var path = _deferred.Path(i);
            _current = null!;
            _components.Clear();
            int start = 0;
            for (int k = 0; k <= path.Length; k++)
            {
                if (k == path.Length || path[k] == (byte)'/')
                {
                    if (k > start) _components.Add((start, k - start));
                    start = k + 1;
                }
            }
            DirectoryHandle? dir = null;
            try
            {
                if (_components.Count > 0)
                {
                    var parent = Walk(path, _components.Count - 1, create: false);
                    if (parent is null) continue;
                    var (ls, ll) = _components[^1];
                    int rc = parent.TryOpenDirectory(path.Slice(ls, ll), out dir);
                    if (rc is PosixError.ENOENT or PosixError.ELOOP or PosixError.ENOTDIR) continue;
                    if (rc != 0) PosixError.Throw("open", $"{_rootDisplay}/{TarEntry.Display(path)}", rc);
                }
                var f = (dir ?? _root).AsFile();
                try
                {
                    ApplyMetadata(f, r.Uid, r.Gid, r.Mode, r.Seconds, r.Nanoseconds, null, _deferred, r.XattrStart, r.XattrCount);
                }
                catch (PosixException ex)
                {
                    throw new NativeInitException($"directory '{TarEntry.Display(path)}': {ex.Message}", ExitCodes.Failure, ex);
                }
            }
            finally
            {
                dir?.Dispose();
            }
        }
        CloseCache();
    }

    // ---- paths ----

    /// <summary>Splits a path into components; refuses absolute paths, ".." and NUL bytes; skips "." and empty ones.</summary>
    private void Split(ReadOnlySpan<byte> path, List<(int Start, int Length)> parts, string what)
    {
        parts.Clear();
        if (path.IsEmpty) FailFormat($"empty {what}");
        if (path[0] == (byte)'/') Refuse($"{what} '{TarEntry.Display(path)}' is absolute");
        if (path.Contains((byte)0)) Refuse($"{what} contains a NUL byte");
        int start = 0;
        for (int i = 0; i <= path.Length; i++)
        {
            if (i < path.Length && path[i] != (byte)'/') continue;
            int len = i - start;
            if (len == 2 && path[start] == (byte)'.' && path[start + 1] == (byte)'.')
                Refuse($"{what} '{TarEntry.Display(path)}' contains a '..' component");
            if (len > 0 && !(len == 1 && path[start] == (byte)'.')) parts.Add((start, len));
            start = i + 1;
        }
    }

    private static bool SamePath(ReadOnlySpan<byte> a, List<(int Start, int Length)> ac, ReadOnlySpan<byte> b, List<(int Start, int Length)> bc)
    {
        if (ac.Count != bc.Count) return false;
        for (int i = 0; i < ac.Count; i++)
            if (!a.Slice(ac[i].Start, ac[i].Length).SequenceEqual(b.Slice(bc[i].Start, bc[i].Length))) return false;
        return true;
    }

    /// <summary>Opens (creating missing ones) the first <paramref name="count"/> components, reusing the cached chain of
    /// the previous entry where it matches. The cache then holds exactly this chain.</summary>
    private DirectoryHandle WalkParents(ReadOnlySpan<byte> path, int count) => Walk(path, count, create: true)!;

    /// <summary>The cached walk; with <paramref name="create"/> false nothing is created and a component that is missing,
    /// a symlink or not a directory gives null.</summary>
    private DirectoryHandle? Walk(ReadOnlySpan<byte> path, int count, bool create)
    {
        int common = 0;
        while (common < count && common < _cacheComponents.Count)
        {
            var (s, l) = _components[common];
            var (cs, cl) = _cacheComponents[common];
            if (!path.Slice(s, l).SequenceEqual(_cachePath.Span.Slice(cs, cl))) break;
            common++;
        }
        for (int i = _cacheHandles.Count - 1; i >= common; i--)
        {
            _cacheHandles[i].Dispose();
            _cacheHandles.RemoveAt(i);
            _cachePath.Truncate(_cacheComponents[i].Start);
            _cacheComponents.RemoveAt(i);
        }
        var cur = common == 0 ? _root : _cacheHandles[common - 1];
        for (int i = common; i < count; i++)
        {
            var (s, l) = _components[i];
            var name = path.Slice(s, l);
            int rc = cur.TryOpenDirectory(name, out var next);
            if (!create && rc is PosixError.ENOENT or PosixError.ELOOP or PosixError.ENOTDIR) return null;
            if (rc == PosixError.ENOENT)
            {
                rc = cur.TryMakeDirectory(name, ImplicitDirMode);
                if (rc != 0 && rc != PosixError.EEXIST) Fail("mkdir", rc, path[..(s + l)]);
                rc = cur.TryOpenDirectory(name, out next);
            }
            if (rc != 0) RefuseWalk(rc, path[..(s + l)]);
            _cacheComponents.Add((_cachePath.Length, l));
            _cachePath.Append(name);
            _cacheHandles.Add(next!);
            cur = next!;
        }
        return cur;
    }

    /// <summary>Opens the first <paramref name="count"/> components of an existing path without the cache and without
    /// creating anything; null means the root. The caller disposes the result.</summary>
    private DirectoryHandle? WalkUncached(ReadOnlySpan<byte> path, List<(int Start, int Length)> parts, int count, string what)
    {
        DirectoryHandle? cur = null;
        for (int i = 0; i < count; i++)
        {
            var (s, l) = parts[i];
            int rc = (cur ?? _root).TryOpenDirectory(path.Slice(s, l), out var next);
            cur?.Dispose();
            if (rc == PosixError.ENOENT)
                throw new NativeInitException($"{Name()}: {what} '{TarEntry.Display(path)}' does not exist (it must come earlier in the archive)");
            if (rc != 0) RefuseWalk(rc, path[..(s + l)]);
            cur = next;
        }
        return cur;
    }

    private void RemoveExisting(DirectoryHandle parent, ReadOnlySpan<byte> leaf)
    {
        int rc = parent.TryUnlink(leaf, directory: false);
        if (rc is PosixError.EISDIR or PosixError.EPERM)
        {
            rc = parent.TryUnlink(leaf, directory: true);
            if (rc is PosixError.ENOTEMPTY or PosixError.EEXIST)
                throw new NativeInitException($"{Name()}: a non-empty directory of the same name is in the way");
        }
        if (rc != 0 && rc != PosixError.ENOENT) Fail("unlink", rc);
    }

    private void CloseCache()
    {
        foreach (var h in _cacheHandles) h.Dispose();
        _cacheHandles.Clear();
        _cacheComponents.Clear();
        _cachePath.Clear();
    }

    public void Dispose()
    {
        CloseCache();
        _root.Dispose();
    }

    // ---- errors ----

    private string Name() => _current is null ? "entry" : $"entry '{_current.DisplayPath}' (at offset {_current.HeaderOffset})";

    [DoesNotReturn]
    private void Refuse(string reason) => throw new NativeInitException($"refusing {Name()}: {reason}");

    [DoesNotReturn]
    private void RefuseWalk(int errno, ReadOnlySpan<byte> prefix)
    {
        string p = TarEntry.Display(prefix);
        if (errno == PosixError.ELOOP) Refuse($"'{p}' is a symbolic link; extraction never writes through a symbolic link");
        if (errno == PosixError.ENOTDIR) Refuse($"'{p}' is not a directory (a symbolic link or a file is in the way)");
        Fail("open", errno, prefix);
    }

    [DoesNotReturn]
    private void FailFormat(string reason) => throw new InvalidDataFormatException($"tar: {Name()}: {reason}");

    [DoesNotReturn]
    private void Fail(string operation, int errno, ReadOnlySpan<byte> path = default)
    {
        string where = path.IsEmpty ? "" : $" ('{TarEntry.Display(path)}')";
        throw new NativeInitException($"{Name()}{where}: {operation}: {PosixError.Message(errno)} ({PosixError.Name(errno)})");
    }
}

/// <summary>The directories whose metadata is applied at the end: normalized paths and xattrs in one growing arena.</summary>
internal sealed class DeferredDirectories
{
    internal readonly record struct Record(int PathStart, int PathLength, int Depth, uint Mode, long Uid, long Gid,
        long Seconds, int Nanoseconds, int XattrStart, int XattrCount);

    private readonly ByteBuffer _arena = new(4096);
    private readonly List<Record> _records = [];
    private readonly List<(int NameStart, int NameLength, int ValueStart, int ValueLength)> _xattrs = [];

    public Record this[int i] => _records[i];
    public ReadOnlySpan<byte> Path(int i) => _arena.Array.AsSpan(_records[i].PathStart, _records[i].PathLength);
    public ReadOnlySpan<byte> XattrName(int i) => _arena.Array.AsSpan(_xattrs[i].NameStart, _xattrs[i].NameLength);
    public ReadOnlySpan<byte> XattrValue(int i) => _arena.Array.AsSpan(_xattrs[i].ValueStart, _xattrs[i].ValueLength);

    public void Add(TarEntry e, List<(int Start, int Length)> components, int count)
    {
        int start = _arena.Length;
        for (int i = 0; i < count; i++)
        {
            if (i > 0) _arena.Append((byte)'/');
            _arena.Append(e.Path.Slice(components[i].Start, components[i].Length));
        }
        int pathLength = _arena.Length - start;
        int xs = _xattrs.Count;
        for (int i = 0; i < e.XattrCount; i++)
        {
            int ns = _arena.Length;
            _arena.Append(e.XattrName(i));
            int vs = _arena.Length;
            _arena.Append(e.XattrValue(i));
            _xattrs.Add((ns, e.XattrName(i).Length, vs, e.XattrValue(i).Length));
        }
        _records.Add(new Record(start, pathLength, count, e.Mode, e.Uid, e.Gid, e.MtimeSeconds, e.MtimeNanoseconds, xs, e.XattrCount));
    }

    /// <summary>Indices in reverse component order ("a/b/c" before "a/b" before "a", siblings' subtrees together), so
    /// every directory comes after everything beneath it; a repeated directory's later entry comes last and wins.</summary>
    public int[] ChildrenFirst()
    {
        var order = Enumerable.Range(0, _records.Count).ToArray();
        Array.Sort(order, (a, b) =>
        {
            int c = ComparePaths(Path(b), Path(a));
            return c != 0 ? c : a.CompareTo(b);
        });
        return order;
    }

    /// <summary>Component-wise byte order: '/' sorts below every other byte, so a path sorts right after its parent.</summary>
    private static int ComparePaths(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y)
    {
        int n = Math.Min(x.Length, y.Length);
        for (int i = 0; i < n; i++)
        {
            if (x[i] == y[i]) continue;
            int a = x[i] == (byte)'/' ? -1 : x[i], b = y[i] == (byte)'/' ? -1 : y[i];
            return a.CompareTo(b);
        }
        return x.Length.CompareTo(y.Length);
    }

}
