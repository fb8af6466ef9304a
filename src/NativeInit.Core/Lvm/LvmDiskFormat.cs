using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace NativeInit.Core.Lvm;

/// <summary>(offset, size) in bytes: lvm2's struct disk_locn.</summary>
public readonly record struct LvmDiskLocation(long Offset, long Size);

/// <summary>One raw_locn of a metadata area header: where the current metadata text is, relative to the area start.</summary>
public readonly record struct LvmRawLocation(long Offset, long Size, uint Checksum, uint Flags)
{
    public const uint IgnoredFlag = 1; // RAW_LOCN_IGNORED
}

/// <summary>The label sector and PV header of a physical volume (lvm2 lib/label/label.h, lib/format_text/layout.h).</summary>
public sealed class LvmPvLabel
{
    public int Sector { get; init; } = LvmDiskFormat.LabelSector;
    /// <summary>Formatted PV id.</summary>
    public required string PvId { get; init; }
    /// <summary>device_size_xl: bytes.</summary>
    public long DeviceSize { get; init; }
    public List<LvmDiskLocation> DataAreas { get; init; } = [];
    public List<LvmDiskLocation> MetadataAreas { get; init; } = [];
    /// <summary>pv_header_extension version (0 when absent, 2 for lvm2 ≥ 2.02.110).</summary>
    public uint ExtensionVersion { get; init; } = 2;
    public uint ExtensionFlags { get; init; }
    public List<LvmDiskLocation> BootloaderAreas { get; init; } = [];

    public const uint PvExtUsed = 1; // PV_EXT_USED: the PV belongs to a VG
}

/// <summary>A metadata area header (lvm2 struct mda_header).</summary>
public sealed class LvmMetadataAreaHeader
{
    public uint Version { get; init; } = 1;
    public long Start { get; init; }
    public long Size { get; init; }
    public List<LvmRawLocation> Locations { get; init; } = [];
}

/// <summary>What is on a PV: label, metadata area header, the current metadata text and the VG it describes.</summary>
public sealed class LvmPvOnDisk
{
    public required LvmPvLabel Label { get; init; }
    public LvmMetadataAreaHeader? MetadataArea { get; init; }
    public string? MetadataText { get; init; }
    public LvmVolumeGroup? VolumeGroup { get; init; }
    /// <summary>First extent in bytes from the start of the PV (the first data area's offset).</summary>
    public long PeStartBytes => Label.DataAreas.Count > 0 ? Label.DataAreas[0].Offset : 0;
}

/// <summary>Where things go on a new PV: one metadata area after the label sectors, extents from pe_start.</summary>
public readonly record struct LvmPvGeometry(long DeviceSize, long MetadataAreaStart, long MetadataAreaSize, long PeStartBytes, long ExtentSizeBytes, long PeCount)
{
    public long PeStartSectors => PeStartBytes / LvmConstants.SectorSize;
    public long ExtentSizeSectors => ExtentSizeBytes / LvmConstants.SectorSize;
    public long DevSizeSectors => DeviceSize / LvmConstants.SectorSize;
}

/// <summary>
/// Reads and writes the LVM2 on-disk format of one PV (one metadata area, as pvcreate makes it):
/// the label in sector 1 ("LABELONE", sector, CRC from offset 20 to the end of the sector, offset 32, "LVM2 001"),
/// the PV header (id, size, data area list, metadata area list) and its extension (version 2, flags, bootloader
/// areas), the metadata area header at 4096 (CRC over bytes 4..511, magic, version 1, start, size, raw locations)
/// and the text metadata in the circular area after it (size and CRC including the trailing NUL).
/// Specification: lvm2 lib/label/label.h, lib/format_text/layout.h, format-text.c; libvslvm's LVM format document.
/// </summary>
public static class LvmDiskFormat
{
    public const int SectorSize = 512;
    public const int LabelSector = 1;
    /// <summary>lvm2 looks for the label in the first four sectors (LABEL_SCAN_SECTORS).</summary>
    public const int LabelScanSectors = 4;
    public const string LabelId = "LABELONE";
    public const string LabelType = "LVM2 001";

    // struct label_header
    public const int LabelOffId = 0, LabelOffSector = 8, LabelOffCrc = 16, LabelOffContents = 20, LabelOffType = 24, LabelHeaderSize = 32;
    // struct pv_header (at LabelHeaderSize in the label sector)
    public const int PvOffUuid = 0, PvOffDeviceSize = 32, PvOffAreas = 40, DiskLocnSize = 16;
    // struct pv_header_extension
    public const int ExtOffVersion = 0, ExtOffFlags = 4, ExtOffAreas = 8;
    public const uint ExtensionVersion = 2;

