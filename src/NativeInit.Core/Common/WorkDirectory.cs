namespace NativeInit.Core;

/// <summary>A job's scratch directory under the temporary directory (mount points, the layout files); removed on
/// Dispose, after every unmount. Used by convert and update.</summary>
public sealed class WorkDirectory(string prefix) : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Combine(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Removes the layout files and the (empty) mount point directories; never deletes recursively
    /// through a mount point that might still be in use.</summary>
    public void Dispose()
    {
        try
        {
            string layout = Combine("layout");
            if (Directory.Exists(layout)) Directory.Delete(layout, recursive: true);
            foreach (var d in Directory.EnumerateDirectories(Path))
            {
                try { Directory.Delete(d, recursive: false); } catch (IOException) { }
            }
            Directory.Delete(Path, recursive: false);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
