using System.Text.Json;

namespace NativeInit.Core.Stage;

/// <summary>One boot-configuration file stage one changes: its path under the root, whether it existed, and the hash,
/// size, copy and mode of its original.</summary>
internal sealed record UndoChange(string Path, bool Existed, string? Hash, long Size, string? Backup, UnixFileMode? Mode);

/// <summary>BOOT/nativeinit/undo.json: what stage one changed outside its directory, written (atomically) before it
/// changes anything there.</summary>
internal static class UndoRecord
{
    public static void Write(string file, string stageRel, IReadOnlyList<UndoChange> changes)
    {
        var json = JsonText.ToUtf8(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("formatVersion", 1);
            w.WriteString("added", stageRel);
            w.WriteString("hashAlgorithm", Bundle.ContentHash.Algorithm);
            w.WriteStartArray("changed");
            foreach (var c in changes)
            {
                w.WriteStartObject();
                w.WriteString("path", c.Path);
                w.WriteBoolean("existed", c.Existed);
                if (c.Existed)
                {
                    w.WriteString("hash", c.Hash);
                    w.WriteNumber("size", c.Size);
                    w.WriteString("copy", c.Backup);
                    if (c.Mode is { } mode) w.WriteNumber("mode", (int)mode);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
        AtomicFile.Write(file, json);
    }

    public static List<UndoChange> Read(string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            var list = new List<UndoChange>();
            foreach (var c in doc.RootElement.GetProperty("changed").EnumerateArray())
            {
                bool existed = c.GetProperty("existed").GetBoolean();
                var path = c.GetProperty("path").GetString()!;
                if (path.StartsWith('/') || path.Split('/').Contains("..")) throw new InvalidDataFormatException($"{file}: path {path} is not inside the root");
                UnixFileMode? mode = c.TryGetProperty("mode", out var m) ? (UnixFileMode)m.GetInt32() : null;
                list.Add(existed
                    ? new UndoChange(path, true, c.GetProperty("hash").GetString(), c.GetProperty("size").GetInt64(), c.GetProperty("copy").GetString(), mode)
                    : new UndoChange(path, false, null, 0, null, null));
            }
            return list;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataFormatException($"{file}: {e.Message}", e);
        }
    }
}

/// <summary>
/// Finding and removing BOOT/nativeinit, also when a run was killed half-way (issue 18). A staging directory is
/// half-written when it has no undo.json (written before any boot-configuration change) or when every file undo.json
/// lists is still byte for byte its original. Removal restores the boot configuration first — grubenv, then
/// custom.cfg, the reverse of the order stage one writes them, each atomically — then renames the directory to
/// nativeinit.removing (so a half-removed directory is never taken for a staging) and deletes it.
/// </summary>
internal static class StagingDirectory
{
    public static bool IsHalfWritten(string root, string stageDir)
    {
        var undoFile = Path.Combine(stageDir, Stager.UndoFileName);
        if (!File.Exists(undoFile)) return true;
        List<UndoChange> changes;
        try { changes = UndoRecord.Read(undoFile); }
        catch (InvalidDataFormatException) { return false; }
        foreach (var c in changes)
        {
            var path = Path.Combine(root, c.Path);
            if (!c.Existed) { if (File.Exists(path)) return false; continue; }
            if (!File.Exists(path) || Blake3.Hasher.Hash(File.ReadAllBytes(path)).ToString() != c.Hash) return false;
        }
        return true;
    }

    /// <summary>Removes a leftover BOOT/nativeinit.removing; true when there was one.</summary>
    public static bool RemoveLeftover(string stageDir)
    {
        var removing = stageDir + Stager.RemovingSuffix;
        if (!Directory.Exists(removing)) return false;
        Directory.Delete(removing, recursive: true);
        AtomicFile.SyncDirectory(Path.GetDirectoryName(stageDir)!);
        return true;
    }

    /// <summary>Restores what undo.json lists (files already equal to their originals are not written; leftover
    /// PATH.tmp files of an interrupted atomic write are removed), then removes the directory.</summary>
    public static void Remove(string root, string stageDir, TextWriter log)
    {
        if (File.Exists(Path.Combine(stageDir, Stager.UndoFileName)))
        {
            var changes = UndoRecord.Read(Path.Combine(stageDir, Stager.UndoFileName));
            // Check every copy before touching anything.
            foreach (var c in changes.Where(c => c.Existed))
            {
                var copy = Path.Combine(root, c.Backup!);
                if (!File.Exists(copy)) throw new NativeInitException($"undo: the copy {copy} of {c.Path} is missing");
                var bytes = File.ReadAllBytes(copy);
                if (Blake3.Hasher.Hash(bytes).ToString() != c.Hash || bytes.Length != c.Size)
                    throw new NativeInitException($"undo: the copy {copy} of {c.Path} does not match the recorded hash");
            }
            // grubenv (the one-shot) first, then custom.cfg: the reverse of the order stage one writes them.
            foreach (var c in changes.OrderBy(c => Path.GetFileName(c.Path) == "grubenv" ? 0 : 1))
            {
                var path = Path.Combine(root, c.Path);
                if (File.Exists(path + ".tmp")) File.Delete(path + ".tmp");
                if (c.Existed)
                {
                    var original = File.ReadAllBytes(Path.Combine(root, c.Backup!));
                    if (!File.Exists(path) || !File.ReadAllBytes(path).AsSpan().SequenceEqual(original))
                    {
                        if (Path.GetFileName(path) == "grubenv") StagedBootEntry.WriteEnvironment(path, original);
                        else AtomicFile.Write(path, original, c.Mode ?? File.GetUnixFileMode(Path.Combine(root, c.Backup!)));
                    }
                    log.WriteLine($"restored {path}");
                }
                else if (File.Exists(path))
                {
                    File.Delete(path);
                    AtomicFile.SyncDirectory(Path.GetDirectoryName(path)!);
                    log.WriteLine($"removed  {path}");
                }
                StageTestHooks.Point("undo-" + Path.GetFileName(path));
            }
        }
        var removing = stageDir + Stager.RemovingSuffix;
        if (Directory.Exists(removing)) Directory.Delete(removing, recursive: true);
        Directory.Move(stageDir, removing);
        AtomicFile.SyncDirectory(Path.GetDirectoryName(stageDir)!);
        StageTestHooks.Point("undo-renamed");
        Directory.Delete(removing, recursive: true);
        AtomicFile.SyncDirectory(Path.GetDirectoryName(stageDir)!);
        log.WriteLine($"removed  {stageDir}/");
    }
}
