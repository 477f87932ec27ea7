#!/bin/bash
# bench/bench-receivers.sh [BUILD_DIR]: how much the receiving side of a
# batch sustains, with the agents' CPU left out.  One conversion's stream
# (every byte p2v-agent sent, captured with tee) is replayed into N
# p2v-receivers at once, each into its own output directory, as N agents
# converting into one hypervisor would feed them.  Beside it, the
# receiving side of dd|zstd -1|ssh: N "zstd -d" of that pipeline's
# stream, each into a file (zstd writes it sparse).
#
# Per N and format (sparse raw, qcow2): wall from the first start to the
# last exit, wire MB/s (all the streams' bytes over that wall), data
# MB/s, CPU seconds (user + sys of the receivers and what they wait for,
# qemu-nbd included) and CPU seconds per GiB of wire, the largest
# receiver's peak RSS.  Every replayed image is compared with the one
# the live conversion wrote (cmp), and each receiver checked every
# chunk's hash and each disk's digest itself.  Writes
# BUILD_DIR/bench-receivers.json.  Needs root only for the tmpfs.
#
# Environment:
#   P2V_BENCH_SIZE_MB      source disk (default 1024: bench-send.sh's maps
#                          profile at that size)
#   P2V_BENCH_RECEIVERS    receiver counts (default "1 2 4 8")
#   P2V_BENCH_LEVEL        the captured stream's zstd level (default 3,
#                          the agent's starting level)
#   P2V_BENCH_TARGETS      where the images go: "tmpfs disk" (default).
#                          tmpfs: a tmpfs of our own, so the figure is
#                          the receivers' CPU; disk: under TMPDIR, where
#                          this machine's disk and its fdatasyncs count.
BUILD_DIR=${1:-build}
export P2V_BUILD=$BUILD_DIR
source "$(dirname "$0")/../tests/functions.sh"
BUILD_DIR=$P2V_BUILD
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
requires zstd cmp qemu-img python3 /usr/bin/time

SIZE_MB=${P2V_BENCH_SIZE_MB:-1024}
read -r -a COUNTS <<<"${P2V_BENCH_RECEIVERS:-1 2 4 8}"
LEVEL=${P2V_BENCH_LEVEL:-3}
read -r -a TARGETS <<<"${P2V_BENCH_TARGETS:-tmpfs disk}"
TARGET_WIRE_MBS=235             # receivers together >= this many MB/s of wire
for n in "${COUNTS[@]}"; do
  [[ $n =~ ^[1-9][0-9]?$ ]] || fail "P2V_BENCH_RECEIVERS: $n is not a count from 1 to 99"
done
for t in "${TARGETS[@]}"; do
  [[ $t == tmpfs || $t == disk ]] || fail "P2V_BENCH_TARGETS: $t is neither tmpfs nor disk"
done
log () { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }
now () { date +%s.%N; }

IMG=$(P2V_BENCH_SIZE_MB=$SIZE_MB P2V_BENCH_PROFILE=maps \
      "$top_srcdir/bench/bench-send.sh" "$BUILD_DIR" --source | tail -1) ||
  fail "could not get the source image"
[[ -f $IMG ]] || fail "no source image: $IMG"
cat "$IMG" > /dev/null

# The capture: a real conversion through --local, its stream tee'd.
CAP=$tmpdir/p2v.stream REF=$tmpdir/ref
log "capturing a p2v stream of $IMG (--level $LEVEL)"
"$AGENT" send --local -q --level "$LEVEL" --name bench --stats "$tmpdir/capture.json" \
  --receiver-command "sh -c 'tee $CAP | $RECEIVER --output-dir $REF --no-fixup'" \
  "$IMG" || fail "the capture's conversion failed"
ZCAP=$tmpdir/zstd.stream
log "capturing a dd | zstd -1 stream"
zstd -q -1 -c < "$IMG" > "$ZCAP"
WIRE=$(stat -c %s "$CAP") ZWIRE=$(stat -c %s "$ZCAP")
DATA=$(sed -n 's/.*"data_bytes":\([0-9]*\).*/\1/p' "$tmpdir/capture.json")
cat "$CAP" "$ZCAP" > /dev/null

