using System.Text.Json;
using NativeInit.Core.Boot;
using NativeInit.Core.Bundle;
using NativeInit.Core.Disk;

namespace NativeInit.Core.Stage;

public sealed record StageOptions
{
    public required string Bundle { get; init; }
    public required byte[] PublicKey { get; init; }
    /// <summary>The system's root directory ("/" on the running system; a directory holding a system's files in tests).</summary>
    public string Root { get; init; } = "/";
    /// <summary>The boot directory, inside <see cref="Root"/>.</summary>
    public string BootDir { get; init; } = "/boot";
    public bool DryRun { get; init; }
    /// <summary>Reboot into the conversion once staged (only on the running system: <see cref="Root"/> "/").</summary>
    public bool Reboot { get; init; }
}

/// <summary>What a staging directory left by an earlier run is (<see cref="StagePlan.Leftover"/>).</summary>
public enum StagingLeftover
{
    /// <summary>No BOOT/nativeinit.</summary>
    None,
    /// <summary>BOOT/nativeinit exists but the boot configuration is as it was (a run killed before its last two
    /// writes): it is removed before staging again.</summary>
    HalfWritten,
}

/// <summary>
/// Stage one's plan (issue 10; like <c>Layout/LayoutPlan</c>): everything <see cref="Stager.Plan"/> found and
/// checked, and everything <see cref="Stager.Execute"/> will write, with the checks' figures. Printed by
/// <see cref="WriteText"/> (the log) and <see cref="WriteJson"/> (`stage --json`).
/// </summary>
public sealed record StagePlan
{
    public required StageOptions Options { get; init; }
    public required string Root { get; init; }
    public required string BootDir { get; init; }
    public required string StageDir { get; init; }
    public required VerifiedBundle Bundle { get; init; }

    public required long RamBytes { get; init; }
    public required long RamNeededBytes { get; init; }
    public required string Disk { get; init; }
    public required long DiskBytes { get; init; }
    public required long DiskNeededBytes { get; init; }
    public required long BootFreeBytes { get; init; }
    public required long BootNeededBytes { get; init; }

    /// <summary>rd.nativeinit.disk=: the stable identity of the disk holding / (partuuid:, uuid:, serial:, wwn:).</summary>
    public required string DiskIdentity { get; init; }
    public required GrubSetup Grub { get; init; }
    /// <summary>The staging directory as GRUB names it on its filesystem ("/boot/nativeinit" or "/nativeinit").</summary>
    public required string GrubPath { get; init; }
    public required string KernelCommandLine { get; init; }
    public required string EntryText { get; init; }

    /// <summary>Size of the staged single-file bundle.</summary>
    public required long StagedBundleBytes { get; init; }
    public required byte[] CarryJson { get; init; }
    public required IReadOnlyList<string> CarriedFiles { get; init; }
    public required IReadOnlyList<string> CarriedPasswordUsers { get; init; }

    /// <summary>Offset of the partition holding BOOT on the disk; null when not on a partition (extents unchecked).</summary>
    public required long? BootPartitionOffset { get; init; }
    /// <summary>The new layout's first writes of stage two on this disk (GPT, BIOS boot and /boot partitions, PV
    /// label and metadata area): the staged bundle must lie clear of them.</summary>
    public required IReadOnlyList<DiskRange> KeepOut { get; init; }
    public required StagingLeftover Leftover { get; init; }

    public bool DryRun => Options.DryRun;
    public string StagedBundle => Path.Combine(StageDir, Stager.BundleFileName);

    public void WriteText(TextWriter log)
    {
        log.WriteLine("plan:");
        if (Leftover == StagingLeftover.HalfWritten)
            log.WriteLine($"  remove the half-written {StageDir}/ of an interrupted run (the boot configuration was not changed)");
        var k = Bundle.Manifest.Part(PartRoles.Kernel);
        var i = Bundle.Manifest.Part(PartRoles.Initramfs);
        log.WriteLine($"  create {StageDir}/ with {BundleFile.KernelName} ({k.Size} B), {BundleFile.InitramfsName} ({i.Size} B), " +
            $"{Stager.BundleFileName} ({StagedBundleBytes} B), {Carry.CarryRecord.FileName}, {Stager.ExtentsFileName}, {Stager.UndoFileName}, {Stager.LogFileName}");
        log.WriteLine(BootPartitionOffset is null
            ? "  bundle extents: recorded, not checked (the boot directory is not on a partition of the disk)"
            : $"  bundle extents: kept clear of {KeepOut.Count} ranges stage two writes first: {string.Join(", ", KeepOut.Select(r => r.What))}");
        log.WriteLine($"  then, last, each atomically: {(File.Exists(Grub.CustomCfg) ? "append to" : "create")} {Grub.CustomCfg}: " +
            $"menuentry '{ConversionMenuEntry.Title}' --id {ConversionMenuEntry.Id}; next_entry={ConversionMenuEntry.Id} in {Grub.EnvFile}");
        log.WriteLine($"  kernel command line: {KernelCommandLine}");
    }

    /// <summary>The JSON form; <paramref name="result"/> adds what was done (null on a dry run).</summary>
    public void WriteJson(Utf8JsonWriter w, StageResult? result = null)
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", 1);
        w.WriteString("bundle", Options.Bundle);
        w.WriteString("keyId", Bundle.KeyId ?? "");
        w.WriteBoolean("dryRun", DryRun);
        w.WriteStartObject("checks");
        w.WriteNumber("ramBytes", RamBytes);
        w.WriteNumber("ramNeededBytes", RamNeededBytes);
        w.WriteString("disk", Disk);
        w.WriteNumber("diskBytes", DiskBytes);
        w.WriteNumber("diskNeededBytes", DiskNeededBytes);
        w.WriteString("diskIdentity", DiskIdentity);
        w.WriteNumber("bootFreeBytes", BootFreeBytes);
        w.WriteNumber("bootNeededBytes", BootNeededBytes);
        w.WriteEndObject();
        w.WriteStartObject("carry");
        w.WriteStartArray("files");
        foreach (var f in CarriedFiles) w.WriteStringValue(f);
        w.WriteEndArray();
        w.WriteStartArray("passwordUsers");
        foreach (var u in CarriedPasswordUsers) w.WriteStringValue(u);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartObject("boot");
        w.WriteString("stageDir", StageDir);
        w.WriteString("customCfg", Grub.CustomCfg);
        w.WriteString("grubenv", Grub.EnvFile);
        w.WriteString("entryId", ConversionMenuEntry.Id);
        w.WriteString("kernelCommandLine", KernelCommandLine);
        w.WriteString("oneShot", "grubenv");
        w.WriteEndObject();
        DiskRange.WriteJsonArray(w, "keepOut", KeepOut);
        if (result?.Extents is { } e)
        {
            w.WriteStartObject("bundleExtents");
            w.WriteNumber("count", e.Extents.Count);
            w.WriteNumber("placementAttempts", result.PlacementAttempts);
            w.WriteString("file", Path.Combine(StageDir, Stager.ExtentsFileName));
            w.WriteEndObject();
        }
        if (result?.LogFile is { } log) w.WriteString("logFile", log);
        w.WriteStartArray("changed");
        foreach (var c in result?.Changed ?? []) w.WriteStringValue(c);
        w.WriteEndArray();
        w.WriteEndObject();
    }
}

/// <summary>What <see cref="Stager.Execute"/> did.</summary>
public sealed record StageResult(StagePlan Plan, IReadOnlyList<string> Changed, FileExtents? Extents, int PlacementAttempts, string? LogFile)
{
    public void WriteJson(Utf8JsonWriter w) => Plan.WriteJson(w, this);
}
