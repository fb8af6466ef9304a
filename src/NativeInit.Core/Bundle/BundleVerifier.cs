using NativeInit.Core.Archive.Tar;

namespace NativeInit.Core.Bundle;

/// <summary>A bundle that fails verification (exit code 3: nothing was written). The message names the first problem.</summary>
public sealed class BundleVerificationException(string message, Exception? inner = null) : RefusedException(message, inner);

/// <summary>Where a part's bytes are: a file of the bundle directory, or a byte range of the single-file bundle.</summary>
public sealed record PartLocation(BundlePart Part, string File, long Offset);

/// <summary>A bundle whose signature and parts have been checked, and how to read its parts.</summary>
public sealed class VerifiedBundle
{
    internal VerifiedBundle(string path, bool singleFile, BundleManifest manifest, byte[] manifestBytes, byte[] signatureBytes,
        string keyId, IReadOnlyDictionary<string, PartLocation> parts, Func<Stream>? open = null)
    {
        _open = open;
        Path = path; IsSingleFile = singleFile; Manifest = manifest; ManifestBytes = manifestBytes; SignatureBytes = signatureBytes;
        KeyId = keyId; Parts = parts;
    }

    private readonly Func<Stream>? _open;

    public string Path { get; }
    public bool IsSingleFile { get; }
    public BundleManifest Manifest { get; }
    public byte[] ManifestBytes { get; }
    public byte[] SignatureBytes { get; }
    /// <summary>Id of the key whose signature verified (null when opened without verification).</summary>
    public string? KeyId { get; }
    public IReadOnlyDictionary<string, PartLocation> Parts { get; }

    /// <summary>Bytes the bundle occupies: the single file's size, or manifest, signature and parts.</summary>
    public long TotalBytes => _open is not null ? StreamLength() : IsSingleFile ? new FileInfo(Path).Length : ManifestBytes.Length + SignatureBytes.Length + Manifest.TotalPartBytes;

    private long StreamLength()
    {
        using var s = _open!();
        return s.Length;
    }

    public Stream OpenPart(BundlePart part)
    {
        if (!Parts.TryGetValue(part.Name, out var loc))
            throw new NativeInitException($"bundle {Path}: part {part.Name} ({part.Role}) is not in this copy of the bundle");
        if (_open is not null)
        {
            var s = _open();
            s.Position = loc.Offset;
            return new BoundedReadStream(s, part.Size);
        }
        var f = new FileStream(loc.File, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        if (!IsSingleFile) return f;
        f.Position = loc.Offset;
        return new BoundedReadStream(f, part.Size);
    }

    public Stream OpenPart(string role) => OpenPart(Manifest.Part(role));
}

/// <summary>
/// Verifies a bundle, directory or single file, in this order: the signature of manifest.json (with the given public
/// key), then each part of the manifest in order: present, size, hash; then that no file is there that the manifest
/// does not list. The first problem found is the exception's message.
/// Single file: an uncompressed tar whose first member is manifest.json and second manifest.sig; it is read in one
/// pass (parts hashed as they stream by), and the problems are then reported in the same order as for a directory.
/// </summary>
public static class BundleVerifier
{
    private const int ManifestMaxBytes = 4 << 20;

    public static bool IsSingleFile(string path) => File.Exists(path);

    public static VerifiedBundle Verify(string path, byte[] publicKey, Action<string>? log = null) =>
        Open(path, publicKey, log);

    /// <summary>Reads the manifest without checking anything (for `bundle show` without a key).</summary>
    public static (BundleManifest Manifest, byte[] ManifestBytes, BundleSignature? Signature) ReadUnverified(string path)
    {
        byte[] m, s;
        if (Directory.Exists(path))
        {
            m = ReadSmall(System.IO.Path.Combine(path, BundleManifest.FileName), path);
            s = File.Exists(System.IO.Path.Combine(path, BundleManifest.SignatureFileName)) ? File.ReadAllBytes(System.IO.Path.Combine(path, BundleManifest.SignatureFileName)) : [];
        }
        else
        {
            using var reader = new TarReader(OpenFile(path));
            (m, s) = ReadManifestMembers(reader, path);
        }
        BundleSignature? sig = null;
        try { if (s.Length > 0) sig = BundleSignature.Parse(s, BundleManifest.SignatureFileName); } catch (BundleVerificationException) { }
        return (BundleManifest.Parse(m), m, sig);
    }