# Where each target's images go.
declare -A PLACE
for t in "${TARGETS[@]}"; do
  PLACE[$t]=$tmpdir/$t
  mkdir -p "${PLACE[$t]}"
  [[ $t == tmpfs ]] || continue
  (($(id -u) == 0)) || fail "the tmpfs target needs root (or P2V_BENCH_TARGETS=disk)"
  mount -t tmpfs -o size=90% p2v-bench "${PLACE[$t]}" ||
    fail "cannot mount a tmpfs on ${PLACE[$t]}"
  on_exit "umount ${PLACE[$t]}"
done

RESULTS=$tmpdir/results
: > "$RESULTS"

# run_set KIND N TARGET [FORMAT]: N replays at once; appends a result line
# "kind format target n wall wire_bytes data_bytes cpu_s rss_kib".
run_set () {
  local kind=$1 n=$2 target=$3 format=${4:-raw} dir i t0 t1 pids=() fails=0
  dir=${PLACE[$target]}/$kind-$format-$n
  rm -rf "$dir"; mkdir -p "$dir"
  log "$kind: $n at once into $target${4:+ ($format)}"
  sync
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    if [[ $kind == p2v ]]; then
      /usr/bin/time -f '%e %U %S %M' -o "$dir/t.$i" "$RECEIVER" \
        --output-dir "$dir/r$i" --format "$format" --no-fixup \
        < "$CAP" > /dev/null 2> "$dir/err.$i" &
    else
      /usr/bin/time -f '%e %U %S %M' -o "$dir/t.$i" zstd -q -d -f \
        "$ZCAP" -o "$dir/out$i.raw" 2> "$dir/err.$i" &
    fi
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[i]}" || { fails=$((fails + 1)); tail -3 "$dir/err.$i" >&2; }
  done
  if [[ $kind == zstd ]]; then sync -f "$dir"; fi  # as the pipelines' "&& sync"
  t1=$(now)
  ((fails == 0)) || fail "$kind: $fails of $n failed"
  # Checked outside the timing.
  for ((i = 0; i < n; i++)); do
    if [[ $kind == p2v && $format == raw ]]; then
      cmp -s "$dir/r$i/bench/disk0.raw" "$REF/bench/disk0.raw" ||
        fail "$kind: replay $i's image differs from the live conversion's"
    elif [[ $kind == p2v ]]; then
      qemu-img compare -q "$dir/r$i/bench/disk0.qcow2" "$REF/bench/disk0.raw" ||
        fail "$kind: replay $i's qcow2 differs from the live conversion's image"
    else
      cmp -s "$dir/out$i.raw" "$IMG" || fail "$kind: output $i differs from the source"
    fi
  done
  awk -v k="$kind" -v f="$format" -v tg="$target" -v n="$n" -v t0="$t0" -v t1="$t1" \
      -v w="$([[ $kind == p2v ]] && echo "$WIRE" || echo "$ZWIRE")" \
      -v d="$([[ $kind == p2v ]] && echo "$DATA" || echo $((SIZE_MB << 20)))" '
    { cpu += $2 + $3; if ($4 > rss) rss = $4 }
    END { printf "%s %s %s %d %.3f %d %d %.2f %d\n", k, f, tg, n, t1 - t0, n * w, n * d, cpu, rss }' \
    "$dir"/t.* >> "$RESULTS"
  rm -rf "$dir"
}

for target in "${TARGETS[@]}"; do
  for n in "${COUNTS[@]}"; do
    run_set p2v "$n" "$target"
    run_set p2v "$n" "$target" qcow2
    run_set zstd "$n" "$target"
  done
done

python3 - "$RESULTS" "$BUILD_DIR/bench-receivers.json" "$IMG" "$WIRE" "$ZWIRE" \
  "$DATA" "$LEVEL" "$(nproc)" "$TARGET_WIRE_MBS" <<'PY'
