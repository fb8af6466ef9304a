using System.Text;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using NativeInit.Core.Platform;

namespace NativeInit.Core.Bundle;

/// <summary>
/// Ed25519 keys (RFC 8032) through BouncyCastle's managed implementation (no OpenSSL at run time). Key files are
/// PEM-like text: a BEGIN line, the base64 of the raw key (32-byte seed for the private key, 32-byte point for the
/// public key), an END line. Lines starting with '#' and blank lines are ignored:
/// <code>
/// -----BEGIN NATIVEINIT ED25519 PUBLIC KEY-----
/// 3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
/// -----END NATIVEINIT ED25519 PUBLIC KEY-----
/// </code>
/// The key id is the first 8 bytes of the BLAKE3 hash of the public key, in hex; signatures name it.
/// </summary>
public static class BundleKeys
{
    public const string PublicLabel = "NATIVEINIT ED25519 PUBLIC KEY";
    public const string PrivateLabel = "NATIVEINIT ED25519 PRIVATE KEY";
    public const int KeyLength = 32, SignatureLength = 64;

    /// <summary>A new key pair from the kernel's random source (/dev/urandom).</summary>
    public static (byte[] PrivateSeed, byte[] PublicKey) Generate()
    {
        var seed = new byte[KeyLength];
        using (var r = File.OpenRead("/dev/urandom")) r.ReadExactly(seed);
        return (seed, PublicFromPrivate(seed));
    }

    public static byte[] PublicFromPrivate(byte[] seed) => new Ed25519PrivateKeyParameters(seed, 0).GeneratePublicKey().GetEncoded();

    public static string KeyId(ReadOnlySpan<byte> publicKey) =>
        Convert.ToHexStringLower(Blake3.Hasher.Hash(publicKey).AsSpan()[..8]);

    public static string ToText(string label, byte[] key) =>
        $"-----BEGIN {label}-----\n{Convert.ToBase64String(key)}\n-----END {label}-----\n";

    public static byte[] ReadPublic(string path) => Read(path, PublicLabel);

    public static byte[] ReadPrivate(string path) => Read(path, PrivateLabel);

    public static void WriteFiles(string privatePath, string publicPath, byte[] seed, byte[] publicKey)
    {
        foreach (var p in new[] { privatePath, publicPath })
        {
            IoErrors.RequireCreatable("key file", p);
            if (File.Exists(p)) throw new NativeInitException($"{p}: exists already; not overwriting a key", ExitCodes.Refused);
        }
        using (var f = new FileStream(privatePath, new FileStreamOptions
               {
                   Mode = FileMode.CreateNew, Access = FileAccess.Write,
                   UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
               }))
            f.Write(Encoding.ASCII.GetBytes(ToText(PrivateLabel, seed)));
        File.WriteAllText(publicPath, $"# key id {KeyId(publicKey)}\n" + ToText(PublicLabel, publicKey));
    }

    private static byte[] Read(string path, string label)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw IoErrors.Refuse("key file", path, e);
        }
        var lines = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        string begin = $"-----BEGIN {label}-----", end = $"-----END {label}-----";
        int b = lines.IndexOf(begin), e2 = lines.IndexOf(end);
        if (b < 0 || e2 < b + 1)
        {
            string other = label == PublicLabel ? PrivateLabel : PublicLabel;
            throw new NativeInitException(lines.Contains($"-----BEGIN {other}-----")
                ? $"key file {path}: holds a {(other == PrivateLabel ? "private" : "public")} key; a {(label == PrivateLabel ? "private" : "public")} key is needed"
                : $"key file {path}: no '{begin}' block", ExitCodes.Refused);
        }
        byte[] key;
        try { key = Convert.FromBase64String(string.Concat(lines.Skip(b + 1).Take(e2 - b - 1))); }
        catch (FormatException) { throw new NativeInitException($"key file {path}: the key is not base64", ExitCodes.Refused); }
        if (key.Length != KeyLength) throw new NativeInitException($"key file {path}: an Ed25519 key has {KeyLength} bytes, this one {key.Length}", ExitCodes.Refused);
        return key;
    }

    public static byte[] Sign(byte[] seed, ReadOnlySpan<byte> message)
    {
        var signer = new Ed25519Signer();
        signer.Init(true, new Ed25519PrivateKeyParameters(seed, 0));
        signer.BlockUpdate(message);
        return signer.GenerateSignature();
    }

    public static bool Verify(byte[] publicKey, ReadOnlySpan<byte> message, byte[] signature)
    {
        if (signature.Length != SignatureLength) return false;
        var verifier = new Ed25519Signer();
        verifier.Init(false, new Ed25519PublicKeyParameters(publicKey, 0));
        verifier.BlockUpdate(message);
        return verifier.VerifySignature(signature);
    }
}

/// <summary>
/// manifest.sig: four text lines, the signature covering the exact bytes of manifest.json.
/// <code>
/// nativeinit-signature-v1
/// algorithm: ed25519
/// key-id: 0123456789abcdef
/// signature: BASE64(64 bytes)
/// </code>
/// </summary>
public sealed record BundleSignature(string KeyId, byte[] Signature)
{
    public const string Magic = "nativeinit-signature-v1";

    public string ToText() => $"{Magic}\nalgorithm: ed25519\nkey-id: {KeyId}\nsignature: {Convert.ToBase64String(Signature)}\n";

    public static BundleSignature Parse(ReadOnlySpan<byte> bytes, string where)
    {
        var text = Encoding.UTF8.GetString(bytes);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length < 4 || lines[0] != Magic) throw Bad(where, $"does not start with '{Magic}'");
        string? Field(string name) => lines.Skip(1).Where(l => l.StartsWith(name + ": ", StringComparison.Ordinal)).Select(l => l[(name.Length + 2)..]).FirstOrDefault();
        if (Field("algorithm") != "ed25519") throw Bad(where, "algorithm is not ed25519");
        var id = Field("key-id") ?? throw Bad(where, "no key-id line");
        var sig = Field("signature") ?? throw Bad(where, "no signature line");
        byte[] raw;
        try { raw = Convert.FromBase64String(sig); }
        catch (FormatException) { throw Bad(where, "the signature is not base64"); }
        if (raw.Length != BundleKeys.SignatureLength) throw Bad(where, $"the signature has {raw.Length} bytes, not {BundleKeys.SignatureLength}");
        return new BundleSignature(id, raw);
    }

    private static BundleVerificationException Bad(string where, string why) => new($"{where}: malformed signature file: {why}");
}
