#!/bin/sh
# pre-mount hook of the nativeinit dracut module: runs `nativeinit selftest|convert` as rd.nativeinit= asks.
# On success: power off (selftest) or reboot (convert) unless rd.nativeinit.done= says otherwise. On failure: a
# message saying what failed and how to recover, then dracut's emergency shell — never an automatic reboot.
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh

# Overridable for the module's tests only (tests/NativeInit.Tests/Boot/DracutHooks.Tests.cs).
: "${NATIVEINIT_EXE:=/usr/bin/nativeinit}" "${NATIVEINIT_CONSOLE:=/dev/console}"

nativeinit_end() {
    # $1: poweroff | reboot | shell | continue
    case "$1" in
        poweroff|reboot)
            sync
            if [ -n "$DRACUT_SYSTEMD" ]; then systemctl --no-block "$1" 2>/dev/null || "$1" -f; else "$1" -f; fi
            # Stay here until systemd takes the machine down.
            while :; do sleep 60; done
            ;;
        shell) emergency_shell -n nativeinit "rd.nativeinit: shell requested" ;;
        *) : ;;
    esac
}

nativeinit_failed() {
    # $1: what failed
    echo "nativeinit: FAILED: $1" >>"$NATIVEINIT_CONSOLE"
    echo "nativeinit: nothing is retried automatically. Before the point of no return the old system is intact:" >>"$NATIVEINIT_CONSOLE"
    echo "nativeinit:   remove rd.nativeinit= from the kernel command line (or just reboot: the boot entry was one-shot)." >>"$NATIVEINIT_CONSOLE"
    echo "nativeinit: after it, 'nativeinit convert --yes --disk ${NATIVEINIT_DISK:-DISK}' continues from the journal (docs/recovery.md)." >>"$NATIVEINIT_CONSOLE"
    case "${NATIVEINIT_ONFAIL:-shell}" in
        poweroff|reboot) nativeinit_end "$NATIVEINIT_ONFAIL" ;;
        *) emergency_shell -n nativeinit "nativeinit: $1" ;;
    esac
}

# Stage one writes the bundle's path as seen on the file system that holds it (/nativeinit/bundle.tar when /boot
# is its own partition): mount each block device read-only until one holds it; it stays mounted for nativeinit.
nativeinit_find_bundle() {
    local d n mnt="${NATIVEINIT_BUNDLE_MNT:-/run/nativeinit/bundle-fs}"
    [ -f "$1" ] && { echo "$1"; return 0; }
    mkdir -p "$mnt"
    for d in /sys/class/block/*; do
        n=${d##*/}
        case "$n" in loop*|ram*|zram*|sr*) continue ;; esac
        mount -o ro "/dev/$n" "$mnt" >/dev/null 2>&1 || continue
        if [ -f "$mnt$1" ]; then echo "$mnt$1"; return 0; fi
        umount "$mnt"
    done
    return 1
}

[ -n "$NATIVEINIT_MODE" ] || NATIVEINIT_MODE=$(getarg rd.nativeinit=)
if [ -n "$NATIVEINIT_MODE" ]; then
    set --
    case "$NATIVEINIT_MODE" in
        shell) emergency_shell -n nativeinit "rd.nativeinit=shell" ;;
        selftest) set -- selftest ;;
        convert) set -- convert --yes ;;
        resume) set -- convert --yes --resume ;;
        *) nativeinit_failed "rd.nativeinit=$NATIVEINIT_MODE is not one of convert, resume, shell, selftest" ;;
    esac
    # udev does not load device-mapper by itself, nor the file systems (needed to find the bundle, too).
    [ $# -gt 0 ] && modprobe -a dm-mod loop ext4 xfs vfat >/dev/null 2>&1
    # convert finds the bundle inside the old root itself (it must not be mounted: that would hold the disk it
    # repartitions), so --bundle passes the path as stage one wrote it; the self-test reads the file: mount and find it.
    if [ $# -gt 0 ] && [ -n "$NATIVEINIT_BUNDLE" ] && [ "$NATIVEINIT_MODE" != selftest ]; then
        set -- "$@" --bundle "$NATIVEINIT_BUNDLE"
    elif [ $# -gt 0 ] && [ -n "$NATIVEINIT_BUNDLE" ]; then
        if nativeinit_bundle_path=$(nativeinit_find_bundle "$NATIVEINIT_BUNDLE"); then
            echo "nativeinit: bundle $NATIVEINIT_BUNDLE is $nativeinit_bundle_path" >>"$NATIVEINIT_CONSOLE"
            set -- "$@" --bundle "$nativeinit_bundle_path"
        else
            nativeinit_failed "bundle $NATIVEINIT_BUNDLE (rd.nativeinit.bundle=) is on no block device"
            set --
        fi
    fi
    if [ $# -gt 0 ]; then
        [ -n "$NATIVEINIT_DISK" ] && set -- "$@" --disk "$NATIVEINIT_DISK"
        echo "nativeinit: running nativeinit $*" >>"$NATIVEINIT_CONSOLE"
        "$NATIVEINIT_EXE" "$@" <"$NATIVEINIT_CONSOLE" >>"$NATIVEINIT_CONSOLE" 2>&1
        nativeinit_rc=$?
        if [ "$nativeinit_rc" -eq 0 ]; then
            if [ "$NATIVEINIT_MODE" = selftest ]; then nativeinit_default=poweroff; else nativeinit_default=reboot; fi
            echo "nativeinit: '$*' succeeded" >>"$NATIVEINIT_CONSOLE"
            nativeinit_end "${NATIVEINIT_DONE:-$nativeinit_default}"
        else
            nativeinit_failed "'nativeinit $*' exited with code $nativeinit_rc (see the messages above)"
        fi
    fi
fi
