#!/bin/bash
# test-agent-dead-link: a link that dies without a FIN or RST (a proxy
# that stops moving bytes mid-transfer, tests/freeze-proxy.py) is
# noticed after --timeout, and the dead session is torn down at once:
# the agent ends (--retries 0) within 2 s of saying the link may be
# down, instead of waiting on SSH's close handshake.
source "$(dirname "$0")/functions.sh"
requires python3

start_sshd
out=$tmpdir/out
sed -i "s|^|command=\"$RECEIVER --no-fixup --output-dir $out\",restrict |" \
  "$tmpdir/sshd/authorized_keys"
head -c $((64 << 20)) /dev/urandom > "$tmpdir/disk.img"
"$top_srcdir/tests/freeze-proxy.py" "$tmpdir/proxy.port" "$SSHD_PORT" $((4 << 20)) &
proxy=$!
on_exit "kill $proxy 2>/dev/null"
wait_for 100 test -s "$tmpdir/proxy.port" || fail "the proxy did not start"
port=$(cat "$tmpdir/proxy.port")
sshd_known_hosts "$tmpdir/sshd" 127.0.0.1 "$port"

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
echo ok
