#!/bin/bash
# The output filesystem fills up mid-conversion: a clear error naming the
# file, offset and what to do, a non-zero exit on both sides, and no
# image that looks finished.
source "$(dirname "$0")/functions.sh"
requires mount umount
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root to mount a small tmpfs" >&2; exit 77
fi

mnt=$tmpdir/small
mkdir -p "$mnt"
mount -t tmpfs -o size=3m tmpfs "$mnt" ||
  { echo "SKIP: cannot mount tmpfs here" >&2; exit 77; }
on_exit "umount '$mnt'"

head -c 8M /dev/urandom > "$tmpdir/src.img"
if "$AGENT" send --local --name full --quiet "$tmpdir/src.img" \
     --receiver-command "$RECEIVER --output-dir $mnt" 2>"$tmpdir/err"; then
  fail "send succeeded onto a 3 MiB filesystem"
fi
cat "$tmpdir/err"
grep -q "No space left on device" "$tmpdir/err" || fail "no ENOSPC message"
grep -q "disk0.raw.partial: write of .* at offset" "$tmpdir/err" ||
  fail "message does not name the file and offset"
[[ ! -e $mnt/full/disk0.raw ]] || fail "finished-looking image exists"
[[ ! -e $mnt/full/report.json ]] || fail "report written"
# The status file is tiny; it should still fit in most cases, but the
# important part is that nothing claims to be complete.
if [[ -s $mnt/full/status ]]; then
  grep -q '^failed: ' "$mnt/full/status" || fail "status: $(cat "$mnt/full/status")"
fi
echo ok
