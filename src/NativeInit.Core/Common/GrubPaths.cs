namespace NativeInit.Core;

/// <summary>Where a root file system keeps GRUB's BIOS tools: what `bundle create` looks for in the rootfs (recorded in
/// the manifest, so stage two knows before the extraction whether the target can make its own core.img) and where
/// Boot/GrubImageTool finds them in the extracted root.</summary>
public static class GrubPaths
{
    /// <summary>The i386-pc modules and images (boot.img, kernel.img, *.mod), relative to the root.</summary>
    public const string ModuleSubdirectory = "usr/lib/grub/i386-pc";

    /// <summary>grub-mkimage's names (CentOS's first), in the order they are preferred.</summary>
    public static readonly string[] MkimageNames = ["grub2-mkimage", "grub-mkimage"];

    /// <summary>grub-mkimage's possible places relative to the root, in the order they are preferred.</summary>
    public static readonly string[] MkimageCandidates =
        [.. from name in MkimageNames from dir in (string[])["usr/bin", "usr/sbin", "bin", "sbin"] select dir + "/" + name];

    /// <summary>The files of <see cref="ModuleSubdirectory"/> a core.img and the MBR need.</summary>
    public static readonly string[] RequiredImages = ["boot.img", "diskboot.img", "kernel.img"];
}
