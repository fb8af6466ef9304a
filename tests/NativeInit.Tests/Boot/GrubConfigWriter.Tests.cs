using NativeInit.Core;
using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

public class GrubConfigWriterTests
{
    private const string Uuid = "0b6f3c1e-4d2a-4e8f-9a51-2c7d8e9f0a1b";

    private static readonly BootKernel Centos = new("3.10.0-1160.el7.x86_64", "vmlinuz-3.10.0-1160.el7.x86_64", "initramfs-3.10.0-1160.el7.x86_64.img");

    private const string CentosDefaultGrub = NativeInit.Tests.Stage.FakeSystem.CentosDefaultGrub;

    private static GrubConfigSpec SystemSpec() => new()
    {
        BootFilesystemUuid = Uuid, VolumeGroup = "vg-sys", RootVolume = "root", BootVolumes = ["usr"], Kernels = [Centos],
        TargetArguments = ["crashkernel=auto", "rd.lvm.lv=centos/root", "resume=/dev/mapper/centos-swap", "rhgb", "quiet", "acpi_osi=Windows 2009"],
        TargetDefaultArguments = ["nomodeset", "quiet"],
        ConsoleArguments = ["console=tty0", "console=ttyS0,115200n8"], Serial = new GrubSerial(), SystemName = "CentOS Linux 7 (Core)",
    };

    private const string SystemGolden = """
        # Written by NativeInit. Entries: converted system.
        serial --unit=0 --speed=115200
        terminal_input serial console
        terminal_output serial console
        search --no-floppy --fs-uuid --set=root 0b6f3c1e-4d2a-4e8f-9a51-2c7d8e9f0a1b
        set default=nativeinit-system-3.10.0-1160.el7.x86_64
        if [ -s "(${root})/grub2/grubenv" ]; then
          load_env --file "(${root})/grub2/grubenv"
        fi
        if [ "${next_entry}" ]; then
          set default="${next_entry}"
          set next_entry=
          save_env --file "(${root})/grub2/grubenv" next_entry
        elif [ "${saved_entry}" ]; then
          set default="${saved_entry}"
        fi
        set timeout=5
        menuentry 'CentOS Linux 7 (Core) (3.10.0-1160.el7.x86_64)' --id nativeinit-system-3.10.0-1160.el7.x86_64 {
          echo 'Loading /vmlinuz-3.10.0-1160.el7.x86_64 ...'
          linux /vmlinuz-3.10.0-1160.el7.x86_64 root=/dev/mapper/vg--sys-root ro rd.lvm.lv=vg-sys/root rd.lvm.lv=vg-sys/usr crashkernel=auto rhgb quiet 'acpi_osi=Windows 2009' nomodeset console=tty0 console=ttyS0,115200n8
          initrd /initramfs-3.10.0-1160.el7.x86_64.img
        }
        menuentry 'CentOS Linux 7 (Core) (3.10.0-1160.el7.x86_64, recovery: single user)' --id nativeinit-recovery {
          echo 'Loading /vmlinuz-3.10.0-1160.el7.x86_64 ...'
          linux /vmlinuz-3.10.0-1160.el7.x86_64 root=/dev/mapper/vg--sys-root ro rd.lvm.lv=vg-sys/root rd.lvm.lv=vg-sys/usr crashkernel=auto rhgb quiet 'acpi_osi=Windows 2009' console=tty0 console=ttyS0,115200n8 single
          initrd /initramfs-3.10.0-1160.el7.x86_64.img
        }

        """;

    private const string ConversionGolden = """
        # Written by NativeInit. Entries: conversion in progress (resume is the default).
        search --no-floppy --fs-uuid --set=root 0b6f3c1e-4d2a-4e8f-9a51-2c7d8e9f0a1b
        set default=nativeinit-resume
        if [ -s "(${root})/grub/grubenv" ]; then
          load_env --file "(${root})/grub/grubenv"
        fi
        if [ "${next_entry}" ]; then
          set default="${next_entry}"
          set next_entry=
          save_env --file "(${root})/grub/grubenv" next_entry
        fi
        set timeout=5
        menuentry 'NativeInit: resume the conversion' --id nativeinit-resume {
          echo 'Loading /nativeinit/vmlinuz ...'
          linux /nativeinit/vmlinuz rd.nativeinit=resume rd.nativeinit.disk=partuuid:1234-5678 rd.nativeinit.bundle=/nativeinit/bundle.tar console=ttyS0
          initrd /nativeinit/initramfs.img
        }
        menuentry 'NativeInit: shell (recovery, no conversion)' --id nativeinit-shell {
          echo 'Loading /nativeinit/vmlinuz ...'
          linux /nativeinit/vmlinuz rd.nativeinit=shell rd.nativeinit.disk=partuuid:1234-5678 rd.nativeinit.bundle=/nativeinit/bundle.tar console=ttyS0
          initrd /nativeinit/initramfs.img
        }

        """;

