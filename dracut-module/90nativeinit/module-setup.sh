#!/bin/bash
# dracut module "nativeinit": puts the static nativeinit binary, the tools stage two runs and the kernel modules it
# needs into the initramfs, and runs `nativeinit selftest|convert` from a pre-mount hook when the kernel command
# line says rd.nativeinit=... . Uses only what dracut 033 (CentOS 7) and dracut 059 (Debian 12) both provide:
# check/depends/install/installkernel, inst_simple, inst_multiple -o, inst_hook, instmods, $moddir, $initdir.
#
# Install: copy this folder to /usr/lib/dracut/modules.d/90nativeinit/, put the binary where nativeinit_binary
# finds it, then `dracut --add nativeinit ...`. The module is never pulled in by itself (check returns 255).

# Where the static binary comes from: $NATIVEINIT_BIN, a copy beside this script, or the usual sbin/bin folders.
nativeinit_binary() {
    local f
    for f in "$NATIVEINIT_BIN" "$moddir/nativeinit" /usr/sbin/nativeinit /usr/local/sbin/nativeinit /usr/bin/nativeinit; do
        [ -n "$f" ] && [ -f "$f" ] && [ -x "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

# The vendor's public key, installed as /etc/nativeinit/vendor.pub (convert's default --key; the hook passes none):
# $NATIVEINIT_KEY, a vendor.pub beside this script, or the build machine's /etc/nativeinit/vendor.pub.
nativeinit_key() {
    local f
    for f in "$NATIVEINIT_KEY" "$moddir/vendor.pub" /etc/nativeinit/vendor.pub; do
        [ -n "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

# called by dracut
check() {
    nativeinit_binary >/dev/null || { echo "nativeinit: binary not found (set NATIVEINIT_BIN)" >&2; return 1; }
    # Only when asked for (--add nativeinit): a routine initramfs rebuild must not pick it up.
    return 255
}

# called by dracut
depends() {
    # NativeInit writes the GPT and the LVM metadata and drives device-mapper through its ioctls itself: it needs
    # the dm-mod kernel module (installkernel below), not the lvm2 tools of the "lvm" module nor the udev rules of "dm".
    return 0
}

# called by dracut
installkernel() {
    # device-mapper and loop, the file systems stage two makes, and the disk drivers of the gateways' hypervisors.
    instmods dm-mod loop xfs ext4 virtio_blk virtio_pci virtio_scsi ahci sd_mod ata_piix
}

# called by dracut
install() {
    local bin key
    bin=$(nativeinit_binary) || return 1
    # inst_simple: a plain copy. The binary is static (no interpreter, no libraries), so nothing else is needed
    # and ldd (which dracut-install runs on binaries) is not asked about it.
    inst_simple "$bin" /usr/bin/nativeinit
    # Without a key convert refuses at its first check ("public key /etc/nativeinit/vendor.pub: no such file"):
    # say so when the image is built, not on the gateway.
    if key=$(nativeinit_key); then
        inst_simple "$key" /etc/nativeinit/vendor.pub
    else
        dwarning "nativeinit: no vendor key (set NATIVEINIT_KEY): 'nativeinit convert' in this image will need --key"
    fi
    # What stage two execs (each optional: an image for XFS-only targets need not carry e2fsprogs); xfs_growfs
    # grows the new root once the bundle is consumed.
    inst_multiple -o mkfs.xfs xfs_growfs mkfs.ext4 mke2fs grub2-install grub-install grub2-editenv grub-editenv grub2-bios-setup grub-bios-setup sync modprobe
    inst_hook cmdline 40 "$moddir/parse-nativeinit.sh"
    # pre-mount: after udev has settled (the disks exist) and before the root file system is mounted, since
    # stage two repartitions that very disk (a pre-pivot hook would find it mounted at /sysroot and busy).
    inst_hook pre-mount 10 "$moddir/nativeinit-run.sh"
}
