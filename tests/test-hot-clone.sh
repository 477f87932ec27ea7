#!/bin/bash
# test-hot-clone: a mounted filesystem copied while a writer keeps
# creating, appending, overwriting and deleting files, through our
# loopback sshd.  The final pass freezes it; --frozen-command takes,
# while frozen, a copy of the device and a manifest of its files.  The
# target must equal that copy byte for byte, pass its fsck, and hold
# exactly the manifest's files.  For ext4 and XFS with the block trace
# tracker; for ext4 with the tracker off (hash compare), with its loss
# injected, and with the tracing files of older kernels (debugfs, no
# trace instances, none); a second run on a finished conversion's
# disks compares hashes first; a freeze longer than --max-freeze is thawed by the
# watchdog and the conversion is not published; --final=stop (the
# operator's commands) and --final=readonly; usage errors.
# run-tests: timeout 900
source "$(dirname "$0")/functions.sh"
requires mkfs.ext4 mkfs.xfs xfs_repair e2fsck losetup python3
(($(id -u) == 0)) || { echo "SKIP: loop devices and freezing need root" >&2; exit 77; }

start_sshd
out=$tmpdir/out
mnt=$tmpdir/mnt
mkdir -p "$mnt"

# The writer: about 4 MB/s of appends, new files, overwrites, deletes.
# While $tmpdir/pause exists it waits (and says so in $tmpdir/paused):
# a service stopped by --stop-command.
writer () {
  local d=$1 n=0
  while :; do
    if [[ -e $tmpdir/pause ]]; then
      touch "$tmpdir/paused"
      sleep 0.05
      continue
    fi
    rm -f "$tmpdir/paused"
    n=$((n + 1))
    head -c 192k /dev/urandom >> "$d/grow" || return
    head -c 128k /dev/urandom > "$d/new$((n % 40))"
    dd if=/dev/urandom of="$d/f$((n % 30 + 1))" bs=64k count=1 \
      seek=$((n % 32)) conv=notrunc status=none
    ((n % 7 == 0)) && rm -f "$d/new$(((n + 13) % 40))"
    sleep 0.05
  done
}

# setup FSTYPE: a 768 MiB filesystem on a loop device, mounted, with
# files; sets dev.
setup () {
  truncate -s 768M "$tmpdir/$1.img"
  "mkfs.$1" -q "$tmpdir/$1.img"
  dev=$(losetup -f --show "$tmpdir/$1.img")
  on_exit "losetup -d $dev 2>/dev/null"
  mount "$dev" "$mnt"
  on_exit "umount $mnt 2>/dev/null"
  for i in $(seq 1 30); do head -c 1M /dev/urandom > "$mnt/f$i"; done
  sync
}

teardown () { umount "$mnt" && losetup -d "$dev"; }

# agent ARG...: the agent; where $tracing is set, in a mount namespace
# of its own where the kernel's tracing files look as on an older
# kernel: "debugfs", no /sys/kernel/tracing, debugfs not mounted (Linux
# before 4.1: the agent mounts debugfs); "noinst", tracefs without
# instances (before 3.10: the agent uses the top-level buffer); "none",
# no tracing files at all.
agent () {
  [[ -n ${tracing:-} ]] || { "$AGENT" "$@"; return; }
  unshare -m sh -ec '
    case $1 in
      debugfs) mount -t tmpfs -o size=1M p2v-test /sys/kernel; mkdir /sys/kernel/debug ;;
      noinst) mount -t tmpfs -o ro,size=1M p2v-test /sys/kernel/tracing/instances ;;
      none) mount -t tmpfs -o ro,size=1M p2v-test /sys/kernel ;;
    esac
    shift
    exec "$@"' sh "$tracing" "$AGENT" "$@"
}

# clone NAME [OPTION...]: hot-clone $dev to NAME with the writer running.
clone () {
  local name=$1 w rc=0
  shift
  writer "$mnt" & w=$!
  sleep 1
  agent hot-clone $(ssh_opts) --name "$name" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out" \
    --stats "$tmpdir/$name.json" --converge-bytes 2M \
    --frozen-command "dd if=$dev of=$tmpdir/$name.frozen bs=1M iflag=direct status=none &&
      cd $mnt && find . -type f ! -name '.p2v*' -exec md5sum {} + | sort -k2 > $tmpdir/$name.md5" \
    "$@" "$dev" 2>&1 | tee "$tmpdir/$name.log" || rc=$?
  kill "$w"; wait "$w" 2>/dev/null || true
  return $rc
}

