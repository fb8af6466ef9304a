namespace NativeInit.Core.Platform;

/// <summary>Finds a program to execute: a path as given, else the first match in PATH, then /usr/sbin, /sbin,
/// /usr/bin and /bin (an initramfs or a root shell may lack the sbin folders in PATH).</summary>
public static class ProgramPath
{
    public static string? Find(string nameOrPath)
    {
        if (nameOrPath.Contains('/')) return File.Exists(nameOrPath) ? nameOrPath : null;
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        return dirs.Select(d => Path.Combine(d, nameOrPath)).FirstOrDefault(File.Exists);
    }
}
