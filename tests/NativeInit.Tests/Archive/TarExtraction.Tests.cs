using System.Text.Json;
using NativeInit.Core.Archive.Tar;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive;

/// <summary>The generated tar corpus (tests/fixtures/make-tar-corpus.sh) on an ext4 loop mount, made once per class.</summary>
public sealed class TarCorpusFixture : IDisposable
{
    private readonly Lock _lock = new();
    private Ext4Scratch? _fs;

    public string Ensure()
    {
        Tool.RequireRoot();
        Tool.Require("tar", "bsdtar", "python3", "xz", "zstd", "pzstd", "setfattr", "getfattr", "setfacl", "getfacl", "mkfs.ext4", "losetup");
        lock (_lock)
        {
            if (_fs is null)
            {
                var fs = Ext4Scratch.Create(512);
                try
                {
                    Tool.Sh($"{Tool.Quote(Path.Combine(Tool.RepoRoot, "tests", "fixtures", "make-tar-corpus.sh"))} {Tool.Quote(fs.Mount)}");
                }
                catch
                {
                    fs.Dispose();
                    throw;
                }
                _fs = fs;
            }
            return _fs.Mount;
        }
    }

    public void Dispose() => _fs?.Dispose();
}

[Trait("Category", "Integration")]
public class TarExtractionDifferentialTests(TarCorpusFixture corpus) : IClassFixture<TarCorpusFixture>
{
    private static string TreeDiff => Path.Combine(Tool.RepoRoot, "tools", "treediff");

