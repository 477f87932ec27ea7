#!/bin/bash
# bench/bench-attach.sh [BUILD_DIR]: a server's disk attached to the
# hypervisor, turned into a VM two ways, under our own libvirtd (QEMU,
# TCG), each disk a read-only loop device:
#
#   copy     p2v-agent send --local (the copy path: copy, fixups, domain),
#            then start the domain
#   attach   p2v-receiver attach: the VM runs on overlays at once, the
#            copy into its image follows while it runs, then the pivot
#
# on four disks:
#   xfs-nm      the fleet machine (3 GiB, about 1 GiB used, Debian 12):
#               it boots, so the downtime runs to its login prompt
#               (tests/guest-console logs in, for both methods)
#   bench-1G    bench-send.sh's source disk (ext4 with files and the
#   bench-4G    data of deleted files, a used swap) at 1 and 4 GiB, and
#   empty-64G   a 64 GiB disk holding an empty ext4: no operating system,
#               so the downtime runs until the domain runs (no fixups:
#               --no-fixup for both)
#
# For each: the downtime (the start until the login prompt, or until the
# domain runs), the time until the image stands alone (copy: send's
# end; attach: the pivot, attach's end) and the bytes written (the
# image's allocation).  Prints a table and attach's ratios to copy, and
# checks attach's downtime does not grow with the disk: from bench-1G to
# bench-4G, its seconds per GiB at most a tenth of the copy path's;
# writes BUILD_DIR/bench-attach.json.  Needs root.
BUILD_DIR=${1:-build}
export P2V_BUILD=$BUILD_DIR
source "$(dirname "$0")/../tests/functions.sh"
BUILD_DIR=$P2V_BUILD
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
requires virsh expect losetup qemu-img qemu-nbd python3
(($(id -u) == 0)) || { echo "skipped: needs root (loop devices, libvirtd)"; exit 0; }
log () { echo "bench-attach: $*" >&2; }
now () { date +%s.%N; }
secs () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# The disks first (minutes, cached), then libvirtd.
xfs=$("$top_srcdir/tests/fleet/build.sh" xfs-nm) || fail "the fleet's xfs-nm did not build"
b1=$(P2V_BENCH_SIZE_MB=1024 "$top_srcdir/bench/bench-send.sh" "$BUILD_DIR" --source) ||
  fail "bench-send.sh's 1 GiB source did not build"
b4=$("$top_srcdir/bench/bench-send.sh" "$BUILD_DIR" --source) ||
  fail "bench-send.sh's 4 GiB source did not build"
start_libvirtd
chmod 711 "$tmpdir"
V=(virsh -q -c "$LIBVIRT_URI")
printf "<network><name>p2v-bench</name><bridge name='p2vbn%s'/></network>\n" \
  "$((RANDOM % 1000))" > "$tmpdir/net.xml"
"${V[@]}" net-create "$tmpdir/net.xml" >/dev/null
common=(--connect "$LIBVIRT_URI" --hypervisor qemu --network p2v-bench)
running () { [[ $("${V[@]}" domstate "$1" 2>/dev/null) == running ]]; }
# login DOMAIN: log in on its console (the downtime's end).
login () {
  "$top_srcdir/tests/guest-console" "$LIBVIRT_URI" "$1" "$tmpdir/$1.console" 1500 true \
    > /dev/null || fail "$1: no login"
}
alloc () { echo $(($(stat -c %b "$1") * 512)); }

