#!/bin/bash
# test-receiver-force-resume: the receiver's --force replaces a
# different or a finished conversion, never the one the same source is
# resuming.  A receiver killed mid-transfer (a slow source: nbdkit's
# delay filter) leaves an unfinished conversion; the same agent run
# again, to a receiver with --force, resumes it (sends only the rest)
# and completes with the source's bytes.
source "$(dirname "$0")/functions.sh"
requires nbdkit

head -c $((16 << 20)) /dev/urandom > "$tmpdir/disk.img"
sock=$tmpdir/nbd.sock
nbdkit -U "$sock" -P "$tmpdir/nbdkit.pid" --filter=delay \
  file file="$tmpdir/disk.img" rdelay=300ms
wait_for 50 test -s "$tmpdir/nbdkit.pid" || fail "nbdkit did not start"
on_exit "kill $(cat "$tmpdir/nbdkit.pid")"
out=$tmpdir/out
src="nbd+unix:///?socket=$sock"
# send: the agent, through a receiver run with --force.
send () {
  "$AGENT" send --local --name fr --retries 0 --chunk-size 1M "$src" \
    --receiver-command "sh -c 'echo \$\$ > $tmpdir/recv.pid; exec $RECEIVER --force --no-fixup --output-dir $out'"
}

send 2> "$tmpdir/first.err" &
agent=$!
on_exit "kill $agent 2>/dev/null"
# Killed once three chunks are durable (the journal's 16-byte header
# and a 48-byte record per chunk).
journalled () { (($(stat -c %s "$out/fr/disk0.journal" 2>/dev/null || echo 0) >= 16 + 3 * 48)); }
wait_for 300 journalled || fail "nothing was committed"
kill -KILL "$(cat "$tmpdir/recv.pid")"
wait "$agent" && fail "the first run completed before its receiver was killed"
[[ $(cat "$out/fr/status") != complete* ]] || fail "the first run completed"

send 2> "$tmpdir/second.err" || { cat "$tmpdir/second.err"; fail "the second run failed"; }
cat "$tmpdir/second.err"
grep -q "resuming the unfinished conversion 'fr' ([1-9][0-9.]*% already on the receiver)" \
  "$tmpdir/second.err" ||
  fail "--force started the same source's conversion over instead of resuming it"
grep -q "'fr' converted: 16.0 MiB of disks ([0-9.]* MiB of it on the receiver already)" \
  "$tmpdir/second.err" || fail "the resumed run's summary does not count the whole disk"
cmp "$tmpdir/disk.img" "$out/fr/disk0.raw" || fail "the image differs from the source"
[[ $(cat "$out/fr/status") == complete ]] || fail "status: $(cat "$out/fr/status")"
echo ok
