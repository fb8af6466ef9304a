using System.Text;
using NativeInit.Core.Boot;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Boot;

/// <summary>
/// GRUB itself, in user space: grub-emu (Debian's grub-emu package) runs a grub.cfg from an ext2 disk image named in
/// a device map, with GRUB's own script interpreter, load_env and save_env (which writes the image). Used to hold
/// the A/B script to its C# model without a VM. The grubenv's 1024 bytes are found in the image once and then
/// rewritten in place between runs, as GRUB's save_env does.
/// </summary>
public sealed class GrubEmu : IDisposable
{
    private readonly TempDir _tmp = new();
    private readonly string _image;
    private readonly string _deviceMap;
    private readonly long _envOffset;

    /// <summary>Makes the disk: /grub/grub.cfg = <paramref name="script"/>, /grub/grubenv = an empty block.</summary>
    public GrubEmu(string script)
    {
        Tool.Require("grub-emu", "mkfs.ext2", "script", "grub-editenv");
        string tree = _tmp.Combine("tree", "grub");
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "grub.cfg"), script);
        File.WriteAllBytes(Path.Combine(tree, "grubenv"), GrubEnv.Empty().ToBytes());
        _image = _tmp.Combine("boot.img");
        Tool.Check("truncate", "-s", "8M", _image);
        Tool.Check("mkfs.ext2", "-q", "-F", "-b", "1024", "-d", _tmp.Combine("tree"), _image);
        _deviceMap = _tmp.Combine("device.map");
        File.WriteAllText(_deviceMap, $"(hd0) {_image}\n");
        var bytes = File.ReadAllBytes(_image);
        _envOffset = bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(GrubEnv.Header));
        Assert.True(_envOffset > 0, "grubenv not found in the ext2 image");
    }

    public GrubEnv Env
    {
        get
        {
            using var f = File.OpenHandle(_image);
            var block = new byte[GrubEnv.DefaultSize];
            RandomAccess.Read(f, block, _envOffset);
            return GrubEnv.Parse(block, "grubenv in the image");
        }
        set
        {
            using var f = File.OpenHandle(_image, FileMode.Open, FileAccess.Write);
            RandomAccess.Write(f, value.ToBytes(), _envOffset);
        }
    }

    /// <summary>Runs GRUB once over the script; returns the console output (escape sequences included).</summary>
    public string Boot()
    {
        var r = Tool.Run("script", ["-qec", $"grub-emu -m {_deviceMap} -r hd0 -d /grub", "/dev/null"],
            timeout: TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    /// <summary>The value of a "NAME=value" token the script echoed on a line starting with <paramref name="marker"/>.</summary>
    public static string Echoed(string output, string marker, string name)
    {
        int m = output.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(m >= 0, $"no '{marker}' in GRUB's output:\n{output}");
        int eol = output.IndexOfAny(['\r', '\n'], m);
        string line = output[m..(eol < 0 ? output.Length : eol)];
        foreach (var token in line.Split(' '))
        {
            if (token.StartsWith(name + "=", StringComparison.Ordinal)) return token[(name.Length + 1)..];
        }
        throw new Xunit.Sdk.XunitException($"no {name}= in '{line}'");
    }

    public void Dispose() => _tmp.Dispose();
}
