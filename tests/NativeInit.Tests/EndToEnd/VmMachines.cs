using System.Diagnostics;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.EndToEnd;

/// <summary>
/// The end-to-end harness's machines, built by the project's own scripts (tools/vm/build-legacy, build-target), cached
/// in .cache/vm/ and keyed by a hash of the scripts' inputs: the first build of a machine takes minutes (debootstrap),
/// later ones are a cache hit. Each is built once per test run; how long it took is kept for the test log.
/// </summary>
internal static class VmMachines
{
    public sealed record Built(string Path, TimeSpan Took, string Log);

    private static readonly Lazy<Built> LegacyImage = new(() => Build("build-legacy"));
    private static readonly Lazy<Built> TargetFolder = new(() => Build("build-target"));
    private static readonly Lazy<Built> TargetDracutFolder = new(() => Build("build-target", "dracut"));
    private static readonly Lazy<Built> Centos7Image = new(() => Build("build-centos7"));
    private static readonly Lazy<Built> ReferenceImage = new(() => Build("build-reference"));

    /// <summary>The legacy gateway's 10 GiB MBR disk image (boot it with snapshot=on or copy it first).</summary>
    public static Built Legacy() { Require(); return LegacyImage.Value; }

    /// <summary>The second legacy variant: CentOS 7's default layout (xfs /boot + LVM PV, VG centos: swap, root).</summary>
    public static Built Centos7() { Require(); Tool.RequireNativeInit(); return Centos7Image.Value; }

    /// <summary>A gateway converted offline on the host (layout apply + extract + carried files + GRUB for GPT):
    /// the expected end state of a conversion, booting the target system from VA/root.</summary>
    public static Built Reference() { Require(); Tool.RequireNativeInit(); return ReferenceImage.Value; }

    /// <summary>The target folder: bundle.tar, vendor.pub, vendor.key, layout.json, target.gpt, root/.</summary>
    public static Built Target() { Require(); Tool.RequireNativeInit(); return TargetFolder.Value; }

    /// <summary>The same target folder with the dracut conversion initramfs (dracut-module/90nativeinit) in the bundle.</summary>
    public static Built TargetDracut() { Require(); Tool.RequireNativeInit(); Tool.Require("dracut"); return TargetDracutFolder.Value; }

    /// <summary>The field facts of tools/vm/facts (hostname, address, passwords), the builders' single source.</summary>
    public static IReadOnlyDictionary<string, string> Facts { get; } = File.ReadAllLines(Path.Combine(Tool.RepoRoot, "tools", "vm", "facts"))
        .Where(l => l.Length > 0 && !l.StartsWith('#') && l.Contains('='))
        .ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..].Trim('"'));

    /// <summary>
    /// The disk the legacy gateway's stage-one unit looks for (ext4, label nibundle, made from a folder with
    /// mkfs.ext4 -d, no mount): <paramref name="bundle"/> as bundle.tar, <paramref name="publicKey"/> as vendor.pub,
    /// <paramref name="nativeinit"/>, and the flag file <paramref name="flag"/> ("reboot" or "poweroff") holding
    /// <paramref name="flagText"/>. Returns the image's path in <paramref name="dir"/>.
    /// </summary>
    public static string BundleDisk(TempDir dir, string bundle, string publicKey, string nativeinit, string flag, string flagText)
    {
        Tool.Require("mkfs.ext4");
        string content = dir.Combine("bundle-disk");
        Directory.CreateDirectory(content);
        File.Copy(bundle, Path.Combine(content, "bundle.tar"));
        File.Copy(publicKey, Path.Combine(content, "vendor.pub"));
        File.Copy(nativeinit, Path.Combine(content, "nativeinit"));
        File.WriteAllText(Path.Combine(content, flag), flagText);
        long bytes = new DirectoryInfo(content).EnumerateFiles().Sum(f => f.Length);
        string image = dir.Combine("bundle-disk.img");
        Tool.Check("mkfs.ext4", "-q", "-F", "-L", "nibundle", "-d", content, image, $"{bytes / (1 << 20) + 64}M");
        return image;
    }

    private static void Require()
    {
        Tool.RequireRoot();
        Tool.Require("debootstrap", "qemu-system-x86_64", "mkfs.xfs", "sfdisk", "sgdisk", "grub-mkimage", "losetup", "unshare");
    }

    private static Built Build(string script, params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var r = Tool.Run(Path.Combine(Tool.RepoRoot, "tools", "vm", script), args, timeout: TimeSpan.FromMinutes(30),
            environment: new Dictionary<string, string> { ["NATIVEINIT_BIN"] = Tool.NativeInitBinary });
        clock.Stop();
        if (r.ExitCode != 0) throw new InvalidOperationException($"tools/vm/{script} {string.Join(' ', args)} failed:\n{r}");
        return new Built(r.Stdout.Trim(), clock.Elapsed, r.Stderr);
    }
}
