#!/bin/sh
# The field's stage two as a shell script (issue 13 scenario f, the baseline NativeInit is measured against), for
# busybox sh in tools/vm/build-baseline's initramfs:
#   convert.sh DISK
# DISK holds the legacy system (MBR, xfs root on DISK1) on which stage one (`nativeinit stage`) left the bundle at
# /boot/nativeinit/bundle.tar. The recipe, step by step as the field ran it:
#   1. mount the old root; copy the bundle's parts (layout.json, the partition table, the rootfs archive) into RAM
#      (tmpfs /run: the old root is about to be overwritten) and the carried configuration (the files NativeInit
#      carries: network, DNS, hostname, hosts, ssh host keys, and /etc/shadow for the password hashes); unmount
#   2. sgdisk --zap-all (the MBR), sgdisk --load-backup of the bundle's partition table
#   3. pvcreate / vgcreate / lvcreate of the layout's volume group and volumes (read from layout.json)
#   4. mkfs.xfs of /boot and each volume; mount them
#   5. tar -x..pf ROOTFS --numeric-owner --xattrs (--zstd or -J, as the bundle's rootfs is compressed)
#   6. the carried files copied back (cp), the legacy password hashes put in the new /etc/shadow, /etc/fstab written
#   7. chroot grub-install + grub-mkconfig (grub2-* where the new system has them); unmount, sync
# No signature or hash check (NativeInit verifies every part while it converts); no journal, no resume.
set -eu
disk=$1
old=/run/old new=/run/new bundle=/run/bundle carry=/run/carry
# GNU tar by its path: busybox sh prefers its own applets (FEATURE_SH_STANDALONE) to programs in PATH
tar=/usr/bin/tar
step() { echo "baseline: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
mkdir -p "$old" "$new" "$bundle" "$carry"

step "1. mount the old root ${disk}1, copy the bundle's parts and the carried files into RAM"
mount -t xfs "${disk}1" "$old"
b=$old/boot/nativeinit/bundle.tar
[ -f "$b" ] || { echo "baseline: no staged bundle at ${b#"$old"}"; exit 1; }
rootfs=$("$tar" -tf "$b" | grep -E '^rootfs\.tar\.(zst|xz)$' | head -1)
[ -n "$rootfs" ] || { echo "baseline: the bundle has no rootfs.tar.zst or rootfs.tar.xz"; exit 1; }
"$tar" -xf "$b" -C "$bundle" layout.json "$rootfs"
table=$(sed -n 's/.*"partitionTable" *: *"\([^"]*\)".*/\1/p' "$bundle/layout.json")
"$tar" -xf "$b" -C "$bundle" "$table"
files=
cd "$old"
for f in etc/sysconfig/network-scripts/ifcfg-* etc/sysconfig/network etc/network/interfaces etc/network/interfaces.d/* \
    etc/resolv.conf etc/hostname etc/hosts etc/ssh/ssh_host_*; do
    [ -f "$f" ] && [ "${f##*/}" != ifcfg-lo ] && files="$files $f"
done
# shellcheck disable=SC2086
"$tar" -cf - $files | "$tar" -xpf - -C "$carry"
cp etc/shadow "$carry/old-shadow"
cd /
umount "$old"
echo "baseline: in RAM: $(du -sk "$bundle" | cut -f1) KiB of bundle parts ($rootfs), carried:$files"

step "2. sgdisk --zap-all, sgdisk --load-backup $table"
sgdisk --zap-all "$disk" || true
sgdisk --load-backup="$bundle/$table" "$disk"
blockdev --rereadpt "$disk" 2>/dev/null || true

# the layout: /boot's partition, the volume group (name, partition, extent size) and its volumes
json=$(tr -d '\n' <"$bundle/layout.json")
vg=$(echo "$json" | sed -n 's/.*"volumeGroup" *: *{ *"name" *: *"\([^"]*\)".*/\1/p')
vgpart=$(echo "$json" | sed -n 's/.*"volumeGroup" *: *{[^}]*"partition" *: *\([0-9]*\).*/\1/p')
extent=$(echo "$json" | sed -n 's/.*"extentSize" *: *"\([0-9]*\)MiB".*/\1/p')
parts=$(echo "$json" | grep -oE '"number" *: *[0-9]+, *"filesystem" *: *"[a-z0-9]+", *"mountPoint" *: *"[^"]*"' |
    sed -E 's/.*"number" *: *([0-9]+).*"filesystem" *: *"([^"]*)".*"mountPoint" *: *"([^"]*)"/\1 \2 \3/')
