using System.Text;
using NativeInit.Core.Archive.Tar;

namespace NativeInit.Core.Bundle;

/// <summary>
/// What the vendor's creation (<see cref="BundleCreator"/>) and the gateway's staging (Stage/) share about a bundle's
/// files: the part names, and the single-file form (an uncompressed tar: manifest.json first, manifest.sig second,
/// then the parts in manifest order; mode 0644, owner 0, mtime 0). Staging a directory bundle writes this form from
/// the verified parts without any of the creation code.
/// </summary>
public static class BundleFile
{
    public const string LayoutName = "layout.json", KernelName = "vmlinuz-convert", InitramfsName = "initramfs-convert.img",
        CarryPolicyName = "carry-policy.json", SelinuxPolicyName = "selinux-policy";

    private const int TarBlock = 512, TarEndBlocks = 2;

    /// <summary>Writes the single-file form of the bundle directory <paramref name="dir"/> to <paramref name="output"/>.</summary>
    public static void WriteSingleFile(string dir, BundleManifest manifest, Stream output, Action<long>? progress = null)
    {
        using var w = new TarWriter(output, leaveOpen: true);
        var buffer = new byte[1 << 20];
        long written = 0;
        foreach (var name in new[] { BundleManifest.FileName, BundleManifest.SignatureFileName }.Concat(manifest.Parts.Select(p => p.Name)))
        {
            var path = Path.Combine(dir, name);
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            w.BeginEntry(new TarWriterEntry { Path = Encoding.UTF8.GetBytes(name), TypeFlag = TarTypeFlag.Regular, Mode = 0x1A4, Size = f.Length });
            long left = f.Length;
            while (left > 0)
            {
                int n = f.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new NativeInitException($"{path}: shrank while being packed");
                w.WriteData(buffer.AsSpan(0, n));
                left -= n;
                written += n;
                progress?.Invoke(written);
            }
            w.EndEntry();
        }
        w.Finish();
    }

    /// <summary>The size of the single-file form: one header block per member, its data rounded up to whole
    /// blocks, and the two zero blocks that end the archive (names are short: no long-name records).</summary>
    public static long SingleFileSize(long manifestBytes, long signatureBytes, IEnumerable<long> partSizes)
    {
        static long Member(long size) => TarBlock + (size + TarBlock - 1) / TarBlock * TarBlock;
        return Member(manifestBytes) + Member(signatureBytes) + partSizes.Sum(Member) + TarEndBlocks * TarBlock;
    }
}
