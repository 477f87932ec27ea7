#!/bin/bash
# bench/run-all.sh [BUILD_DIR]: every benchmark profile, one after the
# other (make bench), each printing its own table of ratios, then one
# JSON of them all, BUILD_DIR/bench.json, and every target in one list.
#
#   send        bench-send.sh: loopback, the default 4 GiB disk
#   starved     bench-send.sh with P2V_BENCH_CPU=25 on a 1 GiB disk: one
#               CPU at a 25% quota, every fixed level tried
#   long-link   bench-send.sh with P2V_BENCH_LINK=200mbit and
#               P2V_BENCH_RTT=200ms: striped against one connection
#   receivers   bench-receivers.sh: captured streams into N receivers
#   hot-clone   bench-hot-clone.sh
#   attach      bench-attach.sh
#
# P2V_BENCH_PROFILES picks some, in order (default: all of the above).
# A profile that fails stops the run; one that cannot run here says
# "skipped" and the rest go on.
BUILD_DIR=${1:-build}
cd "$(dirname "$0")/.." || exit 1
read -r -a PROFILES <<<"${P2V_BENCH_PROFILES:-send starved long-link receivers hot-clone attach}"

run () {
  local p=$1
  echo
  echo "=== profile $p ==="
  case $p in
    send) bench/bench-send.sh "$BUILD_DIR" ;;
    starved) P2V_BENCH_CPU=25 P2V_BENCH_SIZE_MB=1024 P2V_BENCH_NAME=starved \
               bench/bench-send.sh "$BUILD_DIR" ;;
    long-link) P2V_BENCH_LINK=200mbit P2V_BENCH_RTT=200ms P2V_BENCH_NAME=long-link \
                 bench/bench-send.sh "$BUILD_DIR" ;;
    receivers) bench/bench-receivers.sh "$BUILD_DIR" ;;
    hot-clone) bench/bench-hot-clone.sh "$BUILD_DIR" ;;
    attach) bench/bench-attach.sh "$BUILD_DIR" ;;
    *) echo "P2V_BENCH_PROFILES: unknown profile $p" >&2; return 2 ;;
  esac
}

ran=()
for p in "${PROFILES[@]}"; do
  rm -f "$BUILD_DIR/bench-$p.json"
  run "$p" || { echo "bench: profile $p failed" >&2; exit 1; }
  ran+=("$p")
done

python3 - "$BUILD_DIR" "${ran[@]}" <<'PY'
import json, os, sys
build, profiles = sys.argv[1], sys.argv[2:]
out = {"profiles": {}, "targets": []}
for p in profiles:
    f = os.path.join(build, f"bench-{p}.json")
    if not os.path.exists(f):
        out["profiles"][p] = {"skipped": True}
        continue
    d = json.load(open(f))
    out["profiles"][p] = d
    targets = d.get("targets", [])
    if "target_freeze_le_2s" in d:          # bench-hot-clone's one figure
        targets = [{"id": "hot_clone_freeze", "target": "hot clone freeze (downtime) s",
                    "method": "hot-clone", "value": round(d["downtime_s"], 2), "limit": 2.0,
                    "result": "PASS" if d["target_freeze_le_2s"] else "FAIL"}]
    for t in targets:
        out["targets"].append(dict(t, profile=p))
json.dump(out, open(os.path.join(build, "bench.json"), "w"), indent=1)
print()
print("=== every target ===")
for t in out["targets"]:
    v = "" if t.get("value") is None else f"{t['value']}"
    lim = "" if t.get("limit") is None else f"{t['limit']}"
    rel = ">=" if t.get("id") == "receivers_wire_mb_per_s" else "<="
    cmp = f"{v:>9} {rel} {lim:<6}" if v else " " * 19
    print(f"  {t['result']:4}  {t['profile']:9} {t.get('method', ''):12} "
          f"{t.get('target', t['id'])[:44]:44} {cmp} {str(t.get('note', ''))[:90]}")
skipped = [p for p, d in out["profiles"].items() if d.get("skipped")]
if skipped:
    print("  skipped here (no JSON): " + ", ".join(skipped))
print()
print(f"wrote {os.path.join(build, 'bench.json')}")
PY
