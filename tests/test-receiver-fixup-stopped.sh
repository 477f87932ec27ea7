#!/bin/bash
# test-receiver-fixup-stopped: a receiver stopped (SIGTERM) while its
# p2v-fixup runs still publishes the verified images, but its status
# says the fixup failed ("complete, fixup failed: ... interrupted"), the
# agent shows that status, and the fixup (here a stand-in that only
# sleeps) is killed, not left running beside a re-run.
source "$(dirname "$0")/functions.sh"

head -c 3000000 /dev/urandom > "$tmpdir/disk.img"
out=$tmpdir/out
cat > "$tmpdir/fixup" <<EOF
#!/bin/sh
echo \$\$ > $tmpdir/fixup.pid
exec sleep 100
EOF
chmod +x "$tmpdir/fixup"

"$AGENT" send --local --name fx "$tmpdir/disk.img" --receiver-command \
  "sh -c 'echo \$\$ > $tmpdir/recv.pid; exec $RECEIVER --output-dir $out --fixup-program $tmpdir/fixup'" \
  2> "$tmpdir/agent.err" &
agent=$!
on_exit "kill $agent 2>/dev/null"
wait_for 300 test -s "$tmpdir/fixup.pid" || { cat "$tmpdir/agent.err"; fail "the fixup did not start"; }
fixup=$(cat "$tmpdir/fixup.pid")
on_exit "kill $fixup 2>/dev/null"
kill -TERM "$(cat "$tmpdir/recv.pid")"
rc=0
wait "$agent" || rc=$?
cat "$tmpdir/agent.err"
((rc == 0)) || fail "the agent exited $rc: the images were published"

status=$(cat "$out/fx/status")
[[ $status == "complete, fixup failed: p2v-fixup interrupted after "* ]] ||
  fail "status: '$status'"
grep -q "^  status: complete, fixup failed: p2v-fixup interrupted" "$tmpdir/agent.err" ||
  fail "the agent did not show the status"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["fixup"]["status"] == "failed"' \
  "$out/fx/report.json" || fail "report.json: the fixup is not 'failed'"
cmp "$tmpdir/disk.img" "$out/fx/disk0.raw" || fail "the image differs from the source"
! kill -0 "$fixup" 2>/dev/null || fail "the fixup (pid $fixup) outlived its receiver"
echo ok
