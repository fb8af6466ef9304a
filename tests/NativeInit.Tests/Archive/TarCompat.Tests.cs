using System.Diagnostics;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Archive;

/// <summary>`nativeinit extract` on inputs other writers and other uses produce: ACLs named against the target's own
/// accounts, NFSv4 ACLs, endless plain input (/dev/zero, a pipe left open), names that would act on a terminal.</summary>
[Trait("Category", "Integration")]
public class TarCompatTests
{
    /// <summary>Builds a pax tar with Python's tarfile: (type, name, content, pax records "k=v;k=v" with \n as "\\n").</summary>
    private static void MakePax(string path, params (char Type, string Name, string Content, string Pax)[] entries)
    {
        var spec = string.Join("\u001e", entries.Select(e => $"{e.Type}\u001f{e.Name}\u001f{e.Content}\u001f{e.Pax}"));
        const string script = """
            import io, sys, tarfile
            out, spec = sys.argv[1], sys.argv[2]
            with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
                for item in spec.split("\x1e"):
                    typ, name, content, pax = item.split("\x1f")
                    ti = tarfile.TarInfo(name)
                    ti.mtime = 1600000000
                    ti.pax_headers = dict(kv.split("=", 1) for kv in pax.split(";") if kv)
                    if typ == "d":
                        ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
                    else:
                        data = content.encode(); ti.size = len(data); ti.mode = 0o640
                        t.addfile(ti, io.BytesIO(data))
            """;
        Tool.Check("python3", "-c", script, path, spec);
    }

    /// <summary>ACL entries that name a user or group without a numeric id are resolved against the TARGET's etc/passwd
    /// and etc/group (here brought by the archive itself, after the entries that need them, as in an archive in
    /// directory order), not the host's: the ids are ones the host does not have.</summary>
    [SkippableFact]
    public void Acl_names_are_resolved_against_the_targets_accounts()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("python3", "getfacl");
        Assert.NotEqual(0, Tool.Run("getent", "passwd", "gwoperator").ExitCode); // the host does not know the name
        using var fs = Ext4Scratch.Create(64);
        string archive = Path.Combine(fs.Mount, "a.tar");
        MakePax(archive,
            ('d', "var", "", "SCHILY.acl.access=user::rwx,group::r-x,group:gwlogs:r-x,mask::r-x,other::r-x;" +
                "SCHILY.acl.default=user::rwx,user:gwoperator:rwx,group::r-x,mask::rwx,other::r-x"),
            ('f', "var/log", "x", "SCHILY.acl.access=user::rw-\nuser:gwoperator:rw-\ngroup::r--\nmask::rw-\nother::---\n"),
            ('d', "etc", "", ""),
            ('f', "etc/passwd", "root:x:0:0:root:/root:/bin/sh\ngwoperator:x:4242:4242::/home/gw:/bin/sh\n", ""),
            ('f', "etc/group", "root:x:0:\ngwlogs:x:4343:gwoperator\n", ""),
            ('f', "etc/after", "y", "SCHILY.acl.access=user::rw-,group::r--,group:gwlogs:rw-,mask::rw-,other::---"));
        string n = Path.Combine(fs.Mount, "out");
        Directory.CreateDirectory(n);
        var r = Tool.Run(bin, "extract", archive, "--to", n, "--stats=json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("\"acls_from_text\":4", r.Stdout);
        string var = Tool.Check("getfacl", "-n", "-p", Path.Combine(n, "var"));
        Assert.Contains("group:4343:r-x", var);
        Assert.Contains("default:user:4242:rwx", var);
        string log = Tool.Check("getfacl", "-n", "-p", Path.Combine(n, "var", "log"));
        Assert.Contains("user:4242:rw-", log);
        Assert.Equal("660", Tool.Check("stat", "-c", "%a", Path.Combine(n, "var", "log")).Trim()); // group bits = mask
        Assert.Contains("group:4343:rw-", Tool.Check("getfacl", "-n", "-p", Path.Combine(n, "etc", "after")));
        // The directory's mtime survives the late ACL (an xattr changes the ctime only).
        Assert.Equal("1600000000", Tool.Check("stat", "-c", "%Y", Path.Combine(n, "var")).Trim());

