using System.Buffers.Binary;
using System.Text;

namespace NativeInit.Core.Boot.Initramfs;

/// <summary>
/// What a dynamically linked ELF64 executable needs at run time: its interpreter (PT_INTERP) and its DT_NEEDED
/// libraries, resolved in the usual library folders, recursively. Read from the file (System V gABI, "ELF-64
/// Object File Format"), not by running ldd, so it works for any binary of the build machine's architecture.
/// A static executable (no PT_INTERP, no PT_DYNAMIC) needs nothing.
/// </summary>
public static class ElfDependencies
{
    // ELF header (64-bit, little endian).
    public const int EiClass = 4, EiData = 5, ElfClass64 = 2, ElfDataLsb = 1;
    public const int OffPhoff = 0x20, OffPhentsize = 0x36, OffPhnum = 0x38;
    // Program header.
    public const int PhOffType = 0, PhOffOffset = 8, PhOffVaddr = 16, PhOffFilesz = 32;
    public const uint PtLoad = 1, PtDynamic = 2, PtInterp = 3;
    // Dynamic section entries: d_tag, d_val (8 bytes each).
    public const long DtNull = 0, DtNeeded = 1, DtStrtab = 5, DtRunpath = 29, DtRpath = 15;

    /// <summary>Library folders searched in this order (Debian multiarch first, then the RHEL-style ones).</summary>
    public static readonly string[] LibraryFolders =
        ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

    /// <summary>One file the binary needs: where the loader will look for it, and where it is on this machine.</summary>
    public readonly record struct Needed(string ImagePath, string HostPath);

    /// <summary>The interpreter and every library <paramref name="executable"/> needs, transitively.</summary>
    public static IReadOnlyList<Needed> Resolve(string executable)
    {
        var result = new List<Needed>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>();
        queue.Enqueue(executable);
        while (queue.Count > 0)
        {
            var (interp, needed) = Read(queue.Dequeue());
            if (interp is not null && seen.Add(interp)) result.Add(new Needed(interp, interp));
            foreach (var soname in needed)
            {
                string? found = LibraryFolders.Select(d => Path.Combine(d, soname)).FirstOrDefault(File.Exists);
                if (found is null) throw new NativeInitException($"{executable}: needs {soname}, not found in {string.Join(", ", LibraryFolders)}");
                if (!seen.Add(found)) continue;
                result.Add(new Needed(found, found));
                queue.Enqueue(found);
            }
        }
        return result;
    }

    /// <summary>PT_INTERP and the DT_NEEDED names of one ELF64 file.</summary>
    public static (string? Interpreter, List<string> Needed) Read(string path)
    {
        byte[] f = File.ReadAllBytes(path);
        var s = f.AsSpan();
        if (f.Length < 64 || s[0] != 0x7f || s[1] != (byte)'E' || s[2] != (byte)'L' || s[3] != (byte)'F')
            throw new InvalidDataFormatException($"{path}: not an ELF file");
        if (s[EiClass] != ElfClass64 || s[EiData] != ElfDataLsb)
            throw new InvalidDataFormatException($"{path}: not a 64-bit little-endian ELF file");
        long phoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(s[OffPhoff..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(s[OffPhentsize..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(s[OffPhnum..]);
        string? interp = null;
        long dynOffset = -1, dynSize = 0;
        var loads = new List<(ulong Vaddr, ulong Offset, ulong Size)>();
        for (int i = 0; i < phnum; i++)
        {
            var ph = s.Slice(checked((int)(phoff + (long)i * phentsize)), phentsize);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(ph[PhOffType..]);
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(ph[PhOffOffset..]);
            ulong vaddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[PhOffVaddr..]);
            ulong filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[PhOffFilesz..]);
            if (type == PtInterp) interp = Encoding.ASCII.GetString(s.Slice((int)offset, (int)filesz)).TrimEnd('\0');
            else if (type == PtDynamic) { dynOffset = (long)offset; dynSize = (long)filesz; }
            else if (type == PtLoad) loads.Add((vaddr, offset, filesz));
        }
        var needed = new List<string>();
        if (dynOffset < 0) return (interp, needed);
        ulong strtab = 0;
        var neededOffsets = new List<ulong>();
        for (long p = dynOffset; p + 16 <= dynOffset + dynSize; p += 16)
        {
            long tag = BinaryPrimitives.ReadInt64LittleEndian(s[(int)p..]);
            ulong val = BinaryPrimitives.ReadUInt64LittleEndian(s[(int)(p + 8)..]);
            if (tag == DtNull) break;
            if (tag == DtNeeded) neededOffsets.Add(val);
            else if (tag == DtStrtab) strtab = val;
        }
        // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD segment that holds it.
        var seg = loads.FirstOrDefault(l => strtab >= l.Vaddr && strtab < l.Vaddr + l.Size);
        if (seg.Size == 0) throw new InvalidDataFormatException($"{path}: DT_STRTAB 0x{strtab:x} is in no PT_LOAD segment");
        long strOffset = (long)(strtab - seg.Vaddr + seg.Offset);
        foreach (var o in neededOffsets)
        {
            int start = checked((int)(strOffset + (long)o));
            int end = s[start..].IndexOf((byte)0);
            needed.Add(Encoding.UTF8.GetString(s.Slice(start, end)));
        }
        return (interp, needed);
    }
}
