// tools/blklog: the command line of TestSupport/BlkLog.cs (info, list, replay); see tools/vm-test powercut.
return NativeInit.Tests.TestSupport.WriteLog.Run(args, Console.Out, Console.Error);
