using System.Globalization;
using System.Text.Json;
using NativeInit.Core.Disk;

namespace NativeInit.Core.Conversion;

public enum StepState { Pending, Done }

/// <summary>One step as the journal records it.</summary>
public sealed class JournalStep
{
    public required string Name { get; init; }
    public StepState State { get; set; }
    public string? OutputHash { get; set; }
    public string Detail { get; set; } = "";
    public DateTime At { get; set; }
}

/// <summary>A file system the conversion makes: its UUID and label are planned before the first write.</summary>
public sealed record PlannedFilesystem(string Volume, string Filesystem, string Uuid, string? Label, string? MountPoint);

/// <summary>
/// The conversion's journal (<c>/boot/nativeinit/journal.json</c> on the new /boot): the identities planned before
/// the first write (disk GUID, PV/VG/LV ids, file system UUIDs), where the bundle lies on the disk, the unprotected
/// window as measured, and one entry per step (Pending before its body ran, Done after). Written with
/// <see cref="AtomicFile"/>; an unreadable journal is kept as <c>.broken</c> and the run refuses (exit 4).
/// </summary>
public sealed class ConvertJournal : IStepJournal
{
    public const int CurrentFormatVersion = 1;
    public const string DirectoryName = "nativeinit", FileName = "journal.json", LogFileName = "convert.log", TextLogFileName = "convert.txt", CarryFileName = "carry.json",
        ExtentsFileName = "bundle.extents.json",
        // The signed manifest and every part but the rootfs, kernel and initramfs (ConvertJob.NotKeptRoles): what a run
        // resumed after the extraction reads instead of the bundle's extents, which later steps may overwrite.
        KeptBundleDirectoryName = "bundle-kept";
    public const string StateInProgress = "in-progress", StateDone = "done";

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public string State { get; set; } = StateInProgress;
    public required string Disk { get; init; }
    public required string OldLayout { get; init; }
    public DateTime StartedAt { get; init; } = DateTime.UtcNow;
    public DateTime? FinishedAt { get; set; }
    // The bundle: its identity and where its bytes lie on the disk.
    public required string BundleProduct { get; init; }
    public required string BundleKeyId { get; init; }
    public required string ManifestHash { get; init; }
    public required IReadOnlyList<DiskRun> BundleRuns { get; init; }
    public required long BundleBytes { get; init; }
    // Planned identities.
    public required string DiskGuid { get; init; }
    public required string VgId { get; init; }
    public required string PvId { get; init; }
    public required IReadOnlyDictionary<string, string> LvIds { get; init; }
    public required long LvmTime { get; init; }
    public required string LvmHost { get; init; }
    public required IReadOnlyList<PlannedFilesystem> Filesystems { get; init; }
    public required long RootInitialBytes { get; init; }
    // Measured.
    public long UnprotectedWindowBytes { get; set; }
    public long UnprotectedWindowMilliseconds { get; set; }
    public string? LastError { get; set; }
    public List<JournalStep> Steps { get; init; } = [];

    /// <summary>Where it is saved; null until /boot exists (the steps before keep it in memory).</summary>
    public string? SavePath { get; set; }

    public JournalStep? Find(string step) => Steps.Find(s => s.Name == step);
    public bool IsDone(string step) => Find(step)?.State == StepState.Done;
    /// <summary>The first step not Done, or null when every recorded step is Done.</summary>
    public JournalStep? Current => Steps.Find(s => s.State != StepState.Done);

    public void MarkPending(string step) => Set(step, StepState.Pending, null, "");
    public void MarkDone(string step, string detail, string? outputHash) => Set(step, StepState.Done, outputHash, detail);

    /// <summary>Durable once it has a place on the new /boot (<see cref="SavePath"/>): before that a stop between
    /// steps would leave a disk that no run can resume, so a SIGINT waits for the boot-files step.</summary>
    public bool IsDurable => SavePath is not null;

