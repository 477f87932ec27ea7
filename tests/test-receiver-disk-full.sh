#!/bin/bash
# The output filesystem fills up mid-conversion: a warning up front (the
# declared data does not fit), a clear error naming the file, offset,
# what is still to come and what to do, a non-zero exit on both sides,
# and no image that looks finished.  Once space is freed, the same
# command resumes and completes.
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
send () {
  "$AGENT" send --local --name full --retries 0 "$tmpdir/src.img" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $mnt"
}
if send 2>"$tmpdir/err"; then
  fail "send succeeded onto a 3 MiB filesystem"
fi
cat "$tmpdir/err"
grep -q "warning: receiver: $mnt has .* free, but up to 8.0 MiB of data is to come" \
  "$tmpdir/err" || fail "no warning before the copy"
grep -q "arrived intact and are kept; up to .* of data is still to come and .* is free: free space, then run the same p2v-agent send again to resume" \
  "$tmpdir/err" || fail "the error does not say what is needed and how to go on"
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

# Free space (grow the filesystem) and run the same command: it resumes.
mount -o remount,size=16m "$mnt" || fail "cannot grow the tmpfs"
send 2>"$tmpdir/err2" || { cat "$tmpdir/err2"; fail "resume after freeing space failed"; }
cat "$tmpdir/err2"
grep -q "resuming the unfinished conversion 'full'" "$tmpdir/err2" ||
  fail "did not resume"
cmp "$tmpdir/src.img" "$mnt/full/disk0.raw" || fail "image differs"

# Full just before report.json is written (a stand-in fixup fills the
# filesystem, once): the error gives the directory and what to do, and
# the same command then publishes.
rm -rf "${mnt:?}/full"
printf '#!/bin/sh\n[ -e %s/filled ] && exit 0\ntouch %s/filled\ndd if=/dev/zero of=%s/filler bs=64k 2>/dev/null\nexit 0\n' \
  "$tmpdir" "$tmpdir" "$mnt" > "$tmpdir/filling-fixup"
chmod +x "$tmpdir/filling-fixup"
publish () {
  "$AGENT" send --local --name full --retries 0 "$tmpdir/src.img" \
    --receiver-command "$RECEIVER --fixup-program $tmpdir/filling-fixup --output-dir $mnt"
}
publish 2>"$tmpdir/err3" && fail "publishing onto a full filesystem succeeded"
cat "$tmpdir/err3"
grep -q "$mnt/full: writing report.json and status failed (.*No space left on device); the output filesystem is full: free space there, then run the same p2v-agent send again" \
  "$tmpdir/err3" || fail "the report's write error does not give the directory and what to do"
[[ ! -e $mnt/full/disk0.raw ]] || fail "an image looks finished"
rm -f "$mnt/filler"
publish 2>"$tmpdir/err4" || { cat "$tmpdir/err4"; fail "publishing after freeing space failed"; }
cmp "$tmpdir/src.img" "$mnt/full/disk0.raw" || fail "image differs after publishing"
[[ $(cat "$mnt/full/status") == complete ]] || fail "status: $(cat "$mnt/full/status")"
echo ok
