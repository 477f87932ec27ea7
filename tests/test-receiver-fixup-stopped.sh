#!/bin/bash
# test-receiver-fixup-stopped: a receiver stopped (SIGTERM) while its
# p2v-fixup runs, or whose fixup runs past --fixup-timeout, still
# publishes the verified images, but its status says the fixup failed
# ("complete, fixup failed: ... interrupted" or "timed out"), the agent
# shows that status, and the fixup is killed with its own child (in
# place of the appliance), not left running beside a re-run.  The
# fixup is a stand-in that only sleeps.
source "$(dirname "$0")/functions.sh"

head -c 3000000 /dev/urandom > "$tmpdir/disk.img"
out=$tmpdir/out
cat > "$tmpdir/fixup" <<EOF
#!/bin/sh
sleep 300 &
echo \$! > $tmpdir/appliance.pid
echo \$\$ > $tmpdir/fixup.pid
exec sleep 300
EOF
chmod +x "$tmpdir/fixup"

# convert NAME WHY [RECEIVER OPTION]...: a conversion whose fixup is
# stopped (WHY: interrupted, after a SIGTERM to the receiver, or timed
# out); the images are published and the status says why.
convert () {
  local name=$1 why=$2 agent rc=0 fixup appliance status
  shift 2
  rm -f "$tmpdir"/*.pid
  "$AGENT" send --local --name "$name" "$tmpdir/disk.img" --receiver-command \
    "sh -c 'echo \$\$ > $tmpdir/recv.pid; exec $RECEIVER --output-dir $out --fixup-program $tmpdir/fixup $*'" \
    2> "$tmpdir/agent.err" &
  agent=$!
  on_exit "kill $agent 2>/dev/null"
  wait_for 300 test -s "$tmpdir/fixup.pid" || { cat "$tmpdir/agent.err"; fail "$name: the fixup did not start"; }
  fixup=$(cat "$tmpdir/fixup.pid") appliance=$(cat "$tmpdir/appliance.pid")
  on_exit "kill $fixup $appliance 2>/dev/null"
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
  ! kill -0 "$fixup" 2>/dev/null && ! kill -0 "$appliance" 2>/dev/null ||
    fail "$name: the fixup or its child outlived its receiver"
}

convert stopped interrupted
convert late "timed out (--fixup-timeout)" --fixup-timeout 2
echo ok
