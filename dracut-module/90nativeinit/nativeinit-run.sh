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

# convert takes the disk as stage one named it (rd.nativeinit.disk=partuuid:|uuid:|serial:|wwn:) and looks once. In
# dracut nothing waits for that disk (there is no root= to wait for): this hook can start while udev is still
# loading the disk's driver. Wait for udev, then until `nativeinit status --disk` (read-only) finds the disk; it
# exits 3 while the disk is not there. rd.nativeinit.disk.timeout= seconds (default 120). Then convert runs either
# way and gives its own answer.
nativeinit_wait_disk() {
    local waited=0 limit="${NATIVEINIT_DISK_TIMEOUT:-120}"
    command -v udevadm >/dev/null 2>&1 && udevadm settle --timeout="$limit" >/dev/null 2>&1
    while :; do
        "$NATIVEINIT_EXE" status --disk "$1" >/dev/null 2>&1
        [ $? -eq 3 ] || return 0
        if [ "$waited" -ge "$limit" ]; then
            echo "nativeinit: disk $1 (rd.nativeinit.disk=) did not appear within $limit s" >>"$NATIVEINIT_CONSOLE"
            return 1
        fi
        [ "$waited" -eq 0 ] && echo "nativeinit: waiting for disk $1 (rd.nativeinit.disk=)" >>"$NATIVEINIT_CONSOLE"
        command sleep 1
        waited=$((waited + 1))
    done
}

[ -n "$NATIVEINIT_MODE" ] || NATIVEINIT_MODE=$(getarg rd.nativeinit=)
[ -n "$NATIVEINIT_DISK_TIMEOUT" ] || NATIVEINIT_DISK_TIMEOUT=$(getarg rd.nativeinit.disk.timeout=)
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
        if [ -n "$NATIVEINIT_DISK" ]; then
            [ "$NATIVEINIT_MODE" = selftest ] || nativeinit_wait_disk "$NATIVEINIT_DISK"
            set -- "$@" --disk "$NATIVEINIT_DISK"
        fi
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
