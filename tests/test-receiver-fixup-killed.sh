#!/bin/bash
# test-receiver-fixup-killed: a receiver killed outright (SIGKILL)
# while its p2v-fixup runs takes the fixup with it, child processes
# (the appliance) included; and the conversion's lock stays held until
# they are all gone, so that a reconnecting agent's new receiver cannot
# start a second fixup beside the first.  The fixup is a stand-in that
# sleeps, with a child of its own in its place of the appliance.
source "$(dirname "$0")/functions.sh"
requires flock

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

"$AGENT" send --local --name fx --retries 0 "$tmpdir/disk.img" --receiver-command \
  "sh -c 'echo \$\$ > $tmpdir/recv.pid; exec $RECEIVER --output-dir $out --fixup-program $tmpdir/fixup'" \
  2> "$tmpdir/agent.err" &
agent=$!
on_exit "kill $agent 2>/dev/null"
wait_for 300 test -s "$tmpdir/fixup.pid" || { cat "$tmpdir/agent.err"; fail "the fixup did not start"; }
fixup=$(cat "$tmpdir/fixup.pid") appliance=$(cat "$tmpdir/appliance.pid")
on_exit "kill $fixup $appliance 2>/dev/null"
kill -0 "$fixup" && kill -0 "$appliance" || fail "the stand-in fixup is not running"
flock -n "$out/.fx.lock" true && fail "the conversion is not locked while its fixup runs"

kill -KILL "$(cat "$tmpdir/recv.pid")"
# Whenever the lock is free, nothing of the fixup may be left.
free=0
for _ in $(seq 100); do
  if flock -n "$out/.fx.lock" true; then
    free=1
    kill -0 "$fixup" 2>/dev/null && fail "the lock was free while the fixup (pid $fixup) ran on"
    kill -0 "$appliance" 2>/dev/null && fail "the lock was free while the fixup's child (pid $appliance) ran on"
    break
  fi
  sleep 0.05
done
((free)) || fail "the conversion is still locked 5 s after its receiver was killed"
! kill -0 "$fixup" 2>/dev/null && ! kill -0 "$appliance" 2>/dev/null ||
  fail "the fixup outlived its receiver"
rc=0
wait "$agent" || rc=$?
cat "$tmpdir/agent.err"
((rc == 1)) || fail "the agent exited $rc after its receiver was killed (--retries 0)"
echo ok