    // struct mda_header
    public const int MdaHeaderSize = 512;
    public const int MdaOffChecksum = 0, MdaOffMagic = 4, MdaOffVersion = 20, MdaOffStart = 24, MdaOffSize = 32, MdaOffLocns = 40, RawLocnSize = 24;
    public static ReadOnlySpan<byte> MdaMagic => " LVM2 x[5A%r0N*>"u8;
    public const uint MdaVersion = 1;

    public const long DefaultMetadataAreaStart = 4096;
    /// <summary>pvcreate's default data alignment: pe_start at 1 MiB.</summary>
    public const long DataAlignment = 1 << 20;

    /// <summary>
    /// Geometry of a new PV of <paramref name="deviceSize"/> bytes: metadata area at 4096, pe_start at 1 MiB (or the
    /// next MiB after <paramref name="metadataSize"/>), the metadata area filling the gap, as pvcreate does.
    /// </summary>
    public static LvmPvGeometry Geometry(long deviceSize, long extentSizeBytes, long? metadataSize = null)
    {
        if (extentSizeBytes < 8 * 1024 || (extentSizeBytes & (extentSizeBytes - 1)) != 0 && extentSizeBytes % (128 * 1024) != 0)
            throw new NativeInitException($"extent size {extentSizeBytes} bytes is not valid (a power of two ≥ 8 KiB, or a multiple of 128 KiB)");
        long mdaMin = metadataSize is long m ? Math.Max(m, 8 * 1024) : DataAlignment - DefaultMetadataAreaStart;
        long peStart = AlignUp(DefaultMetadataAreaStart + mdaMin, DataAlignment);
        long mdaSize = peStart - DefaultMetadataAreaStart;
        long peCount = deviceSize > peStart ? (deviceSize - peStart) / extentSizeBytes : 0;
        return new LvmPvGeometry(deviceSize, DefaultMetadataAreaStart, mdaSize, peStart, extentSizeBytes, peCount);
    }

