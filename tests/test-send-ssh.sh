#!/bin/bash
# A real disk image (MBR, ext4 made by mkfs with files, swap) sent through
# our own sshd on 127.0.0.1 arrives byte-identical and sparse; an
# account that answers with text instead of a receiver is shown saying
# it.
source "$(dirname "$0")/functions.sh"
requires ssh-keygen sfdisk mkfs.ext4 mkswap sha256sum

start_sshd
make_test_disk "$tmpdir/src.img" 64
out=$tmpdir/out

"$AGENT" send $(ssh_opts) --name web01 \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out" \
  --stats "$tmpdir/stats.json" --machine-readable "$tmpdir/src.img" \
  > "$tmpdir/events.jsonl"

img=$out/web01/disk0.raw
[[ -f $img ]] || fail "no image at $img"
[[ ! -e $img.partial ]] || fail "partial file left behind"
[[ $(cat "$out/web01/status") == complete ]] || fail "status not complete"
src_sum=$(sha256sum < "$tmpdir/src.img")
dst_sum=$(sha256sum < "$img")
[[ $src_sum == "$dst_sum" ]] || fail "image differs from the source"

# Sparse: allocated close to the source's non-zero bytes (4 KiB blocks).
nz=$(nonzero_bytes "$tmpdir/src.img")
alloc=$(allocated_bytes "$img")
echo "non-zero source bytes $nz, allocated output bytes $alloc"
((alloc >= nz)) || fail "allocated $alloc < non-zero $nz: data missing?"
((alloc <= nz + nz / 20 + 65536)) || fail "allocated $alloc >> non-zero $nz"

# The stats name what crossed the wire.
for f in wire_bytes source_bytes data_bytes zero_bytes seconds; do
  grep -q "\"$f\":" "$tmpdir/stats.json" || fail "stats lack $f"
done
grep -q '"source_bytes":67108864' "$tmpdir/stats.json" ||
  fail "source_bytes wrong: $(cat "$tmpdir/stats.json")"
wire=$(sed 's/.*"wire_bytes":\([0-9]*\).*/\1/' "$tmpdir/stats.json")
((wire < nz)) || fail "wire bytes $wire not below non-zero bytes $nz"

# Machine-readable progress: a disk event, progress and done.
events=$(cat "$tmpdir/events.jsonl")
grep -q '"event":"disk"' <<<"$events" || fail "no disk event"
grep -q '"event":"progress"' <<<"$events" || fail "no progress event"
grep -q '"event":"done"' <<<"$events" || fail "no done event"
grep -q '"name": "web01"' "$out/web01/report.json" || fail "no report"

# No receiver at the other end, but an account whose shell says why
# (nologin): its words are shown, not a message type number.
rc=0
"$AGENT" send $(ssh_opts) --name nl \
  --receiver-command "echo 'This account is currently not available.'; exit 1" \
  "$tmpdir/src.img" 2> "$tmpdir/nl.err" || rc=$?
cat "$tmpdir/nl.err"
((rc == 1)) || fail "the agent exited $rc with no receiver at the other end"
grep -q 'not p2v protocol: it says "This account is currently not available."' "$tmpdir/nl.err" ||
  fail "the peer's words are not shown"
echo ok
