using System.Globalization;
using System.Text.Json;
using NativeInit.Core.Bundle;
using NativeInit.Core.Carry;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Core.Layout;

namespace NativeInit.Core.Conversion;

/// <summary>A write the conversion makes before a resume is possible, checked against the bundle's extents.</summary>
public sealed record EarlyWrite(string What, long Offset, long Length);

/// <summary>
/// Everything `convert` found and would do, computed without writing: the old layout (or the journal of an
/// interrupted conversion), the bundle and where its bytes lie, the layout plan, the early writes checked against the
/// bundle's extents, the root file system's initial size, the carry set, the steps and the memory figures.
/// </summary>
public sealed class ConvertPlan
{
    public required string Target { get; init; }
    public required bool IsImage { get; init; }
    public required long DiskBytes { get; init; }
    /// <summary>The old layout, or "resume" when a journal was found.</summary>
    public required string OldLayout { get; init; }
    /// <summary>The journal of an interrupted (or finished) conversion, or the new one planned.</summary>
    public required ConvertJournal Journal { get; init; }
    public required bool Resuming { get; init; }
    public required string BundlePath { get; init; }
    public required VerifiedBundle Bundle { get; init; }
    public required IReadOnlyList<DiskRun> BundleRuns { get; init; }
    public required LayoutPlan Layout { get; init; }
    public required LayoutPartition BootSpec { get; init; }
    public required GptPartition BootPartition { get; init; }
    public required IReadOnlyList<EarlyWrite> EarlyWrites { get; init; }
    public required PlannedVolume RootVolume { get; init; }
    public required long RootInitialBytes { get; init; }
    public required long RootNeededBytes { get; init; }
    public required CarryRecord Carry { get; init; }
    public required IReadOnlyList<string> Steps { get; init; }
    public required long MemAvailableBytes { get; init; }
    public required long MemNeededBytes { get; init; }
    /// <summary>The bundle's SELinux setting, or null when it has no selinux-policy part.</summary>
    public SelinuxSetting? Selinux { get; init; }
    /// <summary>The conversion's GRUB from the bundle (Boot/ConversionGrub): core.img as grub-mkimage made it, boot.img.</summary>
    public required byte[] GrubCore { get; init; }
    public required byte[] GrubBoot { get; init; }
    /// <summary>The BIOS boot (EF02) partition of the new table.</summary>
    public required GptPartition BiosBootPartition { get; init; }
    /// <summary>The grub-mkimage the bootloader step will make the system's core.img with (ConvertJob.GrubPreflight).</summary>
    public required string GrubTool { get; init; }
    /// <summary>Old layout (c) on a disk: the old VG's LVs active in device-mapper (unused), removed from it just
    /// before the first write (<see cref="OldVolumeGroup"/>).</summary>
    public IReadOnlyList<string> OldVolumes { get; init; } = [];

    public bool AlreadyDone => Journal.State == ConvertJournal.StateDone;
    public long BootOffset => BootPartition.ByteOffset(Layout.SectorSize);
    public long BootLength => BootPartition.ByteLength(Layout.SectorSize);

    public void WriteText(TextWriter w)
    {
        var inv = CultureInfo.InvariantCulture;
        var m = Bundle.Manifest;
        w.WriteLine($"Conversion of {(IsImage ? "image" : "disk")} {Target} ({ByteSize.Format(DiskBytes)}, {DiskBytes} bytes)");
        w.WriteLine($"  found:   {OldLayout}");
        if (OldVolumes.Count > 0) w.WriteLine($"  old VG:  {string.Join(", ", OldVolumes)} active in device-mapper, unused: removed from it before the first write");
        if (Resuming) w.WriteLine($"  journal: state {Journal.State}, next step {Journal.Current?.Name ?? (AlreadyDone ? "none (done)" : Steps.FirstOrDefault(s => !Journal.IsDone(s)) ?? "none")}");
        w.WriteLine($"  bundle:  {BundlePath}: {DisplayText.Of(m.ProductName)} {DisplayText.Of(m.ProductVersion)}, {ByteSize.Format(Journal.BundleBytes)}, signed by key {Bundle.KeyId}; " +
            (Bundle.IsSingleFile ? $"signature and every part's {ContentHash.Algorithm} verified by reading the disk at its extents"
                : $"signature and the kept parts' {ContentHash.Algorithm} verified"));
        w.WriteLine($"  extents: {BundleRuns.Count} on the disk: " + string.Join(", ", BundleRuns.Take(6).Select(r => $"{r.DiskOffset}+{r.Length}")) + (BundleRuns.Count > 6 ? ", ..." : ""));
        w.WriteLine("  early writes (before a resume is possible), none may touch the bundle's extents:");
        foreach (var e in EarlyWrites) w.WriteLine(string.Create(inv, $"    bytes {e.Offset,14}..{e.Offset + e.Length - 1,-14} {ByteSize.Format(e.Length),10}  {e.What}"));
        w.WriteLine(string.Create(inv, $"  root:    LV {RootVolume.Name} is {ByteSize.Format(RootVolume.SizeBytes)}; made first with {ByteSize.Format(RootInitialBytes)} ({RootInitialBytes} bytes, clear of the bundle; " +
            $"the rootfs needs {ByteSize.Format(RootNeededBytes)} = {ByteSize.Format(m.Rootfs.UncompressedSize)} unpacked + 20% + 256 MiB), grown once the bundle is consumed"));
        w.WriteLine($"  /boot:   partition {BootPartition.Number} ({BootSpec.Filesystem}{(BootSpec.Label is null ? "" : ", label " + BootSpec.Label)}), holds {ConvertJournal.DirectoryName}/{ConvertJournal.FileName}, carry, kernel and initramfs");
        w.WriteLine("  file systems (UUIDs planned before the first write):");
        foreach (var f in Journal.Filesystems) w.WriteLine($"    {f.Volume,-14} {f.Filesystem,-5} {f.Uuid}  {f.MountPoint ?? "-"}{(f.Label is null ? "" : "  label " + f.Label)}");
        w.WriteLine($"  carry:   {Carry.Files.Count} files, password hashes of {Carry.Passwords.Count} users");
        foreach (var f in Carry.Files) w.WriteLine($"    {f.Path} ({f.Content.Length} bytes)");
        foreach (var p in Carry.Passwords) w.WriteLine($"    /etc/shadow: hash of {p.User}");
        w.WriteLine($"  selinux: {(Selinux is null ? "no selinux-policy part: the rootfs's /etc/selinux/config as it is" : $"{Selinux.Mode}{(Selinux.Autorelabel ? ", /.autorelabel" : "")}")}");
        w.WriteLine($"  grub:    the system's core.img from {GrubTool}");
        w.WriteLine($"  memory:  MemAvailable {ByteSize.Format(MemAvailableBytes)}, the run needs {ByteSize.Format(MemNeededBytes)} (the bundle is read from the disk, never held in RAM)");
        w.WriteLine("  steps:   " + string.Join(" → ", Steps.Select(s => Journal.IsDone(s) ? s + " (done)" : s)));
        var lp = new StringWriter();
        Layout.WriteText(lp);
        foreach (var line in lp.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)) w.WriteLine("  " + line.TrimEnd());
    }

