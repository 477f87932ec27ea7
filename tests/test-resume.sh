#!/bin/bash
# Resume after a dropped link.  Over a 100 Mbit/s link to an sshd in a
# network namespace, one conversion is cut at 10 random points, killing
# either the SSH connection's sshd process (the receiver sees its input
# end and saves what arrived) or the receiver itself (SIGKILL: only what
# it had acknowledged survives).  The agent reconnects by itself each
# time; the image must come out byte-identical, with the same whole-disk
# digest as an uninterrupted conversion, and no cut may cost more than
# one window of data sent again.  Then the same across separate runs,
# and a different source under the same name is refused.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/link.sh"
requires ip tc pgrep

MIB=$((1 << 20))
size_mb=80 window=$((4 * MIB)) cuts=10
link_parse 100mbit
link_setup
start_sshd_link

out=$tmpdir/out
head -c $((size_mb * MIB)) /dev/urandom > "$tmpdir/src.img"
send () {
  "$AGENT" send --to "$(id -un)@$LINK_NS_ADDR" --port "$SSHD_PORT" \
    --identity "$SSH_KEY" --known-hosts "$SSH_KNOWN_HOSTS" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out" \
    --chunk-size 256K --window "$window" --retry-wait 1 --streams 1 "$@"
}

# Processes below our sshd: the connection's sshd, the receiver.
descendants () {
  local p
  for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done
}
receiver_pid () {
  local p
  for p in $(descendants "$SSHD_PID"); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == p2v-receiver ]] && echo "$p"
  done | head -1
}
session_pid () { pgrep -P "$SSHD_PID" | head -1; }
received () {
  local f=$out/$1/disk0.raw.partial
  [[ -e $f ]] && echo $(($(stat -c %b "$f") * 512)) || echo 0
}
# cut NAME BYTES HOW: once the receiver holds BYTES, cut the link.
cut () {
  local pid tries=600
  while (($(received "$1") < $2)); do
    ((tries-- > 0)) || fail "the receiver never got to $2 bytes"
    kill -0 "$agent" 2>/dev/null || fail "the agent ended before cut at $2"
    sleep 0.05
  done
  old_receiver=$(receiver_pid)
  if [[ $3 == session ]]; then pid=$(session_pid); else pid=$old_receiver; fi
  [[ -n $pid ]] || fail "no $3 process to kill at $2 bytes"
  echo "cut at $2 bytes ($(received "$1") received): SIGKILL $3 (pid $pid)"
  kill -KILL "$pid"
}
gone () { ! kill -0 "$1" 2>/dev/null; }
new_receiver () { local p; p=$(receiver_pid); [[ -n $p && $p != "$old_receiver" ]]; }

# --- 10 cuts in one send ------------------------------------------------
send --name cut --retries 5 --stats "$tmpdir/stats.json" \
  "$tmpdir/src.img" 2>"$tmpdir/agent.err" &
agent=$!
on_exit "kill $agent 2>/dev/null"
# One random point in each tenth of the disk's middle, at least half a
# tenth apart: a cut closer to the one before could already lie behind
# what the receiver kept, and the session after it would finish first.
seg=$(((size_mb - 8) * MIB / cuts))
mapfile -t points < <(for ((i = 0; i < cuts; i++)); do
  echo $((2 * MIB + i * seg + (RANDOM * 32768 + RANDOM) % (seg / 2))); done)
for ((i = 0; i < cuts; i++)); do
  how=session; ((i % 2)) && how=receiver
  cut cut "${points[i]}" "$how"
  # The next cut needs the agent back on the line.
  wait_for 100 gone "$old_receiver" || fail "receiver $old_receiver lives on"
  ((i == cuts - 1)) || wait_for 600 new_receiver || fail "no reconnect after cut $i"
done
wait "$agent" || { cat "$tmpdir/agent.err"; fail "send failed (exit $?)"; }
cat "$tmpdir/stats.json"
cmp "$tmpdir/src.img" "$out/cut/disk0.raw" || fail "image differs"
grep -qx complete "$out/cut/status" || fail "status: $(cat "$out/cut/status")"
sessions=$(json_field "$tmpdir/stats.json" sessions)
((sessions >= cuts + 1)) || fail "$sessions sessions for $cuts cuts"
resent=$(sed -n 's/.*"resent_bytes":\[\([0-9,]*\)\].*/\1/p' "$tmpdir/stats.json")
for r in ${resent//,/ }; do
  ((r <= window)) || fail "a cut cost $r bytes sent again (window $window)"
done
echo "sent again per cut: $resent (window $window)"
grep -q "resuming at offset" "$tmpdir/agent.err" ||
  fail "no resume reported: $(cat "$tmpdir/agent.err")"

# The digest of an uninterrupted conversion with the same chunk size.
"$AGENT" send --local --name whole --chunk-size 256K -q "$tmpdir/src.img" \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out"
digest () { sed -n 's/.*"digest": "\([^"]*\)".*/\1/p' "$out/$1/report.json"; }
[[ $(digest cut) == "$(digest whole)" ]] ||
  fail "digest $(digest cut) after cuts, $(digest whole) without"
"$RECEIVER" verify "$out/cut" || fail "verify failed"

# --- across separate runs -----------------------------------------------
send --name runs --retries 0 "$tmpdir/src.img" 2>"$tmpdir/run1.err" &
agent=$!
cut runs $((size_mb * MIB / 2)) session
if wait "$agent"; then fail "the first run survived its cut"; fi
# The agent ends at the cut; the receiver writes its status after it
# has made what arrived durable.
wait_for 100 gone "$old_receiver" || fail "receiver $old_receiver lives on"
cat "$tmpdir/run1.err"
grep -q "run the same command again to resume" "$tmpdir/run1.err" ||
  fail "no advice to re-run"
grep -q '^failed: ' "$out/runs/status" || fail "status: $(cat "$out/runs/status")"
[[ ! -e $out/runs/disk0.raw ]] || fail "a finished-looking image after a cut"

# A different disk under the same name is refused, and harms nothing.
head -c $((size_mb * MIB)) /dev/urandom > "$tmpdir/other.img"
if send --name runs --retries 0 "$tmpdir/other.img" 2>"$tmpdir/other.err"; then
  fail "a different source resumed someone else's conversion"
fi
cat "$tmpdir/other.err"
grep -q "is an unfinished copy of a different source (disk 0 was .*src.img" \
  "$tmpdir/other.err" || fail "no clear refusal"
grep -q '^failed: ' "$out/runs/status" || fail "refusal changed the status"

send --name runs --retries 0 -v "$tmpdir/src.img" 2>"$tmpdir/run2.err" ||
  { cat "$tmpdir/run2.err"; fail "second run failed"; }
grep -q "resuming the unfinished conversion 'runs'" "$tmpdir/run2.err" ||
  fail "second run did not resume"
grep "resuming 'runs'" "$tmpdir/run2.err"
cmp "$tmpdir/src.img" "$out/runs/disk0.raw" || fail "image differs after runs"
grep -q '"resumed": true' "$out/runs/report.json" || fail "report: not resumed"
echo ok
