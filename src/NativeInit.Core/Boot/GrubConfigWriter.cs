using System.Text;
using NativeInit.Core.Lvm;

namespace NativeInit.Core.Boot;

/// <summary>A kernel and its initramfs in /boot, by file name (as GRUB sees them on the /boot filesystem: "/NAME").</summary>
public sealed record BootKernel(string Version, string Kernel, string Initramfs)
{
    /// <summary>Kernel/initramfs pairs in <paramref name="bootDirectory"/>, newest version first: vmlinuz-V with
    /// initramfs-V.img (RHEL family, dracut) or initrd.img-V (Debian). A kernel without an initramfs is left out: a
    /// root on LVM needs one.</summary>
    public static IReadOnlyList<BootKernel> Find(string bootDirectory) => !Directory.Exists(bootDirectory) ? [] :
        Pairs(Directory.EnumerateFiles(bootDirectory, "vmlinuz-*").Select(p => Path.GetFileName(p)), n => File.Exists(Path.Combine(bootDirectory, n)));

    /// <summary><see cref="Find(string)"/> over the file names of a /boot not on a disk (a rootfs archive's entries).</summary>
    public static IReadOnlyList<BootKernel> FromNames(IReadOnlyCollection<string> names) =>
        Pairs(names.Where(n => n.StartsWith("vmlinuz-", StringComparison.Ordinal)), names.Contains);

    private static List<BootKernel> Pairs(IEnumerable<string> kernels, Func<string, bool> exists)
    {
        var found = new List<BootKernel>();
        foreach (var name in kernels)
        {
            string v = name["vmlinuz-".Length..];
            if (v.Length == 0) continue;
            foreach (var initrd in (string[])[$"initramfs-{v}.img", $"initrd.img-{v}"])
                if (exists(initrd))
                {
                    found.Add(new BootKernel(v, name, initrd));
                    break;
                }
        }
        found.Sort((a, b) => CompareVersions(b.Version, a.Version));
        return found;
    }

    /// <summary>Compares versions as rpmvercmp/dpkg roughly do: digit runs by value, other runs by ordinal.</summary>
    public static int CompareVersions(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            bool da = char.IsAsciiDigit(a[i]), db = char.IsAsciiDigit(b[j]);
            int si = i, sj = j;
            if (da && db)
            {
                while (i < a.Length && char.IsAsciiDigit(a[i])) i++;
                while (j < b.Length && char.IsAsciiDigit(b[j])) j++;
                var x = a.AsSpan(si, i - si).TrimStart('0');
                var y = b.AsSpan(sj, j - sj).TrimStart('0');
                int c = x.Length != y.Length ? x.Length.CompareTo(y.Length) : x.SequenceCompareTo(y);
                if (c != 0) return c;
            }
            else
            {
                while (i < a.Length && !char.IsAsciiDigit(a[i])) i++;
                while (j < b.Length && !char.IsAsciiDigit(b[j])) j++;
                int c = string.CompareOrdinal(a[si..i], b[sj..j]);
                if (c != 0) return c;
            }
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }
}

/// <summary>The conversion's own boot entry: the conversion kernel and initramfs stage two put on the new /boot.</summary>
/// <param name="Kernel">Path on the /boot filesystem, e.g. "/nativeinit/vmlinuz".</param>
/// <param name="Initramfs">Path on the /boot filesystem, e.g. "/nativeinit/initramfs.img".</param>
/// <param name="DiskId">What rd.nativeinit.disk= names (a PARTUUID, filesystem UUID, serial or WWN spec).</param>
/// <param name="Bundle">What rd.nativeinit.bundle= names, or null to leave it out.</param>
public sealed record GrubConversionEntry(string Kernel, string Initramfs, string DiskId, string? Bundle = null)
{
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}

/// <summary>GRUB's serial terminal (the `serial` command): unit 0 is ttyS0 / COM1.</summary>
public sealed record GrubSerial(int Unit = 0, int Speed = 115200);