# check NAME FSTYPE: the target is the frozen state.
check () {
  local name=$1 img=$out/$1/disk0.raw
  [[ $(cat "$out/$name/status") == complete ]] || fail "$name: not complete"
  cmp "$tmpdir/$name.frozen" "$img" ||
    fail "$name: the target differs from the device as it was frozen"
  # As the virtual machine will: mount (replaying a log the freeze left
  # to replay), read the files, then check the filesystem.
  cp --sparse=always "$img" "$tmpdir/copy.img"
  mkdir -p "$tmpdir/t"
  # (nouuid: the source, mounted, has the same XFS UUID.)
  mount -o "loop${2/#xfs/,nouuid}" "$tmpdir/copy.img" "$tmpdir/t" 2>/dev/null ||
    mount -o loop "$tmpdir/copy.img" "$tmpdir/t" || fail "$name: the target does not mount"
  (cd "$tmpdir/t" && find . -type f ! -name '.p2v*' -exec md5sum {} + | sort -k2) > "$tmpdir/$name.target"
  umount "$tmpdir/t"
  if [[ $2 == xfs ]]; then
    xfs_repair -n "$tmpdir/copy.img" > "$tmpdir/fsck.log" 2>&1
  else
    e2fsck -fn "$tmpdir/copy.img" > "$tmpdir/fsck.log" 2>&1
  fi || { cat "$tmpdir/fsck.log"; fail "$name: the target fails its fsck"; }
  rm "$tmpdir/copy.img"
  diff "$tmpdir/$name.md5" "$tmpdir/$name.target" ||
    fail "$name: the target's files are not those of the frozen filesystem"
  python3 - "$tmpdir/$name.json" <<'PY' || fail "$name: the report is incomplete"
import json, sys
r = json.load(open(sys.argv[1]))
h = r["hot_clone"]
assert r["result"] == "complete"
assert h["passes"] and h["passes"][-1]["final"], h
assert 0 < h["downtime_seconds"] < 30, h
print("%s: tracker %s, %d later pass(es), %d bytes on the wire, frozen %.2f s"
      % (sys.argv[1], h["tracker"], len(h["passes"]), r["wire_bytes"],
         h["downtime_seconds"]))
PY
  echo "$name: $(wc -l < "$tmpdir/$name.md5") files as frozen"
}

# ext4 and XFS, tracked.
for fs in ext4 xfs; do
  setup "$fs"
  clone "hc-$fs" || fail "hot-clone of $fs failed"
  grep -q "the self-test write on $mnt was seen" "$tmpdir/hc-$fs.log" ||
    fail "no tracker self-test on $fs"
  check "hc-$fs" "$fs"
  grep -q '"tracker":"trace"' "$tmpdir/hc-$fs.json" || fail "$fs: not tracked"
  [[ $fs == xfs ]] || teardown
done
teardown

# ext4 without the tracker, and with its events lost.
setup ext4
clone hc-none --tracker=none || fail "hot-clone --tracker=none failed"
check hc-none ext4
grep -q '"compare":true' "$tmpdir/hc-none.json" || fail "no hash compare pass"
P2V_TEST_TRACKER_LOSS=7 clone hc-lost || fail "hot-clone with lost events failed"
grep -q "the tracker lost 7 events: comparing hashes instead" "$tmpdir/hc-lost.log" ||
  fail "the loss was not reported"
check hc-lost ext4

# The tracker on older kernels' tracing files, chosen by the agent
# itself: debugfs mounted (and only in its namespace, so unmounted with
# it); the top-level buffer, put back as it was (one test at a time
# uses it: the lock); no tracing at all, hash compare.
trace=/sys/kernel/tracing
# (Where tracefs is not mounted, the test mounts it, in its own mount
# namespace: run-tests.sh; the agent's own mount is private to it.)
if ! mountpoint -q "$trace"; then
  mount -t tracefs tracefs "$trace" || fail "cannot mount tracefs on $trace"
  on_exit "umount $trace"
fi
# The top-level buffer's size in KB and its settings.  (A buffer never
# used says "7 (expanded: 1408)": its size is 1408.  Once allocated,
# the kernel rounds a size up to whole pages of data, 4080 bytes each:
# 1408 reads back as 1410.)
size () { sed 's/.*(expanded: \([0-9]*\))/\1/' "$trace/buffer_size_kb"; }
settings () {
  cat "$trace/current_tracer" "$trace/set_event" "$trace"/events/block/block_bio_queue/{enable,filter}
}
tracing=debugfs clone hc-debugfs || fail "hot-clone with debugfs failed"
grep -q "block trace events: trace instance /sys/kernel/debug/tracing/instances/p2v-[0-9]*, /sys/kernel/debug mounted by the agent" \
  "$tmpdir/hc-debugfs.log" || fail "the agent did not say it mounted debugfs"
