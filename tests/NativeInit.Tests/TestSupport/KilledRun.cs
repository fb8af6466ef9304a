namespace NativeInit.Tests.TestSupport;

/// <summary>What a SIGKILLed run of nativeinit leaves in the kernel, and a power cut would not.</summary>
public static class KilledRun
{
    /// <summary>
    /// Unmounts every file system mounted from a loop device over <paramref name="img"/> (deepest first), detaches those
    /// loop devices and removes the killed run's scratch folders (/tmp/nativeinit-convert.*, /tmp/nativeinit-update.*)
    /// that held the mount points. An umount that fails (busy for a moment just after the kill) is tried again for up
    /// to 10 s; a mount still there after that fails the test: left behind, the xfs's UUID stays registered and the
    /// kernel refuses the next mount of that file system ("duplicate UUID", EINVAL).
    /// </summary>
    public static void ForgetKernelState(string img)
    {
        Tool.Sh($$"""
            img={{Tool.Quote(img)}}
            mounted() { for l in $(losetup -j "$img" -n -O NAME); do findmnt -n -r -o TARGET -S $l || true; done | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-; }
            targets=$(mounted)
            for i in $(seq 1 50); do
              left=$(mounted)
              [ -z "$left" ] && break
              for t in $left; do umount "$t" 2>/dev/null || true; done
              [ -z "$(mounted)" ] && break
              sleep 0.2
            done
            left=$(mounted)
            if [ -n "$left" ]; then echo "still mounted from $img after 10 s: $left" >&2; fuser -vm $left >&2 || true; exit 1; fi
            # Asked again: a loop device the umounts freed (autoclear) may already serve another test under the same name.
            for l in $(losetup -j "$img" -n -O NAME); do losetup -d $l 2>/dev/null || true; done
            for t in $targets; do
              w=$(echo "$t" | grep -oE '^/tmp/nativeinit-(convert|update)\.[A-Za-z0-9]*' || true)
              if [ -n "$w" ] && [ -d "$w" ] && ! findmnt -rn -o TARGET | grep -q "^$w/"; then rm -r --one-file-system "$w"; fi
            done
            true
            """);
    }
}
