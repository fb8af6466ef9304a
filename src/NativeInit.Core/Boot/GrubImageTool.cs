using System.Diagnostics;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Boot;

/// <summary>
/// Where grub-mkimage and the i386-pc images come from: the target root's own (run through chroot, so the tool and
/// its modules are of one GRUB version; without a chroot program, through the target's own dynamic loader with the
/// target's libraries) or else the host's (Debian grub-common + grub-pc-bin). Never a mix: a grub-mkimage of one
/// version with the kernel.img and modules of another is not a combination GRUB supports.
/// </summary>
public sealed record GrubImageTool(
    string Description,        // "chroot /new grub2-mkimage" or "/usr/bin/grub-mkimage": for logs and the result
    string ModuleDirectory,    // host path of the i386-pc directory (boot.img, kernel.img, *.mod)
    string Program,            // what to start
    IReadOnlyList<string> LeadingArguments, // before the mkimage options (chroot's root and the tool's path)
    string ModuleDirectoryArgument, // -d as the tool sees it
    string Flavor)             // "grub2" (RHEL family: grub2-*, /boot/grub2) or "grub" (Debian: grub-*, /boot/grub)
{
    /// <summary>The target root when the tool runs chrooted into it (its output then goes to the root's /tmp).</summary>
    public string? ChrootDirectory { get; init; }

    private static readonly string[] LoaderPaths =
        ["lib64/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"];
    private static readonly string[] LibraryDirectories = ["usr/lib64", "lib64", "usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"];

    public const string ModuleSubdirectory = GrubPaths.ModuleSubdirectory;
    public const string HostModuleDirectory = "/" + GrubPaths.ModuleSubdirectory;

    /// <summary>Finds the tool for <paramref name="targetRoot"/> (null: the host's). Returns null and the reasons when
    /// there is none.</summary>
    public static GrubImageTool? Find(string? targetRoot, List<string> reasons) =>
        Find(targetRoot, reasons, HostModuleDirectory, DefaultSearchPath());

    /// <summary>The directories searched for programs: PATH, then the usual sbin and bin directories.</summary>
    public static IReadOnlyList<string> DefaultSearchPath() =>
        [.. (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    /// <summary><see cref="Find(string?, List{string})"/> with the host's module directory and program search path
    /// given (tests use it to stand for a host without GRUB).</summary>
    internal static GrubImageTool? Find(string? targetRoot, List<string> reasons, string hostModuleDirectory, IReadOnlyList<string> searchPath)
    {
        string? FindProgram(string name) => searchPath.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
        if (targetRoot is not null)
        {
            var modules = Path.Combine(targetRoot, ModuleSubdirectory);
            var tool = GrubPaths.MkimageCandidates.Select(rel => (Name: Path.GetFileName(rel), Rel: rel))
                .FirstOrDefault(t => File.Exists(Path.Combine(targetRoot, t.Rel)));
            var chroot = FindProgram("chroot");
            if (!Directory.Exists(modules)) reasons.Add($"the target root {targetRoot} has no {ModuleSubdirectory} (grub2-pc-modules / grub-pc-bin)");
            else if (tool.Name is null) reasons.Add($"the target root {targetRoot} has {ModuleSubdirectory} but no grub2-mkimage or grub-mkimage");
            else
            {
                string flavor = tool.Name.StartsWith("grub2", StringComparison.Ordinal) ? "grub2" : "grub";
                if (chroot is not null)
                    return new GrubImageTool($"chroot {targetRoot} /{tool.Rel}", modules, chroot, [targetRoot, "/" + tool.Rel],
                        "/" + ModuleSubdirectory, flavor) { ChrootDirectory = targetRoot };
                // No chroot program (a minimal initramfs): the target's own loader runs the target's tool with the
                // target's libraries; -d and -o are host paths then.
                var loader = LoaderPaths.Select(l => ResolveInRoot(targetRoot, l)).FirstOrDefault(File.Exists);
                var libs = LibraryDirectories.Select(d => Path.Combine(targetRoot, d)).Where(Directory.Exists).ToList();
                string toolPath = ResolveInRoot(targetRoot, tool.Rel);
                if (loader is null)
                    reasons.Add($"the target root has {tool.Rel} but no chroot program is on PATH and no x86-64 dynamic loader is in the target to run it");
                else
                    return new GrubImageTool($"{loader} --library-path {string.Join(':', libs)} {toolPath}", modules, loader,
                        ["--library-path", string.Join(':', libs), toolPath], modules, flavor);
            }
        }
        var host = GrubPaths.MkimageNames.Select(FindProgram).FirstOrDefault(p => p is not null);
        if (host is null) reasons.Add("the host has no grub-mkimage or grub2-mkimage on PATH (Debian: grub-common)");
        else if (!Directory.Exists(hostModuleDirectory)) reasons.Add($"the host has {host} but no {hostModuleDirectory} (Debian: grub-pc-bin)");
        else
            return new GrubImageTool(host, hostModuleDirectory, host, [], hostModuleDirectory,
                Path.GetFileName(host).StartsWith("grub2", StringComparison.Ordinal) ? "grub2" : "grub");
        return null;
    }

    /// <summary>Runs grub-mkimage and returns the image. grub-mkimage fsyncs its output, so it cannot write to a pipe:
    /// it writes a temporary file, read and removed here. Run through chroot it can only write inside the root, and
    /// the root may be what `bundle create --rootfs` is packing (perhaps another process at the same time), or
    /// read-only: so where the host can (`unshare`, `mount` and `sh` at hand, and the right to a mount namespace) the
    /// root's /tmp is, for the tool alone, a host directory bind-mounted in a mount namespace of its own, gone when
    /// the tool exits, and nothing is written into the root. Else (a minimal initramfs, where the root is the
    /// conversion's own new root; a container without CAP_SYS_ADMIN) the file goes to the root's /tmp.</summary>
    public byte[] MakeImage(string prefix, IEnumerable<string> modules)
    {
        string[] mods = [.. modules];
        if (ChrootDirectory is not null && IsolatedTmp.Shared is { } isolation && Run(prefix, mods, isolation) is { } image)
            return image;
        return Run(prefix, mods, null)!;
    }

    /// <summary>Exit code of the isolation script when the bind mount fails (then the tool runs without it).</summary>
    private const int BindMountFailed = 97;

    private byte[]? Run(string prefix, string[] modules, IsolatedTmp? isolation)
    {
        string name = $"nativeinit-core-{Environment.ProcessId}-{Guid.NewGuid():N}.img";
        bool chrooted = ChrootDirectory is not null;
        string tmp = chrooted ? Path.Combine(ChrootDirectory!, "tmp") : Path.GetTempPath();
        if (!Directory.Exists(tmp))
            throw new RefusedException($"grub: {tmp} does not exist: no place for grub-mkimage to write core.img");
        string? privateDir = null;
        if (isolation is not null)
        {
            try
            {
                privateDir = Directory.CreateTempSubdirectory("nativeinit-grub-").FullName;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null; // no host temporary directory: as without isolation
            }
        }
        string hostFile = Path.Combine(privateDir ?? tmp, name);
        string toolFile = chrooted ? "/tmp/" + name : hostFile;
        var psi = new ProcessStartInfo(isolation?.Unshare ?? Program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (isolation is not null)
        {
            // unshare --mount: a private copy of the mount table; the bind mount never reaches the host's.
            foreach (var a in (string[])["--mount", "--propagation", "private", isolation.Shell, "-c",
                         $"m=$1 h=$2 r=$3 c=$4; shift 4; \"$m\" --bind \"$h\" \"$r/tmp\" || exit {BindMountFailed}; exec \"$c\" \"$r\" \"$@\"",
                         "sh", isolation.Mount, privateDir!, ChrootDirectory!, Program])
                psi.ArgumentList.Add(a);
            foreach (var a in LeadingArguments.Skip(1)) psi.ArgumentList.Add(a); // chroot's root is $3 above
        }
        else foreach (var a in LeadingArguments) psi.ArgumentList.Add(a);
        foreach (var a in (string[])["-O", "i386-pc", "-d", ModuleDirectoryArgument, "-p", prefix, "-o", toolFile]) psi.ArgumentList.Add(a);
        foreach (var m in modules) psi.ArgumentList.Add(m);
        string line = string.Join(' ', psi.ArgumentList.Prepend(psi.FileName));
        try
        {
            using var p = Process.Start(psi) ?? throw new NativeInitException($"cannot start {psi.FileName}");
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(120_000))
            {
                p.Kill(entireProcessTree: true);
                throw new RefusedException($"{line}: did not finish in 120 s");
            }
            p.WaitForExit();
            if (isolation is not null && p.ExitCode == BindMountFailed) return null;
            if (p.ExitCode != 0)
                throw new RefusedException($"{line} failed (exit {p.ExitCode}): {(stderr.Result + stdout.Result).Trim()}");
            return File.ReadAllBytes(hostFile);
        }
        finally
        {
            File.Delete(hostFile);
            if (privateDir is not null) Directory.Delete(privateDir, recursive: true);
        }
    }

    /// <summary>The host programs that give a chrooted tool a private /tmp: unshare (util-linux), mount, and a shell
    /// that runs the two in the new namespace; null when one is missing or the process may not have a mount
    /// namespace of its own (tried once: `unshare --mount sh -c 'exit 0'`).</summary>
    private sealed record IsolatedTmp(string Unshare, string Mount, string Shell)
    {
        private static readonly Lazy<IsolatedTmp?> s_shared = new(Find);

        public static IsolatedTmp? Shared => s_shared.Value;

        private static IsolatedTmp? Find()
        {
            if (ProgramPath.Find("unshare") is not { } unshare || ProgramPath.Find("mount") is not { } mount ||
                ProgramPath.Find("sh") is not { } shell)
                return null;
            try
            {
                var psi = new ProcessStartInfo(unshare) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var a in (string[])["--mount", "--propagation", "private", shell, "-c", "exit 0"]) psi.ArgumentList.Add(a);
                using var p = Process.Start(psi);
                if (p is null) return null;
                p.StandardOutput.ReadToEnd();
                p.StandardError.ReadToEnd();
                if (!p.WaitForExit(10_000)) { p.Kill(); return null; }
                return p.ExitCode == 0 ? new IsolatedTmp(unshare, mount, shell) : null;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
        }
    }

    /// <summary>The host path of <paramref name="relative"/> inside <paramref name="root"/>, following symbolic links of
    /// the last component as the target would (an absolute link target is taken inside the root).</summary>
    internal static string ResolveInRoot(string root, string relative)
    {
        string rel = relative.TrimStart('/');
        for (int hop = 0; hop < 40; hop++)
        {
            string host = Path.Combine(root, rel);
            string? link = new FileInfo(host).LinkTarget;
            if (link is null) return host;
            rel = link.StartsWith('/') ? link.TrimStart('/') : Path.GetRelativePath(root, Path.GetFullPath(Path.Combine(Path.GetDirectoryName(host)!, link)));
        }
        return Path.Combine(root, rel);
    }
}