    /// <summary>Records the stop in <see cref="LastError"/> (status shows it; the next step stays unrecorded, so
    /// status names it as "not started").</summary>
    public void MarkInterrupted(string step, string signal)
    {
        LastError = $"interrupted by {signal} before step {step} at {DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture)}";
        Save();
    }

    private void Set(string step, StepState state, string? hash, string detail)
    {
        var s = Find(step);
        if (s is null) { s = new JournalStep { Name = step }; Steps.Add(s); }
        s.State = state;
        s.OutputHash = hash;
        s.Detail = detail;
        s.At = DateTime.UtcNow;
        Save();
    }

    /// <summary>Writes the journal to <see cref="SavePath"/> (atomically, durably) when it has one.</summary>
    public void Save()
    {
        if (SavePath is not null) AtomicFile.Write(SavePath, ToJson());
    }

    public byte[] ToJson() => JsonText.ToUtf8(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("formatVersion", FormatVersion);
        w.WriteString("state", State);
        w.WriteString("disk", Disk);
        w.WriteString("oldLayout", OldLayout);
        w.WriteString("startedAt", StartedAt.ToString("O", CultureInfo.InvariantCulture));
        if (FinishedAt is { } f) w.WriteString("finishedAt", f.ToString("O", CultureInfo.InvariantCulture));
        w.WriteStartObject("bundle");
        w.WriteString("product", BundleProduct);
        w.WriteString("keyId", BundleKeyId);
        w.WriteString("manifestHash", ManifestHash);
        w.WriteNumber("bytes", BundleBytes);
        DiskRun.WriteJsonArray(w, "runs", BundleRuns);
        w.WriteEndObject();
        w.WriteStartObject("identities");
        w.WriteString("diskGuid", DiskGuid);
        w.WriteString("vgId", VgId);
        w.WriteString("pvId", PvId);
        w.WriteStartObject("lvIds");
        foreach (var (k, v) in LvIds) w.WriteString(k, v);
        w.WriteEndObject();
        w.WriteNumber("lvmTime", LvmTime);
        w.WriteString("lvmHost", LvmHost);
        w.WriteStartArray("filesystems");
        foreach (var fs in Filesystems)
        {
            w.WriteStartObject();
            w.WriteString("volume", fs.Volume);
            w.WriteString("filesystem", fs.Filesystem);
            w.WriteString("uuid", fs.Uuid);
            if (fs.Label is not null) w.WriteString("label", fs.Label);
            if (fs.MountPoint is not null) w.WriteString("mountPoint", fs.MountPoint);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteNumber("rootInitialBytes", RootInitialBytes);
        w.WriteStartObject("unprotectedWindow");
        w.WriteNumber("bytes", UnprotectedWindowBytes);
        w.WriteNumber("milliseconds", UnprotectedWindowMilliseconds);
        w.WriteEndObject();
        if (LastError is not null) w.WriteString("lastError", LastError);
        w.WriteStartArray("steps");
        foreach (var s in Steps)
        {
            w.WriteStartObject();
            w.WriteString("name", s.Name);
            w.WriteString("state", s.State == StepState.Done ? "done" : "pending");
            if (s.OutputHash is not null) w.WriteString("outputHash", s.OutputHash);
            w.WriteString("detail", s.Detail);
            w.WriteString("at", s.At.ToString("O", CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>Parses a journal; <see cref="InvalidDataFormatException"/> naming <paramref name="what"/> when it is not one.</summary>
    public static ConvertJournal Parse(ReadOnlySpan<byte> json, string what)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var r = doc.RootElement;
            int version = r.GetProperty("formatVersion").GetInt32();
            if (version != CurrentFormatVersion)
                throw new InvalidDataFormatException($"{what}: formatVersion {version} is not supported (this nativeinit reads {CurrentFormatVersion})");
            var b = r.GetProperty("bundle");
            var id = r.GetProperty("identities");
            var w = r.GetProperty("unprotectedWindow");
            string state = r.GetProperty("state").GetString()!;
            if (state is not (StateInProgress or StateDone)) throw new InvalidDataFormatException($"{what}: state '{state}' is not {StateInProgress} or {StateDone}");
            var j = new ConvertJournal
            {
                FormatVersion = version,
                State = state,
                Disk = r.GetProperty("disk").GetString()!,
                OldLayout = r.GetProperty("oldLayout").GetString()!,
                StartedAt = DateTime.Parse(r.GetProperty("startedAt").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                FinishedAt = r.TryGetProperty("finishedAt", out var fa)
                    ? DateTime.Parse(fa.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind) : null,
                BundleProduct = b.GetProperty("product").GetString()!,
                BundleKeyId = b.GetProperty("keyId").GetString()!,
                ManifestHash = b.GetProperty("manifestHash").GetString()!,
                BundleBytes = b.GetProperty("bytes").GetInt64(),
                BundleRuns = b.GetProperty("runs").EnumerateArray()
                    .Select(x => new DiskRun(x.GetProperty("diskOffset").GetInt64(), x.GetProperty("length").GetInt64())).ToList(),
                DiskGuid = id.GetProperty("diskGuid").GetString()!,
                VgId = id.GetProperty("vgId").GetString()!,
                PvId = id.GetProperty("pvId").GetString()!,
                LvIds = id.GetProperty("lvIds").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
                LvmTime = id.GetProperty("lvmTime").GetInt64(),
                LvmHost = id.GetProperty("lvmHost").GetString()!,
                Filesystems = id.GetProperty("filesystems").EnumerateArray().Select(x => new PlannedFilesystem(
                    x.GetProperty("volume").GetString()!, x.GetProperty("filesystem").GetString()!, x.GetProperty("uuid").GetString()!,
                    x.TryGetProperty("label", out var l) ? l.GetString() : null,
                    x.TryGetProperty("mountPoint", out var m) ? m.GetString() : null)).ToList(),
                RootInitialBytes = r.GetProperty("rootInitialBytes").GetInt64(),
                UnprotectedWindowBytes = w.GetProperty("bytes").GetInt64(),
                UnprotectedWindowMilliseconds = w.GetProperty("milliseconds").GetInt64(),
                LastError = r.TryGetProperty("lastError", out var le) ? le.GetString() : null,
                Steps = r.GetProperty("steps").EnumerateArray().Select(x => new JournalStep
                {
                    Name = x.GetProperty("name").GetString()!,
                    State = x.GetProperty("state").GetString() switch
                    {
                        "done" => StepState.Done,
                        "pending" => StepState.Pending,
                        var other => throw new InvalidDataFormatException($"{what}: step state '{other}' is not done or pending"),
                    },
                    OutputHash = x.TryGetProperty("outputHash", out var h) ? h.GetString() : null,
                    Detail = x.GetProperty("detail").GetString()!,
                    At = DateTime.Parse(x.GetProperty("at").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                }).ToList(),
            };
            return j;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new InvalidDataFormatException($"{what}: not a readable conversion journal: {e.Message}", e);
        }
    }

    /// <summary>Loads the journal at <paramref name="path"/>. An unreadable one is moved aside as PATH.broken (never
    /// destroyed) and the run stops with exit 4 naming both paths: a conversion was under way, starting over is wrong.</summary>
    public static ConvertJournal Load(string path, bool keepBroken = true)
    {
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            var j = Parse(bytes, path);
            j.SavePath = path;
            return j;
        }
        catch (InvalidDataFormatException e)
        {
            string kept = keepBroken ? AtomicFile.KeepBroken(path) : path;
            throw new NativeInitException($"{e.Message}; a conversion was under way on this disk, and the journal " +
                (keepBroken ? $"was kept as {kept}" : "was left as it is") +
                "; refusing to start over (see docs/recovery.md)", ExitCodes.FailedAfterPointOfNoReturn, e);
        }
    }
}
