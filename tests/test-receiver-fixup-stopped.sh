#!/bin/bash
# test-receiver-fixup-stopped: a receiver's p2v-fixup never outlives it,
# and never runs beside a second one.  The fixup is a stand-in that only
# sleeps, with a child of its own in place of the appliance.
#  1. The receiver stopped (SIGTERM) while its fixup runs, or the fixup
#     running past --fixup-timeout: the verified images are published,
#     status says the fixup failed ("complete, fixup failed: ...
#     interrupted" or "timed out"), the agent shows that status, and
#     the fixup and its child are killed.
#  2. The receiver killed outright (SIGKILL): the fixup and its child
#     die with it, and the conversion's lock stays held until they are
#     gone, so that a reconnecting agent's new receiver cannot start a
#     second fixup beside the first.
source "$(dirname "$0")/functions.sh"
requires flock

head -c 3000000 /dev/urandom > "$tmpdir/disk.img"
out=$tmpdir/out
sleeping_fixup "$tmpdir/fixup"

# begin NAME [RECEIVER OPTION]...: the agent (--retries 0) in the
# background, up to its receiver's fixup; sets agent, fixup, appliance.
begin () {
  local name=$1
  shift
  rm -f "$tmpdir"/*.pid
  "$AGENT" send --local --name "$name" --retries 0 "$tmpdir/disk.img" --receiver-command \
    "sh -c 'echo \$\$ > $tmpdir/recv.pid; exec $RECEIVER --output-dir $out --fixup-program $tmpdir/fixup $*'" \
    2> "$tmpdir/agent.err" &
  agent=$!
  on_exit "kill $agent 2>/dev/null"
  wait_for 300 test -s "$tmpdir/fixup.pid" || { cat "$tmpdir/agent.err"; fail "$name: the fixup did not start"; }
  fixup=$(cat "$tmpdir/fixup.pid") appliance=$(cat "$tmpdir/appliance.pid")
  on_exit "kill $fixup $appliance 2>/dev/null"
  kill -0 "$fixup" && kill -0 "$appliance" || fail "$name: the stand-in fixup is not running"
}
gone () { ! kill -0 "$fixup" 2>/dev/null && ! kill -0 "$appliance" 2>/dev/null; }

# 1. stopped NAME WHY [RECEIVER OPTION]...: WHY is interrupted (a
# SIGTERM to the receiver) or timed out.
stopped () {
  local name=$1 why=$2 rc=0 status
  shift 2
  begin "$name" "$@"
  [[ $why == interrupted ]] && kill -TERM "$(cat "$tmpdir/recv.pid")"
  wait "$agent" || rc=$?
  cat "$tmpdir/agent.err"
  ((rc == 0)) || fail "$name: the agent exited $rc: the images were published"
  status=$(cat "$out/$name/status")
  [[ $status == "complete, fixup failed: p2v-fixup $why"* ]] || fail "$name: status: '$status'"
  grep -q "^  status: complete, fixup failed: p2v-fixup $why" "$tmpdir/agent.err" ||
    fail "$name: the agent did not show the status"
  python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["fixup"]["status"] == "failed"' \
    "$out/$name/report.json" || fail "$name: report.json: the fixup is not 'failed'"
  cmp "$tmpdir/disk.img" "$out/$name/disk0.raw" || fail "$name: the image differs from the source"
  gone || fail "$name: the fixup or its child outlived its receiver"
}
stopped stopped interrupted
stopped late "timed out (--fixup-timeout)" --fixup-timeout 2

# 2. Killed outright: whenever the lock is free, nothing of the fixup
# may be left.
begin killed
flock -n "$out/.killed.lock" true && fail "the conversion is not locked while its fixup runs"
kill -KILL "$(cat "$tmpdir/recv.pid")"
free=0
for _ in $(seq 200); do
  if flock -n "$out/.killed.lock" true; then
    free=1
    gone || fail "the lock was free while the fixup or its child ran on"
    break
  fi
  sleep 0.05
done
((free)) || fail "the conversion is still locked 10 s after its receiver was killed"
gone || fail "the fixup outlived its killed receiver"
rc=0
wait "$agent" || rc=$?
cat "$tmpdir/agent.err"
((rc == 1)) || fail "the agent exited $rc after its receiver was killed (--retries 0)"
echo ok
