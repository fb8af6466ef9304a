using System.Buffers.Binary;
using System.Text.Json;

namespace NativeInit.Core.Bundle;

/// <summary>
/// The little the bundle needs from the layout file (issue 3; the layout engine owns the format): the relative path
/// of the partition table, and from that <c>sgdisk --backup</c> file the smallest disk it fits. The layout itself is
/// an opaque part.
/// </summary>
public static class LayoutFacts
{
    public static string PartitionTablePath(string layoutFile)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(layoutFile));
            if (doc.RootElement.ValueKind == JsonValueKind.Object &&
                doc.RootElement.TryGetProperty("partitionTable", out var p) && p.ValueKind == JsonValueKind.String &&
                p.GetString() is { Length: > 0 } s)
                return s;
            throw new InvalidDataFormatException($"layout {layoutFile}: no \"partitionTable\" string");
        }
        catch (JsonException e)
        {
            throw new InvalidDataFormatException($"layout {layoutFile}: {JsonErrors.Reason(e)}", e);
        }
    }
}
