using NativeInit.Core.Disk.Gpt;

namespace NativeInit.Tests.Disk.Gpt;

public class GptFormatTests
{
    [Fact]
    public void Header_round_trips_and_detects_a_changed_byte()
    {
        var h = new GptHeader
        {
            MyLba = 1, AlternateLba = 999, FirstUsableLba = 34, LastUsableLba = 966, DiskGuid = new Guid("16663340-F327-469B-8230-A96DE9F08AAD"),
            PartitionEntryLba = 2, NumberOfPartitionEntries = 128, SizeOfPartitionEntry = 128, PartitionEntryArrayCrc32 = 0xDEE629F7,
        };
        var sector = new byte[512];
        GptFormat.WriteHeader(h, sector);
        Assert.Equal("EFI PART"u8.ToArray(), sector[..8]);
        var back = GptFormat.ReadHeader(sector)!;
        Assert.True(back.HeaderCrcValid);
        Assert.Equal(h with { HeaderCrc32 = back.HeaderCrc32 }, back);
        // The disk GUID is stored mixed-endian: first field little-endian.
        Assert.Equal(new byte[] { 0x40, 0x33, 0x66, 0x16, 0x27, 0xF3, 0x9B, 0x46 }, sector[56..64]);
        sector[GptFormat.HdrLastUsableLba] ^= 1;
        Assert.False(GptFormat.ReadHeader(sector)!.HeaderCrcValid);
        sector[0] = 0;
        Assert.Null(GptFormat.ReadHeader(sector));
    }

    [Fact]
    public void Entries_round_trip_with_names_and_attributes()
    {
        var parts = new List<GptPartition>
        {
            new(1, GptPartitionTypes.BiosBoot.Guid, Guid.NewGuid(), 2048, 6143, GptAttributes.LegacyBiosBootable, "bios"),
            new(7, GptPartitionTypes.LinuxLvm.Guid, Guid.NewGuid(), 6144, 100000, GptAttributes.NoAutomount | GptAttributes.RequiredPartition, "Ünïcödé name of 36 characters......."),
        };
        var array = new byte[128 * 128];
        uint crc = GptFormat.WriteEntries(parts, 128, 128, array);
        Assert.Equal(System.IO.Hashing.Crc32.HashToUInt32(array), crc);
        Assert.Equal(parts, GptFormat.ReadEntries(array, 128, 128));
        Assert.Equal((byte)'b', array[56]);
        Assert.Equal(0, array[57]);
    }

    [Theory]
    // 100 MiB: end CHS 190/50/12 as gptfdisk writes it (255 heads, 63 sectors).
    [InlineData(204800UL, "00000200EEBE320C01000000FF1F0300")]
    // Last LBA exactly the largest CHS address, then one beyond (FF FF FF as gptfdisk 1.0.9 writes).
    [InlineData(16450560UL, "00000200EEFEFFFF01000000FF03FB00")]
    [InlineData(16450561UL, "00000200EEFFFFFF010000000004FB00")]
    // Beyond 2 TiB of 512-byte sectors: size capped at 0xFFFFFFFF.
    [InlineData(1UL << 33, "00000200EEFFFFFF01000000FFFFFFFF")]
    public void Protective_mbr_matches_gptfdisk(ulong sectors, string record)
    {
        var mbr = new byte[512];
        for (int i = 0; i < 440; i++) mbr[i] = (byte)(i * 7);
        mbr[446 + 16] = 0x83; // an old MBR entry that must go
        GptFormat.WriteProtectiveMbr(mbr, sectors);
        Assert.Equal(record, Convert.ToHexString(mbr, 446, 16));
        for (int i = 0; i < 440; i++) Assert.Equal((byte)(i * 7), mbr[i]);
        Assert.All(mbr[462..510], b => Assert.Equal(0, b));
        Assert.Equal(0x55, mbr[510]);
        Assert.Equal(0xAA, mbr[511]);
        Assert.True(GptFormat.HasProtectiveRecord(mbr));
    }

    [Fact]
    public void Type_table_knows_the_field_types()
    {
        Assert.Equal(new Guid("21686148-6449-6E6F-744E-656564454649"), GptPartitionTypes.BiosBoot.Guid);
        Assert.Equal(new Guid("E6D6D379-F507-44C2-A23C-238F2A3DF928"), GptPartitionTypes.LinuxLvm.Guid);
        Assert.True(GptPartitionTypes.TryParse("8e00", out var lvm));
        Assert.Equal(GptPartitionTypes.LinuxLvm.Guid, lvm);
        Assert.Equal("Linux filesystem", GptPartitionTypes.NameOf(new Guid("0FC63DAF-8483-4772-8E79-3D69D8477DE4")));
        Assert.Equal(GptPartitionTypes.All.Count, GptPartitionTypes.All.Select(t => t.Guid).Distinct().Count());
    }

    [Fact]
    public void Table_validation_finds_overlaps_and_partitions_outside()
    {
        var t = GptTable.CreateEmpty(131072, 512, Guid.NewGuid())
            .WithPartition(GptPartitionTypes.LinuxFilesystem.Guid, 2048, 10000)
            .WithPartition(GptPartitionTypes.LinuxFilesystem.Guid, 9000, 20000);
        Assert.Contains(t.Validate(), p => p.Contains("overlap", StringComparison.Ordinal));
        var outside = GptTable.CreateEmpty(131072, 512, Guid.NewGuid()).WithPartition(GptPartitionTypes.LinuxLvm.Guid, 2048, 131050);
        Assert.Contains(outside.Validate(), p => p.Contains("outside the usable range", StringComparison.Ordinal));
        var ok = GptTable.CreateEmpty(131072, 512, Guid.NewGuid());
        Assert.Equal(34UL, ok.FirstUsableLba);
        Assert.Equal(131072UL - 34, ok.LastUsableLba);
        Assert.Equal(131072UL - 33, ok.BackupEntriesLba);
        Assert.Empty(ok.Validate());
        var k4 = GptTable.CreateEmpty(16384, 4096, Guid.NewGuid());
        Assert.Equal(6UL, k4.FirstUsableLba);
        Assert.Equal(16384UL - 6, k4.LastUsableLba);
    }
}
