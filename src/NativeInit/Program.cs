using NativeInit;
using NativeInit.Cli;
using NativeInit.Core.Boot.Init;

// Messages are best-effort (a hung-up terminal or a full /dev/full never stops or aborts a command).
using var stdout = StandardStreams.CreateMessageWriter(1);
using var stderr = StandardStreams.CreateMessageWriter(2);

// As /init of the minimal initramfs (PID 1, or started as /init without arguments) nativeinit does init's duties.
if (InitProcess.ShouldRun(args)) return new InitProcess(stdout).Run();
return CommandLine.Run(args, Commands.All, stdout, stderr);
