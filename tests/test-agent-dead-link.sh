#!/bin/bash
# test-agent-dead-link: a link that dies without a FIN or RST (a proxy
# that stops moving bytes mid-transfer, tests/freeze-proxy.py) is
# noticed after --timeout, and the dead session is torn down at once:
# the agent ends (--retries 0) within 2 s of saying the link may be
# down, instead of waiting on SSH's close handshake.  With a reconnect
# to follow, that loss is a warning, not an error, and the conversion
# completes.
source "$(dirname "$0")/functions.sh"
requires python3

start_sshd
out=$tmpdir/out
# (--timeout 4: the receiver of a frozen session gives the name up.)
sed -i "s|^|command=\"$RECEIVER --no-fixup --output-dir $out --timeout 4\",restrict |" \
  "$tmpdir/sshd/authorized_keys"
head -c $((64 << 20)) /dev/urandom > "$tmpdir/disk.img"
# proxy: a fresh freeze-proxy.py; sets port (and known_hosts for it).
proxy () {
  local pid
  rm -f "$tmpdir/proxy.port"
  "$top_srcdir/tests/freeze-proxy.py" "$tmpdir/proxy.port" "$SSHD_PORT" $((4 << 20)) &
  pid=$!
  on_exit "kill $pid 2>/dev/null"
  wait_for 100 test -s "$tmpdir/proxy.port" || fail "the proxy did not start"
  port=$(cat "$tmpdir/proxy.port")
  sshd_known_hosts "$tmpdir/sshd" 127.0.0.1 "$port"
}

proxy
rc=0
# shellcheck disable=SC2046
"$AGENT" send $(ssh_opts) --port "$port" --timeout 5 --retries 0 --name dead \
  "$tmpdir/disk.img" 2>&1 | while IFS= read -r line; do
    printf '%s %s\n' "$(date +%s.%N)" "$line"
  done > "$tmpdir/agent.err" || rc=$?
cat "$tmpdir/agent.err"
((rc == 1)) || fail "the agent exited $rc, want 1"
down=$(awk '/no progress talking to the receiver for 5 seconds/ { print $1; exit }' "$tmpdir/agent.err")
end=$(awk 'END { print $1 }' "$tmpdir/agent.err")
[[ -n $down ]] || fail "the agent did not notice the dead link"
grep -q "giving up" "$tmpdir/agent.err" || fail "the agent did not give up (--retries 0)"
python3 -c 'import sys; d = float(sys.argv[2]) - float(sys.argv[1]); print("tear-down: %.1f s" % d); sys.exit(d > 2)' \
  "$down" "$end" || fail "tearing down the dead session took more than 2 s"
grep -q "error: no progress talking to the receiver" "$tmpdir/agent.err" ||
  fail "with no reconnect to follow, the lost link is not an error"

# A reconnect follows (the proxy forwards new connections): a warning,
# then the conversion completes, with no error at all.
proxy
# shellcheck disable=SC2046
"$AGENT" send $(ssh_opts) --port "$port" --timeout 5 --retries 5 --retry-wait 1 \
  --name again "$tmpdir/disk.img" 2> "$tmpdir/again.err" ||
  { cat "$tmpdir/again.err"; fail "the conversion did not complete after a reconnect"; }
cat "$tmpdir/again.err"
grep -q "warning: no progress talking to the receiver for 5 seconds" "$tmpdir/again.err" ||
  fail "the recoverable link loss is not a warning"
grep -q "warning: reconnecting" "$tmpdir/again.err" || fail "no reconnect"
! grep -q "error:" "$tmpdir/again.err" || fail "a recoverable link loss printed an error"
cmp "$tmpdir/disk.img" "$out/again/disk0.raw" || fail "the image differs from the source"
echo ok
