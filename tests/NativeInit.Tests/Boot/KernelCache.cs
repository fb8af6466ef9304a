using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>The Debian kernel tools/fetch-kernel caches in .cache/kernel (tools/test fetches it).</summary>
internal static class KernelCache
{
    private static readonly Lazy<string?> Folder = new(() =>
    {
        string script = Path.Combine(Tool.RepoRoot, "tools", "fetch-kernel");
        try
        {
            var r = Tool.Run(script, [], timeout: TimeSpan.FromMinutes(5));
            return r.ExitCode == 0 ? r.Stdout.Trim() : null;
        }
        catch (Exception e) when (e is TimeoutException or System.ComponentModel.Win32Exception) { return null; }
    });

    /// <summary>The kernel's cache folder (boot/vmlinuz-V, lib/modules/V), or skips the test.</summary>
    public static string FolderOrSkip()
    {
        Skip.If(Folder.Value is null, "no Debian kernel: tools/fetch-kernel failed (no apt/network?); QEMU and module tests skip");
        return Folder.Value!;
    }

    public static string Version(string folder) => Path.GetFileName(Directory.GetDirectories(Path.Combine(folder, "lib", "modules")).Single());

    public static string ModuleDirectoryOrSkip()
    {
        var f = FolderOrSkip();
        return Path.Combine(f, "lib", "modules", Version(f));
    }

    public static string KernelImage(string folder) => Path.Combine(folder, "boot", "vmlinuz-" + Version(folder));
}
