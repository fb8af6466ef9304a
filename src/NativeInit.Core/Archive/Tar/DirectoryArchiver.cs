using System.Buffers;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Archive.Tar;

/// <summary>What <see cref="DirectoryArchiver.Write"/> wrote.</summary>
public sealed record ArchiveStats(long Entries, long DataBytes, long TarBytes, long HardLinks, long Skipped, IReadOnlyList<string> SkippedPaths);

/// <summary>
/// Walks a directory tree (lstat, never following symlinks; stays on the filesystem of the root like
/// <c>tar --one-file-system</c>: a mount point below it is archived as an empty directory) and writes it with
/// <see cref="TarWriter"/>: entries sorted by path bytes (ordinal), "./" for the root and "./REL" for the rest,
/// numeric owners, full modes, mtimes with nanoseconds, every xattr, the second and later names of an inode as
/// hardlinks ('1') to the first name in sorted order, symlinks, devices, fifos. Sockets are skipped (tar does too).
/// Reading order and output depend only on the tree's content and metadata, so the same tree gives the same bytes.
/// </summary>
public static class DirectoryArchiver
{
    private const int CopyBuffer = 1 << 20;

    private readonly record struct Node(byte[] Rel, StatBuffer Stat);

    public static ArchiveStats Write(string root, Stream output)
    {
        var rootZ = PosixPath.Z(Path.GetFullPath(root).TrimEnd('/') is { Length: > 0 } r ? r : "/");
        var rootStat = PosixPath.LStat(rootZ);
        if (rootStat.FileType != StatBuffer.S_IFDIR) throw new NativeInitException($"{root}: not a directory");
        var rootBytes = rootZ.AsSpan(0, rootZ.Length - 1).ToArray();
        if (rootBytes is [(byte)'/']) rootBytes = [];

        // 1. Walk: every path with its lstat, no data yet.
        var nodes = new List<Node> { new([], rootStat) };
        var skipped = new List<string>();
        var stack = new Stack<byte[]>();
        stack.Push([]);
        while (stack.Count > 0)
        {
            var rel = stack.Pop();
            var dirZ = Full(rootBytes, rel);
            foreach (var name in PosixPath.ListDirectory(dirZ))
            {
                byte[] childRel = rel.Length == 0 ? name : [.. rel, (byte)'/', .. name];
                var st = PosixPath.LStat(Full(rootBytes, childRel));
                if (st.FileType == StatBuffer.S_IFSOCK) { skipped.Add(PosixPath.Show(childRel)); continue; }
                nodes.Add(new(childRel, st));
                if (st.FileType == StatBuffer.S_IFDIR && st.Dev == rootStat.Dev) stack.Push(childRel);
            }
        }
        nodes.Sort((a, b) => a.Rel.AsSpan().SequenceCompareTo(b.Rel));

        // 2. Write in sorted order.
        using var writer = new TarWriter(output, leaveOpen: true);
        var firstName = new Dictionary<(ulong Dev, ulong Ino), byte[]>();
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBuffer);
        long dataBytes = 0, hardLinks = 0;
        try
        {
            foreach (var node in nodes)
            {
                var st = node.Stat;
                var fullZ = Full(rootBytes, node.Rel);
                byte[] archivePath = node.Rel.Length == 0 ? "./"u8.ToArray() : [.. "./"u8, .. node.Rel];
                uint type = st.FileType;
                if (type != StatBuffer.S_IFDIR && st.Nlink > 1)
                {
                    if (firstName.TryGetValue((st.Dev, st.Ino), out var target))
                    {
                        writer.BeginEntry(new TarWriterEntry
                        {
                            Path = archivePath, TypeFlag = TarTypeFlag.HardLink, Mode = st.Mode, Uid = st.Uid, Gid = st.Gid,
                            MtimeSeconds = st.MtimeSec, MtimeNanoseconds = (int)st.MtimeNsec, LinkPath = target,
                        });
                        writer.EndEntry();
                        hardLinks++;
                        continue;
                    }
                    firstName[(st.Dev, st.Ino)] = archivePath;
                }
                byte flag = type switch
                {
                    StatBuffer.S_IFREG => TarTypeFlag.Regular,
                    StatBuffer.S_IFDIR => TarTypeFlag.Directory,
                    StatBuffer.S_IFLNK => TarTypeFlag.SymLink,
                    StatBuffer.S_IFCHR => TarTypeFlag.CharDevice,
                    StatBuffer.S_IFBLK => TarTypeFlag.BlockDevice,
                    StatBuffer.S_IFIFO => TarTypeFlag.Fifo,
                    _ => throw new NativeInitException($"{PosixPath.Show(fullZ)}: unsupported file type 0{type:o}"),
                };
                var entry = new TarWriterEntry
                {
                    Path = archivePath, TypeFlag = flag, Mode = st.Mode, Uid = st.Uid, Gid = st.Gid,
                    Size = flag == TarTypeFlag.Regular ? st.Size : 0,
                    MtimeSeconds = st.MtimeSec, MtimeNanoseconds = (int)st.MtimeNsec,
                    LinkPath = flag == TarTypeFlag.SymLink ? PosixPath.ReadLink(fullZ, st.Size) : null,
                    DevMajor = StatBuffer.Major(st.Rdev), DevMinor = StatBuffer.Minor(st.Rdev),
                    Xattrs = PosixPath.ListXattrs(fullZ),
                };
                if (flag != TarTypeFlag.Regular || st.Size == 0)
                {
                    writer.BeginEntry(entry);
                    writer.EndEntry();
                    continue;
                }
                using var fd = PosixPath.OpenRead(fullZ);
                writer.BeginEntry(entry);
                long left = st.Size;
                while (left > 0)
                {
                    int n = PosixPath.Read(fd, buffer.AsSpan(0, (int)Math.Min(buffer.Length, left)), fullZ);
                    if (n == 0) throw new NativeInitException($"{PosixPath.Show(fullZ)}: file shrank while being archived ({left} bytes missing)");
                    writer.WriteData(buffer.AsSpan(0, n));
                    left -= n;
                }
                if (PosixPath.Read(fd, buffer.AsSpan(0, 1), fullZ) != 0)
                    throw new NativeInitException($"{PosixPath.Show(fullZ)}: file grew while being archived");
                writer.EndEntry();
                dataBytes += st.Size;
            }
            writer.Finish();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return new ArchiveStats(nodes.Count, dataBytes, writer.Position, hardLinks, skipped.Count, skipped);
    }

    private static byte[] Full(byte[] root, byte[] rel)
    {
        if (rel.Length == 0) return PosixPath.Z(root.Length == 0 ? "/"u8 : root);
        return PosixPath.Z([.. root, (byte)'/', .. rel]);
    }
}
