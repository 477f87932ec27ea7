#!/bin/bash
# Two sessions for the same conversion name at once.  A receiver that
# holds the lock is made by hand: fed the HELLO and INVENTORY of a real
# stream, it waits for the first disk.
#  - Another source's agent is refused at once (BUSY), told who holds
#    the name and what to do, and changes nothing.
#  - The same source's agent (the same command run again after a kill
#    or a dead link) waits, with a countdown, for the earlier session to
#    let go, and takes over; if it does not within the receiver's
#    --timeout (+ 10 s), it is refused, told to run again later.
source "$(dirname "$0")/functions.sh"
requires perl mkfifo

head -c 3000000 /dev/urandom > "$tmpdir/src.img"
head -c 2000000 /dev/urandom > "$tmpdir/other.img"
"$AGENT" send --local --name held --quiet \
  --receiver-command "tee $tmpdir/stream | $RECEIVER --no-fixup --output-dir $tmpdir/capture" \
  "$tmpdir/src.img"
# The first two messages: HELLO and INVENTORY.
perl -e 'local $/; binmode STDIN; my $s = <STDIN>; my $p = 0;
  for (1..2) { my (undef, $n) = unpack "NN", substr ($s, $p, 8); $p += 8 + $n }
  print substr ($s, 0, $p)' < "$tmpdir/stream" > "$tmpdir/prefix"

out=$tmpdir/out
mkfifo "$tmpdir/fifo"
"$RECEIVER" --no-fixup --output-dir "$out" < "$tmpdir/fifo" > /dev/null 2>"$tmpdir/holder.err" &
holder=$!
on_exit "kill $holder 2>/dev/null"
exec 3>"$tmpdir/fifo"          # keep its input open: it waits for a disk
on_exit "exec 3>&-"
cat "$tmpdir/prefix" >&3
wait_for 100 grep -q "receiving 'held'" "$tmpdir/holder.err" ||
  fail "the first receiver did not start: $(cat "$tmpdir/holder.err")"

# refused IMAGE WHAT [RECEIVER OPTION]...: an agent for 'held' that
# must fail (WHAT says what its success would be); its stderr in err.
refused () {
  local img=$1 what=$2 rc=0
  shift 2
  "$AGENT" send --local --name held \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out $*" "$img" \
    2>"$tmpdir/err" || rc=$?
  cat "$tmpdir/err"
  ((rc != 0)) || fail "$what"
}

refused "$tmpdir/other.img" "another source's session for the same name was accepted"
grep -q "conversion 'held' is being received by another session, of another source (receiver pid $holder, last commit [0-9]* s ago); choose another --name, or stop that session first" \
  "$tmpdir/err" || fail "no clear refusal"
grep -qx receiving "$out/held/status" || fail "the refusal touched the status"
kill -0 "$holder" || fail "the first receiver died"

# The same source, while the earlier session holds on (its --timeout is
# 120 s; ours 1 s): it waits 11 s, then is refused, told what to do.
refused "$tmpdir/src.img" "the same source took over a session that is still alive" --timeout 1
grep -q "receiver: conversion 'held' is still held by this source's earlier session (receiver pid $holder), which lets it go once it notices its lost link; waiting up to 11 s to take over" \
  "$tmpdir/err" || fail "no countdown"
grep -q "still held by this source's earlier session (receiver pid $holder) after 11 s: .*run the same command again later" \
  "$tmpdir/err" || fail "no clear refusal after the wait"
kill -0 "$holder" || fail "the first receiver died"

# Once the first session ends, the name is free again: the next agent
# resumes it (nothing was received, so it starts from the beginning).
exec 3>&-
wait "$holder" || true
"$AGENT" send --local --name held --quiet \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out" "$tmpdir/src.img" ||
  fail "the name stayed locked"
cmp "$tmpdir/src.img" "$out/held/disk0.raw" || fail "image differs"

# Taking over: the earlier session (--timeout 4) lets go once it
# notices its silent link; the same source's new agent, run at once,
# waits for it and completes.
perl -0777 -pe 's/held/take/g' < "$tmpdir/prefix" > "$tmpdir/prefix-take"
mkfifo "$tmpdir/fifo2"
"$RECEIVER" --no-fixup --output-dir "$out" --timeout 4 < "$tmpdir/fifo2" > /dev/null \
  2>"$tmpdir/holder2.err" &
holder2=$!
on_exit "kill $holder2 2>/dev/null"
exec 4>"$tmpdir/fifo2"
on_exit "exec 4>&-"
cat "$tmpdir/prefix-take" >&4
wait_for 100 grep -q "receiving 'take'" "$tmpdir/holder2.err" ||
  fail "the earlier session did not start: $(cat "$tmpdir/holder2.err")"
"$AGENT" send --local --name take \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out --timeout 4" "$tmpdir/src.img" \
  2>"$tmpdir/err" || { cat "$tmpdir/err"; fail "the same source's new session did not take over"; }
cat "$tmpdir/err"
grep -q "waiting up to 14 s to take over" "$tmpdir/err" || fail "no countdown"
cmp "$tmpdir/src.img" "$out/take/disk0.raw" || fail "the image taken over differs"
echo ok
