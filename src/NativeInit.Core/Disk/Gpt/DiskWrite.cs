using System.Buffers.Binary;

namespace NativeInit.Core.Disk.Gpt;

/// <summary>One write of a plan: <see cref="Length"/> bytes at <see cref="Offset"/>; <see cref="Data"/> null means zeros.</summary>
/// <param name="What">What is written ("primary GPT header", "zero stale backup GPT header").</param>
public sealed record DiskWrite(string What, long Offset, long Length, byte[]? Data)
{
    /// <summary>First logical sector touched on a disk with <paramref name="sectorSize"/>-byte sectors.</summary>
    public long FirstSector(int sectorSize) => Offset / sectorSize;
    /// <summary>Last logical sector touched.</summary>
    public long LastSector(int sectorSize) => (Offset + Length - 1) / sectorSize;
}
