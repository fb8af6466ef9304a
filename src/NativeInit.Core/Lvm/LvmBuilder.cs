namespace NativeInit.Core.Lvm;

/// <summary>One LV to allocate: a size in bytes (rounded up to whole extents) or null for "the rest".</summary>
public sealed record LvmVolumeRequest(string Name, long? SizeBytes);

/// <summary>Fixed ids, time and host for reproducible output (tests); random ids and the clock otherwise.</summary>
public sealed class LvmIdentity
{
    public string? VgId { get; init; }
    public string? PvId { get; init; }
    /// <summary>LV ids by LV name.</summary>
    public IReadOnlyDictionary<string, string>? LvIds { get; init; }
    public long? Time { get; init; }
    public string? Host { get; init; }
}

/// <summary>
/// Makes the metadata of a new VG on one PV with linear LVs allocated contiguously, in the order and sizes asked
/// (what pvcreate + vgcreate + lvcreate -L/-l 100%FREE would produce).
/// </summary>
public static class LvmBuilder
{
    public static (LvmVolumeGroup Vg, LvmPvGeometry Geometry) Create(string vgName, long extentSizeBytes, long pvDeviceSize, string pvDeviceHint,
        IReadOnlyList<LvmVolumeRequest> volumes, long? metadataSize = null, LvmIdentity? identity = null)
    {
        ValidateName(vgName, "volume group");
        identity ??= new LvmIdentity();
        var g = LvmDiskFormat.Geometry(pvDeviceSize, extentSizeBytes, metadataSize);
        if (g.PeCount == 0) throw new RefusedException($"PV {pvDeviceHint} of {ByteSize.Format(pvDeviceSize)} has no room for a single extent of {ByteSize.Format(extentSizeBytes)} after pe_start {g.PeStartBytes}");
        long time = identity.Time ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string host = identity.Host ?? HostName();
        var vg = new LvmVolumeGroup
        {
            Name = vgName,
            Id = identity.VgId ?? LvmId.New(),
            ExtentSize = g.ExtentSizeSectors,
            CreationHost = host,
            CreationTime = time,
            Description = "Written by NativeInit",
        };
        vg.PhysicalVolumes.Add(new LvmPhysicalVolume
        {
            Name = "pv0",
            Id = identity.PvId ?? LvmId.New(),
            Device = pvDeviceHint,
            DevSize = g.DevSizeSectors,
            PeStart = g.PeStartSectors,
            PeCount = g.PeCount,
        });

        var names = new HashSet<string>(StringComparer.Ordinal);
        long fixedExtents = 0;
        int rest = 0;
        foreach (var v in volumes)
        {
            ValidateName(v.Name, "logical volume");
            if (!names.Add(v.Name)) throw new RefusedException($"logical volume '{v.Name}' is listed twice");
            if (v.SizeBytes is long b)
            {
                if (b <= 0) throw new RefusedException($"logical volume '{v.Name}': size must be positive");
                fixedExtents += ExtentsFor(b, extentSizeBytes);
            }
            else rest++;
        }
        if (rest > 1) throw new RefusedException("only one logical volume may take the \"rest\"");
        if (fixedExtents > g.PeCount || (rest == 1 && fixedExtents == g.PeCount))
            throw new RefusedException($"the logical volumes need {fixedExtents}{(rest == 1 ? " + at least 1" : "")} extents of {ByteSize.Format(extentSizeBytes)} " +
                $"({ByteSize.Format(fixedExtents * extentSizeBytes)}) but PV {pvDeviceHint} has {g.PeCount} ({ByteSize.Format(g.PeCount * extentSizeBytes)})");

        long next = 0;
        foreach (var v in volumes)
        {
            long count = v.SizeBytes is long b ? ExtentsFor(b, extentSizeBytes) : g.PeCount - fixedExtents;
            vg.LogicalVolumes.Add(new LvmLogicalVolume
            {
                Name = v.Name,
                Id = identity.LvIds?.GetValueOrDefault(v.Name) ?? LvmId.New(),
                CreationTime = time,
                CreationHost = host,
                Segments = [new LvmSegment { StartExtent = 0, ExtentCount = count, Stripes = [("pv0", next)] }],
            });
            next += count;
        }
        return (vg, g);
    }

    public static long ExtentsFor(long bytes, long extentSize) => (bytes + extentSize - 1) / extentSize;

    /// <summary>lvm2's name rules (lib/misc/lvm-string.c validate_name): [a-zA-Z0-9+_.-], not starting with '-', not "." or "..", at most 127.</summary>
    public static void ValidateName(string name, string what)
    {
        if (name.Length == 0 || name.Length > 127 || name[0] == '-' || name is "." or ".." ||
            !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '_' or '.' or '-'))
            throw new RefusedException($"{what} name '{name}' is not valid for LVM (letters, digits, + _ . -; not starting with '-')");
        if (what == "logical volume" && (name.StartsWith("snapshot", StringComparison.Ordinal) || name.StartsWith("pvmove", StringComparison.Ordinal) ||
            name.Contains("_mlog", StringComparison.Ordinal) || name.Contains("_rimage", StringComparison.Ordinal) || name.Contains("_tdata", StringComparison.Ordinal)))
            throw new RefusedException($"logical volume name '{name}' is reserved by LVM");
    }

    private static string HostName()
    {
        try { return File.ReadAllText("/proc/sys/kernel/hostname").Trim(); }
        catch (IOException) { return Environment.MachineName; }
    }
}
