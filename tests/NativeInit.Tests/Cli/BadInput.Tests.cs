using System.Text.RegularExpressions;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Cli;

/// <summary>
/// Every command of the published binary given a missing file, a directory where a file is expected, a random file
/// and an empty file (issue 16): the message is a sentence that names the path, it holds no resource key of the base
/// library (the binary is built with UseSystemResourceKeys, whose keys look like IO_FileNotFound_FileName or
/// ExpectedStartOfValueNotFound), and the exit code is the documented one: 3 for an input that cannot be used,
/// refused before any write.
/// </summary>
[Trait("Category", "Integration")]
public partial class BadInputTests
{
    public enum Kind { Missing, Directory, Random, Empty }

    /// <summary>One row: the command line ("@" is the bad input), and the exit code for each kind.</summary>
    private static readonly (string Command, int Missing, int Directory, int Random, int Empty)[] Cases =
    [
        ("extract @ --to {out}", 3, 3, 1, 3),
        ("decompress @ -o {out}/decoded", 3, 3, 3, 3),
        ("bundle keygen --private OUT@ --public {out}/new.pub", 3, 3, 3, 3),
        ("bundle create --rootfs {dir} --layout {random} --kernel {random} --initramfs {random} --key @ --out {out}/b", 3, 3, 3, 3),
        ("bundle verify @ --key {pub}", 3, 3, 3, 3),
        ("bundle verify {random} --key @", 3, 3, 3, 3),
        ("bundle show @", 3, 3, 3, 3),
        ("gpt show @", 3, 3, 0, 3),
        ("gpt apply @ --disk {image} --dry-run", 3, 3, 3, 3),
        ("lvm show @", 3, 3, 3, 3),
        ("lvm activate @", 3, 3, 3, 3),
        ("lvm deactivate @", 3, 3, 3, 3),
        ("layout plan --layout @ --image {image}", 3, 3, 3, 3),
        ("layout apply --layout @ --image {image} --dry-run", 3, 3, 3, 3),
        ("layout grow --layout @ --image {image} --dry-run", 3, 3, 3, 3),
        ("stage @ --key {pub} --root {dir} --dry-run", 3, 3, 3, 3),
        ("stage {random} --key @ --root {dir} --dry-run", 3, 3, 3, 3),
        ("initramfs --output {out}/i.img --init @ --no-tools", 3, 3, 3, 3),
        ("initramfs --output OUT@ --init {self} --no-tools --dry-run", 3, 3, 3, 3),
        ("selftest --disk @ --dry-run", 3, 3, 3, 3),
    ];

