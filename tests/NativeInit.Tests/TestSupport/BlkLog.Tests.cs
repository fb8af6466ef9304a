using System.Buffers.Binary;
using System.Text;

namespace NativeInit.Tests.TestSupport;

/// <summary>The write-log reader and replay of tools/vm-test powercut (BlkLog.cs), on logs that QEMU's blklogwrites
/// driver writes through qemu-io (no VM) and on hand-made ones.</summary>
public sealed class WriteLogTests
{
    private const int DiskBytes = 1 << 20;

    /// <summary>qemu-io's commands, and what each does to the disk (null: changes nothing, e.g. a flush).</summary>
    private static readonly (string Command, Action<byte[]>? Apply)[] Script =
    [
        ("write -P 0x11 0 4k", d => Fill(d, 0, 4096, 0x11)),
        ("flush", null),
        ("write -P 0x22 8k 4k", d => Fill(d, 8192, 4096, 0x22)),
        ("write -P 0x33 6k 4k", d => Fill(d, 6144, 4096, 0x33)),
        ("flush", null),
        ("write -f -P 0x44 64k 8k", d => Fill(d, 65536, 8192, 0x44)),
        ("discard 0 4k", d => Fill(d, 0, 4096, 0)),
        ("write -z 128k 4k", d => Fill(d, 131072, 4096, 0)),
        ("write -P 0x55 1020k 4k", d => Fill(d, 1020 * 1024, 4096, 0x55)),
        ("flush", null),
    ];

    private static void Fill(byte[] d, int at, int n, byte v) => d.AsSpan(at, n).Fill(v);

    /// <summary>A base disk of 0xa5 bytes (so that a discard or a zero write shows), and its log through qemu-io.</summary>
    private static (string Base, string Log) Record(TempDir dir)
    {
        Tool.Require("qemu-io");
        string disk = dir.Combine("disk.img"), log = dir.Combine("writes.log"), baseImage = dir.Combine("base.img");
        File.WriteAllBytes(baseImage, Enumerable.Repeat((byte)0xa5, DiskBytes).ToArray());
        File.Copy(baseImage, disk);
        File.WriteAllBytes(log, []);
        var args = new List<string> { "--image-opts",
            $"driver=blklogwrites,file.driver=file,file.filename={disk},log.driver=file,log.filename={log},log-append=off" };
        foreach (var (c, _) in Script) args.AddRange(["-c", c]);
        var r = Tool.Run("qemu-io", args);
        Assert.True(r.ExitCode == 0 && !r.Stdout.Contains("error", StringComparison.OrdinalIgnoreCase), r.ToString());
        return (baseImage, log);
    }

    [Fact]
    public void A_qemu_io_log_lists_its_writes_flushes_and_discard_at_their_sectors()
    {
        using var dir = new TempDir();
        var (_, log) = Record(dir);
        var wl = WriteLog.Open(log);
        Assert.Equal(512, wl.SectorSize);
        Assert.Equal(wl.SuperEntries, wl.Entries.Count);
        Assert.Equal(0, wl.TrailingBytes);
        var writes = wl.Entries.Where(e => e.IsWrite).Select(e => (e.Sector, e.Sectors)).ToList();
        Assert.Equal([(0UL, 8UL), (16UL, 8UL), (12UL, 8UL), (128UL, 16UL), (256UL, 8UL), (2040UL, 8UL)], writes);
        var discard = Assert.Single(wl.Entries, e => (e.Flags & WriteLogFlags.Discard) != 0);
        Assert.Equal((0UL, 8UL), (discard.Sector, discard.Sectors));
        Assert.Equal("DISCARD", discard.FlagText);
        Assert.Empty(wl.ReadData(discard));
        // The three flushes of the script, one more for the FUA write (blklogwrites does not do FUA itself: the block
        // layer emulates it with a flush, so the log shows no FUA flag), and qemu-io's own at exit.
        Assert.DoesNotContain(wl.Entries, e => (e.Flags & WriteLogFlags.Fua) != 0);
        Assert.True(wl.Entries.Count(e => e.IsFlush) >= 5, string.Join('\n', wl.List(false)));
        Assert.True(wl.Entries[^1].IsFlush);
        Assert.All(wl.ReadData(wl.Entries.First(e => e.IsWrite && e.Sector == 16)), b => Assert.Equal(0x22, b));
        var lines = wl.List(notes: true).ToList();
        Assert.Equal($"0\t512\tWRITE\t0\t8\t", lines[0]);
        Assert.Equal($"1\t{512 + 512 + 4096}\tFLUSH\t0\t0\t", lines[1]);
    }

