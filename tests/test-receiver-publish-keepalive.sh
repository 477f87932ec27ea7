#!/bin/bash
# test-receiver-publish-keepalive: while the receiver publishes (verifies
# the images, runs p2v-fixup), it speaks the protocol at a fraction of
# the agent's --timeout (KEEPALIVE, protocol version 5).  An agent whose
# timeout is far shorter than the fixup's run counts that as life, shows
# what the receiver is doing, and finishes in its one session: no
# timeout, no reconnect, one receiver.  The fixup is a stand-in that
# sleeps until --fixup-timeout stops it.
source "$(dirname "$0")/functions.sh"

head -c 3000000 /dev/urandom > "$tmpdir/disk.img"
out=$tmpdir/out
sleeping_fixup "$tmpdir/fixup"

# publish NAME [AGENT OPTION]...: a send whose publish phase lasts 10 s,
# with an agent that calls 3 s of silence a dead link.
publish () {
  local name=$1 rc=0
  shift
  : > "$tmpdir/receivers"
  "$AGENT" send --local --name "$name" --timeout 3 --retries 4 --retry-wait 1 "$@" \
    --receiver-command "sh -c 'echo \$\$ >> $tmpdir/receivers; exec $RECEIVER --output-dir $out --fixup-program $tmpdir/fixup --fixup-timeout 10'" \
    "$tmpdir/disk.img" > "$tmpdir/$name.out" 2> "$tmpdir/$name.err" || rc=$?
  on_exit "kill \$(cat $tmpdir/fixup.pid $tmpdir/appliance.pid 2>/dev/null) 2>/dev/null"
  cat "$tmpdir/$name.err"
  ((rc == 0)) || fail "$name: the agent exited $rc"
  grep -E "no progress|reconnect|giving up" "$tmpdir/$name.err" &&
    fail "$name: the agent called the publishing receiver dead"
  (($(wc -l < "$tmpdir/receivers") == 1)) ||
    fail "$name: $(wc -l < "$tmpdir/receivers") receivers ran, not one"
  [[ $(cat "$out/$name/status") == "complete, fixup failed: p2v-fixup timed out"* ]] ||
    fail "$name: status: $(cat "$out/$name/status")"
  cmp "$tmpdir/disk.img" "$out/$name/disk0.raw" || fail "$name: the image differs"
}

# Log lines (stderr is a file): what the receiver does, at most every
# 10 s, and at least once in a 10 s fixup.
publish lines
grep -q "^p2v-agent: receiver is running p2v-fixup ([0-9]* s)" "$tmpdir/lines.err" ||
  fail "lines: the agent did not show what the receiver was doing"

# --machine-readable: a "receiver" event for each keepalive shown.
publish events --machine-readable
n=$(grep -c '^{"event":"receiver","activity":"running p2v-fixup ([0-9]* s)","seconds":' \
  "$tmpdir/events.out" || true)
((n >= 5)) || { cat "$tmpdir/events.out"; fail "events: $n receiver events in 10 s"; }
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)' "$tmpdir/events.out" || fail "events: a line is not JSON"
