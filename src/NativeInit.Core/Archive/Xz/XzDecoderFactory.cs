namespace NativeInit.Core.Archive.Xz;

/// <summary>The one place that picks the xz decoder: NativeInit's own span-based <see cref="XzDecoderStream"/>
/// (SharpCompress's XZStream remains only as a reference decoder in the tests).</summary>
internal static class XzDecoderFactory
{
    public static Stream Open(Stream input, DecoderOptions options) => new XzDecoderStream(input, options);
}
