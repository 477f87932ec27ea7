#!/bin/bash
# Two sessions for the same conversion name at once: the second is
# refused (BUSY), names the session holding it, and changes nothing.
# A receiver that holds the lock is made by hand: fed the HELLO and
# INVENTORY of a real stream, it waits for the first disk.
source "$(dirname "$0")/functions.sh"
requires perl mkfifo

head -c 3000000 /dev/urandom > "$tmpdir/src.img"
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

rc=0
"$AGENT" send --local --name held --quiet \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out" "$tmpdir/src.img" \
  2>"$tmpdir/err" || rc=$?
cat "$tmpdir/err"
((rc != 0)) || fail "a second session for the same name was accepted"
grep -q "conversion 'held' is being received by another session (receiver pid $holder, last commit [0-9]* s ago); a second agent for the same name is refused" \
  "$tmpdir/err" || fail "no clear refusal"
grep -qx receiving "$out/held/status" || fail "the refusal touched the status"
kill -0 "$holder" || fail "the first receiver died"

# Once the first session ends, the name is free again: the next agent
# resumes it (nothing was received, so it starts from the beginning).
exec 3>&-
wait "$holder" || true
"$AGENT" send --local --name held --quiet \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out" "$tmpdir/src.img" ||
  fail "the name stayed locked"
cmp "$tmpdir/src.img" "$out/held/disk0.raw" || fail "image differs"
echo ok
