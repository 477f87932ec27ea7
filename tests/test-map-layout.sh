#!/bin/bash
# The whole disk, not just filesystems: everything outside mapped
# partitions arrives byte-identical (boot code before the first
# partition, gaps between partitions, a BIOS boot partition, the GPT
# backup, the EBRs of logical partitions), so the partition tables and
# boot loader survive; swap shrinks to its header page and stays a valid
# swap with its UUID and label.
source "$(dirname "$0")/functions.sh"
requires sfdisk mkswap blkid mkfs.ext4

MiB=$((1024 * 1024))
table () { sfdisk -d "$1" | sed "s|$1|DISK|g"; }   # the dump names the file
stale () { head -c "$2" /dev/urandom | dd of="$1" bs=1 seek="$3" conv=notrunc status=none; }
convert () {
  "$AGENT" send --local --name "$1" --stats "$tmpdir/$1.json" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $tmpdir/out" "$2" \
    2> "$tmpdir/$1.err"
  cat "$tmpdir/$1.err"
}
# same DISK OUT START LEN: the byte range is identical in both.
same () {
  cmp <(dd if="$1" bs=4096 iflag=skip_bytes,count_bytes skip="$3" count="$4" status=none) \
      <(dd if="$2" bs=4096 iflag=skip_bytes,count_bytes skip="$3" count="$4" status=none) ||
    fail "bytes $3+$4 differ"
}

# --- GPT: BIOS boot partition, ext4, swap; data in gaps and boot area.
gpt=$tmpdir/gpt.img
truncate -s 64M "$gpt"
sfdisk -q "$gpt" <<'T'
label: gpt
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=bios
start=6144, size=40960, type=0FC63DAF-8483-4772-8E7D-3D69D8477DE4, name=root
start=49152, size=16384, type=0657FD6D-A4AB-4128-9958-1DB86AD61D6B, name=swap
T
stale "$gpt" 100000 $((1 * MiB))            # BIOS boot partition: "core.img"
stale "$gpt" 3000 $((2 * MiB + 4096))       # gap after it
mkdir -p "$tmpdir/files"; seq 1 50000 > "$tmpdir/files/n.txt"
rm -f "$tmpdir/root.fs"; make_stale_fs "$tmpdir/root.fs" 20 mkfs.ext4 -q -F -E nodiscard -d "$tmpdir/files"
put_partition "$gpt" "$tmpdir/root.fs" 6144
head -c 8M /dev/urandom > "$tmpdir/swap.fs"  # a used swap: body full of data
mkswap -L oldswap -U 6a7c1cbe-8f1e-4a55-9d27-1f6f4c9b7f01 "$tmpdir/swap.fs" >/dev/null 2>&1
put_partition "$gpt" "$tmpdir/swap.fs" 49152
convert gpt "$gpt"
got=$tmpdir/out/gpt/disk0.raw
grep -q "swap header" "$tmpdir/gpt.err" || fail "swap map not used"
grep -q "BIOS boot partition" "$tmpdir/gpt.err" || fail "BIOS boot not read"
same "$gpt" "$got" 0 $((3 * MiB))             # PMBR, GPT, BIOS boot, gap
same "$gpt" "$got" $((64 * MiB - 33 * 512)) $((33 * 512))   # GPT backup
[[ $(table "$gpt") == "$(table "$got")" ]] || fail "GPT differs"
same "$gpt" "$got" $((24 * MiB)) 4096         # swap header page
swapdev=$tmpdir/swap.got
get_partition "$got" "$swapdev" 49152 16384
[[ $(blkid -o value -s TYPE "$swapdev") == swap ]] || fail "not a swap"
[[ $(blkid -o value -s UUID "$swapdev") == 6a7c1cbe-8f1e-4a55-9d27-1f6f4c9b7f01 ]] ||
  fail "swap UUID lost"
[[ $(blkid -o value -s LABEL "$swapdev") == oldswap ]] || fail "label lost"
nz=$(nonzero_bytes "$swapdev")
((nz <= 4096)) || fail "swap body was sent: $nz non-zero bytes"

# --- MBR with an extended partition and two logical ones (EBRs).
mbr=$tmpdir/mbr.img
truncate -s 64M "$mbr"
sfdisk -q "$mbr" <<'T'
label: dos
start=2048, size=20480, type=83
start=22528, size=100352, type=5
start=24576, size=20480, type=83
start=47104, size=40960, type=83
T
stale "$mbr" 30000 512                      # boot loader after the MBR
put_partition "$mbr" "$tmpdir/root.fs" 47104
convert mbr "$mbr"
got=$tmpdir/out/mbr/disk0.raw
[[ $(table "$mbr") == "$(table "$got")" ]] || fail "MBR/EBR differ"
same "$mbr" "$got" 0 $((1 * MiB))
get_partition "$got" "$tmpdir/l.fs" 47104 40960
e2fsck -fn "$tmpdir/l.fs" >/dev/null || fail "logical ext4 broken"
grep -q "partition 6: 20.0 MiB, ext4" "$tmpdir/mbr.err" ||
  fail "the logical ext4 partition was not mapped"
echo ok
