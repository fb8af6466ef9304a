using NativeInit.Core;
using NativeInit.Core.Carry;
using NativeInit.Core.Conversion;
using NativeInit.Core.Disk;
using NativeInit.Core.Layout;

namespace NativeInit.Tests.Conversion;

public class ConvertJournalTests
{
    private static ConvertJournal Sample() => new()
    {
        Disk = "/tmp/disk.img",
        OldLayout = "(a) MBR with one root partition",
        BundleProduct = "gateway 2.0",
        BundleKeyId = "abcd",
        ManifestHash = new string('1', 64),
        BundleRuns = [new DiskRun(1 << 30, 4096), new DiskRun(2L << 30, 123)],
        BundleBytes = 4096 + 123,
        DiskGuid = Guid.NewGuid().ToString(),
        VgId = "vg-id", PvId = "pv-id",
        LvIds = new Dictionary<string, string> { ["root"] = "lv-root", ["data"] = "lv-data" },
        LvmTime = 1700000000, LvmHost = "host",
        Filesystems = [new PlannedFilesystem("partition 2", "xfs", Guid.NewGuid().ToString(), "boot", "/boot"),
            new PlannedFilesystem("lv root", "xfs", Guid.NewGuid().ToString(), null, "/")],
        RootInitialBytes = 512L << 20,
    };

    [Fact]
    public void Round_trips_every_field()
    {
        var j = Sample();
        j.MarkPending("partition-table");
        j.MarkDone("partition-table", "GPT", "hash1");
        j.MarkPending("boot-filesystem");
        j.UnprotectedWindowBytes = 12345;
        j.UnprotectedWindowMilliseconds = 67;
        j.LastError = "boom";
        var back = ConvertJournal.Parse(j.ToJson(), "test");
        Assert.Equal(j.ToJson(), back.ToJson());
        Assert.True(back.IsDone("partition-table"));
        Assert.False(back.IsDone("boot-filesystem"));
        Assert.Equal("boot-filesystem", back.Current!.Name);
        Assert.Equal(StepState.Pending, back.Current.State);
        Assert.Equal(j.BundleRuns, back.BundleRuns);
        Assert.Equal("lv-data", back.LvIds["data"]);
        Assert.Equal(12345, back.UnprotectedWindowBytes);
    }