import json, sys
res, out, img, wire, zwire, data, level, cpus, goal = sys.argv[1:10]
wire, zwire, data, goal = int(wire), int(zwire), int(data), float(goal)
rows = []
for line in open(res):
    k, f, t, n, wall, w, d, cpu, rss = line.split()
    wall, w, d, cpu = float(wall), int(w), int(d), float(cpu)
    rows.append({"receiver": "p2v-receiver" if k == "p2v" else "zstd -d",
                 "format": f, "target": t, "streams": int(n),
                 "wall_seconds": wall, "wire_bytes": w, "data_bytes": d,
                 "wire_mb_per_s": round(w / wall / 1e6, 1),
                 "data_mb_per_s": round(d / wall / 1e6, 1),
                 "cpu_seconds": cpu,
                 "cpu_seconds_per_gib_wire": round(cpu / (w / 2**30), 2),
                 "peak_rss_kib": int(rss)})
print()
print(f"receivers benchmark: {cpus} CPUs; one p2v stream of {img}")
print(f"  p2v stream: {wire} bytes on the wire (--level {level}) for {data} data bytes;"
      f" dd|zstd -1 stream: {zwire} bytes")
print(f"  tmpfs: a tmpfs of the bench's own (the receivers' CPU); disk: the"
      f" bench's TMPDIR, fdatasyncs and all")
print()
print(f"{'receiver':13} {'format':6} {'target':6} {'N':>3} {'wall s':>7} {'wire MB/s':>10}"
      f" {'data MB/s':>10} {'CPU s':>7} {'CPU s/GiB wire':>15} {'RSS KiB':>8}")
for r in rows:
    print(f"{r['receiver']:13} {r['format']:6} {r['target']:6} {r['streams']:>3}"
          f" {r['wall_seconds']:>7.2f} {r['wire_mb_per_s']:>10.1f} {r['data_mb_per_s']:>10.1f}"
          f" {r['cpu_seconds']:>7.2f} {r['cpu_seconds_per_gib_wire']:>15.2f} {r['peak_rss_kib']:>8}")
print()
print("relative to zstd -d (same target and N; x > 1: p2v-receiver is better):")
ratios = []
for r in rows:
    if r["receiver"] != "p2v-receiver":
        continue
    z = next((x for x in rows if x["receiver"] == "zstd -d" and x["target"] == r["target"]
              and x["streams"] == r["streams"]), None)
    if z is None:
        continue
    q = {"format": r["format"], "target": r["target"], "streams": r["streams"],
         "wall": round(z["wall_seconds"] / r["wall_seconds"], 2),
         "cpu_per_gib_wire": round(z["cpu_seconds_per_gib_wire"] / r["cpu_seconds_per_gib_wire"], 2),
         "data_rate": round(r["data_mb_per_s"] / z["data_mb_per_s"], 2)}
    ratios.append(q)
    print(f"  {r['format']:6} {r['target']:6} N={r['streams']:<3} wall {q['wall']}x,"
          f" data MB/s {q['data_rate']}x, CPU per GiB of wire {q['cpu_per_gib_wire']}x")
targets = []
for t in sorted({r["target"] for r in rows}):
    best = max((r for r in rows if r["receiver"] == "p2v-receiver" and r["format"] == "raw"
                and r["target"] == t), key=lambda r: r["wire_mb_per_s"], default=None)
    if best is None:
        continue
    targets.append({"id": "receivers_wire_mb_per_s", "target": f"wire MB/s into sparse raw ({t})",
                    "value": best["wire_mb_per_s"], "limit": goal,
                    "result": "PASS" if best["wire_mb_per_s"] >= goal else "FAIL",
                    "note": f"best at N={best['streams']}: {best['cpu_seconds_per_gib_wire']} CPU s per GiB of wire"})
print()
print("targets (informational: they do not change the exit status)")
for t in targets:
    print(f"  {t['result']:4}  {t['target']:36} {t['value']:>8} >= {t['limit']:<6} ({t['note']})")
json.dump({"cpus": int(cpus), "image": img, "level": int(level),
           "p2v_stream_bytes": wire, "zstd_stream_bytes": zwire, "data_bytes": data,
           "runs": rows, "vs_zstd": ratios, "targets": targets},
          open(out, "w"), indent=1)
print()
print(f"wrote {out}")
PY