    private static VerifiedBundle Open(string path, byte[] publicKey, Action<string>? log)
    {
        if (Directory.Exists(path)) return VerifyDirectory(path, publicKey, log);
        if (File.Exists(path))
        {
            try { return VerifySingleFile(path, publicKey, log); }
            catch (InvalidDataFormatException e) { throw new BundleVerificationException(e.Message, e); }
        }
        throw new BundleVerificationException($"bundle {path}: {Platform.PosixError.Message(Platform.PosixError.ENOENT)} (ENOENT)");
    }

    private static BundleManifest CheckSignature(byte[] manifestBytes, byte[] sigBytes, byte[] publicKey, string where)
    {
        var sig = BundleSignature.Parse(sigBytes, $"{where}: {BundleManifest.SignatureFileName}");
        string keyId = BundleKeys.KeyId(publicKey);
        if (sig.KeyId != keyId)
            throw new BundleVerificationException(
                $"{where}: {BundleManifest.SignatureFileName} names signing key {sig.KeyId}, but the public key given is {keyId} (wrong public key, or not the vendor's bundle)");
        if (!BundleKeys.Verify(publicKey, manifestBytes, sig.Signature))
            throw new BundleVerificationException(
                $"{where}: bad signature: {BundleManifest.SignatureFileName} does not verify {BundleManifest.FileName} with key {keyId} (one of them was changed)");
        try { return BundleManifest.Parse(manifestBytes); }
        catch (InvalidDataFormatException e) { throw new BundleVerificationException($"{where}: {e.Message}", e); }
    }

