#!/bin/bash
# test-agent-progress: the progress bar on a terminal (under script(1),
# a pseudo-terminal) ends before the receiver's summary, never redrawn
# after it; and a run that fails ends with its error, no stray "0% ...
# ETA --:--" bar after it.
source "$(dirname "$0")/functions.sh"
requires script

head -c 20000000 /dev/urandom > "$tmpdir/disk.img"
head -c 1000000 /dev/urandom > "$tmpdir/other.img"
# on_tty LOG IMAGE: send IMAGE as 'bar' on a pseudo-terminal; LOG gets
# what the terminal showed, a line per \r or \n.
on_tty () {
  local rc=0
  script -qec "$AGENT send --local --name bar $2 --receiver-command \
'$RECEIVER --no-fixup --output-dir $tmpdir/out'" "$tmpdir/typescript" > /dev/null || rc=$?
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
echo ok