    private static GrubConfigSpec ConversionSpec() => new()
    {
        BootFilesystemUuid = Uuid, GrubDirectory = "/grub", VolumeGroup = "vg0", RootVolume = "root", ConsoleArguments = ["console=ttyS0"],
        Conversion = new GrubConversionEntry("/nativeinit/vmlinuz", "/nativeinit/initramfs.img", "partuuid:1234-5678", "/nativeinit/bundle.tar"),
    };

    [Fact]
    public void The_converted_systems_grub_cfg_matches_the_golden_text()
    {
        Assert.Equal(SystemGolden.Replace("\r\n", "\n"), GrubConfigWriter.Text(SystemSpec()));
    }

    [Fact]
    public void During_a_conversion_resume_is_the_default_and_a_shell_entry_follows()
    {
        Assert.Equal(ConversionGolden.Replace("\r\n", "\n"), GrubConfigWriter.Text(ConversionSpec()));
        // With the target's kernels already in place, they follow the conversion entries; resume stays the default.
        var both = GrubConfigWriter.Text(ConversionSpec() with { Kernels = [Centos] });
        Assert.Contains("set default=nativeinit-resume\n", both);
        Assert.True(both.IndexOf("--id nativeinit-shell", StringComparison.Ordinal) < both.IndexOf("--id nativeinit-system-", StringComparison.Ordinal));
        Assert.DoesNotContain("saved_entry", both); // a saved default of the new system must not win over the resume
    }

    [Fact]
    public void Old_layout_arguments_are_replaced_and_duplicates_dropped()
    {
        var spec = SystemSpec() with
        {
            TargetArguments = ["root=/dev/mapper/centos-root", "ro", "rd.lvm.lv=centos/swap", "rd.lvm.vg=centos", "resume=UUID=x", "quiet", "quiet"],
            TargetDefaultArguments = ["quiet", "resume=/dev/sda2", "nomodeset"],
            ConsoleArguments = ["console=ttyS0"], BootVolumes = ["root", "var"],
        };
        Assert.Equal(["root=/dev/mapper/vg--sys-root", "ro", "rd.lvm.lv=vg-sys/root", "rd.lvm.lv=vg-sys/var", "quiet", "nomodeset", "console=ttyS0"],
            GrubConfigWriter.SystemArguments(spec));
        // The recovery entry leaves GRUB_CMDLINE_LINUX_DEFAULT out, as grub2-mkconfig does.
        Assert.Equal(["root=/dev/mapper/vg--sys-root", "ro", "rd.lvm.lv=vg-sys/root", "rd.lvm.lv=vg-sys/var", "quiet", "console=ttyS0"],
            GrubConfigWriter.SystemArguments(spec, recovery: true));
    }

    [Theory]
    [InlineData("plain-word_1.2:3=4,5+6%7@8/9", "plain-word_1.2:3=4,5+6%7@8/9")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("a b", "'a b'")]
    [InlineData("$x${y}", "'$x${y}'")]
    [InlineData("semi;colon{}|&<>#\"\\", "'semi;colon{}|&<>#\"\\'")]
    [InlineData("", "''")]
    public void Words_are_quoted_for_grubs_lexer(string word, string quoted) => Assert.Equal(quoted, GrubConfigWriter.Quote(word));

    [Fact]
    public void Bad_input_is_refused_naming_it()
    {
        Assert.Contains("line break", Assert.Throws<RefusedException>(() => GrubConfigWriter.Text(SystemSpec() with { SystemName = "a\nb" })).Message);
        Assert.Contains("nothing to boot", Assert.Throws<RefusedException>(() => GrubConfigWriter.Text(SystemSpec() with { Kernels = [] })).Message);
        Assert.Contains("'UUID=1' is not a filesystem UUID",
            Assert.Throws<RefusedException>(() => GrubConfigWriter.Text(SystemSpec() with { BootFilesystemUuid = "UUID=1" })).Message);
        Assert.Contains("GRUB directory 'grub2'",
            Assert.Throws<RefusedException>(() => GrubConfigWriter.Text(SystemSpec() with { GrubDirectory = "grub2" })).Message);
    }