/// <summary>What goes into grub.cfg on the new /boot.</summary>
public sealed record GrubConfigSpec
{
    /// <summary>The /boot filesystem's UUID: grub.cfg finds its files there (search --fs-uuid).</summary>
    public required string BootFilesystemUuid { get; init; }
    /// <summary>The GRUB directory on the /boot filesystem ("/grub2" or "/grub"): grubenv lies there.</summary>
    public string GrubDirectory { get; init; } = "/grub2";
    public required string VolumeGroup { get; init; }
    public required string RootVolume { get; init; }
    /// <summary>Further LVs the system needs at boot (each gets rd.lvm.lv=VG/LV), e.g. a separate /usr. Only these
    /// and the root are activated by dracut; naming an LV that does not exist makes dracut wait for it.</summary>
    public IReadOnlyList<string> BootVolumes { get; init; } = [];
    /// <summary>The target system's kernels in /boot, newest first (<see cref="BootKernel.Find"/>).</summary>
    public IReadOnlyList<BootKernel> Kernels { get; init; } = [];
    /// <summary>GRUB_CMDLINE_LINUX of the target's /etc/default/grub, split into words (<see cref="DefaultGrubFile"/>).</summary>
    public IReadOnlyList<string> TargetArguments { get; init; } = [];
    /// <summary>GRUB_CMDLINE_LINUX_DEFAULT, split into words: as grub2-mkconfig does, for the normal entries only, not
    /// the recovery entry.</summary>
    public IReadOnlyList<string> TargetDefaultArguments { get; init; } = [];
    /// <summary>console= (and similar) arguments the caller adds to every entry, e.g. "console=ttyS0,115200n8".</summary>
    public IReadOnlyList<string> ConsoleArguments { get; init; } = [];
    /// <summary>Non-null: GRUB itself talks on this serial port (and the screen).</summary>
    public GrubSerial? Serial { get; init; }
    /// <summary>Non-null while a conversion is in progress: its resume entry is the default.</summary>
    public GrubConversionEntry? Conversion { get; init; }
    /// <summary>The system's name in menu titles.</summary>
    public string SystemName { get; init; } = "Linux";
    /// <summary>grub2-mkconfig's default (GRUB_TIMEOUT unset).</summary>
    public const int DefaultTimeoutSeconds = 5;
    public int TimeoutSeconds { get; init; } = DefaultTimeoutSeconds;
}

/// <summary>
/// grub.cfg for the new /boot, written by NativeInit (not by grub2-mkconfig, which needs the running target system):
/// a header that finds /boot by filesystem UUID, loads grubenv and honours a one-shot next_entry; while a conversion
/// is in progress its resume entry (the default) and a shell entry; one entry per target kernel; a recovery entry.
/// Every word that is not plainly safe is single-quoted for GRUB's script lexer, so names, titles and arguments
/// pass through unchanged.
/// </summary>
public static class GrubConfigWriter
{
    public const string ResumeId = "nativeinit-resume";
    public const string ShellId = "nativeinit-shell";
    public const string SystemIdPrefix = "nativeinit-system-";
    public const string RecoveryId = "nativeinit-recovery";

    /// <summary>Kernel arguments of the target's GRUB_CMDLINE_LINUX that name the OLD layout and are dropped: the new
    /// root and LVs are given by NativeInit; a stale resume= or rd.lvm.lv= makes dracut wait for a device that is gone.</summary>
    public static readonly string[] ReplacedArgumentNames = ["root", "rd.lvm.lv", "rd.lvm.vg", "rd.lvm", "resume", "rd.md.uuid", "rd.luks.uuid"];

