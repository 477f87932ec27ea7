#!/bin/bash
# --local (direct-SATA attach: the receiver runs as our child, no SSH)
# gives the same byte-identical sparse images, for several disks at once,
# one of them a real block device (a loop device) when we can make one.
source "$(dirname "$0")/functions.sh"
requires sfdisk mkfs.ext4 mkswap sha256sum

make_test_disk "$tmpdir/a.img" 48
# A second disk: non-zero data right up to an odd, non-chunk-multiple end.
b_size=$((5 * 1024 * 1024 + 4096 * 3))
truncate -s $b_size "$tmpdir/b.img"
head -c 100000 /dev/urandom | dd of="$tmpdir/b.img" bs=1 \
  seek=$((4 * 1024 * 1024)) conv=notrunc status=none
head -c 4096 /dev/urandom | dd of="$tmpdir/b.img" bs=1 \
  seek=$((b_size - 4096)) conv=notrunc status=none
[[ $(stat -c %s "$tmpdir/b.img") == "$b_size" ]] || fail "b.img size"

src_b=$tmpdir/b.img
if [[ $(id -u) -eq 0 ]] && command -v losetup >/dev/null &&
   loop=$(losetup -f --show "$tmpdir/b.img" 2>/dev/null); then
  on_exit "losetup -d $loop"
  src_b=$loop
  echo "second disk read through block device $loop"
else
  echo "no loop device available: second disk read as an image file"
fi

out=$tmpdir/out
"$AGENT" send --local --name two-disks --chunk-size 256K --level 1 \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out" \
  --stats "$tmpdir/stats.json" "$tmpdir/a.img" "$src_b"

for i in 0 1; do
  src=$tmpdir/$([[ $i == 0 ]] && echo a || echo b).img
  img=$out/two-disks/disk$i.raw
  [[ -f $img ]] || fail "no $img"
  [[ $(sha256sum < "$src") == "$(sha256sum < "$img")" ]] ||
    fail "disk$i differs from its source"
  nz=$(nonzero_bytes "$src"); alloc=$(allocated_bytes "$img")
  echo "disk$i: non-zero $nz, allocated $alloc"
  ((alloc >= nz && alloc <= nz + nz / 20 + 65536)) ||
    fail "disk$i: allocated $alloc not close to non-zero $nz"
done
grep -q '"disks":2' "$tmpdir/stats.json" || fail "stats: $(cat "$tmpdir/stats.json")"
grep -q '"result":"complete"' "$tmpdir/stats.json" || fail "not complete"
[[ $(cat "$out/two-disks/status") == complete ]] || fail "status"
grep -q '"size": 5255168' "$out/two-disks/inventory.json" ||
  fail "inventory lacks disk 1 size"
echo ok
