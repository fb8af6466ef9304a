using NativeInit.Core;
using NativeInit.Tests.TestSupport;

namespace NativeInit.Tests.Common;

public class RunLogTests
{
    [Fact]
    public void Lines_before_the_file_opens_are_kept_and_file_only_text_stays_off_the_terminal()
    {
        using var tmp = new TempDir();
        var console = new StringWriter();
        var path = tmp.Combine("run.log");
        using (var log = new RunLog(console))
        {
            log.WriteLine("checking");
            log.FileOnly("   at Some.Stack.Trace()");
            log.OpenFile(path);
            log.WriteLine("writing");
            Assert.Equal(path, log.FilePath);
        }
        Assert.Equal("checking\nwriting\n", console.ToString());
        Assert.Equal("checking\n   at Some.Stack.Trace()\nwriting\n", File.ReadAllText(path));
    }

    [Fact]
    public void A_terminal_that_throws_never_stops_the_log()
    {
        using var tmp = new TempDir();
        var path = tmp.Combine("run.log");
        using (var log = new RunLog(new ThrowingWriter()))
        {
            log.OpenFile(path);
            log.WriteLine("still logged");
        }
        Assert.Equal("still logged\n", File.ReadAllText(path));
    }

    [Fact]
    public void A_second_stream_goes_to_its_own_terminal_and_into_the_same_file_in_order()
    {
        using var tmp = new TempDir();
        var path = tmp.Combine("run.log");
        var stdout = new StringWriter();
        using (var log = new RunLog(stdout))
        {
            var stderr = log.Also(new ThrowingWriter()); // standard error hung up: its lines still reach the file
            log.WriteLine("plan");
            stderr.WriteLine("checked");
            log.OpenFile(path);
            stderr.Write("wrote ");
            stderr.WriteLine("the GPT");
            log.WriteLine("done");
            stderr.Flush();
        }
        Assert.Equal("plan\ndone\n", stdout.ToString());
        Assert.Equal("plan\nchecked\nwrote the GPT\ndone\n", File.ReadAllText(path));
    }

    private sealed class ThrowingWriter : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void Write(char value) => throw new IOException("write descriptor 1: EIO");
        public override void Write(string? value) => throw new IOException("write descriptor 1: EIO");
    }
}
