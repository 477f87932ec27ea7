#!/bin/bash
# An existing conversion name is refused and left untouched; the same
# source again is no failure: "already complete", where, exit 0, and
# nothing sent (a re-run after the agent died past DONE); the
# receiver's --force replaces it.
source "$(dirname "$0")/functions.sh"

head -c 300000 /dev/urandom > "$tmpdir/one.img"
head -c 200000 /dev/urandom > "$tmpdir/two.img"
out=$tmpdir/out
send () {
  "$AGENT" send --local --name db1 --quiet "$2" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out $1"
}

send "" "$tmpdir/one.img" || fail "first send failed"
sum1=$(sha256sum < "$out/db1/disk0.raw")

if send "" "$tmpdir/two.img" 2>"$tmpdir/err"; then
  fail "a second conversion with the same name was accepted"
fi
cat "$tmpdir/err"
grep -q "conversion 'db1' already exists" "$tmpdir/err" ||
  fail "message does not name the clash"
grep -q -- "--force" "$tmpdir/err" || fail "message does not say what to do"
[[ $(sha256sum < "$out/db1/disk0.raw") == "$sum1" ]] ||
  fail "the existing image was modified"
[[ $(cat "$out/db1/status") == complete ]] ||
  fail "the existing status was modified: $(cat "$out/db1/status")"

# The same source again: nothing to do, it says so and where, exit 0.
mtime=$(stat -c %Y.%y "$out/db1/disk0.raw" "$out/db1/status")
"$AGENT" send --local --name db1 "$tmpdir/one.img" \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out" 2>"$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "re-running a complete conversion failed"; }
cat "$tmpdir/err"
grep -q "receiver: conversion 'db1' is already complete in $out/db1 (complete): nothing to receive" \
  "$tmpdir/err" || fail "no 'already complete' message naming the directory"
grep -q "'db1' was already complete on the receiver: nothing sent" "$tmpdir/err" ||
  fail "no summary saying nothing was sent"
! grep -q "error" "$tmpdir/err" || fail "an error was reported"
[[ $(sha256sum < "$out/db1/disk0.raw") == "$sum1" &&
   $(stat -c %Y.%y "$out/db1/disk0.raw" "$out/db1/status") == "$mtime" ]] ||
  fail "the existing conversion was modified"
[[ $(cat "$out/db1/status") == complete ]] || fail "status: $(cat "$out/db1/status")"

send --force "$tmpdir/two.img" || fail "--force did not replace"
[[ $(sha256sum < "$out/db1/disk0.raw") == "$(sha256sum < "$tmpdir/two.img")" ]] ||
  fail "--force left the old image"

# --force refuses to empty a directory holding files that are not ours.
echo precious > "$out/db1/notes.txt"
if send --force "$tmpdir/one.img" 2>"$tmpdir/err"; then
  fail "--force removed a directory with foreign files"
fi
grep -q "notes.txt" "$tmpdir/err" || fail "foreign file not named"
[[ -f $out/db1/notes.txt ]] || fail "foreign file removed"
echo ok
