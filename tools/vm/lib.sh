# Shared by the tools/vm/ builders (sourced, not run). Cache layout, cache keys, timing, chroot helpers.
# Every cached artifact lives in .cache/vm/NAME-KEY/ where KEY is a hash of the files that produce it; a folder is
# complete only when it holds the file "done" (built in a private folder, then renamed into place).
set -euo pipefail
VM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_CACHE=${NATIVEINIT_VM_CACHE:-$VM_REPO/.cache/vm}
VM_SUITE=bookworm
VM_MIRROR=${NATIVEINIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$VM_CACHE"

vm_log() { echo "${VM_TOOL:-tools/vm}: $*" >&2; }
vm_die() { echo "${VM_TOOL:-tools/vm}: $*" >&2; exit 1; }

# vm_key FILE... [-- WORD...]: 16 hex digits of the SHA-256 over the files' names and contents and the extra words.
vm_key() {
    local words=() files=()
    while (($#)); do
        if [[ $1 == -- ]]; then shift; words=("$@"); break; fi
        files+=("$1"); shift
    done
    { for f in "${files[@]}"; do echo "== ${f#"$VM_REPO"/}"; cat "$f"; done; printf '%s\n' "${words[@]}"; } |
        sha256sum | cut -c1-16
}

# vm_lock NAME: serialise builders of one artifact (several tests or worktrees may ask at once). Held until exit.
vm_lock() {
    exec {VM_LOCK_FD}>"$VM_CACHE/.lock-$1"
    flock "$VM_LOCK_FD"
}

# vm_run_in ROOT CMD...: runs CMD chrooted in ROOT with /proc, /sys and /dev mounted in a private mount namespace
# (nothing stays mounted when it ends, whatever happens).
vm_run_in() {
    local root=$1; shift
    unshare --mount --fork -- /bin/sh -ec '
        root=$1; shift
        mount -t proc proc "$root/proc"
        mount -t sysfs sys "$root/sys"
        mount --rbind /dev "$root/dev"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    ' vm_run_in "$root" "$@"
}

# Seconds since the builder started, for the closing "built in N s" line.
VM_T0=$(date +%s.%N)
vm_elapsed() { awk -v a="$VM_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# vm_trim_kernel ROOT: deletes module trees a headless QEMU/VM gateway never loads (sound, graphics, media,
# wireless, infiniband, staging, bluetooth...) so the trees, the initramfs and the bundle stay small; then depmod.
vm_trim_kernel() {
    local root=$1 kv
    for kv in "$root"/lib/modules/*; do
        [[ -d $kv/kernel ]] || continue
        rm -rf "$kv"/kernel/sound "$kv"/kernel/drivers/{gpu,media,infiniband,staging,bluetooth,iio,net/wireless,net/ethernet/mellanox,isdn,comedi,hid/amd-sfh-hid} \
            "$kv"/kernel/net/{wireless,mac80211,bluetooth}
        vm_run_in "$root" depmod "$(basename "$kv")"
    done
}

# vm_prune NAME KEEP: removes the older builds NAME-* of one artifact (an input changed), keeping the folder KEEP.
vm_prune() {
    local d
    for d in "$VM_CACHE/$1"-*; do
        [[ -d $d && $d != "$2" ]] || continue
        [[ $(basename "$d") =~ ^$1-[0-9a-f]{16}$ ]] && rm -rf "$d"
    done
    return 0
}
