#!/bin/bash
# test-send-striped: the striped transport (p2v-agent --streams,
# protocol 6), through our own sshd, with real receivers joining the
# session over connections of their own:
#   - four connections asked for (those that join before the end carry
#     data: at least two) give the same image and digest as one;
#   - one connection cut mid-transfer (tests/freeze-proxy.py ... cut):
#     the session fails, the next one resumes, the image is right;
#   - one connection that stops moving bytes: named after --timeout,
#     and the conversion completes on a new session all the same;
#   - a further connection whose token no session has is refused.
source "$(dirname "$0")/functions.sh"
requires python3 cmp

start_sshd
out=$tmpdir/out
head -c $((96 << 20)) /dev/urandom > "$tmpdir/disk.img"
head -c $((32 << 20)) /dev/zero >> "$tmpdir/disk.img"
head -c $((32 << 20)) /dev/urandom >> "$tmpdir/disk.img"

# send NAME PORT OPTION...: p2v-agent send through PORT; stderr in
# NAME.err, --stats in NAME.json.
send () {
  local name=$1 port=$2; shift 2
  # shellcheck disable=SC2046
  "$AGENT" send $(ssh_opts) --port "$port" --name "$name" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out --timeout 4" \
    --stats "$tmpdir/$name.json" "$@" "$tmpdir/disk.img" 2> "$tmpdir/$name.err"
}
stat_of () { json_field "$tmpdir/$1.json" "$2"; }
digest () { sed -n 's/.*"digest": "\([^"]*\)".*/\1/p' "$out/$1/report.json"; }

# proxy WHICH MODE: a fresh freeze-proxy.py that freezes or cuts its
# WHICH-th connection after 8 MiB; sets port (and known_hosts for it).
proxy () {
  local pid
  rm -f "$tmpdir/proxy.port"
  "$top_srcdir/tests/freeze-proxy.py" "$tmpdir/proxy.port" "$SSHD_PORT" \
    $((8 << 20)) "$1" "$2" &
  pid=$!
  on_exit "kill $pid 2>/dev/null"
  wait_for 100 test -s "$tmpdir/proxy.port" || fail "the proxy did not start"
  port=$(cat "$tmpdir/proxy.port")
  sshd_known_hosts "$tmpdir/sshd" 127.0.0.1 "$port"
}

# 1. One connection, then four: the same image, the same digest.
send one "$SSHD_PORT" --streams 1 || { cat "$tmpdir/one.err"; fail "one stream failed"; }
(($(stat_of one streams) == 1)) || fail "--streams 1 used $(stat_of one streams) connections"
# (A loaded machine may finish before the last ones have joined: the
# first connection carries data from the start, the others as they come.)
send four "$SSHD_PORT" --streams 4 -v ||
  { cat "$tmpdir/four.err"; fail "four streams failed"; }
(($(stat_of four streams) >= 2)) ||
  { cat "$tmpdir/four.err"; fail "--streams 4 used $(stat_of four streams) connection(s)"; }
echo "four: $(stat_of four streams) connections carried data"
(($(stat_of four sessions) == 1)) || fail "four streams took more than one session"
grep -q "joined: [2-4] of 4 carry data" "$tmpdir/four.err" ||
  fail "the agent did not say the connections joined"
! grep -q "p2v-agent: error:" "$tmpdir/four.err" ||
  { grep "error:" "$tmpdir/four.err"; fail "a striped conversion that worked printed an error"; }
cmp "$out/one/disk0.raw" "$out/four/disk0.raw" || fail "four streams gave another image"
cmp "$tmpdir/disk.img" "$out/four/disk0.raw" || fail "the image differs from the source"
[[ -n $(digest four) && $(digest four) == "$(digest one)" ]] ||
  fail "the digests differ: $(digest one) vs $(digest four)"
"$RECEIVER" verify "$out/four" || fail "p2v-receiver verify failed on the striped image"
# Each joined receiver has exited with the session: none is left.
# (The [ ] keeps pgrep from matching the bash that runs it.)
wait_for 50 bash -c "! pgrep -f -- '--output-dir[ ]$out' >/dev/null" ||
  fail "receivers of the striped session are still running: $(pgrep -af -- "--output-dir[ ]$out")"

# 2. The third connection (a further one) is cut after 8 MiB.
proxy 3 cut
send cut "$port" --streams 3 --timeout 10 --retries 3 --retry-wait 1 ||
  { cat "$tmpdir/cut.err"; fail "the conversion did not survive a cut connection"; }
cat "$tmpdir/cut.err"
(($(stat_of cut sessions) >= 2)) || fail "no second session after the cut"
grep -q "warning: reconnecting" "$tmpdir/cut.err" || fail "no reconnect after the cut"
grep -Eq "resuming|continuing at offset" "$tmpdir/cut.err" ||
  fail "the second session did not resume"
cmp "$tmpdir/disk.img" "$out/cut/disk0.raw" || fail "the image differs after the cut"
[[ $(digest cut) == "$(digest one)" ]] || fail "the digest differs after the cut"

# 3. The second connection stops moving bytes after 8 MiB, without a
# FIN or RST: --timeout names it, a new session finishes the work.
proxy 2 freeze
send stall "$port" --streams 3 --timeout 4 --retries 3 --retry-wait 1 ||
  { cat "$tmpdir/stall.err"; fail "the conversion did not survive a stalled connection"; }
cat "$tmpdir/stall.err"
grep -Eq "connection [23] of 3 to the receiver moved no data for 4 seconds" \
  "$tmpdir/stall.err" || fail "the stalled connection was not named"
(($(stat_of stall sessions) >= 2)) || fail "no second session after the stall"
cmp "$tmpdir/disk.img" "$out/stall/disk0.raw" || fail "the image differs after the stall"
[[ $(digest stall) == "$(digest one)" ]] || fail "the digest differs after the stall"

# 4. A JOIN whose token no session listens for: refused, with why.
python3 - "$tmpdir/join.bin" <<'PY'
import struct, sys
payload = bytes(range(16)) + struct.pack(">I", 1)
open(sys.argv[1], "wb").write(struct.pack(">II", 19, len(payload)) + payload)
PY
# (Standard input stays open, as an agent's connection would: at its
# end the receiver would take it that the agent gave up.)
rc=0
{ cat "$tmpdir/join.bin"; sleep 3; } |
  "$RECEIVER" --output-dir "$out" --timeout 1 > "$tmpdir/join.out" \
    2> "$tmpdir/join.err" || rc=$?
cat "$tmpdir/join.err"
((rc == 1)) || fail "a JOIN for no session: exit $rc, want 1"
grep -q "no session of this agent is waiting for connection 2" "$tmpdir/join.err" ||
  fail "the refused JOIN did not say why"
echo ok
