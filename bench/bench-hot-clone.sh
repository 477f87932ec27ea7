#!/bin/bash
# bench/bench-hot-clone.sh [BUILD_DIR]: copy a mounted filesystem while a
# steady writer runs (P2V_BENCH_RATE_MB MB/s of appends and overwrites,
# each synced), through our loopback sshd, and compare with what an
# operator would otherwise do:
#
#   hot-clone     p2v-agent hot-clone: passes while the server runs, then
#                 the final pass with the filesystem frozen
#   cold p2v      stop the writer, p2v-agent send the device (the
#                 downtime is the whole copy)
#   stop+dd|ssh   stop the writer, dd if=DEV | ssh "cat > OUT"
#
# Prints bytes sent, passes, the time the filesystem was held (freeze:
# the downtime) and ratios; writes BUILD_DIR/bench-hot-clone.json.  The
# hot clone's target is checked with its fsck (tests/test-hot-clone.sh
# checks it byte for byte against the frozen device; a copy taken here
# while frozen would lengthen the freeze it measures).  Needs root.
#
# Environment: P2V_BENCH_SIZE_MB (disk, default 4096), P2V_BENCH_DATA_MB
# (files on it, default 1536), P2V_BENCH_RATE_MB (writer, default 5),
# P2V_BENCH_FS (ext4 or xfs, default ext4).
BUILD_DIR=${1:-build}
export P2V_BUILD=$BUILD_DIR
source "$(dirname "$0")/../tests/functions.sh"
BUILD_DIR=$P2V_BUILD
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
requires ssh python3 losetup "mkfs.${P2V_BENCH_FS:-ext4}"
(($(id -u) == 0)) || { echo "skipped: needs root (loop devices, freezing)"; exit 0; }

size=${P2V_BENCH_SIZE_MB:-4096} data=${P2V_BENCH_DATA_MB:-1536}
rate=${P2V_BENCH_RATE_MB:-5} fs=${P2V_BENCH_FS:-ext4}
log () { echo "bench-hot-clone: $*" >&2; }

start_sshd
out=$tmpdir/out mnt=$tmpdir/mnt
mkdir -p "$mnt"
truncate -s "${size}M" "$tmpdir/disk.img"
"mkfs.$fs" -q "$tmpdir/disk.img"
dev=$(losetup -f --show "$tmpdir/disk.img")
on_exit "losetup -d $dev 2>/dev/null"
mount "$dev" "$mnt"
on_exit "umount $mnt 2>/dev/null"
log "filling $fs on $dev with $data MiB"
for ((i = 0; i < data / 64; i++)); do
  head -c 64M /dev/urandom > "$mnt/data$i"
done
sync

# The writer: every 200 ms, rate/5 MB appended or overwritten, synced.
writer () {
  local n=0 chunk=$((rate * 1024 / 5))
  while :; do
    n=$((n + 1))
    if ((n % 2)); then
      dd if=/dev/urandom of="$mnt/log" bs=1k count=$chunk oflag=append \
        conv=notrunc,fdatasync status=none || return
    else
      dd if=/dev/urandom of="$mnt/data$((n % (data / 64)))" bs=1k count=$chunk \
        seek=$(((n * 7919) % 60000)) conv=notrunc,fdatasync status=none || return
    fi
    sleep 0.2
  done
}

writer & w=$!
sleep 5
log "hot-clone with a ${rate} MB/s writer"
start=$SECONDS
"$AGENT" hot-clone $(ssh_opts) --name hot -q \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out" \
  --stats "$tmpdir/hot.json" "$dev" || fail "hot-clone failed"
hot_wall=$((SECONDS - start))
kill "$w"; wait "$w" 2>/dev/null || true
# The freeze left a log to replay: check a mounted-then-unmounted copy.
cp --sparse=always "$out/hot/disk0.raw" "$tmpdir/check.img"
mkdir -p "$tmpdir/t"
umount "$mnt"
mount -o loop "$tmpdir/check.img" "$tmpdir/t" && umount "$tmpdir/t" ||
  fail "the hot clone does not mount"
if [[ $fs == ext4 ]]; then
  e2fsck -fn "$tmpdir/check.img" > /dev/null 2>&1
else
  xfs_repair -n "$tmpdir/check.img" > /dev/null 2>&1
fi || fail "the hot clone fails its fsck"
rm -f "$tmpdir/check.img"

# What the operator would do otherwise: stop, copy, (start again).
start=$(date +%s.%N)
"$AGENT" send $(ssh_opts) --name cold -q \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out" \
  --stats "$tmpdir/cold.json" "$dev" || fail "cold send failed"
cold_s=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
dd if="$dev" bs=1M status=none |
  ssh -i "$SSH_KEY" -p "$SSHD_PORT" -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" \
    -o StrictHostKeyChecking=yes -o BatchMode=yes "$(id -un)@127.0.0.1" \
    "cat > $tmpdir/dd.img && sync $tmpdir/dd.img" || fail "dd|ssh failed"
rm -f "$tmpdir/dd.img"
dd_s=$(echo "$(date +%s.%N) - $start" | bc)

python3 - "$tmpdir/hot.json" "$tmpdir/cold.json" "$cold_s" "$dd_s" "$size" \
  "$rate" "$fs" "$hot_wall" "$BUILD_DIR/bench-hot-clone.json" <<'PY'
import json, sys
hot, cold = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
cold_s, dd_s, size, rate, fs, hot_wall, out = (float(sys.argv[3]),
    float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7],
    float(sys.argv[8]), sys.argv[9])
h = hot["hot_clone"]
print("hot clone of a %d MiB %s disk, %.0f MB/s writer, tracker %s"
      % (size, fs, rate, h["tracker"]))
print("%-14s %12s %10s %12s" % ("method", "wire MiB", "wall s", "downtime s"))
print("%-14s %12.1f %10.1f %12.2f" % ("hot-clone", hot["wire_bytes"] / 2**20,
      hot_wall, h["downtime_seconds"]))
print("%-14s %12.1f %10.1f %12.1f" % ("stop+p2v send", cold["wire_bytes"] / 2**20,
      cold_s, cold_s))
print("%-14s %12.1f %10.1f %12.1f" % ("stop+dd|ssh", size, dd_s, dd_s))
for p in h["passes"]:
    print("  pass %d%s: %.1f MiB dirty, %.1f MiB sent, %.2f s" % (p["pass"],
          " (final)" if p["final"] else "", p["dirty_bytes"] / 2**20,
          p["wire_bytes"] / 2**20, p["seconds"]))
r = {"size_mb": size, "fs": fs, "rate_mb_s": rate, "tracker": h["tracker"],
     "passes": 1 + len(h["passes"]), "hot_wire_bytes": hot["wire_bytes"],
     "cold_wire_bytes": cold["wire_bytes"],
     "wire_ratio_hot_to_cold": hot["wire_bytes"] / cold["wire_bytes"],
     "downtime_s": h["downtime_seconds"], "cold_downtime_s": cold_s,
     "dd_downtime_s": dd_s, "hot_wall_s": hot_wall,
     "downtime_ratio_to_dd": h["downtime_seconds"] / dd_s,
     "target_freeze_le_2s": h["downtime_seconds"] <= 2.0}
print("ratios: wire hot/cold %.2f, downtime hot/(stop+dd|ssh) %.4f; "
      "target freeze <= 2 s: %s" % (r["wire_ratio_hot_to_cold"],
      r["downtime_ratio_to_dd"], "PASS" if r["target_freeze_le_2s"] else "FAIL"))
json.dump(r, open(out, "w"), indent=1)
PY