        // A name the target does not know (and no numeric id): an error naming the entry, the record and the name.
        string bad = Path.Combine(fs.Mount, "bad.tar");
        MakePax(bad, ('f', "file", "x", "SCHILY.acl.access=user::rw-,user:nosuchuser:r--,group::r--,mask::r--,other::---"));
        string m = Path.Combine(fs.Mount, "out-bad");
        Directory.CreateDirectory(m);
        r = Tool.Run(bin, "extract", bad, "--to", m);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("'file'", r.Stderr);
        Assert.Contains("SCHILY.acl.access", r.Stderr);
        Assert.Contains("'nosuchuser' is not in the target's etc/passwd", r.Stderr);
    }

    [SkippableFact]
    public void An_nfs4_acl_is_an_error_naming_the_entry()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("python3");
        using var tmp = new TempDir();
        string archive = tmp.Combine("nfs4.tar");
        MakePax(archive, ('f', "ok", "x", ""), ('f', "dir-of-nfs/file", "y", "SCHILY.acl.ace=owner@:rw-p--aARWcCos:-------:allow,everyone@:r-----a-R-c--s:-------:allow"));
        string n = tmp.Combine("out");
        Directory.CreateDirectory(n);
        var r = Tool.Run(bin, "extract", archive, "--to", n);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("'dir-of-nfs/file'", r.Stderr);
        Assert.Contains("NFSv4 ACL", r.Stderr);
        Assert.False(File.Exists(Path.Combine(n, "dir-of-nfs", "file")));
    }

    /// <summary>A lone zero block between entries: what follows is extracted, the event is warned about on stderr and
    /// counted in --stats (text and JSON).</summary>
    [SkippableFact]
    public void A_lone_zero_block_is_read_past_warned_and_counted()
    {
        string bin = Tool.RequireNativeInit();
        using var tmp = new TempDir();
        string archive = tmp.Combine("lone.tar");
        File.WriteAllBytes(archive, new TarBuilder().File("a", "1").Raw(new byte[512]).File("b", "2").End().ToArray());
        string n = tmp.Combine("out");
        Directory.CreateDirectory(n);
        var r = Tool.Run(bin, "extract", archive, "--to", n, "--stats=json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("\"lone_zero_blocks\":1", r.Stdout);
        Assert.Contains("lone zero block at offset 1024", r.Stderr);
        Assert.Equal("2", File.ReadAllText(Path.Combine(n, "b")));
        r = Tool.Run(bin, "extract", archive, "--to", n, "--stats");
        Assert.Contains("1 lone zero block(s) inside the archive read past (first at offset 1024)", r.Stdout);
    }

    /// <summary>A plain tar from input that never ends stops at the end-of-archive marker (GNU tar reads the rest of its
    /// record and stops): /dev/zero is an empty archive; a pipe left open after the marker does not hold the command.</summary>
    [SkippableFact]
    public void Endless_plain_input_stops_at_the_end_marker()
    {
        string bin = Tool.RequireNativeInit();
        using var tmp = new TempDir();
        string n = tmp.Combine("zero");
        Directory.CreateDirectory(n);
        var sw = Stopwatch.StartNew();
        var r = Tool.Run("timeout", "20", bin, "extract", "/dev/zero", "--to", n, "--stats=json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("\"total\":0", r.Stdout);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");

        // A pipe: the archive, then the writer keeps it open.
        string tar = tmp.Combine("a.tar");
        Directory.CreateDirectory(tmp.Combine("src", "d"));
        File.WriteAllText(tmp.Combine("src", "d", "f"), "hello");
        Tool.Check("tar", "--format=posix", "-C", tmp.Combine("src"), "-cf", tar, "d");
        string m = tmp.Combine("pipe");
        Directory.CreateDirectory(m);
        var psi = new ProcessStartInfo(bin) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "extract", "-", "--to", m }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var bytes = File.ReadAllBytes(tar);
        p.StandardInput.BaseStream.Write(bytes);
        p.StandardInput.BaseStream.Flush(); // and the pipe stays open
        bool exited = p.WaitForExit(TimeSpan.FromSeconds(10));
        if (!exited) p.Kill();
        Assert.True(exited, "nativeinit extract did not return while its input pipe stayed open after the end marker");
        Assert.Equal(0, p.ExitCode);
        Assert.Equal("hello", File.ReadAllText(Path.Combine(m, "d", "f")));
        p.StandardInput.Close();
    }

    /// <summary>Names with ESC, CR, BEL and invalid UTF-8 never reach the terminal raw: not in the error about them, not in
    /// --stats, --stats=json or --progress output.</summary>
    [SkippableFact]
    public void Names_with_control_and_invalid_bytes_are_escaped_in_every_output()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("python3", "bash");
        using var tmp = new TempDir();
        string archive = tmp.Combine("evil-names.tar");
        // A file with such a name, then a hard link named alike to a missing target named alike: the error names both.
        const string script = """
            import io, sys, tarfile
            with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as t:
                name = b"esc-\x1b[31mred-\rcr-\x07bel-\xff\xfe".decode("utf-8", "surrogateescape")
                data = b"x"
                ti = tarfile.TarInfo(name); ti.size = 1; t.addfile(ti, io.BytesIO(data))
                ti = tarfile.TarInfo(name + "-link"); ti.type = tarfile.LNKTYPE
                ti.linkname = b"missing-\x1b]0;title\x07-\r\xc3".decode("utf-8", "surrogateescape")
                t.addfile(ti)
            """;
        Tool.Check("python3", "-c", script, archive);
        var raw = File.ReadAllBytes(archive);
        Assert.Contains((byte)0x1B, raw); // the archive does carry the raw bytes
        foreach (var flags in new[] { "--stats", "--stats=json", "--progress" })
        {
            string n = tmp.Combine("out" + flags.Replace("=", "-"));
            Directory.CreateDirectory(n);
            string so = tmp.Combine("stdout"), se = tmp.Combine("stderr");
            var r = Tool.Run("bash", "-c", $"{Tool.Quote(bin)} extract {Tool.Quote(archive)} --to {Tool.Quote(n)} {flags} >{Tool.Quote(so)} 2>{Tool.Quote(se)}");
            Assert.True(r.ExitCode == 1, $"{flags}: {r}");
            byte[] output = [.. File.ReadAllBytes(so), .. File.ReadAllBytes(se)];
            foreach (byte b in new byte[] { 0x1B, 0x0D, 0x07, 0xFF, 0xFE })
                Assert.False(output.Contains(b), $"{flags}: raw byte 0x{b:X2} in the output: {System.Text.Encoding.UTF8.GetString(output)}");
            string err = File.ReadAllText(se);
            Assert.Contains(@"esc-\x1B[31mred-\x0Dcr-\x07bel-\xFF\xFE-link", err, StringComparison.OrdinalIgnoreCase);
            Assert.Contains(@"missing-\x1B]0;title\x07-\x0D\xC3", err, StringComparison.OrdinalIgnoreCase);
        }
    }
}
