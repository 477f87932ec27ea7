#!/bin/bash
# Fuzz the receiver session for a while (default 60 s), seeded with a
# real stream captured from p2v-agent.  Usage:
#   tests/fuzz-receiver.sh FUZZ_BINARY [SECONDS]
# Crashes are kept in $P2V_BUILD/fuzz-crashes/ and fail the run.
fuzzer=$1 seconds=${2:-60}
source "$(dirname "$0")/functions.sh"

corpus=$tmpdir/corpus
mkdir -p "$corpus"
head -c 200000 /dev/urandom > "$tmpdir/a.img"
truncate -s 1M "$tmpdir/a.img"
"$AGENT" send --local --name seed --quiet --chunk-size 64K \
  --receiver-command "tee $corpus/stream | $RECEIVER --no-fixup --output-dir $tmpdir/out" \
  "$tmpdir/a.img"
head -c 300 "$corpus/stream" > "$corpus/head"
# As root, a hot clone's stream too (protocol 3: passes, hash requests).
if (($(id -u) == 0)) && command -v mkfs.ext4 losetup > /dev/null; then
  truncate -s 8M "$tmpdir/h.img"
  mkfs.ext4 -q "$tmpdir/h.img"
  dev=$(losetup -f --show "$tmpdir/h.img")
  on_exit "losetup -d $dev 2>/dev/null"
  mkdir "$tmpdir/m" && mount "$dev" "$tmpdir/m"
  on_exit "umount $tmpdir/m 2>/dev/null"
  head -c 300000 /dev/urandom > "$tmpdir/m/f"
  # Writes while it copies, so that a later pass has chunks to send.
  ( for i in $(seq 40); do head -c 65536 /dev/urandom >> "$tmpdir/m/f"; sync; sleep 0.02; done ) &
  w=$!
  "$AGENT" hot-clone --local --name hot --quiet --chunk-size 64K --tracker=none \
    --receiver-command "tee $corpus/hot | $RECEIVER --no-fixup --output-dir $tmpdir/out" \
    "$dev" || echo "fuzz-receiver: no hot clone seed" >&2
  wait "$w" || true
  umount "$tmpdir/m"
fi
cp "$top_srcdir"/tests/fuzz-corpus/* "$corpus/"   # past findings
crashes=$P2V_BUILD/fuzz-crashes
mkdir -p "$crashes"
# Nearly every input is an error the receiver reports on stderr:
# close_fd_mask=2 silences that, keeping libFuzzer's and the sanitizers'
# own output.
"$fuzzer" -max_total_time="$seconds" -max_len=300000 -timeout=10 \
  -close_fd_mask=2 \
  -rss_limit_mb=2048 -artifact_prefix="$crashes/" -print_final_stats=1 \
  "$corpus" 2>&1 | tail -n 25
