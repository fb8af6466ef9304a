using NativeInit.Cli;

namespace NativeInit;

/// <summary>Every command of the CLI, in the order `nativeinit --help` lists them.</summary>
internal static class Commands
{
    public static readonly CommandSpec[] All =
    [
        ExtractCommand.Spec,
        GptCommand.Show,
        GptCommand.Apply,
        LvmShowCommand.Spec,
        LvmActivateCommand.Activate,
        LvmActivateCommand.Deactivate,
        LayoutCommand.Plan,
        LayoutCommand.Apply,
        LayoutCommand.Grow,
        BundleCommands.Keygen, BundleCommands.Create, BundleCommands.Verify, BundleCommands.Show,
        StageCommand.Spec,
        ConvertCommand.Convert,
        ConvertCommand.Status,
        ConvertCommand.Grow,
        DecompressCommand.Spec,
        SelftestCommand.Spec,
        InitramfsCommand.Spec,
        SlotsCommands.Slots, SlotsCommands.MarkGood,
        UpdateCommand.Spec,
        CompletionCommand.Spec,
    ];
}