    /// <summary>The kernel arguments of a target system entry: root on the LV, ro, rd.lvm.lv= for the root and each
    /// boot LV, the target's own arguments (minus <see cref="ReplacedArgumentNames"/>; GRUB_CMDLINE_LINUX_DEFAULT's
    /// only for a normal entry, not for <paramref name="recovery"/>), then the console arguments.</summary>
    public static IReadOnlyList<string> SystemArguments(GrubConfigSpec spec, bool recovery = false)
    {
        var args = new List<string> { "root=" + DmNames.MapperPath(spec.VolumeGroup, spec.RootVolume), "ro" };
        foreach (var lv in spec.BootVolumes.Prepend(spec.RootVolume).Distinct(StringComparer.Ordinal))
            args.Add($"rd.lvm.lv={spec.VolumeGroup}/{lv}");
        foreach (var a in spec.TargetArguments.Concat(recovery ? [] : spec.TargetDefaultArguments).Concat(spec.ConsoleArguments))
        {
            if (a.Length == 0 || a == "ro" || a == "rw") continue;
            int eq = a.IndexOf('=');
            string name = eq < 0 ? a : a[..eq];
            if (ReplacedArgumentNames.Contains(name, StringComparer.Ordinal)) continue;
            if (!args.Contains(a, StringComparer.Ordinal)) args.Add(a);
        }
        return args;
    }

    public static string Text(GrubConfigSpec spec)
    {
        if (spec.Kernels.Count == 0 && spec.Conversion is null)
            throw new RefusedException("grub.cfg: no kernel with an initramfs in the target's /boot and no conversion entry: nothing to boot");
        if (!IsUuid(spec.BootFilesystemUuid))
            throw new RefusedException($"grub.cfg: '{spec.BootFilesystemUuid}' is not a filesystem UUID");
        var sb = new StringBuilder();
        if (!spec.GrubDirectory.StartsWith('/') || !spec.GrubDirectory.All(IsPlain))
            throw new RefusedException($"grub.cfg: GRUB directory '{spec.GrubDirectory}' is not an absolute path of plain characters");
        // Double quotes: ${root} must expand (to the device search set), the directory has only plain characters.
        string env = $"\"(${{root}}){spec.GrubDirectory.TrimEnd('/')}/grubenv\"";
        string defaultId = spec.Conversion is not null ? ResumeId : SystemIdPrefix + spec.Kernels[0].Version;
        sb.Append("# Written by NativeInit. Entries: ");
        sb.Append(spec.Conversion is not null ? "conversion in progress (resume is the default)" : "converted system");
        sb.Append(".\n");
        if (spec.Serial is { } serial)
        {
            sb.Append($"serial --unit={serial.Unit} --speed={serial.Speed}\n");
            sb.Append("terminal_input serial console\nterminal_output serial console\n");
        }
        sb.Append($"search --no-floppy --fs-uuid --set=root {spec.BootFilesystemUuid}\n");
        sb.Append($"set default={Quote(defaultId)}\n");
        sb.Append($"if [ -s {env} ]; then\n  load_env --file {env}\nfi\n");
        // A one-shot entry (grub2-reboot / grub-reboot set next_entry) wins once and is cleared.
        sb.Append($"if [ \"${{next_entry}}\" ]; then\n  set default=\"${{next_entry}}\"\n  set next_entry=\n  save_env --file {env} next_entry\n");
        if (spec.Conversion is null)
            sb.Append("elif [ \"${saved_entry}\" ]; then\n  set default=\"${saved_entry}\"\n");
        sb.Append("fi\n");
        sb.Append($"set timeout={spec.TimeoutSeconds}\n");

        if (spec.Conversion is { } c)
        {
            var common = new List<string>
            {
                "rd.nativeinit.disk=" + c.DiskId,
            };
            if (c.Bundle is not null) common.Add("rd.nativeinit.bundle=" + c.Bundle);
            common.AddRange(c.ExtraArguments);
            common.AddRange(spec.ConsoleArguments);
            Entry(sb, "NativeInit: resume the conversion", ResumeId, c.Kernel, c.Initramfs, ["rd.nativeinit=resume", .. common]);
            Entry(sb, "NativeInit: shell (recovery, no conversion)", ShellId, c.Kernel, c.Initramfs, ["rd.nativeinit=shell", .. common]);
        }
        var sys = SystemArguments(spec);
        foreach (var k in spec.Kernels)
            Entry(sb, $"{spec.SystemName} ({k.Version})", SystemIdPrefix + k.Version, "/" + k.Kernel, "/" + k.Initramfs, sys);
        if (spec.Kernels.Count > 0)
        {
            var k = spec.Kernels[0];
            Entry(sb, $"{spec.SystemName} ({k.Version}, recovery: single user)", RecoveryId, "/" + k.Kernel, "/" + k.Initramfs,
                [.. SystemArguments(spec, recovery: true), "single"]);
        }
        return sb.ToString();
    }