    private static VerifiedBundle VerifyDirectory(string dir, byte[] publicKey, Action<string>? log)
    {
        var manifestBytes = ReadSmall(System.IO.Path.Combine(dir, BundleManifest.FileName), dir);
        var sigBytes = ReadSmall(System.IO.Path.Combine(dir, BundleManifest.SignatureFileName), dir);
        var manifest = CheckSignature(manifestBytes, sigBytes, publicKey, dir);
        log?.Invoke($"signature: good (key {BundleKeys.KeyId(publicKey)})");
        var parts = new Dictionary<string, PartLocation>(StringComparer.Ordinal);
        foreach (var part in manifest.Parts)
        {
            parts[part.Name] = CheckPartFile(dir, part);
            log?.Invoke($"part {DisplayText.Of(part.Name)}: {part.Size} bytes, hash good");
        }
        var allowed = new HashSet<string>(manifest.Parts.Select(p => p.Name), StringComparer.Ordinal)
            { BundleManifest.FileName, BundleManifest.SignatureFileName };
        foreach (var f in Directory.EnumerateFileSystemEntries(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Order(StringComparer.Ordinal))
        {
            if (Directory.Exists(f) && new FileInfo(f).LinkTarget is null) continue;
            var rel = System.IO.Path.GetRelativePath(dir, f);
            if (!allowed.Contains(rel)) throw new BundleVerificationException($"{dir}: extra file {rel} is not in the manifest");
        }
        return new VerifiedBundle(dir, false, manifest, manifestBytes, sigBytes, BundleKeys.KeyId(publicKey), parts);
    }

    /// <summary>
    /// Verifies a partial copy of a bundle in a directory: manifest.json and manifest.sig as in a directory bundle,
    /// and every part the manifest lists except those whose role is in <paramref name="leftOut"/> (present, size,
    /// hash; a left-out part may be absent, and opening it later fails naming it). Stage two keeps such a copy on the
    /// new /boot (every part but the rootfs, kernel and initramfs), so that a run resumed after the extraction, when
    /// the bundle's own extents on the disk may already be overwritten, still reads a signed manifest and its parts.
    /// </summary>
    public static VerifiedBundle VerifyKept(string dir, byte[] publicKey, IReadOnlySet<string> leftOut)
    {
        var manifestBytes = ReadSmall(System.IO.Path.Combine(dir, BundleManifest.FileName), dir);
        var sigBytes = ReadSmall(System.IO.Path.Combine(dir, BundleManifest.SignatureFileName), dir);
        var manifest = CheckSignature(manifestBytes, sigBytes, publicKey, dir);
        var parts = new Dictionary<string, PartLocation>(StringComparer.Ordinal);
        foreach (var part in manifest.Parts)
        {
            if (leftOut.Contains(part.Role) && !File.Exists(System.IO.Path.Combine(dir, part.Name))) continue;
            parts[part.Name] = CheckPartFile(dir, part);
        }
        return new VerifiedBundle(dir, false, manifest, manifestBytes, sigBytes, BundleKeys.KeyId(publicKey), parts);
    }

    /// <summary>
    /// Verifies a single-file bundle read through <paramref name="open"/> (a fresh seekable stream per call, e.g. an
    /// <see cref="Disk.ExtentReadStream"/> over the raw disk), so that what was verified is exactly what is read
    /// later: the returned bundle opens its parts through the same function. <paramref name="name"/> names it in messages.
    /// </summary>
    public static VerifiedBundle VerifyStream(Func<Stream> open, string name, byte[] publicKey, Action<string>? log = null)
    {
        try { return VerifySingleFile(name, publicKey, log, open); }
        catch (InvalidDataFormatException e) { throw new BundleVerificationException(e.Message, e); }
    }

    private static VerifiedBundle VerifySingleFile(string file, byte[] publicKey, Action<string>? log, Func<Stream>? open = null)
    {
        using var reader = new TarReader(open is null ? OpenFile(file) : open());
        var (manifestBytes, sigBytes) = ReadManifestMembers(reader, file);
        var manifest = CheckSignature(manifestBytes, sigBytes, publicKey, file);
        log?.Invoke($"signature: good (key {BundleKeys.KeyId(publicKey)})");
        var byName = manifest.Parts.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var found = new Dictionary<string, (long Size, string Hash, long Offset)>(StringComparer.Ordinal);
        var extras = new List<string>();
        try
        {
            while (reader.Next() is { } e)
            {
                if (e.Type == TarEntryType.Directory) continue;
                var name = e.DisplayPath;
                if (name.StartsWith("./", StringComparison.Ordinal)) name = name[2..];
                if (!byName.ContainsKey(name) || e.Type != TarEntryType.Regular || e.IsSparse)
                {
                    extras.Add(name);
                    continue;
                }
                if (found.ContainsKey(name)) throw new BundleVerificationException($"{file}: part {name} appears twice");
                long offset = reader.Position;
                using var hasher = Blake3.Hasher.New();
                long read = 0;
                while (reader.TryReadData(out var chunk))
                {
                    if (chunk.Length >= 1 << 20) hasher.UpdateWithJoin(chunk); else hasher.Update(chunk);
                    read += chunk.Length;
                }
                found[name] = (read, Convert.ToHexStringLower(hasher.Finalize().AsSpan()), offset);
            }
        }
        catch (InvalidDataFormatException x)
        {
            throw new BundleVerificationException($"{file}: the single-file bundle is truncated or damaged: {x.Message}", x);
        }
        var parts = new Dictionary<string, PartLocation>(StringComparer.Ordinal);
        foreach (var part in manifest.Parts)
        {
            if (!found.TryGetValue(part.Name, out var got))
                throw new BundleVerificationException($"{file}: part {part.Name} ({part.Role}) is missing");
            if (got.Size != part.Size)
                throw new BundleVerificationException($"{file}: part {part.Name} ({part.Role}) has {got.Size} bytes, the manifest says {part.Size}");
            if (got.Hash != part.Hash)
                throw new BundleVerificationException($"{file}: part {part.Name} ({part.Role}): {ContentHash.Algorithm} hash differs from the manifest (corrupted or changed)");
            log?.Invoke($"part {DisplayText.Of(part.Name)}: {part.Size} bytes, hash good");
            parts[part.Name] = new PartLocation(part, file, got.Offset);
        }
        if (extras.Count > 0) throw new BundleVerificationException($"{file}: extra file {extras[0]} is not in the manifest");
        return new VerifiedBundle(file, true, manifest, manifestBytes, sigBytes, BundleKeys.KeyId(publicKey), parts, open);
    }

    private static (byte[] Manifest, byte[] Signature) ReadManifestMembers(TarReader reader, string file)
    {
        byte[] Member(string name, int index)
        {
            var e = reader.Next();
            var path = e?.DisplayPath;
            if (e is null || (path != name && path != "./" + name) || e.Type != TarEntryType.Regular)
                throw new BundleVerificationException(e is null && index == 0
                    ? $"{file}: empty single-file bundle"
                    : $"{file}: member {index + 1} must be {name}{(e is null ? "" : $", found {path}")} ({BundleManifest.FileName} and {BundleManifest.SignatureFileName} come first)");
            if (e.Size > ManifestMaxBytes) throw new BundleVerificationException($"{file}: {name} is {e.Size} bytes, too large");
            var data = new byte[e.Size];
            int at = 0;
            while (reader.TryReadData(out var chunk)) { chunk.CopyTo(data.AsSpan(at)); at += chunk.Length; }
            return data;
        }
        try
        {
            return (Member(BundleManifest.FileName, 0), Member(BundleManifest.SignatureFileName, 1));
        }
        catch (InvalidDataFormatException e)
        {
            throw new BundleVerificationException($"{file}: the single-file bundle is truncated or damaged: {e.Message}", e);
        }
    }

    private static FileStream OpenFile(string path)
    {
        try { return new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan); }
        catch (Exception e) when (Platform.IoErrors.IsFileError(e))
        {
            throw new BundleVerificationException($"bundle {path}: {Platform.IoErrors.Reason(e, path)}", e);
        }
    }

