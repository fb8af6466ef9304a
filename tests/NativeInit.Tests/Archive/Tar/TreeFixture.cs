using System.Security.Cryptography;
using System.Text;
using NativeInit.Core.Platform;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive.Tar;

/// <summary>Builds a source tree with everything a rootfs holds (needs root: chown, mknod), and compares two trees
/// by lstat, link targets, xattrs (byte-exact), contents and hardlink groups.</summary>
public static class TreeFixture
{
    /// <summary>security.capability v2 for cap_net_raw+ep (binary, with zero bytes).</summary>
    public const string CapabilityHex = "0x0100000200200000000000000000000000000000";

    public static void Build(string dir)
    {
        string longDir = string.Join('/', Enumerable.Range(0, 6).Select(i => $"long-directory-name-{i:D2}"));
        Tool.Sh($$"""
            cd {{Tool.Quote(dir)}}
            chmod 0755 .
            mkdir -p etc usr/bin usr/lib a b dev srv/share {{longDir}}
            printf 'root:x:0:0:root:/root:/bin/bash\n' > etc/passwd
            printf '#!/bin/sh\necho su\n' > usr/bin/su && chmod 4755 usr/bin/su
            printf 'sgid' > usr/bin/wall && chown 0:5 usr/bin/wall && chmod 2755 usr/bin/wall
            printf 'ping' > usr/bin/ping && chmod 0755 usr/bin/ping
            setfattr -n security.capability -v {{CapabilityHex}} usr/bin/ping
            setfattr -n user.binary -v 0x00ff10007f usr/bin/ping
            setfattr -n user.text -v hello etc/passwd
            printf 'owned' > srv/owned && chown 1234:5678 srv/owned && chmod 0640 srv/owned
            printf 'big-uid' > srv/bigowner && chown 3000000:3000001 srv/bigowner
            chmod 3777 srv/share
            printf 'linked' > a/hl1 && ln a/hl1 b/hl2 && ln a/hl1 b/hl3
            ln -s ../etc/passwd usr/passwd-link
            ln -s /{{longDir}}/target-of-a-very-long-symbolic-link-name-that-needs-pax usr/longlink
            mknod dev/null c 1 3 && chmod 0666 dev/null
            mknod dev/loop200 b 7 200
            mkfifo dev/fifo
            : > etc/empty
            head -c 3000000 /dev/urandom > usr/lib/big.bin
            printf 'deep' > {{longDir}}/a-file-with-a-long-name-too.txt
            printf 'accent' > 'usr/lib/caf'$'\xc3\xa9'
            touch -h -d '2020-01-02 03:04:05.123456789' usr/bin/su etc/passwd usr/passwd-link
            touch -d '2001-02-03 04:05:06' usr/lib/big.bin
            touch -d '2019-05-05 05:05:05.5' usr/bin usr srv/share
            """);
    }

    /// <summary>One line per path describing everything that must survive a round trip.</summary>
    public static List<string> Describe(string root, bool symlinkMtimes = true, bool rootMtime = true)
    {
        var lines = new List<string>();
        var inodes = new Dictionary<(ulong, ulong), string>();
        var rootFull = Path.GetFullPath(root);
        var stack = new Stack<string>();
        stack.Push("");
        var all = new List<string>();
        while (stack.Count > 0)
        {
            var rel = stack.Pop();
            all.Add(rel);
            var full = rel.Length == 0 ? rootFull : Path.Combine(rootFull, rel);
            var st = PosixPath.LStat(PosixPath.Z(full));
            if (st.FileType == StatBuffer.S_IFDIR)
                foreach (var n in PosixPath.ListDirectory(PosixPath.Z(full)))
                    stack.Push(rel.Length == 0 ? Encoding.UTF8.GetString(n) : rel + "/" + Encoding.UTF8.GetString(n));
        }
        all.Sort(StringComparer.Ordinal);
        foreach (var rel in all)
        {
            var full = rel.Length == 0 ? rootFull : Path.Combine(rootFull, rel);
            var z = PosixPath.Z(full);
            var st = PosixPath.LStat(z);
            var sb = new StringBuilder();
            sb.Append(rel.Length == 0 ? "." : rel).Append(" type=").Append(Convert.ToString(st.FileType, 8))
                .Append(" mode=").Append(Convert.ToString(st.Mode & 0xFFF, 8))
                .Append(" uid=").Append(st.Uid).Append(" gid=").Append(st.Gid);
            bool isLink = st.FileType == StatBuffer.S_IFLNK;
            if ((!isLink || symlinkMtimes) && (rel.Length > 0 || rootMtime)) sb.Append(" mtime=").Append(st.MtimeSec).Append('.').Append(st.MtimeNsec.ToString("D9"));
            if (st.FileType is StatBuffer.S_IFCHR or StatBuffer.S_IFBLK)
                sb.Append(" rdev=").Append(StatBuffer.Major(st.Rdev)).Append(':').Append(StatBuffer.Minor(st.Rdev));
            if (isLink) sb.Append(" ->").Append(Encoding.UTF8.GetString(PosixPath.ReadLink(z, st.Size)));
            if (st.FileType == StatBuffer.S_IFREG)
            {
                sb.Append(" size=").Append(st.Size).Append(" sha=").Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(full)))[..16]);
                if (st.Nlink > 1)
                {
                    if (inodes.TryGetValue((st.Dev, st.Ino), out var first)) sb.Append(" hardlink-of=").Append(first);
                    else inodes[(st.Dev, st.Ino)] = rel;
                }
                sb.Append(" nlink=").Append(st.Nlink);
            }
            foreach (var (k, v) in PosixPath.ListXattrs(z))
                if (!k.StartsWith("security.selinux", StringComparison.Ordinal)) sb.Append(' ').Append(k).Append("=0x").Append(Convert.ToHexString(v));
            lines.Add(sb.ToString());
        }
        return lines;
    }

    /// <summary>Every xattr of every path as getfattr prints it (hex values), as an independent oracle: one
    /// "path name=0xVALUE" line each, sorted.</summary>
    public static List<string> GetfattrDump(string root)
    {
        var text = Tool.Sh($"cd {Tool.Quote(root)} && getfattr -R -h -d -m - -e hex .");
        var lines = new List<string>();
        string? file = null;
        foreach (var raw in text.Split('\n'))
        {
            if (raw.StartsWith("# file: ", StringComparison.Ordinal)) file = raw[8..];
            else if (raw.Length > 0 && file is not null && !raw.StartsWith("security.selinux", StringComparison.Ordinal)) lines.Add(file + " " + raw);
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    public static void AssertSameTree(string expected, string actual, bool symlinkMtimes = true, bool rootMtime = true)
    {
        var a = Describe(expected, symlinkMtimes, rootMtime);
        var b = Describe(actual, symlinkMtimes, rootMtime);
        var missing = a.Except(b).ToList();
        var extra = b.Except(a).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            "trees differ\n--- expected only\n" + string.Join('\n', missing) + "\n--- actual only\n" + string.Join('\n', extra));
        if (Tool.Required("getfattr"))
        {
            var xa = GetfattrDump(expected);
            Assert.Contains(xa, l => l.Contains("security.capability=" + CapabilityHex, StringComparison.Ordinal));
            Assert.Equal(xa, GetfattrDump(actual));
        }
    }
}
