using NativeInit;
using NativeInit.Cli;

return CommandLine.Run(args, Commands.All, Console.Out, Console.Error);
