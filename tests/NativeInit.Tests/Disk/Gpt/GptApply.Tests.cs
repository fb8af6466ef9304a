using NativeInit.Core;
using NativeInit.Core.Disk;
using NativeInit.Core.Disk.Gpt;
using NativeInit.Tests.TestSupport;
using static NativeInit.Tests.Disk.DiskTestSupport;

namespace NativeInit.Tests.Disk.Gpt;

/// <summary>Refusals before any write: the image hashes the same before and after.</summary>
[Trait("Category", "Integration")]
public class GptApplyTests
{
    /// <summary>What `gpt apply` runs: <see cref="GptJob.Prepare"/> (load, open, plan: may refuse), then execute.</summary>
    private static void Apply(string backup, string disk)
    {
        using var job = GptJob.Prepare(backup, disk);
        job.Execute();
    }

    [SkippableFact]
    public void Any_failure_after_the_first_write_is_exit_4_with_how_to_go_on()
    {
        var (dir, backup, target) = Setup(96 * MiB);
        using var _ = dir;
        // Planned on a disk opened read-only (the dry run): the first write inside Execute fails with EBADF, an
        // exception that is no NativeInitException; the point of no return turns it into exit 4 all the same.
        using var job = GptJob.Prepare(backup, target, dryRun: true);
        var e = Assert.Throws<FailedAfterPointOfNoReturnException>(() => job.Execute());
        Assert.Equal(ExitCodes.FailedAfterPointOfNoReturn, e.ExitCode);
        Assert.Contains(GptApply.HowToGoOn, e.Message);
        Assert.StartsWith(target + ":", e.Message);
    }

    private static (TempDir Dir, string Backup, string Target) Setup(long targetSize)
    {
        Tool.Require("sgdisk", "sfdisk");
        var dir = new TempDir();
        string refImg = Sparse(dir, "ref.img", 64 * MiB);
        Tool.Check("sgdisk", "-n", "1:0:+2M", "-t", "1:EF02", "-n", "2:0:+16M", "-t", "2:8300", "-n", "3:0:0", "-t", "3:8E00", refImg);
        string backup = dir.Combine("ref.gpt");
        Tool.Check("sgdisk", "--backup=" + backup, refImg);
        string target = Sparse(dir, "target.img", targetSize);
        Tool.Run("sfdisk", ["-q", target], stdin: "label: dos\n2048,,83,*\n");
        return (dir, backup, target);
    }

    [SkippableFact]
    public void Applies_when_everything_is_fine()
    {
        var (dir, backup, target) = Setup(96 * MiB);
        using var _ = dir;
        string before = Hash(target);
        Apply(backup, target);
        Assert.NotEqual(before, Hash(target));
        Assert.Contains("No problems found", Tool.Check("sgdisk", "-v", target));
    }

    [SkippableFact]
    public void Bad_crc_is_refused_before_any_write()
    {
        var (dir, backup, target) = Setup(96 * MiB);
        using var _ = dir;
        var bytes = File.ReadAllBytes(backup);
        bytes[3 * 512 + 200] ^= 0x01; // inside the second entry's first LBA
        File.WriteAllBytes(backup, bytes);
        string before = Hash(target);
        var e = Assert.Throws<RefusedException>(() => Apply(backup, target));
        Assert.Contains("CRC", e.Message);
        Assert.Equal(before, Hash(target));
    }

    [SkippableFact]
    public void Truncated_backup_is_refused_before_any_write()
    {
        var (dir, backup, target) = Setup(96 * MiB);
        using var _ = dir;
        File.WriteAllBytes(backup, File.ReadAllBytes(backup)[..10000]);
        string before = Hash(target);
        Assert.Contains("truncated", Assert.Throws<RefusedException>(() => Apply(backup, target)).Message);
        Assert.Equal(before, Hash(target));
    }

    [SkippableFact]
    public void Disk_smaller_than_the_layout_is_refused_before_any_write()
    {
        var (dir, backup, target) = Setup(48 * MiB);
        using var _ = dir;
        string before = Hash(target);
        Assert.Contains("too small", Assert.Throws<RefusedException>(() => Apply(backup, target)).Message);
        Assert.Equal(before, Hash(target));
    }

    [SkippableFact]
    public void Disk_with_a_mounted_filesystem_is_refused_before_any_write()
    {
        Tool.Require("mkfs.ext4", "mount", "umount", "losetup");
        Tool.RequireRoot();
        var (dir, backup, target) = Setup(96 * MiB);
        using var _ = dir;
        Tool.Check("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", target);
        using var loop = DiskTestSupport.Loop(target);
        string mnt = dir.Combine("mnt");
        Directory.CreateDirectory(mnt);
        var m = Tool.Run("mount", "-o", "ro", loop.DevicePath, mnt);
        Skip.If(m.ExitCode != 0, "cannot mount ext4 here: " + m.Stderr);
        try
        {
            string before = Hash(target);
            var e = Assert.Throws<RefusedException>(() => Apply(backup, loop.DevicePath));
            Assert.Contains("mounted on " + mnt, e.Message);
            // The image file itself, while a loop device over it is mounted.
            var e2 = Assert.Throws<RefusedException>(() => Apply(backup, target));
            Assert.Contains("in use through a loop device", e2.Message);
            Assert.Equal(before, Hash(target));
        }
        finally
        {
            Tool.Run("umount", mnt);
        }
    }

    [SkippableFact]
    public void Old_logical_partition_boot_records_are_zeroed()
    {
        var (dir, backup, target) = Setup(96 * MiB);
        using var _ = dir;
        Tool.Run("sfdisk", ["-q", target], stdin: "label: dos\n2048,20480,83\n,,5\n,10240,83\n,,83\n");
        IReadOnlyList<ulong> ebrs;
        using (var d = DiskDevice.Open(target, writable: false))
        {
            ebrs = NativeInit.Core.Disk.Mbr.MbrTable.ExtendedBootRecords(d);
            Assert.Equal(2, ebrs.Count);
            Assert.Equal(4, NativeInit.Core.Disk.Mbr.MbrTable.Read(d).Count);
        }
        foreach (var lba in ebrs) Assert.Equal(0xAA, Sector(target, lba)[511]);
        Apply(backup, target);
        foreach (var lba in ebrs) Assert.All(Sector(target, lba), b => Assert.Equal(0, b));
    }

    private static byte[] Sector(string img, ulong lba)
    {
        var b = new byte[512];
        using var f = File.OpenHandle(img);
        RandomAccess.Read(f, b, (long)lba * 512);
        return b;
    }

    [SkippableFact]
    public void Dry_run_plan_names_the_sectors_and_changes_nothing()
    {
        var (dir, backup, target) = Setup(96 * MiB);
        using var _ = dir;
        string before = Hash(target);
        using (var d = DiskDevice.Open(target, writable: false))
        {
            var plan = GptApply.PlanFromBackup(d, SgdiskBackup.Load(backup));
            var text = new StringWriter();
            plan.WriteText(text);
            Assert.Contains("current table: mbr", text.ToString());
            Assert.Matches($@"LBA\s+{96 * MiB / 512 - 1}\.\.{96 * MiB / 512 - 1}\s+write\s+512 B\s+backup GPT header", text.ToString());
            Assert.Contains(plan.Changes, c => c.Number == 1 && c.Action == "change");
            Assert.Contains(plan.Changes, c => c.Number == 3 && c.Action == "add");
        }
        Assert.Equal(before, Hash(target));
    }
}