    [Fact]
    public void Replaying_to_each_entry_gives_the_disk_as_the_writes_before_it_left_it()
    {
        using var dir = new TempDir();
        var (baseImage, log) = Record(dir);
        var wl = WriteLog.Open(log);
        // The disk after each command of the script (states[0]: the base).
        var states = new List<byte[]> { File.ReadAllBytes(baseImage) };
        foreach (var (_, apply) in Script)
        {
            if (apply is null) continue;
            var next = (byte[])states[^1].Clone();
            apply(next);
            states.Add(next);
        }
        // Every entry's replay is one of these states, in order, the writes one by one (a flush changes nothing).
        int state = 0;
        string output = dir.Combine("replayed.img");
        for (int n = 0; n < wl.Entries.Count; n++)
        {
            File.Delete(output);
            wl.Replay(baseImage, output, n);
            var got = File.ReadAllBytes(output);
            var e = wl.Entries[n];
            if (e.IsWrite || (e.Flags & WriteLogFlags.Discard) != 0) state++;
            Assert.True(got.AsSpan().SequenceEqual(states[state]),
                $"replayed to entry {n} ({e.FlagText} {e.Sector}+{e.Sectors}): not the disk after step {state} of the script\n" + string.Join('\n', wl.List(false)));
        }
        Assert.Equal(states.Count - 1, state);
        Assert.Equal(File.ReadAllBytes(dir.Combine("disk.img")), File.ReadAllBytes(output));
        // A replay that goes forward entry by entry on one copy gives the same disks.
        state = 0;
        using (var step = wl.StartReplay(baseImage, dir.Combine("stepped.img")))
        {
            Assert.Equal(-1, step.Applied);
            Assert.True(File.ReadAllBytes(step.Output).AsSpan().SequenceEqual(states[0]));
            for (int n = 0; n < wl.Entries.Count; n++)
            {
                step.ApplyThrough(n);
                var e = wl.Entries[n];
                if (e.IsWrite || (e.Flags & WriteLogFlags.Discard) != 0) state++;
                Assert.True(File.ReadAllBytes(step.Output).AsSpan().SequenceEqual(states[state]), $"stepped to entry {n}: not the disk after step {state}");
            }
            Assert.Contains("a replay only goes forward", Assert.Throws<ArgumentOutOfRangeException>(() => step.ApplyThrough(0)).Message);
        }
        // The base is untouched by a replay.
        Assert.All(File.ReadAllBytes(baseImage), b => Assert.Equal(0xa5, b));
    }

