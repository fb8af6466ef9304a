using NativeInit.Cli;

namespace NativeInit;

/// <summary>Every command of the CLI, in the order `nativeinit --help` lists them.</summary>
internal static class Commands
{
    public static readonly CommandSpec[] All =
    [
        ExtractCommand.Spec,
        SelftestCommand.Spec,
        InitramfsCommand.Spec,
    ];
}