# The loop device in use, detached at exit (only ours: a number
# detached once may be someone else's by then).
cur_dev=
on_exit '[[ -z $cur_dev ]] || losetup -d "$cur_dev"'
results=()
# run METHOD CASE IMAGE BOOTS: one measurement; appends to results.
run () {
  local method=$1 case=$2 img=$3 boots=$4 name dev t0 t_down t_done image
  local fix=()
  ((boots)) || fix=(--no-fixup)
  name=p2v-bench-$$-$method-$case
  on_exit "virsh -q -c '$LIBVIRT_URI' destroy '$name' >/dev/null 2>&1; virsh -q -c '$LIBVIRT_URI' undefine '$name' >/dev/null 2>&1"
  dev=$(losetup -f --show -r "$img")
  cur_dev=$dev
  sync; echo 3 > /proc/sys/vm/drop_caches
  log "$method on $case ($dev)"
  t0=$(now)
  if [[ $method == copy ]]; then
    "$AGENT" send --local --name "$name" --receiver-command \
      "$RECEIVER --output-dir $tmpdir/out ${common[*]} --define ${fix[*]}" "$dev" \
      2> "$tmpdir/$name.err" || { cat "$tmpdir/$name.err"; fail "$method $case failed"; }
    t_done=$(now)
    "${V[@]}" start "$name" >/dev/null
    if ((boots)); then login "$name"; fi
    t_down=$(now)
    image=$tmpdir/out/$name/disk0.raw
  else
    "$RECEIVER" --output-dir "$tmpdir/out" "${common[@]}" "${fix[@]}" --boot-timeout 0 \
      attach --name "$name" "$dev" 2> "$tmpdir/$name.err" &
    local pid=$!
    for ((i = 0; i < 6000; i++)); do running "$name" && break; sleep 0.1; done
    running "$name" || { cat "$tmpdir/$name.err"; fail "$method $case: the domain never ran"; }
    if ((boots)); then login "$name"; fi
    t_down=$(now)
    wait "$pid" || { cat "$tmpdir/$name.err"; fail "$method $case failed"; }
    # The image stood alone at the last pivot (attach may be done
    # before the login).
    t_done=$(python3 -c 'import json,sys; print(float(sys.argv[1]) + json.load(open(sys.argv[2]))["copy"]["pivoted_s"])' \
      "$t0" "$tmpdir/out/$name/report.json")
    image=$tmpdir/out/$name/disk0.raw
  fi
  "${V[@]}" destroy "$name" >/dev/null 2>&1 || true
  results+=("$method $case $(secs "$t0" "$t_down") $(secs "$t0" "$t_done") $(alloc "$image") $(blockdev --getsize64 "$dev")")
  losetup -d "$dev"
  cur_dev=
  rm -rf "$tmpdir/out/$name" "$image"
}

# A 64 GiB disk holding an empty ext4 (made lazily: seconds).
truncate -s 64G "$tmpdir/empty-64G.img"
mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=1 "$tmpdir/empty-64G.img"
for c in "bench-1G $b1 0" "bench-4G $b4 0" "empty-64G $tmpdir/empty-64G.img 0" \
         "xfs-nm $xfs/disk0.img 1"; do
  read -r case img boots <<<"$c"
  for m in copy attach; do run "$m" "$case" "$img" "$boots"; done
done

printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
rows = [l.split() for l in sys.stdin.read().splitlines()]
r = {}
for m, case, down, done, written, size in rows:
    r.setdefault(case, {})[m] = {"downtime_s": float(down), "standalone_s": float(done),
                                 "written_bytes": int(written), "disk_bytes": int(size)}
print("%-10s %-7s %12s %14s %14s" % ("disk", "method", "downtime s", "standalone s", "written MiB"))
for case, ms in r.items():
    for m, v in ms.items():
        print("%-10s %-7s %12.1f %14.1f %14.1f" % (case, m, v["downtime_s"], v["standalone_s"], v["written_bytes"] / 2**20))
print()
targets = []
for case, ms in r.items():
    a, c = ms["attach"], ms["copy"]
    print("%-10s attach / copy: downtime %.2f, standalone %.2f, written %.2f" % (case,
          a["downtime_s"] / c["downtime_s"], a["standalone_s"] / c["standalone_s"],
          a["written_bytes"] / c["written_bytes"]))
# Growth with the disk: seconds of downtime per GiB from the 1 GiB
# disk to the 4 GiB one (the same kind of contents, scaled), attach
# against copy.  (empty-64G: the same downtime on a far larger disk.)
def per_gib(m):
    a, b = r["bench-1G"][m], r["bench-4G"][m]
    return (b["downtime_s"] - a["downtime_s"]) / ((b["disk_bytes"] - a["disk_bytes"]) / 2**30)
ga, gc = per_gib("attach"), per_gib("copy")
ok = ga <= 0.1 * gc
print()
print("downtime growth with the disk, 1 GiB -> 4 GiB: attach %.2f s/GiB, copy %.2f s/GiB; attach <= 0.1 x copy: %s"
      % (ga, gc, "PASS" if ok else "FAIL"))
targets.append({"id": "attach-downtime-growth", "value": round(ga, 2), "limit": round(0.1 * gc, 2),
                "unit": "s/GiB", "copy": round(gc, 2), "result": "PASS" if ok else "FAIL"})
json.dump({"results": r, "targets": targets}, open(sys.argv[1], "w"), indent=1)
print("wrote " + sys.argv[1])
' "$BUILD_DIR/bench-attach.json"