lvs=$(echo "$json" | grep -oE '"name" *: *"[^"]+", *"size" *: *"[^"]+", *"filesystem" *: *"[a-z0-9]+", *"mountPoint" *: *"[^"]*"' |
    sed -E 's/.*"name" *: *"([^"]*)".*"size" *: *"([^"]*)".*"filesystem" *: *"([^"]*)".*"mountPoint" *: *"([^"]*)"/\1 \2 \3 \4/')
[ -n "$vg" ] && [ -n "$vgpart" ] && [ -n "$lvs" ] || { echo "baseline: cannot read the volume group from layout.json"; exit 1; }
i=0
while [ ! -b "$disk$vgpart" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

step "3. pvcreate / vgcreate / lvcreate: VG $vg on $disk$vgpart"
lvm pvcreate -ff -y "$disk$vgpart"
lvm vgcreate -s "${extent:-4}m" "$vg" "$disk$vgpart"
echo "$lvs" | while read -r name size fs mp; do
    case $size in
        rest) lvm lvcreate -y -W y -Z y -l 100%FREE -n "$name" "$vg" ;;
        *GiB) lvm lvcreate -y -W y -Z y -L "${size%GiB}g" -n "$name" "$vg" ;;
        *MiB) lvm lvcreate -y -W y -Z y -L "${size%MiB}m" -n "$name" "$vg" ;;
        *) echo "baseline: volume $name: size $size not understood"; exit 1 ;;
    esac
done

step "4. mkfs.xfs and mount"
echo "$parts" | while read -r n fs mp; do if [ -n "$n" ]; then "mkfs.$fs" -f -q "$disk$n"; fi; done
echo "$lvs" | while read -r name size fs mp; do "mkfs.$fs" -f -q "/dev/mapper/$vg-$name"; done
rootlv=$(echo "$lvs" | awk '$4 == "/" { print $1 }')
mount "/dev/mapper/$vg-$rootlv" "$new"
echo "$parts" | while read -r n fs mp; do if [ -n "$n" ]; then mkdir -p "$new$mp"; mount "$disk$n" "$new$mp"; fi; done
echo "$lvs" | while read -r name size fs mp; do if [ "$mp" != / ]; then mkdir -p "$new$mp"; mount "/dev/mapper/$vg-$name" "$new$mp"; fi; done

step "5. tar -x...pf $rootfs --numeric-owner --xattrs"
case $rootfs in
    *.zst) "$tar" --zstd -xpf "$bundle/$rootfs" --numeric-owner --xattrs --xattrs-include='*' -C "$new" ;;
    *.xz) "$tar" -xJpf "$bundle/$rootfs" --numeric-owner --xattrs --xattrs-include='*' -C "$new" ;;
esac

step "6. the carried configuration, the password hashes, fstab"
(cd "$carry" && "$tar" -cf - etc) | "$tar" -xpf - --numeric-owner -C "$new"
awk -F: -v OFS=: 'NR == FNR { if ($2 != "" && $2 != "*" && $2 !~ /^!/) { h[$1] = $2; d[$1] = $3 } next }
    ($1 in h) { $2 = h[$1]; $3 = d[$1] } { print }' "$carry/old-shadow" "$new/etc/shadow" >"$carry/shadow"
cat "$carry/shadow" >"$new/etc/shadow"
{
    echo "# written by the baseline stage two (tools/vm/baseline/convert.sh)"
    echo "$lvs" | awk -v vg="$vg" '$4 == "/" { print "/dev/mapper/" vg "-" $1, $4, $3, "defaults", 0, 1 }'
    echo "$parts" | while read -r n fs mp; do if [ -n "$n" ]; then echo "UUID=$(blkid -s UUID -o value "$disk$n") $mp $fs defaults 0 2"; fi; done
    echo "$lvs" | awk -v vg="$vg" '$4 != "/" { print "/dev/mapper/" vg "-" $1, $4, $3, "defaults", 0, 2 }'
} >"$new/etc/fstab"
cat "$new/etc/fstab"

step "7. chroot grub-install $disk, grub-mkconfig"
mount --bind /dev "$new/dev"
mount -t proc proc "$new/proc"
mount -t sysfs sys "$new/sys"
g=grub
[ -x "$new/usr/sbin/grub2-install" ] && g=grub2
chroot "$new" "$g-install" --target=i386-pc "$disk"
chroot "$new" "$g-mkconfig" -o "/boot/$g/grub.cfg"
umount "$new/sys" "$new/proc" "$new/dev"
echo "$lvs" | while read -r name size fs mp; do if [ "$mp" != / ]; then umount "$new$mp"; fi; done
echo "$parts" | while read -r n fs mp; do if [ -n "$n" ]; then umount "$new$mp"; fi; done
umount "$new"
lvm vgchange -an "$vg"
sync
step "done"
