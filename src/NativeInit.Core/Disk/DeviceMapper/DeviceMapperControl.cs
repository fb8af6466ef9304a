using System.Buffers.Binary;
using System.Text;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Disk.DeviceMapper;

/// <summary>One piece of a linear table: <paramref name="LengthSectors"/> sectors of the new device, starting at
/// <paramref name="StartSector"/>, map to device MAJOR:MINOR from <paramref name="DeviceOffsetSectors"/>.</summary>
public readonly record struct LinearSegment(ulong StartSector, ulong LengthSectors, uint DeviceMajor, uint DeviceMinor, ulong DeviceOffsetSectors)
{
    /// <summary>The "linear" target's parameter string: "MAJ:MIN OFFSET".</summary>
    public string Parameters => $"{DeviceMajor}:{DeviceMinor} {DeviceOffsetSectors}";
}

/// <summary>A device-mapper device: its name, uuid, device number and the nodes made for it.</summary>
public sealed record DmDevice(string Name, string Uuid, uint Major, uint Minor, int OpenCount, uint Flags, string NodePath)
{
    public bool Suspended => (Flags & DmIoctl.SuspendFlag) != 0;
    public bool HasActiveTable => (Flags & DmIoctl.ActivePresentFlag) != 0;
}

/// <summary>The driver's interface version, e.g. 4.27.0.</summary>
public readonly record struct DmVersion(uint Major, uint Minor, uint Patch)
{
    public override string ToString() => $"{Major}.{Minor}.{Patch}";
}

/// <summary>
/// Device-mapper through ioctls on /dev/mapper/control (linux include/uapi/linux/dm-ioctl.h), without libdevmapper:
/// version check, create, load a linear table, resume, remove, status, list. Nodes: /dev/mapper/NAME is made with
/// mknod when udev has not made it (initramfs without udev), and /dev/VG/LV links are made by
/// <see cref="LvmActivation"/>.
/// </summary>
public static class DeviceMapperControl
{
    private const int BufferSize = 16 * 1024;
    /// <summary>Where nodes are made; tests never call the ioctls (the host has no device-mapper).</summary>
    public static string DevDirectory { get; set; } = "/dev";

    /// <summary>DM_VERSION: the kernel's dm ioctl interface version. Refuses when the control node cannot be opened.</summary>
    public static DmVersion GetVersion()
    {
        using var fd = OpenControl();
        var buf = new byte[BufferSize];
        Prepare(buf, null, null, 0);
        Call(fd, DmIoctl.DM_VERSION, buf, "DM_VERSION", "device-mapper");
        return ReadVersion(buf);
    }

    /// <summary>
    /// Creates device <paramref name="name"/> with <paramref name="uuid"/>, loads a linear table made of
    /// <paramref name="segments"/> and resumes it; makes /dev/mapper/NAME. On failure after the create, the device is
    /// removed again. Returns the device with its number.
    /// </summary>
    public static DmDevice ActivateLinear(string name, string uuid, IReadOnlyList<LinearSegment> segments)
    {
        ValidateName(name);
        if (Encoding.UTF8.GetByteCount(uuid) >= DmIoctl.UuidLength) throw new NativeInitException($"device-mapper uuid '{uuid}' is longer than {DmIoctl.UuidLength - 1} bytes");
        if (segments.Count == 0) throw new NativeInitException($"device-mapper {name}: no segments to load");
        ulong expect = 0;
        foreach (var s in segments)
        {
            if (s.StartSector != expect || s.LengthSectors == 0)
                throw new NativeInitException($"device-mapper {name}: segments must be contiguous and non-empty (segment at sector {s.StartSector}, expected {expect})");
            expect += s.LengthSectors;
        }

        using var fd = OpenControl();
        var buf = new byte[BufferSize];

        Prepare(buf, name, uuid, 0);
        Call(fd, DmIoctl.DM_DEV_CREATE, buf, "DM_DEV_CREATE", name);
        try
        {
            LoadLinearTable(fd, buf, name, segments);

            // DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes: the loaded (inactive) table becomes the live one.
            Prepare(buf, name, null, 0);
            Call(fd, DmIoctl.DM_DEV_SUSPEND, buf, "DM_DEV_SUSPEND (resume)", name);
            var dev = ReadDevice(buf, name, uuid);
            string node = EnsureNode(name, dev.Major, dev.Minor);
            return dev with { NodePath = node };
        }
        catch
        {
            try { Prepare(buf, name, null, 0); Call(fd, DmIoctl.DM_DEV_REMOVE, buf, "DM_DEV_REMOVE", name); }
            catch (NativeInitException) { /* the first error is the one to report */ }
            throw;
        }
    }

