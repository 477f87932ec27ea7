#!/bin/bash
# --device: the disk goes onto an existing block device (a loop device
# here) or file.  The device held old data, so every byte the source
# does not hold as data must be zeroed, not skipped: the device must end
# up identical to the source.  A device that holds data is refused
# without --force; one too small, or a missing --device, is refused.
# verify re-reads the device; domain.xml names it as a block disk.
# A session cut in its first disk resumes onto the devices: the first
# disk where it was recorded, the second (never begun) on its --device.
source "$(dirname "$0")/functions.sh"
requires losetup sfdisk mkfs.ext4 mount nbdkit
(($(id -u) == 0)) || { echo "SKIP: needs root for a loop device" >&2; exit 77; }

make_test_disk "$tmpdir/src.img" 32
size=$(stat -c %s "$tmpdir/src.img")
head -c "$size" /dev/urandom > "$tmpdir/dev.img"   # old data everywhere
loop=$(losetup -f --show "$tmpdir/dev.img") || fail "no loop device"
on_exit "losetup -d $loop"
out=$tmpdir/out
send () {
  local name=$1; shift
  "$AGENT" send --local --name "$name" --retries 0 -q "$tmpdir/src.img" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out $*"
}

if send held --device "$loop" 2>"$tmpdir/err"; then
  fail "a device holding data was overwritten without --force"
fi
grep -q "$loop holds data (its first MiB is not zeros); to overwrite it, run the receiver with --force" \
  "$tmpdir/err" || { cat "$tmpdir/err"; fail "no clear refusal"; }

send dev --device "$loop" --force || fail "conversion to $loop failed"
cmp "$tmpdir/src.img" "$loop" || fail "$loop differs from the source"
"$RECEIVER" verify "$out/dev" || fail "verify of the device failed"
grep -q "<disk type='block' device='disk'>" "$out/dev/domain.xml" ||
  fail "domain.xml does not use a block disk"
grep -q "<source dev='$loop'/>" "$out/dev/domain.xml" || fail "domain.xml device"
grep -q "\"file\": \"$loop\"" "$out/dev/report.json" || fail "report.json device"

# A regular file as the device: zeroed ranges too.
head -c "$size" /dev/urandom > "$tmpdir/file.img"
send file --device "$tmpdir/file.img" --force || fail "conversion to a file failed"
cmp "$tmpdir/src.img" "$tmpdir/file.img" || fail "the file differs from the source"

# Too small, and a device missing for a disk.
truncate -s 1M "$tmpdir/small.img"
if send small --device "$tmpdir/small.img" 2>"$tmpdir/err"; then
  fail "a device smaller than the disk was accepted"
fi
grep -q "small.img holds 1048576 bytes, the disk 0 has $size" "$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "no clear size refusal"; }
if "$AGENT" send --local --name two -q "$tmpdir/src.img" "$tmpdir/src.img" \
     --receiver-command "$RECEIVER --no-fixup --output-dir $out --device $loop" 2>"$tmpdir/err"; then
  fail "two disks onto one --device"
fi
grep -q "the agent sends 2 disk(s) but the receiver has 1 --device" "$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "no clear count refusal"; }

# Resume: disk 0 is an NBD export whose every read is slow (nbdkit's
# delay filter: 300 ms), so the agent can be killed while it is sent;
# random data, so that its chunks are committed as they come.
head -c "$size" /dev/urandom > "$tmpdir/rnd.img"
sock=$tmpdir/nbd.sock
nbdkit -U "$sock" -P "$tmpdir/nbdkit.pid" --filter=delay \
  file file="$tmpdir/rnd.img" rdelay=300ms
wait_for 50 test -s "$tmpdir/nbdkit.pid" || fail "nbdkit did not start"
on_exit "kill $(cat "$tmpdir/nbdkit.pid")"
truncate -s "$size" "$tmpdir/d0.img" "$tmpdir/d1.img"
two=("$AGENT" send --local --name resdev --retries 0 -q --chunk-size 1M
     --threads 1 "nbd+unix:///?socket=$sock" "$tmpdir/rnd.img"
     --receiver-command "$RECEIVER --no-fixup --output-dir $out --device $tmpdir/d0.img --device $tmpdir/d1.img")
# A journal holds a 16-byte header, then a record per committed chunk.
committed () { (($(stat -c %s "$out/resdev/disk0.journal" 2>/dev/null || echo 0) > 16)); }
"${two[@]}" 2>"$tmpdir/err" & agent=$!
wait_for 300 committed || { kill "$agent"; fail "disk 0 committed nothing"; }
kill -9 "$agent"; wait "$agent" || true
# Its receiver (a child of the agent) ends when its input does.
wait_for 300 flock -n "$out/.resdev.lock" true ||
  fail "the cut session's receiver did not end"
[[ ! -e $out/resdev/.device1 ]] || fail "disk 1 was begun before the cut"
"${two[@]}" 2>"$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "the resume onto devices failed"; }
cmp "$tmpdir/rnd.img" "$tmpdir/d0.img" || fail "disk 0's device differs"
cmp "$tmpdir/rnd.img" "$tmpdir/d1.img" || fail "disk 1's device differs"
"$RECEIVER" verify "$out/resdev" || fail "verify of the resumed devices failed"
echo ok
