namespace NativeInit.Core.Archive.Tar;

/// <summary>
/// The 512-byte tar header block as named offsets and lengths. Specifications: POSIX.1-2008 pax "ustar Interchange
/// Format" (header layout, typeflags, pax extended headers), and the GNU tar manual, "Basic Tar Format" and
/// "GNU Extensions" (old-GNU magic, 'L'/'K' long names, base-256 numbers, sparse types). The reader and the writer
/// of this folder both use these constants; nothing else hard-codes a header offset.
/// </summary>
internal static class TarHeaderFields
{
    public const int BlockSize = 512;

    public const int NameOffset = 0, NameLength = 100;
    public const int ModeOffset = 100, ModeLength = 8;
    public const int UidOffset = 108, UidLength = 8;
    public const int GidOffset = 116, GidLength = 8;
    public const int SizeOffset = 124, SizeLength = 12;
    public const int MtimeOffset = 136, MtimeLength = 12;
    public const int ChecksumOffset = 148, ChecksumLength = 8;
    public const int TypeFlagOffset = 156;
    public const int LinkNameOffset = 157, LinkNameLength = 100;
    public const int MagicOffset = 257, MagicLength = 6;
    public const int VersionOffset = 263, VersionLength = 2;
    public const int UserNameOffset = 265, UserNameLength = 32;
    public const int GroupNameOffset = 297, GroupNameLength = 32;
    public const int DevMajorOffset = 329, DevMajorLength = 8;
    public const int DevMinorOffset = 337, DevMinorLength = 8;
    /// <summary>ustar: 155-byte prefix joined to the name with a '/'.</summary>
    public const int PrefixOffset = 345, PrefixLength = 155;

    /// <summary>Old GNU header (magic "ustar  \0"): atime, ctime, multi-volume offset, then 4 sparse descriptors.</summary>
    public const int GnuAtimeOffset = 345, GnuCtimeOffset = 357, GnuOffsetOffset = 369, GnuLongNamesOffset = 381;
    public const int GnuSparseOffset = 386, GnuSparseEntryLength = 24, GnuSparseHeaderEntries = 4;
    public const int GnuIsExtendedOffset = 482, GnuRealSizeOffset = 483, GnuRealSizeLength = 12;
    /// <summary>Continuation block of old GNU sparse maps: 21 descriptors then the is-extended byte at 504.</summary>
    public const int GnuSparseExtEntries = 21, GnuSparseExtIsExtendedOffset = 504;

    /// <summary>"ustar\0" + "00": POSIX ustar and pax.</summary>
    public static ReadOnlySpan<byte> UstarMagic => "ustar\0"u8;
    public static ReadOnlySpan<byte> UstarVersion => "00"u8;
    /// <summary>"ustar " + " \0": old GNU format.</summary>
    public static ReadOnlySpan<byte> GnuMagic => "ustar "u8;
    public static ReadOnlySpan<byte> GnuVersion => " \0"u8;
}

/// <summary>Typeflag byte values (POSIX ustar and pax; GNU extensions).</summary>
internal static class TarTypeFlag
{
    public const byte RegularAlt = 0;     // '\0': old regular file
    public const byte Regular = (byte)'0';
    public const byte HardLink = (byte)'1';
    public const byte SymLink = (byte)'2';
    public const byte CharDevice = (byte)'3';
    public const byte BlockDevice = (byte)'4';
    public const byte Directory = (byte)'5';
    public const byte Fifo = (byte)'6';
    public const byte Contiguous = (byte)'7';   // treated as regular
    public const byte PaxExtended = (byte)'x';
    public const byte PaxGlobal = (byte)'g';
    public const byte GnuLongName = (byte)'L';
    public const byte GnuLongLink = (byte)'K';
    public const byte GnuSparse = (byte)'S';
    public const byte GnuDumpDir = (byte)'D';
    public const byte GnuVolumeLabel = (byte)'V';
    public const byte GnuMultiVolume = (byte)'M';
}