    /// <summary>
    /// Replaces the table of an active device (e.g. an LV that grew): DM_TABLE_LOAD into the inactive slot, then
    /// DM_DEV_SUSPEND and a resume, which swaps the new table in (what `dmsetup reload` + `dmsetup resume` do).
    /// </summary>
    public static DmDevice ReloadLinear(string name, IReadOnlyList<LinearSegment> segments)
    {
        ValidateName(name);
        if (segments.Count == 0) throw new NativeInitException($"device-mapper {name}: no segments to load");
        using var fd = OpenControl();
        var buf = new byte[BufferSize];
        LoadLinearTable(fd, buf, name, segments);
        Prepare(buf, name, null, DmIoctl.SuspendFlag);
        Call(fd, DmIoctl.DM_DEV_SUSPEND, buf, "DM_DEV_SUSPEND", name);
        Prepare(buf, name, null, 0);
        Call(fd, DmIoctl.DM_DEV_SUSPEND, buf, "DM_DEV_SUSPEND (resume)", name);
        return ReadDevice(buf, name, ReadCString(buf.AsSpan(DmIoctl.OffUuid, DmIoctl.UuidLength)));
    }

    /// <summary>DM_DEV_REMOVE of <paramref name="name"/> and its /dev/mapper node (when we made it).</summary>
    public static void Remove(string name)
    {
        ValidateName(name);
        using var fd = OpenControl();
        var buf = new byte[BufferSize];
        Prepare(buf, name, null, 0);
        Call(fd, DmIoctl.DM_DEV_REMOVE, buf, "DM_DEV_REMOVE", name);
        string node = Path.Combine(DevDirectory, "mapper", name);
        try
        {
            var info = new FileInfo(node);
            if (info.Exists || info.LinkTarget is not null) File.Delete(node);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>DM_DEV_STATUS, or null when no device has that name.</summary>
    public static DmDevice? GetStatus(string name)
    {
        ValidateName(name);
        using var fd = OpenControl();
        var buf = new byte[BufferSize];
        Prepare(buf, name, null, 0);
        unsafe
        {
            fixed (byte* p = buf)
            {
                if (Libc.DmIoctlCall(fd.Fd, DmIoctl.DM_DEV_STATUS, p) < 0)
                {
                    int errno = PosixError.Last;
                    if (errno == PosixError.ENXIO) return null;
                    PosixError.Throw("DM_DEV_STATUS", name, errno);
                }
            }
        }
        return ReadDevice(buf, name, ReadCString(buf.AsSpan(DmIoctl.OffUuid, DmIoctl.UuidLength)));
    }

    /// <summary>DM_LIST_DEVICES: every device's name and number.</summary>
    public static IReadOnlyList<(string Name, uint Major, uint Minor)> List()
    {
        using var fd = OpenControl();
        for (int size = BufferSize; ; size *= 4)
        {
            var buf = new byte[size];
            Prepare(buf, null, null, 0);
            Call(fd, DmIoctl.DM_LIST_DEVICES, buf, "DM_LIST_DEVICES", "device-mapper");
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(DmIoctl.OffFlags));
            if ((flags & DmIoctl.BufferFullFlag) != 0 && size < 16 * 1024 * 1024) continue;
            return ParseNameList(buf);
        }
    }

    /// <summary>Parses the dm_name_list records after data_start (exposed for tests).</summary>
    internal static List<(string Name, uint Major, uint Minor)> ParseNameList(ReadOnlySpan<byte> buf)
    {
        var result = new List<(string, uint, uint)>();
        int start = (int)BinaryPrimitives.ReadUInt32LittleEndian(buf[DmIoctl.OffDataStart..]);
        int dataSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(buf[DmIoctl.OffDataSize..]);
        if (dataSize <= start) return result;
        int pos = start;
        while (pos + DmIoctl.NameListOffName < buf.Length)
        {
            ulong dev = BinaryPrimitives.ReadUInt64LittleEndian(buf[(pos + DmIoctl.NameListOffDev)..]);
            uint next = BinaryPrimitives.ReadUInt32LittleEndian(buf[(pos + DmIoctl.NameListOffNext)..]);
            if (dev == 0 && next == 0 && buf[pos + DmIoctl.NameListOffName] == 0) break; // empty list
            string n = ReadCString(buf[(pos + DmIoctl.NameListOffName)..]);
            result.Add((n, DmIoctl.DevMajor(dev), DmIoctl.DevMinor(dev)));
            if (next == 0) break;
            pos += (int)next;
        }
        return result;
    }

    /// <summary>Fills the dm_ioctl header; returns the bytes used (data starts right after the struct).</summary>
    internal static int Prepare(Span<byte> buf, string? name, string? uuid, uint flags)
    {
        buf.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(buf[DmIoctl.OffVersion..], DmIoctl.VersionMajor);
        BinaryPrimitives.WriteUInt32LittleEndian(buf[(DmIoctl.OffVersion + 4)..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(buf[(DmIoctl.OffVersion + 8)..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(buf[DmIoctl.OffDataSize..], (uint)buf.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(buf[DmIoctl.OffDataStart..], DmIoctl.SizeOfDmIoctl);
        BinaryPrimitives.WriteUInt32LittleEndian(buf[DmIoctl.OffFlags..], flags);
        if (name is not null) WriteCString(buf.Slice(DmIoctl.OffName, DmIoctl.NameLength), name);
        if (uuid is not null) WriteCString(buf.Slice(DmIoctl.OffUuid, DmIoctl.UuidLength), uuid);
        return DmIoctl.SizeOfDmIoctl;
    }

    /// <summary>Appends one dm_target_spec + params per segment, sets target_count and data_size; returns bytes used.</summary>
    internal static int WriteLinearTable(Span<byte> buf, int used, IReadOnlyList<LinearSegment> segments)
    {
        int pos = used;
        for (int i = 0; i < segments.Count; i++)
        {
            var s = segments[i];
            string parameters = s.Parameters;
            int paramLen = Encoding.ASCII.GetByteCount(parameters) + 1;
            int recordLen = Align8(DmIoctl.SizeOfTargetSpec + paramLen);
            if (pos + recordLen > buf.Length) throw new NativeInitException("device-mapper table too large");
            var spec = buf.Slice(pos, recordLen);
            spec.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(spec[DmIoctl.SpecOffSectorStart..], s.StartSector);
            BinaryPrimitives.WriteUInt64LittleEndian(spec[DmIoctl.SpecOffLength..], s.LengthSectors);
            // next: offset from the start of this spec to the next one (the kernel's "next" for table load).
            BinaryPrimitives.WriteUInt32LittleEndian(spec[DmIoctl.SpecOffNext..], (uint)recordLen);
            WriteCString(spec.Slice(DmIoctl.SpecOffTargetType, DmIoctl.MaxTypeName), "linear");
            Encoding.ASCII.GetBytes(parameters, spec[DmIoctl.SizeOfTargetSpec..]);
            pos += recordLen;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(buf[DmIoctl.OffTargetCount..], (uint)segments.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(buf[DmIoctl.OffDataSize..], (uint)pos);
        return pos;
    }

    internal static DmVersion ReadVersion(ReadOnlySpan<byte> buf) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(buf[DmIoctl.OffVersion..]),
        BinaryPrimitives.ReadUInt32LittleEndian(buf[(DmIoctl.OffVersion + 4)..]),
        BinaryPrimitives.ReadUInt32LittleEndian(buf[(DmIoctl.OffVersion + 8)..]));

    private static DmDevice ReadDevice(byte[] buf, string name, string uuid)
    {
        ulong dev = BinaryPrimitives.ReadUInt64LittleEndian(buf.AsSpan(DmIoctl.OffDev));
        int open = BinaryPrimitives.ReadInt32LittleEndian(buf.AsSpan(DmIoctl.OffOpenCount));
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(DmIoctl.OffFlags));
        return new DmDevice(name, uuid, DmIoctl.DevMajor(dev), DmIoctl.DevMinor(dev), open, flags, Path.Combine(DevDirectory, "mapper", name));
    }

    /// <summary>
    /// DM_TABLE_LOAD of a linear table, tried again for up to 5 s while the kernel cannot open a device the table names
    /// (ENOENT, ENXIO, ENODEV; kernel log: "unable to set up device queue for new table"). udev re-reads a disk's
    /// partition table when a writer closes it (in a dracut initramfs, after the PV's label and metadata were written),
    /// and while it does the partitions are gone; they come back with the same numbers. Seen in a CI run: the dracut
    /// conversion failed after the point of no return with "DM_TABLE_LOAD VA-root: ENOENT" right after such a re-read.
    /// Once a table holds the partition, the kernel refuses further re-reads (EBUSY), so only the first load waits.
    /// </summary>
    private static void LoadLinearTable(SafeFd fd, byte[] buf, string name, IReadOnlyList<LinearSegment> segments)
    {
        for (int attempt = 0; ; attempt++)
        {
            int used = Prepare(buf, name, null, 0);
            used = WriteLinearTable(buf, used, segments);
            try
            {
                Call(fd, DmIoctl.DM_TABLE_LOAD, buf, "DM_TABLE_LOAD", name, used);
                return;
            }
            catch (PosixException e) when (e.Errno is PosixError.ENOENT or PosixError.ENXIO or PosixError.ENODEV && attempt < 50)
            {
                Thread.Sleep(100);
            }
        }
    }

    private static unsafe void Call(SafeFd fd, uint request, byte[] buf, string op, string target, int dataSize = -1)
    {
        if (dataSize >= 0) BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(DmIoctl.OffDataSize), (uint)dataSize);
        fixed (byte* p = buf)
        {
            int rc;
            do rc = Libc.DmIoctlCall(fd.Fd, request, p);
            while (rc < 0 && PosixError.Last == PosixError.EINTR);
            if (rc < 0) PosixError.Throw(op, target);
        }
    }

    /// <summary>Opens /dev/mapper/control, making the node (char 10:236) first when it is missing (no udev).</summary>
    private static SafeFd OpenControl()
    {
        string control = Path.Combine(DevDirectory, "mapper", "control");
        if (!File.Exists(control))
        {
            Directory.CreateDirectory(Path.Combine(DevDirectory, "mapper"));
            int rc = Libc.DmMknod(control, DmIoctl.ModeCharDevice | 0x180 /* 0600 */, DmIoctl.MakeDev(DmIoctl.ControlMajor, DmIoctl.ControlMinor));
            if (rc < 0 && PosixError.Last != PosixError.EEXIST) PosixError.Throw("mknod", control);
        }
        int fd = Libc.DmOpen(control, DmIoctl.OpenReadWrite | DmIoctl.OpenCloseOnExec, 0);
        if (fd < 0)
        {
            int errno = PosixError.Last;
            if (errno is PosixError.ENODEV or PosixError.ENXIO or PosixError.ENOENT)
                throw new NativeInitException($"open {control}: device-mapper is not available in this kernel (load dm-mod) ({PosixError.Name(errno)})");
            PosixError.Throw("open", control, errno);
        }
        return new SafeFd(fd);
    }

    /// <summary>Makes /dev/mapper/NAME as a block node MAJOR:MINOR unless udev already made it (a link to ../dm-N).</summary>
    private static string EnsureNode(string name, uint major, uint minor)
    {
        string dir = Path.Combine(DevDirectory, "mapper");
        string node = Path.Combine(dir, name);
        var info = new FileInfo(node);
        if (info.LinkTarget is not null) return node; // udev's link
        if (info.Exists) File.Delete(node);          // a stale node from an earlier activation
        int rc = Libc.DmMknod(node, DmIoctl.ModeBlockDevice | 0x1b0 /* 0660 */, DmIoctl.MakeDev(major, minor));
        if (rc < 0 && PosixError.Last != PosixError.EEXIST) PosixError.Throw("mknod", node);
        return node;
    }

    private static void ValidateName(string name)
    {
        if (name.Length == 0 || name.Contains('/') || name is "." or ".." || Encoding.UTF8.GetByteCount(name) >= DmIoctl.NameLength)
            throw new NativeInitException($"'{name}' is not a valid device-mapper name (1..127 bytes, no '/')");
    }

    private static int Align8(int n) => (n + 7) & ~7;

    private static void WriteCString(Span<byte> field, string value)
    {
        int n = Encoding.UTF8.GetBytes(value, field);
        if (n >= field.Length) throw new NativeInitException($"'{value}' does not fit {field.Length - 1} bytes");
        field[n] = 0;
    }

    private static string ReadCString(ReadOnlySpan<byte> s)
    {
        int z = s.IndexOf((byte)0);
        return Encoding.UTF8.GetString(z < 0 ? s : s[..z]);
    }
}
