#!/bin/bash
# --lvm VG and --lvm VG/THINPOOL: each disk onto a new logical volume,
# identical to the source (a thick LV is zeroed where the source has no
# data; a thin one reads as zeros already).  LVM needs the kernel's
# device-mapper: where it is missing (as on the machines this project is
# built on: no dm module) the test is skipped, saying so.
source "$(dirname "$0")/functions.sh"
requires lvcreate vgcreate pvcreate losetup dmsetup
(($(id -u) == 0)) || { echo "SKIP: LVM needs root" >&2; exit 77; }
if [[ ! -e /dev/mapper/control ]] || ! dmsetup version >/dev/null 2>&1; then
  echo "SKIP: the kernel has no device-mapper (no /dev/mapper/control), so LVM cannot run here" >&2
  exit 77
fi

head -c 20000000 /dev/urandom > "$tmpdir/src.img"
truncate -s 32M "$tmpdir/src.img"
truncate -s 256M "$tmpdir/pv.img"
loop=$(losetup -f --show "$tmpdir/pv.img") || fail "no loop device"
on_exit "losetup -d $loop"
vg=p2vtest$$
pvcreate -q "$loop" && vgcreate -q "$vg" "$loop" || fail "cannot make a VG"
on_exit "vgremove -q -f $vg"
lvcreate -q -y -L 64M -T "$vg/pool" || fail "cannot make a thin pool"
out=$tmpdir/out
for target in "$vg" "$vg/pool"; do
  name=lv${target//\//-}
  "$AGENT" send --local --name "$name" -q "$tmpdir/src.img" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out --lvm $target" ||
    fail "--lvm $target failed"
  cmp "$tmpdir/src.img" "/dev/$vg/$name-disk0" || fail "--lvm $target: LV differs"
  "$RECEIVER" verify "$out/$name" || fail "--lvm $target: verify"
done
echo ok