check hc-debugfs ext4
grep -q '"tracker":"trace"' "$tmpdir/hc-debugfs.json" || fail "debugfs: not tracked"
# (Its state is read before and after under the lock: the other pass's
# test may be using it.)
exec {toplock}>>/tmp/p2v-test-trace-top.lock
flock -w 600 "$toplock" || fail "the top-level trace buffer's lock was not granted"
size_before=$(size) settings_before=$(settings)
tracing=noinst clone hc-noinst || fail "hot-clone with the top-level buffer failed"
size_after=$(size) settings_after=$(settings)
flock -u "$toplock"
grep -q "block trace events: the top-level trace buffer /sys/kernel/tracing (no instance of its own: Read-only file system)" \
  "$tmpdir/hc-noinst.log" || fail "the agent did not say it used the top-level buffer"
check hc-noinst ext4
grep -q '"tracker":"trace"' "$tmpdir/hc-noinst.json" || fail "noinst: not tracked"
[[ $settings_after == "$settings_before" ]] ||
  fail "the top-level trace buffer's settings were not put back: $(diff <(echo "$settings_before") <(echo "$settings_after") | tr '\n' ' ')"
((size_after >= size_before && size_after - size_before < 4)) ||
  fail "the top-level trace buffer's size was not put back: $size_before KB before, $size_after KB after"
tracing=none clone hc-notrace || fail "hot-clone without tracing failed"
grep -q "cannot track writes (the kernel's tracing files are not available (mounting tracefs on /sys/kernel/tracing: No such file or directory; debugfs on /sys/kernel/debug: No such file or directory)): every later pass compares hashes" \
  "$tmpdir/hc-notrace.log" || fail "the fallback to comparing hashes was not reported"
check hc-notrace ext4
grep -q '"compare":true' "$tmpdir/hc-notrace.json" || fail "no tracing: no hash compare pass"

# The watchdog: a final step longer than --max-freeze is thawed, the
# run fails saying so, and the filesystem takes writes again.
clone hc-wd --max-freeze 1 --frozen-command "sleep 3" && fail "a thawed freeze succeeded"
grep -q "the watchdog thawed the filesystems" "$tmpdir/hc-wd.log" ||
  fail "the watchdog's thaw was not reported"
timeout 10 sh -c "echo x > $mnt/after && sync -f $mnt/after" ||
  fail "the filesystem is still frozen"
[[ $(cat "$out/hc-wd/status") != complete ]] || fail "a thawed conversion was published"
# Run again: the receiver holds the disk from the failed run, changed
# since, so the first later pass compares hashes.
clone hc-wd || fail "hot-clone after the watchdog's thaw failed"
grep -q "pass 2.*(found by comparing hashes)" "$tmpdir/hc-wd.log" ||
  fail "the second run did not compare hashes first"
check hc-wd ext4
teardown

# --final=stop: the service is stopped by the operator's command, and
# started again after the final pass; --final=readonly with no writer.
setup ext4
clone hc-stop --final=stop \
  --stop-command "touch $tmpdir/pause; for i in \$(seq 100); do [ -e $tmpdir/paused ] && break; sleep 0.1; done" \
  --start-command "rm -f $tmpdir/pause" || fail "hot-clone --final=stop failed"
check hc-stop ext4
grep -q '"final":"stop"' "$tmpdir/hc-stop.json" || fail "the report does not say stop"
touch "$tmpdir/pause"
clone hc-ro --final=readonly || fail "hot-clone --final=readonly failed"
check hc-ro ext4
grep -q '"final":"readonly"' "$tmpdir/hc-ro.json" || fail "the report does not say readonly"
timeout 10 sh -c "echo x > $mnt/after-ro" || fail "the filesystem stayed read-only"
rm -f "$tmpdir/pause"
teardown

# Usage: only block devices; --final=stop needs its commands.
truncate -s 1M "$tmpdir/file.img"
"$AGENT" hot-clone --local "$tmpdir/file.img" 2>"$tmpdir/err" && fail "a file was hot-cloned"
grep -q "hot-clone copies block devices in use" "$tmpdir/err" || fail "$(cat "$tmpdir/err")"
"$AGENT" hot-clone --local --final=stop "$tmpdir/file.img" 2>"$tmpdir/err" && fail "--final=stop alone"
grep -q "needs --stop-command and --start-command" "$tmpdir/err" || fail "$(cat "$tmpdir/err")"
"$AGENT" send --local --frozen-command true "$tmpdir/file.img" 2>"$tmpdir/err" && fail "send took --frozen-command"
grep -q "unrecognized option" "$tmpdir/err" || fail "$(cat "$tmpdir/err")"
echo ok