    /// <summary>A part of a directory bundle: a regular file (not a symlink) of the manifest's size and hash.</summary>
    private static PartLocation CheckPartFile(string dir, BundlePart part)
    {
        var file = System.IO.Path.Combine(dir, part.Name);
        var fi = new FileInfo(file);
        if (!fi.Exists || fi.LinkTarget is not null)
            throw new BundleVerificationException($"{dir}: part {part.Name} ({part.Role}) is missing");
        if (fi.Length != part.Size)
            throw new BundleVerificationException($"{dir}: part {part.Name} ({part.Role}) has {fi.Length} bytes, the manifest says {part.Size}");
        if (ContentHash.HashFile(file).Hex != part.Hash)
            throw new BundleVerificationException($"{dir}: part {part.Name} ({part.Role}): {ContentHash.Algorithm} hash differs from the manifest (corrupted or changed)");
        return new PartLocation(part, file, 0);
    }

    private static byte[] ReadSmall(string path, string bundle)
    {
        if (!File.Exists(path)) throw new BundleVerificationException($"{bundle}: {System.IO.Path.GetFileName(path)} is missing");
        var len = new FileInfo(path).Length;
        if (len > ManifestMaxBytes) throw new BundleVerificationException($"{bundle}: {System.IO.Path.GetFileName(path)} is {len} bytes, too large");
        return File.ReadAllBytes(path);
    }
}

/// <summary>A read-only window of <paramref name="length"/> bytes from the current position of <paramref name="inner"/>.</summary>
internal sealed class BoundedReadStream(Stream inner, long length) : Stream
{
    private readonly long _length = length;
    private long _left = length;
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _length;
    public override long Position { get => _length - _left; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        if (_left <= 0) return 0;
        int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
        _left -= n;
        return n;
    }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
}