    /// <summary>Builds the 512-byte label sector (label header + PV header + extension) with its CRC.</summary>
    public static byte[] BuildLabelSector(LvmPvLabel label)
    {
        var s = new byte[SectorSize];
        Encoding.ASCII.GetBytes(LabelId, s.AsSpan(LabelOffId, 8));
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(LabelOffSector), (ulong)label.Sector);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(LabelOffContents), LabelHeaderSize);
        Encoding.ASCII.GetBytes(LabelType, s.AsSpan(LabelOffType, 8));
        var pv = s.AsSpan(LabelHeaderSize);
        Encoding.ASCII.GetBytes(LvmId.Raw(label.PvId), pv.Slice(PvOffUuid, LvmId.Length));
        BinaryPrimitives.WriteUInt64LittleEndian(pv[PvOffDeviceSize..], (ulong)label.DeviceSize);
        int pos = PvOffAreas;
        pos = WriteList(pv, pos, label.DataAreas);
        pos = WriteList(pv, pos, label.MetadataAreas);
        if (label.ExtensionVersion != 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(pv[(pos + ExtOffVersion)..], label.ExtensionVersion);
            BinaryPrimitives.WriteUInt32LittleEndian(pv[(pos + ExtOffFlags)..], label.ExtensionFlags);
            WriteList(pv, pos + ExtOffAreas, label.BootloaderAreas);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(LabelOffCrc), LvmCrc.Compute(s.AsSpan(LabelOffContents)));
        return s;
    }

    private static int WriteList(Span<byte> pv, int pos, List<LvmDiskLocation> list)
    {
        foreach (var l in list)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(pv[pos..], (ulong)l.Offset);
            BinaryPrimitives.WriteUInt64LittleEndian(pv[(pos + 8)..], (ulong)l.Size);
            pos += DiskLocnSize;
        }
        return pos + DiskLocnSize; // the zero terminator (the buffer is zeroed)
    }

    /// <summary>Parses a label sector; null when it carries no LABELONE. Throws on a bad CRC or type.</summary>
    public static LvmPvLabel? ParseLabelSector(ReadOnlySpan<byte> s, int sectorIndex, string where)
    {
        if (!s[..8].SequenceEqual("LABELONE"u8)) return null;
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(s[LabelOffSector..]);
        if (sector != (ulong)sectorIndex)
            throw new InvalidDataFormatException($"{where}: LVM label in sector {sectorIndex} says it is in sector {sector}");
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(s[LabelOffCrc..]);
        uint actual = LvmCrc.Compute(s[LabelOffContents..SectorSize]);
        if (crc != actual) throw new InvalidDataFormatException($"{where}: LVM label CRC is 0x{crc:x8}, computed 0x{actual:x8}");
        if (!s.Slice(LabelOffType, 8).SequenceEqual("LVM2 001"u8))
            throw new InvalidDataFormatException($"{where}: LVM label type is '{Encoding.ASCII.GetString(s.Slice(LabelOffType, 8))}', not '{LabelType}'");
        uint contents = BinaryPrimitives.ReadUInt32LittleEndian(s[LabelOffContents..]);
        if (contents < LabelHeaderSize || contents > SectorSize - PvOffAreas)
            throw new InvalidDataFormatException($"{where}: LVM label contents offset {contents} is out of the sector");
        var pv = s[(int)contents..];
        string uuid = Encoding.ASCII.GetString(pv.Slice(PvOffUuid, LvmId.Length));
        long size = (long)BinaryPrimitives.ReadUInt64LittleEndian(pv[PvOffDeviceSize..]);
        int pos = PvOffAreas;
        var data = ReadList(pv, ref pos, where);
        var meta = ReadList(pv, ref pos, where);
        uint extVersion = 0, extFlags = 0;
        var boot = new List<LvmDiskLocation>();
        if (pos + ExtOffAreas <= pv.Length)
        {
            extVersion = BinaryPrimitives.ReadUInt32LittleEndian(pv[(pos + ExtOffVersion)..]);
            extFlags = BinaryPrimitives.ReadUInt32LittleEndian(pv[(pos + ExtOffFlags)..]);
            if (extVersion != 0) { int p = pos + ExtOffAreas; boot = ReadList(pv, ref p, where); }
        }
        return new LvmPvLabel
        {
            Sector = sectorIndex,
            PvId = LvmId.Format(uuid),
            DeviceSize = size,
            DataAreas = data,
            MetadataAreas = meta,
            ExtensionVersion = extVersion,
            ExtensionFlags = extFlags,
            BootloaderAreas = boot,
        };
    }

    private static List<LvmDiskLocation> ReadList(ReadOnlySpan<byte> pv, ref int pos, string where)
    {
        var list = new List<LvmDiskLocation>();
        while (true)
        {
            if (pos + DiskLocnSize > pv.Length) throw new InvalidDataFormatException($"{where}: LVM PV header area list runs past the label sector");
            long off = (long)BinaryPrimitives.ReadUInt64LittleEndian(pv[pos..]);
            long size = (long)BinaryPrimitives.ReadUInt64LittleEndian(pv[(pos + 8)..]);
            pos += DiskLocnSize;
            if (off == 0) return list;
            list.Add(new LvmDiskLocation(off, size));
        }
    }

    public static byte[] BuildMdaHeader(LvmMetadataAreaHeader h)
    {
        var s = new byte[MdaHeaderSize];
        MdaMagic.CopyTo(s.AsSpan(MdaOffMagic));
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(MdaOffVersion), h.Version);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(MdaOffStart), (ulong)h.Start);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(MdaOffSize), (ulong)h.Size);
        int pos = MdaOffLocns;
        foreach (var l in h.Locations)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(pos), (ulong)l.Offset);
            BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(pos + 8), (ulong)l.Size);
            BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(pos + 16), l.Checksum);
            BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(pos + 20), l.Flags);
            pos += RawLocnSize;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(MdaOffChecksum), LvmCrc.Compute(s.AsSpan(MdaOffMagic)));
        return s;
    }

    public static LvmMetadataAreaHeader ParseMdaHeader(ReadOnlySpan<byte> s, long expectedStart, string where)
    {
        if (!s.Slice(MdaOffMagic, 16).SequenceEqual(MdaMagic))
            throw new InvalidDataFormatException($"{where}: no LVM metadata area header at byte {expectedStart} (bad magic)");
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(s);
        uint actual = LvmCrc.Compute(s[MdaOffMagic..MdaHeaderSize]);
        if (crc != actual) throw new InvalidDataFormatException($"{where}: LVM metadata area header CRC is 0x{crc:x8}, computed 0x{actual:x8}");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(s[MdaOffVersion..]);
        if (version != MdaVersion) throw new InvalidDataFormatException($"{where}: LVM metadata area version {version} is not supported");
        long start = (long)BinaryPrimitives.ReadUInt64LittleEndian(s[MdaOffStart..]);
        if (start != expectedStart) throw new InvalidDataFormatException($"{where}: LVM metadata area header says start {start}, found at {expectedStart}");
        long size = (long)BinaryPrimitives.ReadUInt64LittleEndian(s[MdaOffSize..]);
        var locs = new List<LvmRawLocation>();
        for (int pos = MdaOffLocns; pos + RawLocnSize <= MdaHeaderSize; pos += RawLocnSize)
        {
            long off = (long)BinaryPrimitives.ReadUInt64LittleEndian(s[pos..]);
            if (off == 0) break;
            locs.Add(new LvmRawLocation(off, (long)BinaryPrimitives.ReadUInt64LittleEndian(s[(pos + 8)..]),
                BinaryPrimitives.ReadUInt32LittleEndian(s[(pos + 16)..]), BinaryPrimitives.ReadUInt32LittleEndian(s[(pos + 20)..])));
        }
        return new LvmMetadataAreaHeader { Version = version, Start = start, Size = size, Locations = locs };
    }

    /// <summary>Reads the PV at <paramref name="baseOffset"/> of <paramref name="handle"/>: label, metadata area, VG (if any).</summary>
    public static LvmPvOnDisk Read(SafeFileHandle handle, long baseOffset, string where)
    {
        var head = new byte[LabelScanSectors * SectorSize];
        ReadExactly(handle, head, baseOffset, where);
        LvmPvLabel? label = null;
        for (int i = 0; i < LabelScanSectors && label is null; i++)
            label = ParseLabelSector(head.AsSpan(i * SectorSize, SectorSize), i, where);
        if (label is null) throw new InvalidDataFormatException($"{where}: no LVM2 label (LABELONE) in the first {LabelScanSectors} sectors");
        if (label.MetadataAreas.Count == 0) return new LvmPvOnDisk { Label = label };

        var mda = label.MetadataAreas[0];
        var mh = new byte[MdaHeaderSize];
        ReadExactly(handle, mh, baseOffset + mda.Offset, where);
        var header = ParseMdaHeader(mh, mda.Offset, where);
        var loc = header.Locations.Count > 0 ? header.Locations[0] : default;
        if (loc.Size == 0 || (loc.Flags & LvmRawLocation.IgnoredFlag) != 0) return new LvmPvOnDisk { Label = label, MetadataArea = header };
        if (loc.Offset < MdaHeaderSize || loc.Offset >= header.Size || loc.Size > header.Size - MdaHeaderSize)
            throw new InvalidDataFormatException($"{where}: LVM metadata location {loc.Offset}+{loc.Size} is outside the metadata area of {header.Size} bytes");
        var text = new byte[loc.Size];
        // Circular buffer: text that runs past the end of the area continues right after the area header.
        long first = Math.Min(loc.Size, header.Size - loc.Offset);
        ReadExactly(handle, text.AsSpan(0, (int)first), baseOffset + mda.Offset + loc.Offset, where);
        if (first < loc.Size) ReadExactly(handle, text.AsSpan((int)first), baseOffset + mda.Offset + MdaHeaderSize, where);
        uint crc = LvmCrc.Compute(text);
        if (crc != loc.Checksum) throw new InvalidDataFormatException($"{where}: LVM metadata text CRC is 0x{loc.Checksum:x8}, computed 0x{crc:x8}");
        int len = Array.IndexOf(text, (byte)0);
        string s = Encoding.UTF8.GetString(text, 0, len < 0 ? text.Length : len);
        return new LvmPvOnDisk { Label = label, MetadataArea = header, MetadataText = s, VolumeGroup = LvmMetadataText.Read(s) };
    }

    /// <summary>
    /// Writes a new PV holding <paramref name="vg"/> (the PV named <paramref name="pvName"/>) at <paramref name="baseOffset"/>:
    /// zeroes the label sectors and the metadata area, writes the metadata text, then the area header, then the label
    /// last (so a torn write leaves no label pointing at half-written metadata).
    /// </summary>
    public static void WriteNewPv(SafeFileHandle handle, long baseOffset, LvmPvGeometry g, LvmVolumeGroup vg, string pvName, string where)
    {
        var pv = vg.FindPv(pvName) ?? throw new NativeInitException($"VG {vg.Name} has no PV {pvName}");
        var zero = new byte[64 * 1024];
        // label sectors and the whole metadata area, so no older metadata copy can be found there
        for (long off = 0; off < g.PeStartBytes; off += zero.Length)
            RandomAccess.Write(handle, zero.AsSpan(0, (int)Math.Min(zero.Length, g.PeStartBytes - off)), baseOffset + off);

        byte[] text = MetadataBytes(vg);
        if (text.Length > (g.MetadataAreaSize - MdaHeaderSize) / 2)
            throw new NativeInitException($"{where}: LVM metadata of {text.Length} bytes does not fit the metadata area of {g.MetadataAreaSize} bytes");
        var loc = new LvmRawLocation(MdaHeaderSize, text.Length, LvmCrc.Compute(text), 0);
        RandomAccess.Write(handle, text, baseOffset + g.MetadataAreaStart + loc.Offset);
        RandomAccess.Write(handle, BuildMdaHeader(new LvmMetadataAreaHeader { Start = g.MetadataAreaStart, Size = g.MetadataAreaSize, Locations = [loc] }),
            baseOffset + g.MetadataAreaStart);
        var label = new LvmPvLabel
        {
            PvId = pv.Id,
            DeviceSize = g.DeviceSize,
            DataAreas = [new LvmDiskLocation(g.PeStartBytes, 0)],
            MetadataAreas = [new LvmDiskLocation(g.MetadataAreaStart, g.MetadataAreaSize)],
            ExtensionVersion = ExtensionVersion,
            ExtensionFlags = LvmPvLabel.PvExtUsed,
        };
        RandomAccess.Write(handle, BuildLabelSector(label), baseOffset + LabelSector * SectorSize);
        RandomAccess.FlushToDisk(handle);
    }

    /// <summary>
    /// Commits a newer version of the VG to an existing PV, the way lvm2 does: the text goes after the current copy
    /// (512-aligned, wrapping around the circular area), then the area header is rewritten to point at it.
    /// The seqno must be higher than the one on disk.
    /// </summary>
    public static void UpdateMetadata(SafeFileHandle handle, long baseOffset, LvmVolumeGroup vg, string where)
    {
        var current = Read(handle, baseOffset, where);
        var header = current.MetadataArea ?? throw new NativeInitException($"{where}: the PV has no metadata area");
        if (current.VolumeGroup is { } old && vg.Seqno <= old.Seqno)
            throw new NativeInitException($"{where}: VG {vg.Name} seqno {vg.Seqno} is not newer than {old.Seqno} on disk");
        byte[] text = MetadataBytes(vg);
        long usable = header.Size - MdaHeaderSize;
        long oldSize = header.Locations.Count > 0 ? header.Locations[0].Size : 0;
        if (text.Length + AlignUp(oldSize, SectorSize) > usable)
            throw new NativeInitException($"{where}: LVM metadata of {text.Length} bytes does not fit the metadata area of {header.Size} bytes");
        long offset = MdaHeaderSize;
        if (header.Locations.Count > 0 && header.Locations[0].Size > 0)
        {
            offset = AlignUp(header.Locations[0].Offset + header.Locations[0].Size, SectorSize);
            if (offset >= header.Size) offset = MdaHeaderSize + (offset - header.Size);
        }
        long first = Math.Min(text.Length, header.Size - offset);
        long areaStart = baseOffset + header.Start;
        RandomAccess.Write(handle, text.AsSpan(0, (int)first), areaStart + offset);
        if (first < text.Length) RandomAccess.Write(handle, text.AsSpan((int)first), areaStart + MdaHeaderSize);
        RandomAccess.FlushToDisk(handle);
        var loc = new LvmRawLocation(offset, text.Length, LvmCrc.Compute(text), 0);
        RandomAccess.Write(handle, BuildMdaHeader(new LvmMetadataAreaHeader { Start = header.Start, Size = header.Size, Locations = [loc] }), areaStart);
        RandomAccess.FlushToDisk(handle);
    }

    /// <summary>The metadata text as stored: UTF-8 with a trailing NUL (counted in the size and the CRC).</summary>
    public static byte[] MetadataBytes(LvmVolumeGroup vg)
    {
        string text = LvmMetadataText.Write(vg);
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    public static long AlignUp(long v, long a) => (v + a - 1) / a * a;

    private static void ReadExactly(SafeFileHandle h, Span<byte> buf, long offset, string where)
    {
        int done = 0;
        while (done < buf.Length)
        {
            int n = RandomAccess.Read(h, buf[done..], offset + done);
            if (n <= 0) throw new InvalidDataFormatException($"{where}: unexpected end of device at byte {offset + done}");
            done += n;
        }
    }
}