    /// <summary>For every archive of the corpus: the tree nativeinit makes equals the tree each of its oracles makes (the
    /// MANIFEST's second column: GNU tar, GNU tar --ignore-zeros, bsdtar; both peers where both read the archive alike),
    /// compared by tools/treediff on ext4, ACLs included (the system.posix_acl_* xattrs).</summary>
    [SkippableFact]
    public void Every_archive_extracts_like_its_oracles()
    {
        string bin = Tool.RequireNativeInit();
        string root = corpus.Ensure();
        var manifest = File.ReadAllLines(Path.Combine(root, "archives", "MANIFEST")).Where(l => l.Length > 0).ToList();
        Assert.True(manifest.Count >= 25, $"corpus has only {manifest.Count} archives");
        var failures = new List<string>();
        foreach (var line in manifest)
        {
            var (name, oracles) = (line.Split('\t')[0], line.Split('\t')[1].Split(' '));
            string archive = Path.Combine(root, "archives", name);
            string n = Path.Combine(root, "diff", name + ".nativeinit");
            Directory.CreateDirectory(n);
            var x = Tool.Run(bin, "extract", archive, "--to", n);
            if (x.ExitCode != 0) { failures.Add($"{name}: nativeinit failed\n{x}"); continue; }
            foreach (var oracle in oracles)
            {
                string o = Path.Combine(root, "diff", name + "." + oracle);
                Directory.CreateDirectory(o);
                var decompress = name.EndsWith(".xz", StringComparison.Ordinal) ? new[] { "-J" } :
                    name.EndsWith(".zst", StringComparison.Ordinal) || name.EndsWith(".pzst", StringComparison.Ordinal) ? ["--zstd"] : [];
                var r = oracle switch
                {
                    "bsd" => Tool.Run("bsdtar", "--numeric-owner", "--xattrs", "--acls", "-xpf", archive, "-C", o),
                    "gnu" or "gnu-i" => Tool.Run("tar", ["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "--selinux",
                        .. oracle == "gnu-i" ? ["--ignore-zeros"] : Array.Empty<string>(), .. decompress, "-xpf", archive, "-C", o]),
                    _ => throw new InvalidOperationException($"MANIFEST: unknown oracle '{oracle}' for {name}"),
                };
                Assert.True(r.ExitCode == 0, $"{name} ({oracle}): {r}");
                var d = Tool.Run("python3", TreeDiff, "--ignore-root-mtime", o, n);
                if (d.ExitCode != 0) failures.Add($"{name} ({oracle}):\n{d.Stdout}{d.Stderr}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Guards against nativeinit and the oracles losing the same ACLs: the journal directory's ACLs (what
    /// systemd gives /var/log/journal) and a mask narrower than the owning group, read back with getfacl.</summary>
    [SkippableFact]
    public void Acls_from_pax_text_records_come_through_with_the_mask_as_group_bits()
    {
        string bin = Tool.RequireNativeInit();
        string root = corpus.Ensure();
        foreach (var name in new[] { "bsdtar-acl.tar", "gnutar-acl.tar" })
        {
            string n = Path.Combine(root, "acl-direct-" + name);
            Directory.CreateDirectory(n);
            Tool.Check(bin, "extract", Path.Combine(root, "archives", name), "--to", n);
            string journal = Tool.Check("getfacl", "-n", "-p", Path.Combine(n, "var", "log", "journal"));
            Assert.Contains("group:4:r-x", journal);
            Assert.Contains("default:group:4:r-x", journal);
            string masked = Tool.Check("getfacl", "-n", "-p", Path.Combine(n, "srv", "shared", "sub", "masked"));
            Assert.Contains("group:4:rw-\t#effective:r--", masked);
            Assert.Contains("mask::r--", masked);
            Assert.Equal("644", Tool.Check("stat", "-c", "%a", Path.Combine(n, "srv", "shared", "sub", "masked")).Trim());
            Assert.Equal("664", Tool.Check("stat", "-c", "%a", Path.Combine(n, "srv", "shared", "file")).Trim());
        }
    }

    /// <summary>RHT.security.selinux (Red Hat's tar) is restored with the NUL that setfilecon writes.</summary>
    [SkippableFact]
    public void Red_hat_selinux_context_is_restored_with_its_nul()
    {
        string bin = Tool.RequireNativeInit();
        string root = corpus.Ensure();
        string n = Path.Combine(root, "rht-direct");
        Directory.CreateDirectory(n);
        Tool.Check(bin, "extract", Path.Combine(root, "archives", "python-rht-selinux.tar"), "--to", n);
        string x = Tool.Check("getfattr", "-n", "security.selinux", "-e", "hex", Path.Combine(n, "etc-file"));
        Assert.Contains("security.selinux=0x" + Convert.ToHexStringLower("system_u:object_r:etc_t:s0\0"u8), x);
    }

    /// <summary>Existing non-directories are replaced, existing directories kept and updated: a second extraction over
    /// the first (also over a read-only directory, hard links, symlinks, device nodes) gives the producer's tree again.</summary>
    [SkippableFact]
    public void Extracting_again_over_an_existing_tree_replaces_it_exactly()
    {
        string bin = Tool.RequireNativeInit();
        string root = corpus.Ensure();
        string archive = Path.Combine(root, "archives", "gnutar-posix.tar.zst");
        string o = Path.Combine(root, "twice", "oracle"), n = Path.Combine(root, "twice", "nativeinit");
        Directory.CreateDirectory(o);
        Directory.CreateDirectory(n);
        Tool.Check("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--zstd", "-xpf", archive, "-C", o);
        Tool.Check(bin, "extract", archive, "--to", n);
        // Disturb the first result: change contents and modes, swap a file for a symlink.
        File.WriteAllText(Path.Combine(n, "short", "dir", "hello.txt"), "changed");
        File.SetUnixFileMode(Path.Combine(n, "short", "dir", "setuid"), UnixFileMode.UserRead);
        File.Delete(Path.Combine(n, "short", "empty-file"));
        File.CreateSymbolicLink(Path.Combine(n, "short", "empty-file"), "/etc/passwd");
        Tool.Check(bin, "extract", archive, "--to", n);
        var d = Tool.Run("python3", TreeDiff, "--ignore-root-mtime", o, n);
        Assert.True(d.ExitCode == 0, d.Stdout + d.Stderr);
    }

    /// <summary>Guards against both extractors dropping the same thing: the values the field needs, checked directly.</summary>
    [SkippableFact]
    public void Capability_selinux_setuid_owners_times_and_holes_come_through()
    {
        string bin = Tool.RequireNativeInit();
        string root = corpus.Ensure();
        string n = Path.Combine(root, "direct");
        Directory.CreateDirectory(n);
        Tool.Check(bin, "extract", Path.Combine(root, "archives", "gnutar-posix.tar.zst"), "--to", n);
        string xattrs = Tool.Check("getfattr", "-h", "-d", "-m", "-", "-e", "hex", Path.Combine(n, "full", "capable"));
        Assert.Contains("security.capability=0x0100000200200000000000000000000000000000", xattrs);
        Assert.Contains("security.selinux=0x73797374656d5f753a6f626a6563745f723a62696e5f743a733000", xattrs);
        Assert.Contains("trusted.binary=0x00010a0d0aff00", xattrs);
        string st = Tool.Check("stat", "-c", "%a %u %g", Path.Combine(n, "full", "capable"), Path.Combine(n, "full", "big-ids"),
            Path.Combine(n, "short", "sticky"), Path.Combine(n, "short", "dir", "setgid"));
        Assert.Equal(["4711 0 0", "644 3000000 3000001", "1777 0 0", "2750 0 5"], st.Trim().Split('\n'));
        Assert.Equal(Tool.Check("date", "-d", "2021-05-06 07:08:09.987654321", "+%s.%N").Trim(),
            Tool.Check("stat", "-c", "%.9Y", Path.Combine(n, "short", "dir", "hello.txt")).Trim());
        Assert.Equal(Tool.Check("date", "-d", "2020-02-03 04:05:06.123456789", "+%s.%N").Trim(),
            Tool.Check("stat", "-c", "%.9Y", Path.Combine(n, "short", "dir", "relative-link")).Trim());
        var blocks = Tool.Check("stat", "-c", "%s %b", Path.Combine(n, "sparse", "many-islands")).Trim().Split(' ');
        Assert.Equal("8388608", blocks[0]);
        Assert.True(long.Parse(blocks[1]) * 512 < 1 << 20, $"sparse file is not sparse: {blocks[1]} blocks");
    }
}

[Trait("Category", "Integration")]
public class TarExtractionSafetyTests
{
    /// <summary>Builds a tar with Python's tarfile from a list of (type, name, target-or-content).</summary>
    private static void MakeTar(string path, params (char Type, string Name, string Arg)[] entries)
    {
        var spec = string.Join("\n", entries.Select(e => $"{e.Type}\t{e.Name}\t{e.Arg}"));
        string script = """
            import io, sys, tarfile
            out, spec = sys.argv[1], sys.argv[2]
            with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
                for line in spec.split("\n"):
                    typ, name, arg = line.split("\t")
                    ti = tarfile.TarInfo(name)
                    ti.mtime = 1600000000
                    if typ == "f":
                        data = arg.encode()
                        ti.size = len(data)
                        t.addfile(ti, io.BytesIO(data))
                        continue
                    ti.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}[typ]
                    if typ == "d": ti.mode = 0o755
                    else: ti.linkname = arg
                    t.addfile(ti)
            """;
        Tool.Check("python3", "-c", script, path, spec);
    }

    public static TheoryData<string, (char, string, string)[], string> Unsafe => new()
    {
        { "dot-dot", [('f', "../OUTSIDE/sentinel", "pwned")], "../OUTSIDE/sentinel" },
        { "dot-dot-inside", [('d', "a", ""), ('f', "a/../../OUTSIDE/new", "pwned")], "a/../../OUTSIDE/new" },
        { "absolute", [('f', "OUTSIDE_ABS/new", "pwned")], "OUTSIDE_ABS/new" },
        { "symlink-then-file-through-it", [('l', "link", "OUTSIDE_ABS"), ('f', "link/new", "pwned")], "link/new" },
        { "symlink-to-dir-then-file-under-it", [('l', "dirlink", "../OUTSIDE"), ('f', "dirlink/sentinel", "pwned")], "dirlink/sentinel" },
        { "symlink-then-dir-under-it", [('l', "dl", "../OUTSIDE"), ('d', "dl/sub", "")], "dl/sub" },
        { "hardlink-outside", [('h', "hl", "../OUTSIDE/sentinel")], "hl" },
        { "hardlink-absolute", [('h', "hl", "OUTSIDE_ABS/sentinel")], "hl" },
        { "hardlink-through-symlink", [('l', "s", "../OUTSIDE"), ('h', "hl", "s/sentinel")], "hl" },
        { "symlink-loop", [('l', "a", "b"), ('l', "b", "a"), ('f', "a/file", "x")], "a/file" },
        { "deep-symlink-in-path", [('d', "d1", ""), ('l', "d1/up", "../.."), ('f', "d1/up/OUTSIDE/sentinel", "pwned")], "d1/up/OUTSIDE/sentinel" },
    };

    [SkippableTheory]
    [MemberData(nameof(Unsafe))]
    public void Unsafe_entries_are_refused_naming_the_entry_and_nothing_outside_changes(string name, (char, string, string)[] entries, string offender)
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("python3");
        using var tmp = new TempDir();
        string outside = tmp.Combine("OUTSIDE");
        Directory.CreateDirectory(outside);
        string sentinel = Path.Combine(outside, "sentinel");
        File.WriteAllText(sentinel, "sentinel " + name);
        byte[] before = File.ReadAllBytes(sentinel);
        var fixedEntries = entries.Select(e => (e.Item1, e.Item2.Replace("OUTSIDE_ABS", outside), e.Item3.Replace("OUTSIDE_ABS", outside))).ToArray();
        string archive = tmp.Combine("evil.tar");
        MakeTar(archive, fixedEntries);
        string dir = tmp.Combine("target");
        Directory.CreateDirectory(dir);

        var r = Tool.Run(bin, "extract", archive, "--to", dir);

        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains(offender.Replace("OUTSIDE_ABS", outside), r.Stderr);
        Assert.Contains("refusing", r.Stderr);
        Assert.Equal(before, File.ReadAllBytes(sentinel));
        Assert.Equal(["sentinel"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName));
        Assert.Equal(["OUTSIDE", "evil.tar", "target"], Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public void A_file_replacing_an_earlier_symlink_is_written_inside_not_through_it()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("python3");
        using var tmp = new TempDir();
        string outside = tmp.Combine("OUTSIDE");
        Directory.CreateDirectory(outside);
        string sentinel = Path.Combine(outside, "sentinel");
        File.WriteAllText(sentinel, "sentinel");
        string archive = tmp.Combine("a.tar");
        MakeTar(archive, ('l', "f", sentinel), ('f', "f", "new content"));
        string dir = tmp.Combine("target");
        Directory.CreateDirectory(dir);
        var r = Tool.Run(bin, "extract", archive, "--to", dir);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("sentinel", File.ReadAllText(sentinel));
        var fi = new FileInfo(Path.Combine(dir, "f"));
        Assert.Null(fi.LinkTarget);
        Assert.Equal("new content", File.ReadAllText(fi.FullName));
    }

    /// <summary>A directory entry replaced later by a symlink to outside: the deferred directory metadata (an owner, a mode,
    /// an old mtime) must not land on the symlink's target.</summary>
    [SkippableFact]
    public void Deferred_directory_metadata_never_follows_a_symlink_that_replaced_the_directory()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("python3");
        using var tmp = new TempDir();
        string outside = tmp.Combine("OUTSIDE");
        Directory.CreateDirectory(outside);
        File.SetUnixFileMode(outside, (UnixFileMode)0x1ED); // 0755
        var before = (File.GetUnixFileMode(outside), Directory.GetLastWriteTimeUtc(outside));
        string archive = tmp.Combine("a.tar");
        MakeTar(archive, ('d', "d", ""), ('l', "d", outside), ('f', "other", "x"));
        string dir = tmp.Combine("target");
        Directory.CreateDirectory(dir);
        var r = Tool.Run(bin, "extract", archive, "--to", dir);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(outside, new FileInfo(Path.Combine(dir, "d")).LinkTarget);
        Assert.Equal(before, (File.GetUnixFileMode(outside), Directory.GetLastWriteTimeUtc(outside)));
    }

    [SkippableFact]
    public void Dry_run_checks_and_counts_without_writing()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("python3");
        using var tmp = new TempDir();
        string good = tmp.Combine("good.tar"), evil = tmp.Combine("evil.tar");
        MakeTar(good, ('d', "d", ""), ('f', "d/f", "12345"), ('l', "d/l", "f"), ('h', "d/h", "d/f"));
        MakeTar(evil, ('f', "ok", "x"), ('h', "bad", "../../etc/passwd"));
        string dir = tmp.Combine("target");
        Directory.CreateDirectory(dir);
        var r = Tool.Run(bin, "extract", good, "--to", dir, "--dry-run", "--stats=json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using (var doc = JsonDocument.Parse(r.Stdout))
        {
            Assert.True(doc.RootElement.GetProperty("dry_run").GetBoolean());
            Assert.Equal(4, doc.RootElement.GetProperty("entries").GetProperty("total").GetInt32());
            Assert.Equal(5, doc.RootElement.GetProperty("bytes_written").GetInt64());
        }
        r = Tool.Run(bin, "extract", evil, "--to", dir, "--dry-run");
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("'bad'", r.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [SkippableFact]
    public void Missing_directory_or_archive_is_refused_before_writing_with_exit_3()
    {
        string bin = Tool.RequireNativeInit();
        using var tmp = new TempDir();
        string archive = tmp.Combine("a.tar");
        MakeTar(archive, ('f', "x", "y"));
        var r = Tool.Run(bin, "extract", archive, "--to", tmp.Combine("missing"));
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("missing", r.Stderr);
        r = Tool.Run(bin, "extract", tmp.Combine("no-such.tar"), "--to", tmp.Path);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("no-such.tar", r.Stderr);
        r = Tool.Run(bin, "extract", archive);
        Assert.True(r.ExitCode == 2, r.ToString());
    }
}

[Trait("Category", "Integration")]
public class TarExtractionIntegrityTests
{
    private static string MakeSample(TempDir tmp)
    {
        string src = tmp.Combine("src");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        var rnd = new Random(42);
        for (int i = 0; i < 40; i++)
        {
            var b = new byte[rnd.Next(100, 20000)];
            rnd.NextBytes(b);
            File.WriteAllBytes(Path.Combine(src, "d", $"f{i}"), b);
        }
        string tar = tmp.Combine("s.tar");
        Tool.Check("tar", "--format=posix", "-C", src, "-cf", tar, ".");
        Tool.Check("xz", "-k", "-T2", "--block-size=65536", tar);
        Tool.Check("zstd", "-q", "-k", tar);
        return tar;
    }

    public static TheoryData<string> Kinds => new() { ".tar", ".tar.xz", ".tar.zst" };

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void Truncated_and_bit_flipped_archives_fail_never_quietly(string kind)
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("tar", "xz", "zstd");
        using var tmp = new TempDir();
        string tar = MakeSample(tmp);
        string path = kind == ".tar" ? tar : tar + kind[4..];
        byte[] good = File.ReadAllBytes(path);
        var headers = new List<long>();
        using (var reader = new TarReader(new MemoryStream(File.ReadAllBytes(tar))))
            while (reader.Next() is { } e) headers.Add(e.HeaderOffset);

        string intact = tmp.Combine("intact");
        Directory.CreateDirectory(intact);
        var ok = Tool.Run(bin, "extract", path, "--to", intact);
        Assert.True(ok.ExitCode == 0, ok.ToString());

        var failures = new List<string>();
        for (int seed = 1; seed <= 6; seed++)
        {
            var rnd = new Random(seed * 7919);
            // Truncation: anywhere for compressed streams; inside a header or data block for a plain tar (a cut right
            // after an entry's padding is a valid, shorter archive for GNU tar too).
            int cut;
            do cut = rnd.Next(1, good.Length - 1); while (kind == ".tar" && (cut % 512 == 0 || cut > headers[^1] + 1024));
            Check($"truncated at {cut}", good.AsSpan(0, cut).ToArray());
            // Bit flip: anywhere for compressed streams; inside a header (not its checksum field) for a plain tar,
            // whose data has no checksum at all.
            var flipped = (byte[])good.Clone();
            long at = kind == ".tar" ? headers[rnd.Next(headers.Count)] + rnd.Next(0, 500) : rnd.Next(0, good.Length);
            if (kind == ".tar" && at % 512 is >= 148 and < 156) at += 10;
            flipped[at] ^= (byte)(1 << rnd.Next(8));
            Check($"bit flipped at {at}", flipped);
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        void Check(string what, byte[] bytes)
        {
            string f = tmp.Combine("bad" + kind);
            File.WriteAllBytes(f, bytes);
            string dir = tmp.Combine("out-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(dir);
            var r = Tool.Run(bin, "extract", f, "--to", dir);
            if (r.ExitCode == 0) failures.Add($"{kind} {what}: exit 0 (quiet success)");
            else if (r.Stderr.Contains("internal error", StringComparison.Ordinal)) failures.Add($"{kind} {what}: {r.Stderr}");
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public void Stdin_stats_json_and_progress_on_a_pipe()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("tar", "xz", "zstd");
        using var tmp = new TempDir();
        string tar = MakeSample(tmp);
        string dir = tmp.Combine("out");
        Directory.CreateDirectory(dir);
        var r = Tool.Run("/bin/bash", ["-c", $"{Tool.Quote(bin)} extract - --to {Tool.Quote(dir)} --stats=json --progress < {Tool.Quote(tar + ".zst")}"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var j = doc.RootElement;
        Assert.Equal("zstd", j.GetProperty("compression").GetString());
        Assert.Equal(40, j.GetProperty("entries").GetProperty("regular").GetInt32());
        Assert.Equal(2, j.GetProperty("entries").GetProperty("directory").GetInt32());
        Assert.Equal(new FileInfo(tar).Length, j.GetProperty("tar_bytes").GetInt64());
        Assert.Equal(new FileInfo(tar + ".zst").Length, j.GetProperty("input_bytes").GetInt64());
        Assert.InRange(j.GetProperty("peak_rss_bytes").GetInt64(), 1 << 20, 64L << 20);
        Assert.True(j.GetProperty("wall_seconds").GetDouble() > 0);
        // Not a TTY: plain lines, no carriage returns.
        Assert.Contains("extract:", r.Stderr);
        Assert.DoesNotContain("\r", r.Stderr);
        Assert.Equal(40, Directory.GetFiles(Path.Combine(dir, "d")).Length);

        var text = Tool.Run(bin, "extract", tar + ".xz", "--to", dir, "--stats");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("peak RSS:", text.Stdout);
        Assert.Contains("decompressing:", text.Stdout);
    }
}