    /// <summary>Writes <see cref="Text"/> to BOOT/DIR/grub.cfg (atomically: temp file, fsync, rename) and makes sure
    /// BOOT/DIR/grubenv is a GRUB environment block: an existing sound one is kept (its saved_entry, next_entry), a
    /// missing or unreadable one is replaced by an empty 1024-byte block (GRUB's save_env only rewrites an existing
    /// file in place). <paramref name="bootMountPoint"/> is where the /boot filesystem is mounted. Returns grub.cfg's path.</summary>
    public static string WriteFiles(string bootMountPoint, GrubConfigSpec spec)
    {
        string text = Text(spec);
        string dir = Path.Combine(bootMountPoint, spec.GrubDirectory.TrimStart('/'));
        Directory.CreateDirectory(dir);
        string env = Path.Combine(dir, "grubenv");
        bool sound = false;
        if (File.Exists(env))
        {
            try { sound = GrubEnv.Parse(File.ReadAllBytes(env), env).Size == GrubEnv.DefaultSize; }
            catch (InvalidDataFormatException) { sound = false; }
        }
        if (!sound) AtomicFile.Write(env, GrubEnv.Empty().ToBytes());
        string cfg = Path.Combine(dir, "grub.cfg");
        var bytes = Encoding.UTF8.GetBytes(text);
        // The same text is not written again (a step run again after a power cut): a rename leaves GRUB, which does not
        // replay the file system's log, the old name until the next checkpoint.
        if (!File.Exists(cfg) || !File.ReadAllBytes(cfg).AsSpan().SequenceEqual(bytes)) AtomicFile.Write(cfg, bytes);
        return cfg;
    }

    private static void Entry(StringBuilder sb, string title, string id, string kernel, string initramfs, IReadOnlyList<string> args)
    {
        sb.Append($"menuentry {QuoteAlways(title)} --id {Quote(id)} {{\n");
        sb.Append($"  echo {QuoteAlways("Loading " + kernel + " ...")}\n");
        sb.Append($"  linux {Quote(kernel)}");
        foreach (var a in args) sb.Append(' ').Append(Quote(a));
        sb.Append('\n');
        sb.Append($"  initrd {Quote(initramfs)}\n}}\n");
    }

    /// <summary>One word for GRUB's script lexer: as is when it holds only characters the lexer takes literally in
    /// an unquoted word, else single-quoted (inside '...' nothing is special; a ' is written '\'').</summary>
    public static string Quote(string word) =>
        word.Length > 0 && word.All(IsPlain) ? word : QuoteAlways(word);

    public static string QuoteAlways(string word)
    {
        if (word.Contains('\n') || word.Contains('\r') || word.Contains('\0'))
            throw new RefusedException($"grub.cfg: '{word.ReplaceLineEndings("\\n")}' holds a line break or NUL, which a grub.cfg word cannot carry");
        return "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    private static bool IsPlain(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '/' or ':' or '=' or ',' or '+' or '%' or '@' or '-';

    private static bool IsUuid(string s) =>
        s.Length is > 0 and <= 64 && s.All(c => char.IsAsciiHexDigit(c) || c == '-');
}

/// <summary>
/// The target's /etc/default/grub: a shell file of assignments (GRUB_CMDLINE_LINUX="..."), read the way sh would for
/// the plain forms it holds: NAME=value with '...' (literal), "..." (\ escapes $ ` " \ and newline; $NAME and ${NAME}
/// expand from earlier assignments), unquoted words with \ escapes, `export NAME=...`, comments. Command
/// substitution and other shell code are not run: such a value is left out and reported (stock files have one:
/// CentOS 7's GRUB_DISTRIBUTOR="$(sed 's, release .*$,,g' /etc/system-release)", Debian's
/// GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`), never guessed; a file sh could not read
/// (an unterminated quote) is refused.
/// </summary>
public static class DefaultGrubFile
{
    public const string RelativePath = "etc/default/grub";

