using NativeInit;
using NativeInit.Cli;
using NativeInit.Core.Boot.Init;

// As /init of the minimal initramfs (PID 1, or started as /init without arguments) nativeinit does init's duties.
if (InitProcess.ShouldRun(args)) return new InitProcess(Console.Out).Run();
return CommandLine.Run(args, Commands.All, Console.Out, Console.Error);