    [Fact]
    public void Default_grub_is_read_as_sh_would_for_assignments()
    {
        var vars = DefaultGrubFile.Parse(CentosDefaultGrub.Replace("GRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"\n", ""), "grub");
        Assert.Equal("crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet", vars["GRUB_CMDLINE_LINUX"]);
        Assert.Equal("saved", vars["GRUB_DEFAULT"]);

        var more = DefaultGrubFile.Parse("""
            # comment
            BASE='console=tty0 a=$literal'
            export GRUB_CMDLINE_LINUX="$BASE ${BASE} x=\"y z\" \$HOME \
            net.ifnames=0" # trailing comment
            OTHER=un\ quoted;THIRD=3
            """, "grub");
        Assert.Equal("console=tty0 a=$literal console=tty0 a=$literal x=\"y z\" $HOME net.ifnames=0", more["GRUB_CMDLINE_LINUX"]);
        Assert.Equal("un quoted", more["OTHER"]);
        Assert.Equal("3", more["THIRD"]);
        Assert.Equal(["console=tty0", "a=$literal", "console=tty0", "a=$literal", "x=y z", "$HOME", "net.ifnames=0"],
            DefaultGrubFile.SplitWords(more["GRUB_CMDLINE_LINUX"], "grub"));
    }

    [Fact]
    public async Task Default_grub_shell_code_is_left_out_and_reported_with_its_line_and_the_rest_is_read()
    {
        var vars = DefaultGrubFile.Parse(CentosDefaultGrub, "/t/etc/default/grub", out var unevaluated);
        Assert.Equal("/t/etc/default/grub: line 2: GRUB_DISTRIBUTOR uses $(...), command substitution NativeInit does not run",
            Assert.Single(unevaluated).Value);
        Assert.False(vars.ContainsKey("GRUB_DISTRIBUTOR"));
        Assert.Equal("crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet", vars["GRUB_CMDLINE_LINUX"]);
        Assert.Equal("console", vars["GRUB_TERMINAL_OUTPUT"]);

        // Debian's stock line (backquotes), and every other form NativeInit does not evaluate, several in one value (each
        // is consumed: a parser that skipped only the first would loop for ever here); what follows each is read.
        var parse = Task.Run(() => DefaultGrubFile.Parse("""
            GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
            A="x $(echo "(nested) ')'" $(date)) y $(uname) `hostname` ${X:-1} $GRUB_DISTRIBUTOR" B=after
            C=${HOME:-/root}
            D="$GRUB_DISTRIBUTOR GNU/Linux"
            E=plain
            E=`date`
            F="${E}"
            GRUB_TIMEOUT=1
            """, "f", out var u) is var v ? (v, u) : default);
        (vars, unevaluated) = await parse.WaitAsync(TimeSpan.FromSeconds(30)); // TimeoutException: the parser did not return
        Assert.Equal(["A", "C", "D", "E", "F", "GRUB_DISTRIBUTOR"], unevaluated.Keys.Order());
        Assert.Equal("f: line 1: GRUB_DISTRIBUTOR uses command substitution, which NativeInit does not run", unevaluated["GRUB_DISTRIBUTOR"]);
        Assert.Equal("f: line 2: A uses $(...), command substitution NativeInit does not run", unevaluated["A"]);
        Assert.Equal("f: line 3: C uses ${HOME:-/root}, a shell expansion NativeInit does not evaluate", unevaluated["C"]);
        Assert.Equal("f: line 4: D uses $GRUB_DISTRIBUTOR, whose value NativeInit did not evaluate", unevaluated["D"]);
        Assert.Equal("f: line 7: F uses $E, whose value NativeInit did not evaluate", unevaluated["F"]);
        Assert.Equal(new Dictionary<string, string> { ["B"] = "after", ["GRUB_TIMEOUT"] = "1" }, vars);

        // A file sh could not read either is refused, naming the line.
        Assert.Contains("line 1: X: unterminated \"",
            Assert.Throws<InvalidDataFormatException>(() => DefaultGrubFile.Parse("X=\"abc\n", "f")).Message);
        Assert.Contains("line 2: Y: unterminated $(",
            Assert.Throws<InvalidDataFormatException>(() => DefaultGrubFile.Parse("X=1\nY=$(echo\n", "f")).Message);
        Assert.Contains("line 1: Z: unterminated `",
            Assert.Throws<InvalidDataFormatException>(() => DefaultGrubFile.Parse("Z=`echo\n", "f")).Message);
    }

    private static TargetGrubDefaults Defaults(string text)
    {
        var vars = DefaultGrubFile.Parse(text, "/etc/default/grub", out var unevaluated);
        return TargetGrubDefaults.From(vars, unevaluated, "/etc/default/grub");
    }

    [Fact]
    public void The_targets_settings_are_taken_as_grub_mkconfig_would_and_what_is_not_kept_is_said()
    {
        // CentOS 7's stock file: arguments, timeout, no serial terminal, the distributor left to the caller.
        var centos = Defaults(CentosDefaultGrub);
        Assert.Equal(["crashkernel=auto", "rd.lvm.lv=centos/root", "rd.lvm.lv=centos/swap", "rhgb", "quiet"], centos.CommandLine);
        Assert.Null(centos.Distributor);
        Assert.Equal(5, centos.TimeoutSeconds);
        Assert.Null(centos.Serial);
        Assert.Equal(["/etc/default/grub: line 2: GRUB_DISTRIBUTOR uses $(...), command substitution NativeInit does not run: the menu is named after the product"],
            centos.Notes);

        // Debian's GRUB_CMDLINE_LINUX_DEFAULT, for the normal entries only.
        var debian = Defaults("GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"\nGRUB_CMDLINE_LINUX=\"\"\n");
        Assert.Equal(["quiet", "splash"], debian.DefaultCommandLine);
        Assert.Empty(debian.CommandLine);
        Assert.Empty(debian.Notes);

        // A serial console (as the VM harness's target has it), a plain distributor, a zero timeout.
        var serial = Defaults("GRUB_DISTRIBUTOR=Debian\nGRUB_TIMEOUT=0\nGRUB_TERMINAL=serial\nGRUB_SERIAL_COMMAND=\"serial --speed=9600 --unit=1 --word=8\"\n");
        Assert.Equal("Debian", serial.Distributor);
        Assert.Equal(0, serial.TimeoutSeconds);
        Assert.Equal(new GrubSerial(1, 9600), serial.Serial);
        Assert.Empty(serial.Notes);
        Assert.Equal(new GrubSerial(), Defaults("GRUB_TERMINAL_INPUT=\"console serial\"\n").Serial);
        Assert.Null(Defaults("GRUB_TERMINAL=serialx\n").Serial);

        // Not kept: a timeout that waits for a key (nobody presses one on a gateway), one that is not a number, kernel
        // arguments that are shell code (the entries then carry NativeInit's own: root, LVs).
        var odd = Defaults("GRUB_TIMEOUT=-1\nGRUB_CMDLINE_LINUX=\"quiet $(cat /proc/cmdline)\"\n");
        Assert.Null(odd.TimeoutSeconds);
        Assert.Empty(odd.CommandLine);
        Assert.Equal([
            "/etc/default/grub: line 2: GRUB_CMDLINE_LINUX uses $(...), command substitution NativeInit does not run: the entries get NativeInit's arguments without it",
            "/etc/default/grub: GRUB_TIMEOUT=-1 (wait for a key) is not kept: a converted system boots by itself; the default timeout is kept",
        ], odd.Notes);
        Assert.Contains("GRUB_TIMEOUT='5s' is not a number of seconds", Assert.Single(Defaults("GRUB_TIMEOUT=5s\n").Notes));
    }

    [Fact]
    public void Settings_of_a_target_root_of_one_without_the_file_and_of_one_sh_could_not_read()
    {
        using var dir = new TempDir();
        Assert.Same(TargetGrubDefaults.None, TargetGrubDefaults.Read(dir.Path));
        Directory.CreateDirectory(dir.Combine("etc", "default"));
        File.WriteAllText(dir.Combine("etc", "default", "grub"), "GRUB_CMDLINE_LINUX=\"crashkernel=auto rhgb quiet\"\n");
        Assert.Equal(["crashkernel=auto", "rhgb", "quiet"], TargetGrubDefaults.Read(dir.Path).CommandLine);
        File.WriteAllText(dir.Combine("etc", "default", "grub"), "GRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX=\"quiet\n");
        var broken = TargetGrubDefaults.Read(dir.Path);
        Assert.Empty(broken.CommandLine);
        Assert.Null(broken.TimeoutSeconds);
        Assert.Equal(["/etc/default/grub: line 2: GRUB_CMDLINE_LINUX: unterminated \": the file is ignored"], broken.Notes);
    }

    [Fact]
    public void Kernel_initramfs_pairs_are_found_newest_first_in_both_naming_schemes()
    {
        using var dir = new TempDir();
        foreach (var f in (string[])[
                     "vmlinuz-3.10.0-957.el7.x86_64", "initramfs-3.10.0-957.el7.x86_64.img",
                     "vmlinuz-3.10.0-1160.el7.x86_64", "initramfs-3.10.0-1160.el7.x86_64.img",
                     "vmlinuz-0-rescue-abc", "initramfs-0-rescue-abc.img",
                     "vmlinuz-6.1.0-56-amd64", "initrd.img-6.1.0-56-amd64",
                     "vmlinuz-5.0.0-no-initramfs", ".vmlinuz-3.10.0-1160.el7.x86_64.hmac", "initramfs-3.10.0-1160.el7.x86_64kdump.img"])
            File.WriteAllText(dir.Combine(f), "");
        var k = BootKernel.Find(dir.Path);
        Assert.Equal(["6.1.0-56-amd64", "3.10.0-1160.el7.x86_64", "3.10.0-957.el7.x86_64", "0-rescue-abc"], k.Select(x => x.Version));
        Assert.Equal("initrd.img-6.1.0-56-amd64", k[0].Initramfs);
        Assert.Equal("initramfs-3.10.0-1160.el7.x86_64.img", k[1].Initramfs);
        Assert.Empty(BootKernel.Find(dir.Combine("missing")));
    }

    [Fact]
    public void WriteFiles_writes_grub_cfg_and_an_empty_grubenv_and_keeps_a_sound_grubenv()
    {
        using var dir = new TempDir();
        string cfg = GrubConfigWriter.WriteFiles(dir.Path, SystemSpec());
        Assert.Equal(dir.Combine("grub2", "grub.cfg"), cfg);
        Assert.Equal(GrubConfigWriter.Text(SystemSpec()), File.ReadAllText(cfg));
        var envPath = dir.Combine("grub2", "grubenv");
        Assert.Equal(GrubEnv.Empty().ToBytes(), File.ReadAllBytes(envPath));
        var env = GrubEnv.Empty();
        env.Set("saved_entry", "nativeinit-recovery");
        File.WriteAllBytes(envPath, env.ToBytes());
        GrubConfigWriter.WriteFiles(dir.Path, SystemSpec());
        Assert.Equal(env.ToBytes(), File.ReadAllBytes(envPath));
        File.WriteAllText(envPath, "garbage");
        GrubConfigWriter.WriteFiles(dir.Path, SystemSpec());
        Assert.Equal(GrubEnv.Empty().ToBytes(), File.ReadAllBytes(envPath));
        Assert.False(File.Exists(cfg + ".tmp"));
    }

    [SkippableFact]
    [Trait("Category", "Integration")]
    public void Grub_script_check_accepts_every_generated_file_and_rejects_a_broken_one()
    {
        Tool.Require("grub-script-check");
        using var dir = new TempDir();
        var texts = new Dictionary<string, string>
        {
            ["system"] = GrubConfigWriter.Text(SystemSpec()),
            ["conversion"] = GrubConfigWriter.Text(ConversionSpec()),
            ["both"] = GrubConfigWriter.Text(ConversionSpec() with { Kernels = [Centos], Serial = new GrubSerial(1, 9600) }),
            ["quoting"] = GrubConfigWriter.Text(SystemSpec() with
            {
                SystemName = "Name with 'quotes', $dollar, {braces}; and \\ backslash",
                TargetArguments = ["it's", "a b", "$x", "semi;colon", "#hash", "{", "}", "\"dq\""],
            }),
        };
        foreach (var (name, text) in texts)
        {
            string f = dir.Combine(name + ".cfg");
            File.WriteAllText(f, text);
            var r = Tool.Run("grub-script-check", f);
            Assert.True(r.ExitCode == 0, $"grub-script-check {name}.cfg: exit {r.ExitCode}\n{r.Stdout}{r.Stderr}\n{text}");
        }
        // The oracle can fail: an unclosed if and an unquoted brace in a menu title are rejected.
        string bad = dir.Combine("bad.cfg");
        File.WriteAllText(bad, texts["system"].Replace("fi\nset timeout", "set timeout", StringComparison.Ordinal));
        Assert.NotEqual(0, Tool.Run("grub-script-check", bad).ExitCode);
    }
}
