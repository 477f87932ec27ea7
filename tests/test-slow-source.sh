#!/bin/bash
# A source so slow (a dying disk retrying a sector) that nothing is sent
# for longer than the receiver's --timeout: the agent keeps the link
# alive while its readers wait, and the conversion completes.  nbdkit's
# delay filter makes every read take 8 s; the receiver gives up after
# 6 s of silence.
source "$(dirname "$0")/functions.sh"
requires nbdkit

head -c 1000000 /dev/urandom > "$tmpdir/disk.img"
sock=$tmpdir/nbd.sock
nbdkit -U "$sock" -P "$tmpdir/nbdkit.pid" --filter=delay \
  file file="$tmpdir/disk.img" rdelay=8
wait_for 50 test -s "$tmpdir/nbdkit.pid" || fail "nbdkit did not start"
on_exit "kill $(cat "$tmpdir/nbdkit.pid")"

"$AGENT" send --local --name slow --retries 0 -v \
  --receiver-command "$RECEIVER --no-fixup --output-dir $tmpdir/out --timeout 6 -v" \
  "nbd+unix:///?socket=$sock" 2>"$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "the slow source was not converted"; }
grep -v '^p2v-receiver: debug' "$tmpdir/err" | tail -5
cmp "$tmpdir/disk.img" "$tmpdir/out/slow/disk0.raw" || fail "image differs"
grep -qx complete "$tmpdir/out/slow/status" || fail "status"
echo ok