    [Fact]
    public void Saves_atomically_once_it_has_a_place_and_not_before()
    {
        string dir = Directory.CreateTempSubdirectory("journal-").FullName;
        try
        {
            var j = Sample();
            j.MarkPending("a");
            Assert.Empty(Directory.GetFiles(dir));
            j.SavePath = Path.Combine(dir, ConvertJournal.FileName);
            j.MarkDone("a", "ok", null);
            var loaded = ConvertJournal.Load(j.SavePath);
            Assert.True(loaded.IsDone("a"));
            Assert.Equal([ConvertJournal.FileName], Directory.GetFiles(dir).Select(Path.GetFileName));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void An_unreadable_journal_is_kept_as_broken_and_the_run_stops_with_exit_4()
    {
        string dir = Directory.CreateTempSubdirectory("journal-").FullName;
        try
        {
            string path = Path.Combine(dir, ConvertJournal.FileName);
            var bytes = Sample().ToJson();
            File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
            var e = Assert.ThrowsAny<NativeInitException>(() => ConvertJournal.Load(path));
            Assert.Equal(ExitCodes.FailedAfterPointOfNoReturn, e.ExitCode);
            Assert.Contains(path + ".broken", e.Message);
            Assert.False(File.Exists(path));
            Assert.Equal(bytes[..(bytes.Length / 2)], File.ReadAllBytes(path + ".broken"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_journal_of_another_format_version_is_refused_by_name()
    {
        var text = System.Text.Encoding.UTF8.GetString(Sample().ToJson()).Replace("\"formatVersion\": 1", "\"formatVersion\": 9");
        var e = Assert.Throws<InvalidDataFormatException>(() => ConvertJournal.Parse(System.Text.Encoding.UTF8.GetBytes(text), "J"));
        Assert.Contains("formatVersion 9", e.Message);
    }
}

public class StepRunnerTests
{
    private sealed class RecordingJournal : IStepJournal
    {
        public readonly List<string> Log = [];
        public readonly HashSet<string> Done = [];
        public bool IsDone(string step) => Done.Contains(step);
        public void MarkPending(string step) => Log.Add("pending " + step);
        public void MarkDone(string step, string detail, string? outputHash) { Log.Add($"done {step} {detail} {outputHash}"); Done.Add(step); }
    }

    [Fact]
    public void Writes_pending_before_the_body_and_done_after_it()
    {
        var j = new RecordingJournal();
        var events = new List<StepEvent>();
        var r = new StepRunner(j, TextWriter.Null, events.Add);
        r.Run("one", () => { j.Log.Add("body one"); return ("d1", "h1"); });
        Assert.Equal(["pending one", "body one", "done one d1 h1"], j.Log);
        Assert.Equal(["start", "done"], events.Select(e => e.Kind));
    }

    [Fact]
    public void Skips_a_step_the_journal_has_as_done()
    {
        var j = new RecordingJournal();
        j.Done.Add("one");
        var output = new StringWriter();
        new StepRunner(j, output).Run("one", () => throw new InvalidOperationException("must not run"));
        Assert.Empty(j.Log);
        Assert.Contains("one: done earlier, skipped", output.ToString());
    }

    [Fact]
    public void A_failure_names_the_step_keeps_its_exit_code_and_leaves_it_pending()
    {
        var j = new RecordingJournal();
        var r = new StepRunner(j, TextWriter.Null);
        var e = Assert.Throws<NativeInitException>(() => r.Run("mkfs", () => throw new RefusedException("no mkfs.xfs")));
        Assert.Equal("step mkfs: no mkfs.xfs", e.Message);
        Assert.Equal(ExitCodes.Refused, e.ExitCode);
        Assert.Equal(["pending mkfs"], j.Log);
        var io = Assert.Throws<NativeInitException>(() => r.Run("write", () => throw new IOException("disk gone")));
        Assert.Equal(ExitCodes.Failure, io.ExitCode);
        Assert.Contains("step write: disk gone", io.Message);
    }
}

public class ExtentReadStreamTests
{
    [Fact]
    public void Reads_runs_in_order_across_boundaries_and_seeks()
    {
        string path = Path.GetTempFileName();
        try
        {
            var disk = new byte[10000];
            new Random(5).NextBytes(disk);
            File.WriteAllBytes(path, disk);
            DiskRun[] runs = [new(8000, 1000), new(100, 50), new(3000, 2000)];
            var expect = disk.AsSpan(8000, 1000).ToArray().Concat(disk.AsSpan(100, 50).ToArray()).Concat(disk.AsSpan(3000, 2000).ToArray()).ToArray();
            using var s = ExtentReadStream.Open(path, runs);
            Assert.Equal(3050, s.Length);
            var got = new MemoryStream();
            var buf = new byte[777];
            int n;
            while ((n = s.Read(buf)) > 0) got.Write(buf, 0, n);
            Assert.Equal(expect, got.ToArray());
            s.Position = 990;
            var mid = new byte[30];
            s.ReadExactly(mid);
            Assert.Equal(expect.AsSpan(990, 30).ToArray(), mid);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Overlap_is_exact_at_the_edges()
    {
        var r = new DiskRun(1000, 100);
        Assert.True(r.Overlaps(1099, 1));
        Assert.False(r.Overlaps(1100, 10));
        Assert.False(r.Overlaps(990, 10));
        Assert.True(r.Overlaps(990, 11));
    }
}

public class LayoutPartitionsTests
{
    private const string Base = """
        { "partitionTable": "t.gpt",
          "volumeGroup": { "name": "VA", "partition": 3, "logicalVolumes": [ { "name": "root", "size": "rest", "filesystem": "xfs", "mountPoint": "/" } ] }
          PARTS }
        """;

    [Fact]
    public void The_partitions_key_is_read_and_optional()
    {
        var l = LayoutFile.Parse(Base.Replace("PARTS", """, "partitions": [ { "number": 2, "filesystem": "xfs", "mountPoint": "/boot", "label": "boot" } ]"""), "/x/layout.json");
        Assert.Equal(new LayoutPartition(2, "xfs", "/boot", "boot"), l.BootPartition);
        Assert.Empty(LayoutFile.Parse(Base.Replace("PARTS", ""), "/x/layout.json").Partitions);
    }

    [Theory]
    [InlineData("""{ "number": 3, "filesystem": "xfs" }""", "partitions[0].number: partition 3 is the LVM PV")]
    [InlineData("""{ "number": 2, "filesystem": "btrfs" }""", "partitions[0].filesystem: 'btrfs' is not one of")]
    [InlineData("""{ "number": 2, "filesystem": "xfs", "mountPoint": "/" }""", "partitions[0].mountPoint: mount point / is used twice")]
    [InlineData("""{ "number": 2, "filesystem": "xfs", "size": 1 }""", "partitions[0].size: unknown key")]
    [InlineData("""{ "filesystem": "xfs" }""", "partitions[0].number: is missing")]
    public void Bad_partition_entries_are_refused_naming_the_key(string entry, string message)
    {
        var e = Assert.Throws<RefusedException>(() => LayoutFile.Parse(Base.Replace("PARTS", $", \"partitions\": [ {entry} ]"), "/x/layout.json"));
        Assert.Contains(message, e.Message);
    }
}

public class SelinuxSettingTests
{
    [Theory]
    [InlineData("""{ "mode": "strict" }""", "mode 'strict' is not disabled, permissive or enforcing")]
    [InlineData("""{ "autorelabel": true }""", "\"mode\" is missing")]
    [InlineData("""{ "mode": "enforcing", "labels": 1 }""", "unknown key 'labels'")]
    [InlineData("""{ mode""", "not valid JSON")]
    public void Bad_parts_are_refused_before_any_write(string json, string message)
    {
        var e = Assert.Throws<RefusedException>(() => SelinuxSetting.Parse(System.Text.Encoding.UTF8.GetBytes(json), "part selinux-policy"));
        Assert.Contains(message, e.Message);
        Assert.StartsWith("part selinux-policy: ", e.Message);
    }

    [Fact]
    public void Permissive_rewrites_the_line_and_enforcing_with_autorelabel_marks_the_root()
    {
        string root = Directory.CreateTempSubdirectory("selinux-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "etc/selinux"));
            File.WriteAllText(Path.Combine(root, "etc/selinux/config"), "# c\nSELINUX=enforcing\nSELINUXTYPE=targeted\n");
            new SelinuxSetting("permissive", false).Apply(root);
            Assert.Equal("# c\nSELINUX=permissive\nSELINUXTYPE=targeted\n", File.ReadAllText(Path.Combine(root, "etc/selinux/config")));
            Assert.False(File.Exists(Path.Combine(root, ".autorelabel")));
            new SelinuxSetting("enforcing", true).Apply(root);
            Assert.Contains("SELINUX=enforcing\n", File.ReadAllText(Path.Combine(root, "etc/selinux/config")));
            Assert.True(File.Exists(Path.Combine(root, ".autorelabel")));
        }
        finally { Directory.Delete(root, true); }
    }
}
