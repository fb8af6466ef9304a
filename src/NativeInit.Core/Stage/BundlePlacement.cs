using NativeInit.Core.Bundle;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Layout;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Stage;

/// <summary>
/// Where the staged bundle may lie (issue 12). Stage two reads the bundle straight from its extents on the old disk
/// while it writes the new layout, so the new layout's first writes — before the bundle is consumed — must not touch
/// those extents: <see cref="KeepOut"/> computes them with <see cref="LayoutPlanner"/> for this disk's size (protective
/// MBR and both GPTs, every partition other than the PV — the BIOS boot partition and /boot — and the PV's label and
/// metadata area up to pe_start). <see cref="Place"/> reads the staged file's extents (FIEMAP) and, when one overlaps,
/// copies the file again into a new directory while the old copy still holds its blocks (so the filesystem puts the
/// copy elsewhere — with xfs, a new directory goes to another allocation group), a few times, then refuses.
/// </summary>
public static class BundlePlacement
{
    public const int MaxAttempts = 4;

    /// <summary>ENOTTY: the ioctl is not known to the filesystem (older kernels answer FIEMAP this way).</summary>
    private const int NotATypewriter = 25;

    /// <summary>The ranges of a disk of <paramref name="diskBytes"/> that stage two writes first.</summary>
    public static IReadOnlyList<DiskRange> KeepOut(VerifiedBundle bundle, long diskBytes)
    {
        var m = bundle.Manifest;
        var tmp = Directory.CreateTempSubdirectory("nativeinit-stage-").FullName;
        try
        {
            foreach (var role in new[] { PartRoles.Layout, PartRoles.PartitionTable })
            {
                var part = m.Part(role);
                var dest = Path.Combine(tmp, part.Name);
                Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
                using var src = bundle.OpenPart(part);
                using var dst = File.Create(dest);
                src.CopyTo(dst);
            }
            var layout = LayoutFile.Load(Path.Combine(tmp, m.Part(PartRoles.Layout).Name));
            // The plan needs a disk of the right size only: a sparse image file, never read.
            var image = Path.Combine(tmp, "disk.img");
            using (var f = File.Create(image)) f.SetLength(diskBytes);
            using var disk = DiskDevice.Open(image, writable: false);
            var plan = LayoutPlanner.Plan(layout, disk);
            int ss = plan.SectorSize;
            var ranges = new List<DiskRange>();
            foreach (var w in plan.Gpt.TableWrites) ranges.Add(new DiskRange(w.Offset, w.Length, w.What));
            foreach (var p in plan.Table.Partitions.Where(p => p.Number != plan.PvPartition.Number))
            {
                string what = p.Type == GptPartitionTypes.BiosBoot.Guid ? $"BIOS boot partition {p.Number}" : $"partition {p.Number}";
                ranges.Add(new DiskRange(p.ByteOffset(ss), p.ByteLength(ss), what));
            }
            ranges.Add(new DiskRange(plan.PvOffset, plan.Geometry.PeStartBytes, $"LVM label and metadata of partition {plan.PvPartition.Number}"));
            return ranges.OrderBy(r => r.Offset).ToList();
        }
        catch (RefusedException e)
        {
            throw new RefusedException($"the bundle's layout does not plan on this disk ({diskBytes} bytes): {e.Message}", e);
        }
        finally
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Reads the extents of <paramref name="file"/> on a partition at <paramref name="partitionOffset"/> and places
    /// the file again while one overlaps <paramref name="keepOut"/>. Returns the final extents and the number of
    /// placements (1: the first copy was clear). Refuses (exit 3) when an extent cannot be read from the disk as it
    /// is, when there is no room for a second copy, or when every attempt overlaps, naming the ranges.
    /// With <paramref name="partitionOffset"/> null the extents are recorded relative to the filesystem and not checked.
    /// </summary>
    public static (FileExtents Extents, int Attempts) Place(string file, long? partitionOffset, IReadOnlyList<DiskRange> keepOut,
        TextWriter log, int maxAttempts = MaxAttempts)
    {
        FileExtents extents;
        try { extents = FileExtents.Read(file, partitionOffset ?? 0); }
        catch (PosixException e) when (e.Errno is PosixError.EOPNOTSUPP or NotATypewriter or PosixError.EINVAL)
        {
            throw new RefusedException($"{file}: the filesystem holding the boot directory does not report where a file lies " +
                $"(FIEMAP: {PosixError.Name(e.Errno)}); stage two reads the bundle from the disk by its extents and could not convert", e);
        }
        RefuseUnreadable(extents);
        if (partitionOffset is null) return (extents, 1);
        var held = new List<string>();
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                var overlaps = extents.Overlaps(keepOut);
                if (overlaps.Count == 0)
                {
                    log.WriteLine($"  bundle extents: {extents.Extents.Count}, clear of the new layout's first writes" +
                        (attempt > 1 ? $" (placed {attempt} times)" : ""));
                    return (extents, attempt);
                }
                string why = string.Join("; ", overlaps.Take(3).Select(o =>
                    $"bytes {o.Extent.DiskOffset}..{o.Extent.DiskOffset + o.Extent.Length - 1} of the disk lie in {o.Range}"));
                if (attempt >= maxAttempts)
                    throw new RefusedException($"{file}: after {attempt} placements the staged bundle still overlaps what stage two writes first " +
                        $"({why}); free space elsewhere on the filesystem holding the boot directory, then stage again");
                var (free, _) = PosixPath.StatVfs(Path.GetDirectoryName(file)!);
                if (free < extents.FileBytes + Stager.BootReserveBytes)
                    throw new RefusedException($"{file}: the staged bundle overlaps what stage two writes first ({why}), and there is no room " +
                        $"({ByteSize.Format(free)} free) for another copy of {ByteSize.Format(extents.FileBytes)} to place it elsewhere");
                log.WriteLine($"  bundle extents: {why}: placing the bundle again (attempt {attempt + 1})");
                extents = CopyElsewhere(file, partitionOffset.Value, attempt, held);
                RefuseUnreadable(extents);
            }
        }
        finally
        {
            // The earlier copies held their blocks so that no later copy could take them; now they go.
            foreach (var h in held) { try { File.Delete(h); Directory.Delete(Path.GetDirectoryName(h)!); } catch (IOException) { } }
            if (held.Count > 0) AtomicFile.SyncDirectory(Path.GetDirectoryName(file)!);
        }
    }

    private static void RefuseUnreadable(FileExtents e)
    {
        var problems = e.Problems().ToList();
        if (problems.Count > 0) throw new RefusedException("stage two could not read the bundle from the disk: " + string.Join("; ", problems));
    }

    /// <summary>Moves <paramref name="file"/> aside (it keeps its blocks, so the copy cannot take them), copies it
    /// into a new directory, and renames the copy into place (a rename keeps the copy's blocks).</summary>
    private static FileExtents CopyElsewhere(string file, long partitionOffset, int attempt, List<string> held)
    {
        var dir = Path.GetDirectoryName(file)!;
        var holdDir = Path.Combine(dir, $"held-{attempt}");
        var placeDir = Path.Combine(dir, $"place-{attempt}");
        Directory.CreateDirectory(holdDir);
        Directory.CreateDirectory(placeDir);
        var old = Path.Combine(holdDir, Path.GetFileName(file));
        File.Move(file, old);
        held.Add(old);
        var copy = Path.Combine(placeDir, Path.GetFileName(file));
        using (var src = new FileStream(old, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        using (var dst = new FileStream(copy, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            src.CopyTo(dst, 1 << 20);
            dst.Flush(flushToDisk: true);
        }
        File.Move(copy, file);
        Directory.Delete(placeDir);
        AtomicFile.SyncDirectory(dir);
        return FileExtents.Read(file, partitionOffset);
    }
}
