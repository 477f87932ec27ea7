#!/bin/bash
# test-agent-progress: the progress bar on a terminal (under script(1),
# a pseudo-terminal) ends before the receiver's summary, never redrawn
# after it; and a run that fails ends with its error, no stray "0% ...
# ETA --:--" bar after it.  While the receiver publishes (a fixup that
# sleeps until --fixup-timeout stops it), the terminal shows what it
# does ("receiver is running p2v-fixup (N s)"), cleared before the
# summary.
source "$(dirname "$0")/functions.sh"
requires script

head -c 20000000 /dev/urandom > "$tmpdir/disk.img"
head -c 1000000 /dev/urandom > "$tmpdir/other.img"
# on_tty LOG IMAGE [NAME RECEIVER-OPTIONS]: send IMAGE as NAME (bar) on
# a pseudo-terminal; LOG gets what the terminal showed, a line per \r
# or \n.
on_tty () {
  local rc=0
  script -qec "$AGENT send --local --name ${3:-bar} --timeout 2 $2 --receiver-command \
'$RECEIVER ${4:---no-fixup} --output-dir $tmpdir/out'" "$tmpdir/typescript" > /dev/null || rc=$?
  tr '\r' '\n' < "$tmpdir/typescript" | grep -v '^$' | grep -v '^Script ' > "$1"
  cat "$1"
  return $rc
}

on_tty "$tmpdir/ok.log" "$tmpdir/disk.img" || fail "the conversion failed"
summary=$(grep -n "receiver: 'bar' is in" "$tmpdir/ok.log" | cut -d: -f1)
[[ -n $summary ]] || fail "no summary"
grep -q "100% " "$tmpdir/ok.log" || fail "no final bar"
tail -n +"$summary" "$tmpdir/ok.log" | grep -q "ETA" && fail "the bar was drawn after the summary"

on_tty "$tmpdir/fail.log" "$tmpdir/other.img" && fail "a clashing conversion succeeded"
err=$(grep -n "error: the receiver stopped" "$tmpdir/fail.log" | cut -d: -f1)
[[ -n $err ]] || fail "no error"
tail -n +"$err" "$tmpdir/fail.log" | grep -q "ETA" && fail "a bar was drawn after the error"

sleeping_fixup "$tmpdir/fixup"
on_tty "$tmpdir/busy.log" "$tmpdir/other.img" busy \
  "--fixup-program $tmpdir/fixup --fixup-timeout 4" || fail "the slow conversion failed"
on_exit "kill \$(cat $tmpdir/fixup.pid $tmpdir/appliance.pid 2>/dev/null) 2>/dev/null"
busy=$(grep -n $'^\033\\[Kreceiver is running p2v-fixup ([0-9] s)$' "$tmpdir/busy.log" |
  tail -1 | cut -d: -f1)
summary=$(grep -n "receiver: 'busy' is in" "$tmpdir/busy.log" | cut -d: -f1)
[[ -n $busy && -n $summary ]] || fail "no status line while the receiver published"
((busy < summary)) || fail "the status line came after the summary"
grep -q $'^\033\\[Kp2v-agent: receiver: \'busy\' is in' "$tmpdir/busy.log" ||
  fail "the status line was not cleared before the summary"
echo ok
