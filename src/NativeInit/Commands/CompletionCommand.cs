using NativeInit.Cli;
using NativeInit.Core;

namespace NativeInit;

/// <summary>`nativeinit completion bash`: prints a bash completion script. The script asks nativeinit itself what
/// fits the word under the cursor (System.CommandLine's [suggest:POSITION] directive over the command tree), so it
/// never lists a command or an option that the binary does not have.</summary>
internal static class CompletionCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "completion",
        Summary = "print a shell completion script (bash): source <(nativeinit completion bash)",
        Usage = "completion SHELL",
        MinArguments = 1,
        MaxArguments = 1,
        ArgumentValues = ["bash"],
        Description = "SHELL is bash. To complete nativeinit's commands and options in every new shell, add this line to ~/.bashrc:\n" +
            "  source <(nativeinit completion bash)\n" +
            "Words that are not commands or options (files, devices) complete as file names.",
        Run = Run,
    };

    /// <summary>
    /// The line before the cursor, less the program's own word (so the script works for a path such as
    /// ./nativeinit too), goes to `nativeinit [suggest:N] LINE`, which prints one candidate a line; compgen keeps
    /// those that start with the current word; options only when the word starts with '-'. With none, bash falls
    /// back to file names (-o default), so `nativeinit gpt show /dev/s[TAB]` completes a path.
    /// </summary>
    public const string BashScript = """
        # bash completion for nativeinit (source <(nativeinit completion bash))
        _nativeinit_complete()
        {
            local line="${COMP_LINE:0:COMP_POINT}"
            line="${line#"${COMP_WORDS[0]}"}"
            line="${line#"${line%%[![:space:]]*}"}"
            local IFS=$'\n'
            local cur="${COMP_WORDS[COMP_CWORD]}"
            if [[ ${line} == *[[:space:]] ]]; then cur=""; fi
            local candidates word words=()
            candidates="$("${COMP_WORDS[0]}" "[suggest:${#line}]" "${line}" 2>/dev/null)"
            for word in ${candidates}; do
                [[ ${cur} != -* && ${word} == -* ]] || words+=("${word}")
            done
            COMPREPLY=($(compgen -W "${words[*]}" -- "${cur}" || true))
        }
        complete -o default -F _nativeinit_complete nativeinit
        """;

    private static int Run(ParsedArgs args, CommandContext ctx)
    {
        if (args.Arguments[0] != "bash") throw new UsageException($"'{args.Arguments[0]}' is not a supported shell (bash is)");
        ctx.Out.WriteLine(BashScript);
        return ExitCodes.Success;
    }
}
