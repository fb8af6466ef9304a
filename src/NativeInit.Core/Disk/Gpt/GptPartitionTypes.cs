namespace NativeInit.Core.Disk.Gpt;

/// <summary>A GPT partition type: the sgdisk hex code, the type GUID, and sgdisk's name for it.</summary>
public sealed record GptPartitionType(string Code, Guid Guid, string Name);

/// <summary>
/// The one table of partition type GUIDs NativeInit knows by name. Codes and names as gptfdisk's parttypes.cc lists
/// them; GUIDs from the UEFI specification and the Discoverable Partitions Specification.
/// </summary>
public static class GptPartitionTypes
{
    public static readonly GptPartitionType BiosBoot = new("EF02", new("21686148-6449-6E6F-744E-656564454649"), "BIOS boot partition");
    public static readonly GptPartitionType EfiSystem = new("EF00", new("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"), "EFI system partition");
    public static readonly GptPartitionType LinuxFilesystem = new("8300", new("0FC63DAF-8483-4772-8E79-3D69D8477DE4"), "Linux filesystem");
    public static readonly GptPartitionType LinuxSwap = new("8200", new("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"), "Linux swap");
    public static readonly GptPartitionType LinuxLvm = new("8E00", new("E6D6D379-F507-44C2-A23C-238F2A3DF928"), "Linux LVM");
    public static readonly GptPartitionType LinuxRaid = new("FD00", new("A19D880F-05FC-4D3B-A006-743F0F84911E"), "Linux RAID");
    public static readonly GptPartitionType LinuxRootX86_64 = new("8304", new("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"), "Linux x86-64 root (/)");
    public static readonly GptPartitionType LinuxHome = new("8302", new("933AC7E1-2EB4-4F13-B844-0E14E2AEF915"), "Linux /home");
    public static readonly GptPartitionType LinuxVar = new("8310", new("4D21B016-B534-45C2-A9FB-5C16E091FD2D"), "Linux /var");
    public static readonly GptPartitionType LinuxExtendedBoot = new("EA00", new("BC13C2FF-59E6-4262-A352-B275FD6F7172"), "XBOOTLDR partition");
    public static readonly GptPartitionType MicrosoftBasicData = new("0700", new("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"), "Microsoft basic data");
    public static readonly GptPartitionType MicrosoftReserved = new("0C01", new("E3C9E316-0B5C-4DB8-817D-F92DF00215AE"), "Microsoft reserved");

    /// <summary>Every known type, in code order.</summary>
    public static IReadOnlyList<GptPartitionType> All { get; } =
    [
        MicrosoftBasicData, MicrosoftReserved, LinuxSwap, LinuxFilesystem, LinuxHome, LinuxRootX86_64, LinuxVar,
        LinuxLvm, LinuxExtendedBoot, EfiSystem, BiosBoot, LinuxRaid,
    ];

    /// <summary>The type with this GUID, or null.</summary>
    public static GptPartitionType? Find(Guid guid)
    {
        foreach (var t in All) if (t.Guid == guid) return t;
        return null;
    }

    /// <summary>The name of a type GUID: the table's name, "unused" for the zero GUID, else the GUID.</summary>
    public static string NameOf(Guid guid) =>
        guid == Guid.Empty ? "unused" : Find(guid)?.Name ?? guid.ToString("D").ToUpperInvariant();

    /// <summary>Parses an sgdisk code ("8e00", "EF02"), a known name, or a GUID.</summary>
    public static bool TryParse(string text, out Guid guid)
    {
        foreach (var t in All)
            if (string.Equals(t.Code, text, StringComparison.OrdinalIgnoreCase) || string.Equals(t.Name, text, StringComparison.OrdinalIgnoreCase))
            {
                guid = t.Guid;
                return true;
            }
        return Guid.TryParse(text, out guid);
    }
}