    public void WriteJson(Utf8JsonWriter j)
    {
        j.WriteStartObject();
        j.WriteNumber("schemaVersion", 1);
        j.WriteString("target", Target);
        j.WriteString("mode", IsImage ? "image" : "disk");
        j.WriteNumber("diskBytes", DiskBytes);
        j.WriteString("found", OldLayout);
        j.WriteStartArray("oldVolumes");
        foreach (var v in OldVolumes) j.WriteStringValue(v);
        j.WriteEndArray();
        j.WriteBoolean("resuming", Resuming);
        j.WriteString("state", Journal.State);
        j.WriteStartObject("bundle");
        j.WriteString("path", BundlePath);
        j.WriteString("product", Bundle.Manifest.ProductName);
        j.WriteString("version", Bundle.Manifest.ProductVersion);
        j.WriteString("keyId", Bundle.KeyId);
        j.WriteNumber("bytes", Journal.BundleBytes);
        DiskRun.WriteJsonArray(j, "runs", BundleRuns);
        j.WriteEndObject();
        j.WriteStartArray("earlyWrites");
        foreach (var e in EarlyWrites)
        {
            j.WriteStartObject();
            j.WriteString("what", e.What);
            j.WriteNumber("offset", e.Offset);
            j.WriteNumber("length", e.Length);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteStartObject("root");
        j.WriteString("lv", RootVolume.Name);
        j.WriteNumber("size", RootVolume.SizeBytes);
        j.WriteNumber("initialBytes", RootInitialBytes);
        j.WriteNumber("neededBytes", RootNeededBytes);
        j.WriteEndObject();
        j.WriteStartObject("boot");
        j.WriteNumber("partition", BootPartition.Number);
        j.WriteString("filesystem", BootSpec.Filesystem);
        j.WriteNumber("offset", BootOffset);
        j.WriteNumber("length", BootLength);
        j.WriteEndObject();
        j.WriteStartArray("filesystems");
        foreach (var f in Journal.Filesystems)
        {
            j.WriteStartObject();
            j.WriteString("volume", f.Volume);
            j.WriteString("filesystem", f.Filesystem);
            j.WriteString("uuid", f.Uuid);
            if (f.MountPoint is not null) j.WriteString("mountPoint", f.MountPoint);
            if (f.Label is not null) j.WriteString("label", f.Label);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteStartObject("carry");
        j.WriteStartArray("files");
        foreach (var f in Carry.Files) j.WriteStringValue(f.Path);
        j.WriteEndArray();
        j.WriteStartArray("passwordUsers");
        foreach (var p in Carry.Passwords) j.WriteStringValue(p.User);
        j.WriteEndArray();
        j.WriteEndObject();
        if (Selinux is not null)
        {
            j.WriteStartObject("selinux");
            j.WriteString("mode", Selinux.Mode);
            j.WriteBoolean("autorelabel", Selinux.Autorelabel);
            j.WriteEndObject();
        }
        j.WriteString("grub", GrubTool);
        j.WriteStartObject("memory");
        j.WriteNumber("memAvailableBytes", MemAvailableBytes);
        j.WriteNumber("neededBytes", MemNeededBytes);
        j.WriteEndObject();
        j.WriteStartArray("steps");
        foreach (var s in Steps)
        {
            j.WriteStartObject();
            j.WriteString("name", s);
            j.WriteString("state", Journal.IsDone(s) ? "done" : "to do");
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WritePropertyName("layout");
        Layout.WriteJson(j);
        j.WriteEndObject();
    }
}
