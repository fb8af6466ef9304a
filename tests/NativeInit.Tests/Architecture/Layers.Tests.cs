using NetArchTest.Rules;

namespace NativeInit.Tests.Architecture;

/// <summary>
/// The layers of docs/architecture.md, checked on the compiled Core assembly with NetArchTest: no type may reference
/// a type of a higher layer, nor of a sibling in its own layer, and the sub-folders split to break cycles stay split.
/// The CLI (assembly nativeinit) is the top layer: Core cannot reference it (no project reference).
/// </summary>
public class LayersTests
{
    private const string Core = "NativeInit.Core";

    /// <summary>Lowest first; the folders of one row are siblings that do not use each other.</summary>
    public static readonly string[][] Layers =
    [
        ["Platform"],
        [""], // Common: the types of namespace NativeInit.Core itself (folder Common/)
        ["Archive", "Disk", "Lvm"],
        ["Layout"],
        ["Bundle", "Carry", "Boot"],
        ["Stage", "Conversion", "Update"],
    ];

    /// <summary>Known references against the order, each with the helper branch that removes it. Keep it short.</summary>
    private static readonly (string From, string To, string Why)[] Allowed = [];

    public static TheoryData<string> Folders()
    {
        var d = new TheoryData<string>();
        foreach (var f in Layers.SelectMany(l => l)) d.Add(f);
        return d;
    }

    private static string Ns(string folder) => folder.Length == 0 ? Core : $"{Core}.{folder}";

    /// <summary>The types of one folder and its sub-folders (namespace prefix on a dot boundary: Boot.Init is not
    /// Boot.Initramfs); for Common ("") only the namespace NativeInit.Core itself.</summary>
    private static PredicateList In(string folder)
    {
        string ns = System.Text.RegularExpressions.Regex.Escape(Ns(folder));
        return Types.InAssembly(typeof(Core.ExitCodes).Assembly).That()
            .ResideInNamespaceMatching(folder.Length == 0 ? $"^{ns}$" : $"^{ns}(\\..*)?$");
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void A_layer_uses_only_the_layers_below_it(string folder)
    {
        int level = Array.FindIndex(Layers, l => l.Contains(folder));
        var forbidden = Layers.Skip(level).SelectMany(l => l).Where(f => f != folder && f.Length > 0)
            .Where(f => !Allowed.Any(a => a.From == folder && a.To == f))
            .Select(Ns).ToArray();
        if (forbidden.Length == 0) return;
        var result = In(folder).ShouldNot().HaveDependencyOnAny(forbidden).GetResult();
        Assert.True(result.IsSuccessful,
            $"{Ns(folder)} references a layer at or above its own ({string.Join(", ", forbidden)}): " +
            string.Join(", ", result.FailingTypeNames ?? []));
    }

    [Theory]
    [InlineData("Boot.Init", "Boot.Initramfs")]       // the builder knows what /init reads, not the other way round
    [InlineData("Disk.Mbr", "Disk.Gpt")]              // GPT builds on the MBR format (protective MBR)
    [InlineData("Disk.Filesystems", "Disk.Gpt")]      // the GPT plan probes filesystems, not the other way round
    [InlineData("Bundle", "Boot")]
    public void A_sub_folder_does_not_use_the_one_above_it(string lower, string upper)
    {
        var result = In(lower).ShouldNot().HaveDependencyOn(Ns(upper)).GetResult();
        Assert.True(result.IsSuccessful, $"{Ns(lower)} references {Ns(upper)}: " + string.Join(", ", result.FailingTypeNames ?? []));
    }

    [Fact]
    public void The_rule_catches_a_reference_upwards()
    {
        // Layout uses Lvm (below it): asking the opposite rule of Layout must fail, or the checks above prove nothing.
        var result = In("Layout").ShouldNot().HaveDependencyOn(Ns("Lvm")).GetResult();
        Assert.False(result.IsSuccessful);
    }
}