    [Fact]
    public void A_mark_entry_carries_its_text_and_changes_nothing_on_replay()
    {
        using var dir = new TempDir();
        string log = dir.Combine("marked.log"), baseImage = dir.Combine("base.img"), output = dir.Combine("out.img");
        File.WriteAllBytes(baseImage, new byte[8192]);
        // super block, a write of sector 2 (0x7e), a mark "before-cut", a flush (the kernel's dm-log-writes layout).
        var bytes = new List<byte>();
        bytes.AddRange(Sector(s => { Le64(s, 0, WriteLog.Magic); Le64(s, 8, 1); Le64(s, 16, 3); BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(24), 512); }));
        bytes.AddRange(Sector(s => { Le64(s, 0, 2); Le64(s, 8, 1); }));
        bytes.AddRange(Enumerable.Repeat((byte)0x7e, 512));
        bytes.AddRange(Sector(s => { Le64(s, 16, (ulong)WriteLogFlags.Mark); Le64(s, 24, 10); Encoding.ASCII.GetBytes("before-cut").CopyTo(s, 32); }));
        bytes.AddRange(Sector(s => Le64(s, 16, (ulong)WriteLogFlags.Flush)));
        File.WriteAllBytes(log, bytes.ToArray());
        var wl = WriteLog.Open(log);
        Assert.Equal(["0\t512\tWRITE\t2\t1\t", "1\t1536\tMARK\t0\t0\tmark before-cut", "2\t2048\tFLUSH\t0\t0\t"], wl.List(false));
        wl.Replay(baseImage, output, 1);
        var got = File.ReadAllBytes(output);
        Assert.All(got.AsSpan(1024, 512).ToArray(), b => Assert.Equal(0x7e, b));
        Assert.Equal(8192 - 512, got.Count(b => b == 0));
    }

    [Fact]
    public void A_damaged_log_or_a_point_past_its_end_is_refused_with_the_reason()
    {
        using var dir = new TempDir();
        string log = dir.Combine("bad.log"), baseImage = dir.Combine("base.img");
        File.WriteAllBytes(baseImage, new byte[4096]);
        // Counts two entries, holds one whose data is cut short.
        var bytes = new List<byte>();
        bytes.AddRange(Sector(s => { Le64(s, 0, WriteLog.Magic); Le64(s, 8, 1); Le64(s, 16, 2); BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(24), 512); }));
        bytes.AddRange(Sector(s => { Le64(s, 0, 0); Le64(s, 8, 4); }));
        bytes.AddRange(new byte[1024]);
        File.WriteAllBytes(log, bytes.ToArray());
        var ex = Assert.Throws<InvalidDataException>(() => WriteLog.Open(log));
        Assert.Contains("entry 0 at byte 512: its 4 sectors end at byte 3072, past the log's end (2048)", ex.Message);

        bytes[0] ^= 0xff;
        File.WriteAllBytes(log, bytes.ToArray());
        Assert.Contains("is not dm-log-writes' 0x6a736677736872", Assert.Throws<InvalidDataException>(() => WriteLog.Open(log)).Message);

        bytes[0] ^= 0xff;
        bytes.AddRange(new byte[1024]); // the data complete; the second entry flags an unknown bit
        bytes.AddRange(Sector(s => Le64(s, 16, 0x100)));
        File.WriteAllBytes(log, bytes.ToArray());
        Assert.Contains("entry 1 at byte 3072 has unknown flags 0x100", Assert.Throws<InvalidDataException>(() => WriteLog.Open(log)).Message);

        BinaryPrimitives.WriteUInt64LittleEndian(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)[16..], 1);
        File.WriteAllBytes(log, bytes.ToArray());
        var wl = WriteLog.Open(log);
        Assert.Single(wl.Entries);
        Assert.Equal(512, wl.TrailingBytes);
        var stderr = new StringWriter();
        Assert.Equal(1, WriteLog.Run(["replay", log, baseImage, dir.Combine("out.img"), "--to", "1"], TextWriter.Null, stderr));
        Assert.Contains("entry 1 does not exist (entries 0 to 0)", stderr.ToString());
        Assert.Equal(2, WriteLog.Run(["replay", log], TextWriter.Null, TextWriter.Null));
        // A log that writes past the end of the disk given is not this disk's log.
        File.WriteAllBytes(baseImage, new byte[1024]);
        stderr = new StringWriter();
        Assert.Equal(1, WriteLog.Run(["replay", log, baseImage, dir.Combine("out2.img"), "--to", "0"], TextWriter.Null, stderr));
        Assert.Contains("past the end of", stderr.ToString());
    }

    [Fact]
    public void Writes_of_the_conversion_journal_grubenv_and_a_gpt_header_are_named()
    {
        string json = """
            {
              "formatVersion": 1,
              "state": "in-progress",
              "oldLayout": "mbr-xfs",
              "steps": [
                { "name": "partition-table", "state": "done" },
                { "name": "boot-filesystem", "state": "done" },
                { "name": "lvm", "state": "pending" }
              ]
            }
            """;
        Assert.Equal("in-progress; done: partition-table boot-filesystem; pending: lvm", WriteLog.DescribeJournal(Encoding.UTF8.GetBytes(json)));
        Assert.StartsWith("unreadable", WriteLog.DescribeJournal(Encoding.UTF8.GetBytes(json[..60])));

        using var dir = new TempDir();
        string log = dir.Combine("journal.log");
        var block = new byte[4096];
        Encoding.UTF8.GetBytes(json).CopyTo(block, 0);
        var bytes = new List<byte>();
        bytes.AddRange(Sector(s => { Le64(s, 0, WriteLog.Magic); Le64(s, 8, 1); Le64(s, 16, 2); BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(24), 512); }));
        bytes.AddRange(Sector(s => { Le64(s, 0, 64); Le64(s, 8, 8); }));
        bytes.AddRange(block);
        bytes.AddRange(Sector(s => { Le64(s, 0, 80); Le64(s, 8, 8); }));
        bytes.AddRange(Enumerable.Repeat((byte)'{', 4096));
        // GRUB's environment block with the one-shot entry, and a GPT header written with the protective MBR
        var env = new byte[1024];
        env.AsSpan().Fill((byte)'#');
        Encoding.ASCII.GetBytes("# GRUB Environment Block\n# WARNING: ...\nnext_entry=nativeinit-convert\n").CopyTo(env, 0);
        bytes.AddRange(Sector(s => { Le64(s, 0, 96); Le64(s, 8, 2); }));
        bytes.AddRange(env);
        bytes.AddRange(Sector(s => { Le64(s, 0, 0); Le64(s, 8, 2); }));
        bytes.AddRange(new byte[512]);
        bytes.AddRange(Sector(s => Encoding.ASCII.GetBytes("EFI PART").CopyTo(s, 0)));
        BinaryPrimitives.WriteUInt64LittleEndian(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)[16..], 4);
        File.WriteAllBytes(log, bytes.ToArray());
        var lines = WriteLog.Open(log).List(notes: true).ToList();
        Assert.EndsWith("\tjournal in-progress; done: partition-table boot-filesystem; pending: lvm", lines[0]);
        Assert.EndsWith("\t", lines[1]);
        Assert.EndsWith("\tgrubenv next_entry=nativeinit-convert", lines[2]);
        Assert.Equal($"3\t{512 + 2 * 4608 + 1536}\tWRITE\t0\t2\tgpt header", lines[3]);
        Assert.DoesNotContain(WriteLog.Open(log).List(notes: false), l => !l.EndsWith('\t'));
    }

    [Fact]
    public void A_grubenv_write_of_the_AB_variables_is_named_with_their_values()
    {
        using var dir = new TempDir();
        string log = dir.Combine("ab.log");
        // As NativeInit's update leaves it (grub-editenv's format) and as GRUB's save_env writes it: its first sector only.
        var env = new byte[1024];
        env.AsSpan().Fill((byte)'#');
        Encoding.ASCII.GetBytes("# GRUB Environment Block\nORDER=B A\nA_OK=1\nA_TRIES=3\nB_OK=1\nB_TRIES=1\nnote=a\\\\b\n").CopyTo(env, 0);
        var bytes = new List<byte>();
        bytes.AddRange(Sector(s => { Le64(s, 0, WriteLog.Magic); Le64(s, 8, 1); Le64(s, 16, 2); BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(24), 512); }));
        bytes.AddRange(Sector(s => { Le64(s, 0, 8); Le64(s, 8, 2); }));
        bytes.AddRange(env);
        bytes.AddRange(Sector(s => { Le64(s, 0, 8); Le64(s, 8, 1); }));
        bytes.AddRange(env.AsSpan(0, 512).ToArray());
        File.WriteAllBytes(log, bytes.ToArray());
        var wl = WriteLog.Open(log);
        var lines = wl.List(notes: true).ToList();
        Assert.EndsWith("\tgrubenv ORDER=\"B A\" A_OK=1 A_TRIES=3 B_OK=1 B_TRIES=1", lines[0]);
        Assert.EndsWith("\tgrubenv ORDER=\"B A\" A_OK=1 A_TRIES=3 B_OK=1 B_TRIES=1", lines[1]);
        var vars = WriteLog.GrubEnvVariables(wl.ReadData(wl.Entries[0]))!;
        Assert.Equal("a\\b", vars["note"]);
        Assert.Equal(6, vars.Count);
        Assert.Null(WriteLog.GrubEnvVariables(new byte[512]));
    }

    private static byte[] Sector(Action<byte[]> fill)
    {
        var s = new byte[512];
        fill(s);
        return s;
    }

    private static void Le64(byte[] s, int at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(at), v);
}
