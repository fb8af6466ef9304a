using System.Globalization;

namespace NativeInit.Core;

/// <summary>Parses and prints byte sizes: "512MiB", "7.8GiB", "4M", "1048576".</summary>
public static class ByteSize
{
    /// <summary>Parses a size with an optional binary (KiB, MiB, GiB, TiB; K, M, G, T) or decimal (kB, MB, GB, TB) suffix.</summary>
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var s = text.Trim();
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0 || !decimal.TryParse(s.AsSpan(0, i), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            return false;
        long unit = s[i..].Trim() switch
        {
            "" or "B" => 1,
            "K" or "KiB" or "k" => 1L << 10,
            "M" or "MiB" => 1L << 20,
            "G" or "GiB" => 1L << 30,
            "T" or "TiB" => 1L << 40,
            "kB" or "KB" => 1000,
            "MB" => 1000_000,
            "GB" => 1000_000_000,
            "TB" => 1000_000_000_000,
            _ => 0,
        };
        if (unit == 0) return false;
        decimal value = number * unit;
        if (value > long.MaxValue) return false;
        bytes = (long)decimal.Floor(value);
        return true;
    }

    public static long Parse(string text, string what) =>
        TryParse(text, out var b) ? b : throw new NativeInitException($"{what}: '{text}' is not a size (examples: 4096, 512MiB, 7.8GiB)", ExitCodes.Usage);

    /// <summary>Human form with a binary unit, e.g. "1.5 GiB".</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.0#} {units[u]}");
    }
}
