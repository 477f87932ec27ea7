#!/bin/bash
# A corrupted, truncated or hostile stream fed to the receiver gives a
# clear error naming the problem, a non-zero exit, an ERROR message back
# to the agent, nothing written outside DIR/NAME, and no image that
# looks finished.
source "$(dirname "$0")/functions.sh"
requires perl sfdisk mkfs.ext4 zstd

make_test_disk "$tmpdir/src.img" 24
# Capture what the agent sends, by putting tee in front of the receiver
# (a small window: the receiver commits every 2 MiB).
"$AGENT" send --local --name zzzzzz --quiet --window 4M \
  --receiver-command "tee $tmpdir/stream | $RECEIVER --no-fixup --output-dir $tmpdir/orig" \
  "$tmpdir/src.img"
[[ -f $tmpdir/orig/zzzzzz/disk0.raw ]] || fail "capture run failed"
size=$(stat -c %s "$tmpdir/stream")

# feed CASE EXPECTED-MESSAGE: run the receiver on $tmpdir/in.
feed () {
  local case=$1 want=$2 out=$tmpdir/out-$1 rc=0
  "$RECEIVER" --no-fixup --output-dir "$out" < "$tmpdir/in" > "$tmpdir/reply" \
    2> "$tmpdir/err" || rc=$?
  echo "--- $case: exit $rc: $(cat "$tmpdir/err")"
  ((rc != 0)) || fail "$case: receiver exited 0"
  grep -q -- "$want" "$tmpdir/err" || fail "$case: message lacks '$want'"
  if compgen -G "$out/*/disk*.raw" >/dev/null; then
    fail "$case: a finished-looking image exists: $(ls "$out"/*/)"
  fi
  # Only the conversion directory and its lock, never anything else.
  local stray
  stray=$(find "$out" -mindepth 1 2>/dev/null |
          grep -v "^$out/zzzzzz\(/[^/]*\)\?\$" | grep -v "^$out/\.zzzzzz\.lock\$" ||
          true)
  [[ -z $stray ]] || fail "$case: written outside DIR/NAME: $stray"
  if [[ -d $out/zzzzzz ]]; then
    grep -q '^failed: ' "$out/zzzzzz/status" ||
      fail "$case: status is not failed: $(cat "$out/zzzzzz/status")"
    [[ ! -e $out/zzzzzz/report.json ]] || fail "$case: report written"
  fi
  rm -rf "$out"
}

# Damaged data, hashes, digests, offsets.  The agent gets an ERROR too.
perl "$top_srcdir"/tests/mutate-stream.pl flip-data < "$tmpdir/stream" > "$tmpdir/in"
feed flip-data "chunk at offset"
grep -aq "chunk at offset" "$tmpdir/reply" || fail "no ERROR sent back"
perl "$top_srcdir"/tests/mutate-stream.pl bad-hash < "$tmpdir/stream" > "$tmpdir/in"
feed bad-hash "hash mismatch"
perl "$top_srcdir"/tests/mutate-stream.pl bad-zero-hash < "$tmpdir/stream" > "$tmpdir/in"
feed bad-zero-hash "malformed CHUNK"
perl "$top_srcdir"/tests/mutate-stream.pl bad-digest < "$tmpdir/stream" > "$tmpdir/in"
feed bad-digest "digest mismatch"
# A digest mismatch at DISK_END leaves nothing of that session trusted:
# the same agent run again sends the disk again (not just what was
# missing after it) and ends with the digest of an uninterrupted run.
"$RECEIVER" --no-fixup --output-dir "$tmpdir/dig" < "$tmpdir/in" > /dev/null 2>&1 &&
  fail "bad-digest: receiver exited 0"
"$AGENT" send --local --name zzzzzz --window 4M --stats "$tmpdir/dig.stats" \
  --receiver-command "$RECEIVER --no-fixup --output-dir $tmpdir/dig" \
  "$tmpdir/src.img" 2> "$tmpdir/dig.err" || { cat "$tmpdir/dig.err"; fail "bad-digest: the re-run failed"; }
digest () { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["disks"][0]["digest"])' "$1/zzzzzz/report.json"; }
[[ $(digest "$tmpdir/dig") == "$(digest "$tmpdir/orig")" ]] ||
  fail "bad-digest: the re-run's digest $(digest "$tmpdir/dig") is not an uninterrupted run's $(digest "$tmpdir/orig")"
cmp "$tmpdir/dig/zzzzzz/disk0.raw" "$tmpdir/orig/zzzzzz/disk0.raw" || fail "bad-digest: the images differ"
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wire_bytes"])' "$tmpdir/dig.stats")
echo "bad-digest: the re-run sent $sent bytes, the first run $size"
((sent > size / 2)) || fail "bad-digest: the re-run sent only $sent bytes (the first run $size): it trusted the bad session"
perl "$top_srcdir"/tests/mutate-stream.pl bad-offset < "$tmpdir/stream" > "$tmpdir/in"
feed bad-offset "refusing chunk at offset"
perl "$top_srcdir"/tests/mutate-stream.pl past-end < "$tmpdir/stream" > "$tmpdir/in"
feed past-end "refusing chunk at offset"
perl "$top_srcdir"/tests/mutate-stream.pl bomb < "$tmpdir/stream" > "$tmpdir/in"
feed bomb "expands beyond its declared length"
perl "$top_srcdir"/tests/mutate-stream.pl read-error-past-end < "$tmpdir/stream" > "$tmpdir/in"
feed read-error-past-end "refusing READ_ERROR at offset"
perl "$top_srcdir"/tests/mutate-stream.pl version < "$tmpdir/stream" > "$tmpdir/in"
feed version "no common protocol version: agent (p2v-agent [^)]*) speaks 99-99"
grep -aq "no common protocol version" "$tmpdir/reply" || fail "no ERROR sent back"

# Truncated: mid-stream at a few places, and before DONE.
for cut in 100 $((size / 3)) $((size / 2)) $((size - 9)); do
  head -c "$cut" "$tmpdir/stream" > "$tmpdir/in"
  feed "truncated-at-$cut" "disconnected\|closed\|hello\|inventory"
done

# Hostile names: the directory must never be created outside DIR.
for bad in '../../' 'a/b/cd' '.hidde'; do
  BAD=$bad perl -0777 -pe 's/zzzzzz/$ENV{BAD}/' < "$tmpdir/stream" > "$tmpdir/in"
  feed "name-$bad" "refusing conversion name"
done
[[ ! -e $tmpdir/a ]] || fail "a hostile name created a directory"

# Not our protocol at all; an absurd length; wrong first message.
printf 'SSH-2.0-OpenSSH\r\n' > "$tmpdir/in"
feed garbage "not p2v protocol"
printf '\0\0\0\1\x7f\xff\xff\xff' > "$tmpdir/in"   # HELLO of 2 GiB
feed oversize "more than the protocol allows"
tail -c +$((8 + 36 + 1)) "$tmpdir/stream" > "$tmpdir/in"
feed no-hello "expected a p2v HELLO\|not p2v protocol"
echo ok