    /// <summary>The variables whose values could be evaluated (see <see cref="Parse(string, string, out IReadOnlyDictionary{string, string})"/>).</summary>
    public static IReadOnlyDictionary<string, string> Parse(string text, string what) => Parse(text, what, out _);

    /// <summary>The variables whose values could be evaluated; <paramref name="unevaluated"/> names the others, each
    /// with a sentence why ("FILE: line N: NAME uses $(...), command substitution NativeInit does not run"). A value
    /// that expands an unevaluated variable is unevaluated too.</summary>
    public static IReadOnlyDictionary<string, string> Parse(string text, string what, out IReadOnlyDictionary<string, string> unevaluated)
    {
        var vars = new Dictionary<string, string>(StringComparer.Ordinal);
        var unknown = new Dictionary<string, string>(StringComparer.Ordinal);
        unevaluated = unknown;
        int i = 0, lineNo = 1;
        while (i < text.Length)
        {
            SkipBlanks(text, ref i);
            if (i >= text.Length) break;
            if (text[i] == '\n') { i++; lineNo++; continue; }
            if (text[i] == '#') { SkipToLineEnd(text, ref i); continue; }
            int start = i;
            while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_')) i++;
            string name = text[start..i];
            if (name == "export")
            {
                SkipBlanks(text, ref i);
                start = i;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_')) i++;
                name = text[start..i];
            }
            if (name.Length == 0 || i >= text.Length || text[i] != '=')
            {
                SkipToLineEnd(text, ref i); // not an assignment (a command, a test): grub-mkconfig would run it; we do not
                continue;
            }
            i++;
            int firstLine = lineNo;
            var value = new StringBuilder();
            string? why = null; // set once the value holds something not evaluated
            while (i < text.Length && text[i] is not (' ' or '\t' or '\n' or ';'))
            {
                char c = text[i];
                if (c == '\'')
                {
                    int end = text.IndexOf('\'', i + 1);
                    if (end < 0) throw new InvalidDataFormatException($"{what}: line {firstLine}: {name}: unterminated '");
                    value.Append(text, i + 1, end - i - 1);
                    lineNo += text.AsSpan(i, end - i).Count('\n');
                    i = end + 1;
                }
                else if (c == '"')
                {
                    i++;
                    while (true)
                    {
                        if (i >= text.Length) throw new InvalidDataFormatException($"{what}: line {firstLine}: {name}: unterminated \"");
                        char d = text[i];
                        if (d == '"') { i++; break; }
                        if (d == '\\' && i + 1 < text.Length && text[i + 1] is '$' or '`' or '"' or '\\' or '\n')
                        {
                            if (text[i + 1] != '\n') value.Append(text[i + 1]);
                            else lineNo++;
                            i += 2;
                        }
                        else if (d is '$' or '`')
                        {
                            // Always consumed, also once the value already has a reason (the first one is kept).
                            var reason = Expand(text, ref i, ref lineNo, vars, unknown, value, what, name);
                            why ??= reason;
                        }
                        else { if (d == '\n') lineNo++; value.Append(d); i++; }
                    }
                }
                else if (c == '\\' && i + 1 < text.Length) { if (text[i + 1] != '\n') value.Append(text[i + 1]); i += 2; }
                else if (c is '$' or '`')
                {
                    var reason = Expand(text, ref i, ref lineNo, vars, unknown, value, what, name);
                    why ??= reason;
                }
                else { value.Append(c); i++; }
            }
            if (why is null)
            {
                vars[name] = value.ToString();
                unknown.Remove(name);
            }
            else
            {
                unknown[name] = why;
                vars.Remove(name);
            }
        }
        return vars;
    }

