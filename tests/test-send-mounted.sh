#!/bin/bash
# A disk with a filesystem mounted read-write is refused, whether given as
# the block device or as the image file behind a loop device (even one
# set up at a partition's offset); read-only is fine; --allow-mounted
# copies it with a warning.
source "$(dirname "$0")/functions.sh"
requires losetup mount umount mkfs.ext4 sfdisk
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root to set up loop devices and mounts" >&2; exit 77
fi

make_test_disk "$tmpdir/disk.img" 48
loop=$(losetup -f --show -o $((2048 * 512)) --sizelimit $((38 * 1024 * 1024)) \
       "$tmpdir/disk.img") || { echo "SKIP: no loop devices" >&2; exit 77; }
on_exit "losetup -d $loop"
mkdir "$tmpdir/mnt"
mount "$loop" "$tmpdir/mnt" || { echo "SKIP: cannot mount ext4 here" >&2; exit 77; }
on_exit "umount '$tmpdir/mnt' 2>/dev/null"
out=$tmpdir/out
send () { "$AGENT" send --local --receiver-command "$RECEIVER --no-fixup --output-dir $out --force" "$@"; }

for src in "$tmpdir/disk.img" "$loop"; do
  if send --name m1 "$src" 2>"$tmpdir/err"; then
    fail "$src was copied while mounted read-write"
  fi
  cat "$tmpdir/err"
  grep -q "is mounted read-write on $tmpdir/mnt" "$tmpdir/err" ||
    fail "message does not name the mount"
  grep -q -- "--allow-mounted" "$tmpdir/err" || fail "no way out offered"
  [[ ! -e $out/m1 ]] || fail "something was written"
done

send --name m2 --allow-mounted "$tmpdir/disk.img" 2>"$tmpdir/err" ||
  fail "--allow-mounted did not copy"
grep -q "copying it anyway" "$tmpdir/err" || fail "no warning"

mount -o remount,ro "$tmpdir/mnt"
send --name m3 "$tmpdir/disk.img" || fail "read-only mount was refused"
echo ok
