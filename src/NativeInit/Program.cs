using NativeInit;
using NativeInit.Cli;
using NativeInit.Core.Boot.Init;

using var stdout = StandardStreams.CreateWriter(StandardStreams.OpenOutput());
using var stderr = StandardStreams.CreateWriter(StandardStreams.OpenError());

// As /init of the minimal initramfs (PID 1, or started as /init without arguments) nativeinit does init's duties.
if (InitProcess.ShouldRun(args)) return new InitProcess(stdout).Run();
return CommandLine.Run(args, Commands.All, stdout, stderr);