    public static TheoryData<string, Kind> All()
    {
        var data = new TheoryData<string, Kind>();
        foreach (var c in Cases)
            foreach (var k in Enum.GetValues<Kind>())
                data.Add(c.Command, k);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(All))]
    public void A_bad_input_gets_a_sentence_naming_it_and_the_documented_exit_code(string command, Kind kind)
    {
        string bin = Tool.RequireNativeInit();
        using var t = new TempDir();
        var f = Fixture.Make(t, bin);
        string bad = kind switch
        {
            Kind.Missing => t.Combine("no-such-file"),
            Kind.Directory => f.Dir,
            Kind.Random => f.Random,
            _ => f.Empty,
        };
        // An output ("OUT@") is bad when its folder does not exist, when it is a directory, or when its folder is a file.
        if (command.Contains("OUT@", StringComparison.Ordinal))
        {
            bad = kind == Kind.Directory ? f.Dir : Path.Combine(bad, "new-file");
            command = command.Replace("OUT@", "@", StringComparison.Ordinal);
        }
        var args = command.Split(' ').Select(a => a
            .Replace("@", bad, StringComparison.Ordinal).Replace("{out}", f.Out, StringComparison.Ordinal)
            .Replace("{dir}", f.Dir, StringComparison.Ordinal).Replace("{random}", f.Random, StringComparison.Ordinal)
            .Replace("{pub}", f.PublicKey, StringComparison.Ordinal).Replace("{image}", f.Image, StringComparison.Ordinal)

            .Replace("{self}", bin, StringComparison.Ordinal)).ToArray();
        var r = Tool.Run(bin, args, timeout: TimeSpan.FromSeconds(60));
        var row = Cases.Single(c => c.Command.Replace("OUT@", "@", StringComparison.Ordinal) == command);
        int expected = kind switch { Kind.Missing => row.Missing, Kind.Directory => row.Directory, Kind.Random => row.Random, _ => row.Empty };
        Assert.True(expected == r.ExitCode, $"expected exit {expected}\n{r}");
        if (expected == 0) return;

        string said = r.Stderr + r.Stdout;
        Assert.True(said.Contains(bad, StringComparison.Ordinal), $"the message does not name {bad}\n{r}");
        string withoutPaths = said.Replace(t.Path, "TMP", StringComparison.Ordinal).Replace(bin, "BIN", StringComparison.Ordinal);
        Assert.False(ResourceKey().IsMatch(withoutPaths), $"a resource key ({ResourceKey().Match(withoutPaths).Value}) in\n{r}");
        Assert.False(JsonResourceKey().IsMatch(withoutPaths), $"a resource key ({JsonResourceKey().Match(withoutPaths).Value}) in\n{r}");
        Assert.DoesNotContain("   at ", said); // no stack trace
        if (kind == Kind.Missing)
            Assert.True(said.Contains("(ENOENT)", StringComparison.Ordinal), $"no errno name for a missing file\n{r}");
    }

    /// <summary>Names from a disk reach the terminal escaped: a GPT partition named with ESC and CR prints as \x1b
    /// and \x0d, never raw (a name must not rewrite the operator's screen or fake a line).</summary>
    [SkippableFact]
    public void A_partition_name_with_control_characters_is_escaped_by_gpt_show()
    {
        string bin = Tool.RequireNativeInit();
        Tool.Require("sgdisk");
        using var t = new TempDir();
        string img = t.Combine("named.img");
        using (var s = File.Create(img)) s.SetLength(8 << 20);
        Tool.Check("sgdisk", "-n", "1:0:+1M", "-c", "1:a\u001b[2Jb\rOK", img);
        var r = Tool.Run(bin, "gpt", "show", img);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(@"a\x1b[2Jb\x0dOK", r.Stdout);
        Assert.DoesNotContain('\u001b', r.Stdout);
        Assert.DoesNotContain('\r', r.Stdout);
    }

    // IO_FileNotFound_FileName, UnauthorizedAccess_IODenied_Path, Arg_...: words joined by underscores.
    [GeneratedRegex(@"\b[A-Z][A-Za-z0-9]*_[A-Z][A-Za-z0-9]*(_[A-Za-z0-9]+)*\b")]
    private static partial Regex ResourceKey();

    // ExpectedStartOfValueNotFound, RequiredDigitNotFoundAfterSign: System.Text.Json's keys, four or more words in one.
    [GeneratedRegex(@"\b[A-Z][a-z]+(?:[A-Z][a-z]+){3,}\b")]
    private static partial Regex JsonResourceKey();

    /// <summary>The inputs of one test: a directory, random and empty files, a key pair, an image.</summary>
    private sealed record Fixture(string Dir, string Random, string Empty, string Out, string PublicKey, string Image)
    {
        public static Fixture Make(TempDir t, string bin)
        {
            string dir = t.Combine("a-directory");
            Directory.CreateDirectory(dir);
            string random = t.Combine("random.bin");
            var bytes = new byte[64 << 10];
            new Random(16).NextBytes(bytes);
            bytes[510] = 0; // no MBR boot signature: a random image with no partition table, always
            File.WriteAllBytes(random, bytes);
            string empty = t.Combine("empty");
            File.WriteAllBytes(empty, []);
            string output = t.Combine("out");
            Directory.CreateDirectory(output);
            string pub = t.Combine("vendor.pub");
            var k = Tool.Run(bin, "bundle", "keygen", "--private", t.Combine("vendor.key"), "--public", pub);
            Assert.True(k.ExitCode == 0, k.ToString());
            string image = t.Combine("disk.img");
            using (var s = File.Create(image)) s.SetLength(64 << 20);
            return new Fixture(dir, random, empty, output, pub, image);
        }
    }
}
