#!/bin/bash
# Source read errors from a real failing device: nbdkit serves a disk
# image through its ddrescue filter, whose mapfile marks bad areas, so
# every read touching them fails with EIO, over NBD, as from a dying
# disk.  The agent (reading nbd+unix:// through libnbd) must narrow each
# failure down to the bad sectors, send them as zeros, convert the
# rest, list exactly what it could not read and exit with status 3; the
# receiver records the same ranges in report.json.  --max-read-errors
# bounds it.
source "$(dirname "$0")/functions.sh"
requires nbdkit
[[ -e /usr/lib/x86_64-linux-gnu/nbdkit/filters/nbdkit-ddrescue-filter.so ]] ||
  nbdkit --dump-config | grep -q . ||
  { echo "SKIP: nbdkit without the ddrescue filter" >&2; exit 77; }

MIB=$((1 << 20))
size=$((8 * MIB))
head -c $size /dev/urandom > "$tmpdir/disk.img"
# Bad: 1 KiB just inside the second MiB (crossing no chunk), 4 KiB at
# 5 MiB (a chunk start), and the very last sector.
bad=("$((MIB + 512)) 1024" "$((5 * MIB)) 4096" "$((size - 512)) 512")
{
  echo "# Mapfile. Created by GNU ddrescue"
  echo "# current_pos  current_status"
  echo "0x00000000     +"
  echo "#      pos        size  status"
  pos=0
  for b in "${bad[@]}"; do
    set -- $b
    printf '0x%08x  0x%08x  +\n' "$pos" $(($1 - pos))
    printf '0x%08x  0x%08x  -\n' "$1" "$2"
    pos=$(($1 + $2))
  done
  ((pos == size)) || printf '0x%08x  0x%08x  +\n' "$pos" $((size - pos))
} > "$tmpdir/disk.map"

sock=$tmpdir/nbd.sock
nbdkit -U "$sock" -P "$tmpdir/nbdkit.pid" --filter=ddrescue \
  file file="$tmpdir/disk.img" ddrescue-mapfile="$tmpdir/disk.map"
wait_for 50 test -s "$tmpdir/nbdkit.pid" || fail "nbdkit did not start"
on_exit "kill $(cat "$tmpdir/nbdkit.pid")"
src="nbd+unix:///?socket=$sock"

# What the image must be: the source with zeros where it is unreadable.
cp "$tmpdir/disk.img" "$tmpdir/want.img"
for b in "${bad[@]}"; do
  set -- $b
  dd if=/dev/zero of="$tmpdir/want.img" bs=512 seek=$(($1 / 512)) \
    count=$(($2 / 512)) conv=notrunc status=none
done

rc=0
"$AGENT" send --local --name sick --chunk-size 256K --stats "$tmpdir/stats" \
  --receiver-command "$RECEIVER --no-fixup --output-dir $tmpdir/out" "$src" \
  2>"$tmpdir/err" || rc=$?
cat "$tmpdir/err"
((rc == 3)) || fail "exit status $rc, want 3 (converted with read errors)"
grep -q "'sick' converted, but 3 source range(s) (5.5 KiB) could not be read and were written as zeros:" \
  "$tmpdir/err" || fail "no clear summary"
for b in "${bad[@]}"; do
  set -- $b
  grep -qF "$src: offset $1, $2 bytes: Input/output error" "$tmpdir/err" ||
    fail "range $1+$2 not listed"
  grep -q "{ \"disk\": 0, \"offset\": $1, \"length\": $2, \"errno\": 5, \"error\": \"Input/output error\" }" \
    "$tmpdir/out/sick/report.json" || fail "range $1+$2 not in report.json"
done
n=$(grep -c '"errno": ' "$tmpdir/out/sick/report.json")
((n == 3)) || fail "report.json lists $n ranges, want 3"
grep -q '^complete with read errors: 3 unreadable source range(s), 5.5 KiB' \
  "$tmpdir/out/sick/status" || fail "status: $(cat "$tmpdir/out/sick/status")"
cmp "$tmpdir/want.img" "$tmpdir/out/sick/disk0.raw" ||
  fail "image is not the source with zeros in the bad ranges"

# A disk worse than the operator allows: stop, say so, mark nothing done.
rc=0
"$AGENT" send --local --name worse --max-read-errors 1 -q \
  --receiver-command "$RECEIVER --no-fixup --output-dir $tmpdir/out" "$src" \
  2>"$tmpdir/err2" || rc=$?
cat "$tmpdir/err2"
((rc == 1)) || fail "exit status $rc with too many read errors"
grep -q "more than 1 unreadable ranges; the disk is failing badly" \
  "$tmpdir/err2" || fail "no clear message"
grep -q '^failed: the agent gave up: ' "$tmpdir/out/worse/status" ||
  fail "status: $(cat "$tmpdir/out/worse/status")"
[[ ! -e $tmpdir/out/worse/disk0.raw ]] || fail "a finished-looking image"
echo ok