    /// <summary>At a '$' or '`': appends the expansion of $NAME or ${NAME} and returns null; for shell code it does not
    /// evaluate (command substitution, ${NAME:-...} and the like, a variable that is itself unevaluated) skips it and
    /// returns why.</summary>
    private static string? Expand(string text, ref int i, ref int lineNo, Dictionary<string, string> vars, Dictionary<string, string> unknown,
        StringBuilder value, string what, string name)
    {
        int line = lineNo;
        if (text[i] == '`')
        {
            int end = i + 1;
            while (end < text.Length && text[end] != '`') end += text[end] == '\\' ? 2 : 1;
            if (end >= text.Length) throw new InvalidDataFormatException($"{what}: line {line}: {name}: unterminated `");
            lineNo += text.AsSpan(i, end - i).Count('\n');
            i = end + 1;
            return $"{what}: line {line}: {name} uses command substitution, which NativeInit does not run";
        }
        i++; // '$'
        string v;
        if (i < text.Length && text[i] == '{')
        {
            int end = text.IndexOf('}', i);
            if (end < 0) throw new InvalidDataFormatException($"{what}: line {line}: {name}: unterminated ${{");
            v = text[(i + 1)..end];
            i = end + 1;
            if (!v.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_'))
                return $"{what}: line {line}: {name} uses ${{{v}}}, a shell expansion NativeInit does not evaluate";
        }
        else if (i < text.Length && text[i] == '(')
        {
            SkipCommandSubstitution(text, ref i, ref lineNo, what, name);
            return $"{what}: line {line}: {name} uses $(...), command substitution NativeInit does not run";
        }
        else
        {
            int s = i;
            while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_')) i++;
            v = text[s..i];
            if (v.Length == 0) { value.Append('$'); return null; }
        }
        if (unknown.ContainsKey(v)) return $"{what}: line {line}: {name} uses ${v}, whose value NativeInit did not evaluate";
        value.Append(vars.TryGetValue(v, out var x) ? x : "");
        return null;
    }

    /// <summary>From the '(' of a $( to just past its matching ')': parentheses nest, quotes and \ escapes hide them.</summary>
    private static void SkipCommandSubstitution(string text, ref int i, ref int lineNo, string what, string name)
    {
        int line = lineNo, depth = 0;
        char quote = '\0';
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\n') lineNo++;
            if (quote == '\'') { if (c == '\'') quote = '\0'; continue; }
            if (c == '\\') { i++; continue; }
            if (quote == '"') { if (c == '"') quote = '\0'; continue; }
            if (c is '\'' or '"') quote = c;
            else if (c == '(') depth++;
            else if (c == ')' && --depth == 0) { i++; return; }
        }
        throw new InvalidDataFormatException($"{what}: line {line}: {name}: unterminated $(");
    }

    /// <summary>Splits a kernel command line into words as grub.cfg's lexer would split it after grub-mkconfig pasted
    /// it in: whitespace separates, '...' and "..." group (quotes removed), \ escapes.</summary>
    public static IReadOnlyList<string> SplitWords(string line, string what)
    {
        var words = new List<string>();
        var w = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c is ' ' or '\t' or '\n')
            {
                if (inWord) { words.Add(w.ToString()); w.Clear(); inWord = false; }
                continue;
            }
            inWord = true;
            if (c is '\'' or '"')
            {
                int end = line.IndexOf(c, i + 1);
                if (end < 0) throw new InvalidDataFormatException($"{what}: unterminated {c} in '{line}'");
                w.Append(line, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '\\' && i + 1 < line.Length) w.Append(line[++i]);
            else w.Append(c);
        }
        if (inWord) words.Add(w.ToString());
        return words;
    }

    private static void SkipBlanks(string t, ref int i) { while (i < t.Length && t[i] is ' ' or '\t' or ';') i++; }

    private static void SkipToLineEnd(string t, ref int i) { while (i < t.Length && t[i] != '\n') i++; }
}
