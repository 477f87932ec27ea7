#!/bin/bash
# p2v-receiver verify DIR/NAME re-reads the images against the journal:
# "verified" for a good conversion; for a damaged image, exactly the
# chunks that differ (a changed data byte, a byte written into what was
# received as zeros), in its output, its exit status and report.json.
# receive --verify does the same check before calling a conversion
# complete.
source "$(dirname "$0")/functions.sh"

KIB=1024
# 64 KiB chunks: data, then zeros, then data.
{ head -c $((256 * KIB)) /dev/urandom; head -c $((512 * KIB)) /dev/zero
  head -c $((256 * KIB)) /dev/urandom; } > "$tmpdir/src.img"
out=$tmpdir/out
"$AGENT" send --local --name v --chunk-size 64K --quiet \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out --verify" "$tmpdir/src.img"
grep -q '"verification": { "result": "verified" }' "$out/v/report.json" ||
  fail "--verify did not record a result: $(cat "$out/v/report.json")"

"$RECEIVER" verify "$out/v" 2>"$tmpdir/err" || fail "verify of a good image failed"
cat "$tmpdir/err"
grep -q "verified: 1.0 MiB of 1 disk image(s) match the journal" "$tmpdir/err" ||
  fail "no clear verdict"

# Damage: a byte in the second data chunk, a byte in the zero range.
flip () { printf '\xa5' | dd of="$out/v/disk0.raw" bs=1 seek="$1" conv=notrunc status=none; }
flip $((64 * KIB + 1000))
flip $((600 * KIB))
rc=0
"$RECEIVER" verify "$out/v" 2>"$tmpdir/err" || rc=$?
cat "$tmpdir/err"
((rc == 1)) || fail "exit status $rc for a damaged image, want 1"
grep -q "2 range(s) of the images differ from what was received" "$tmpdir/err" ||
  fail "no count of bad ranges"
grep -q "disk 0 offset $((64 * KIB)) length $((64 * KIB))" "$tmpdir/err" ||
  fail "the damaged data chunk is not named"
# The zero range came as one ZERO chunk; the whole of it is named.
grep -q "disk 0 offset $((256 * KIB)) length $((512 * KIB))" "$tmpdir/err" ||
  fail "the damaged zero range is not named"
grep -q "\"verification\": { \"result\": \"failed\", \"bad_ranges\": \\[ { \"disk\": 0, \"offset\": $((64 * KIB)), \"length\": $((64 * KIB)) }" \
  "$out/v/report.json" || fail "report.json: $(grep verification "$out/v/report.json")"

rc=0
"$RECEIVER" verify "$tmpdir/nothing" 2>"$tmpdir/err" || rc=$?
((rc == 2)) || fail "exit status $rc for a missing conversion, want 2"
grep -q "nothing" "$tmpdir/err" || fail "no message naming the path"
echo ok
