#!/bin/bash
# test-raid-flatten: md RAID is read once, from the assembled array, and
# arrives as one plain disk.  The live image (PXE files, under QEMU)
# assembles the arrays read-only and sends to our loopback sshd:
#  1. legacy-raid1 with one disk missing: degraded, with a warning;
#  2. a RAID5 on GPT partitions (metadata 1.0) next to plain partitions,
#     and a partitioned RAID10 on four whole disks (tests/fleet/arrays.sh);
#  3. nested arrays (a RAID1 over two RAID0s): refused, saying why.
# Each target has the planned table (the arrays' partitions sized to the
# arrays, type Linux, later partitions moved right by whole MiBs), no md
# superblock, and every filesystem passes its fsck and holds the same
# files as the source's (manifests made in the libguestfs appliance,
# which assembles the source arrays).  The md fleet machines whole
# (legacy-raid1, lvm-on-md, dracut-lvm-md, legacy-i386: two RAID1s, one
# an LVM PV) are flattened the same way by test-fixup-fleet, which
# converts each once and checks the same of them.  Case 1 is
# legacy-raid1's (with the agent's plan of a member whose array is not
# running here), 2 and 3 the arrays': make check and make check-asan
# each run those of their fixtures (P2V_FLEET_E2E, docs/testing.md); by
# hand, all of them.
# run-tests: timeout 2700
source "$(dirname "$0")/functions.sh"
requires qemu-system-x86_64 guestfish sfdisk blkid python3 ssh-keygen
(($(id -u) == 0)) || { echo "SKIP: the live image and the fleet need root" >&2; exit 77; }

live_image
start_sshd
out=$tmpdir/out
sed -i "s|^|command=\"$RECEIVER --no-fixup --output-dir $out\",restrict |" "$tmpdir/sshd/authorized_keys"
fp=$(ssh-keygen -lf "$SSHD_HOST_PUB" | awk '{print $2}')
"$top_srcdir/liveimage/customize.sh" --identity "$SSH_KEY" --initrd "$tmpdir/config.cpio.gz"
cat "$LIVE_IMG/initrd.img" "$tmpdir/config.cpio.gz" > "$tmpdir/initrd"

# convert NAME DISK...: boot the live image with the disks attached
# read-only; it converts to NAME unattended and powers off.
convert () {
  local name=$1 drives=() start=$SECONDS rc=0
  shift
  for d in "$@"; do drives+=(-drive "file=$d,format=raw,if=virtio,readonly=on"); done
  timeout 1200 qemu-system-x86_64 -accel tcg -smp 1 -m 384 -display none \
    -monitor none -no-reboot -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
    -serial "file:$tmpdir/$name.log" -kernel "$LIVE_IMG/vmlinuz" \
    -initrd "$tmpdir/initrd" -append "console=ttyS0,115200 p2v.server=10.0.2.2 \
p2v.port=$SSHD_PORT p2v.user=$(id -un) p2v.hostkey=$fp p2v.name=$name \
p2v.post=poweroff" "${drives[@]}" || rc=$?
  echo "== $name: boot and conversion in $((SECONDS - start)) s"
  grep -a '^p2v' "$tmpdir/$name.log" | tr -d '\r'
  ((rc == 0)) || fail "$name: QEMU did not power off by itself (exit $rc)"
  [[ $(cat "$out/$name/status" 2>/dev/null) == complete ]] ||
    fail "$name: the conversion is not complete"
}

# fact NAME KEY: a fact the agent recorded in the receiver's report.
fact () {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layout"].get(sys.argv[2], ""))' \
    "$out/$1/report.json" "$2"
}
# md_fact NAME LEVEL KEY: KEY of the (one) array of that level.
md_fact () {
  python3 - "$out/$1/report.json" "$2" "$3" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["layout"]
n = [k.split(".")[1] for k, v in f.items() if k.endswith(".level") and v == sys.argv[2]]
assert len(n) == 1, "%d arrays of level %s" % (len(n), sys.argv[2])
print(f["md.%s.%s" % (n[0], sys.argv[3])])
PY
}
# part IMAGE N FIELD: start, size (sectors), type or uuid of partition N.
part () {
  sfdisk -J "$1" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p["node"].endswith(sys.argv[1]):
        print(p[sys.argv[2]])' "$2" "$3"
}
nparts () { sfdisk -J "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["partitiontable"]["partitions"]))'; }
# no_md IMAGE START SIZE: the bytes there hold no md superblock.
no_md () {
  local t
  t=$(blkid -p -o value -s TYPE -O $(($2 * 512)) -S $(($3 * 512)) "$1" || true)
  [[ $t != linux_raid_member && -n $t ]] ||
    fail "$1 at sector $2: '$t', not a plain filesystem"
}
# same_files NAME SOURCE_MANIFEST COUNT IMAGE...: every filesystem in
# the images passes fsck and matches the source's; COUNT of them.
same_files () {
  local name=$1 src=$2 count=$3 uuid n=0
  shift 3
  "$top_srcdir/tests/fleet/manifest-of.sh" "$@" > "$tmpdir/$name.manifest"
  for uuid in $(awk '/^== /{print $2}' "$tmpdir/$name.manifest"); do
    section () { awk -v u="$uuid" '/^== /{on = ($2 == u)} on' "$1"; }
    grep -q "^== $uuid .* fsck:ok$" "$tmpdir/$name.manifest" ||
      { section "$tmpdir/$name.manifest"; fail "$name: filesystem $uuid fails its check"; }
    diff <(section "$src") <(section "$tmpdir/$name.manifest") >&2 ||
      fail "$name: filesystem $uuid differs from the source's"
    n=$((n + 1))
  done
  ((n == count)) || fail "$name: $n filesystems, expected $count"
  echo "$name: $n filesystems pass their checks and hold the source's files"
}
# fleet MEMBER: sets dir (the machine's images) and manifest (theirs,
# made once per build of them).
fleet () {
  dir=$("$top_srcdir/tests/fleet/build.sh" "$1") || fail "fleet build of $1 failed"
  manifest=$("$top_srcdir/tests/fleet/manifest-of.sh" --cached "$dir" "$dir"/disk*.img) ||
    fail "the manifest of $1 failed"
}
sectors () { echo $((($1 + 511) / 512)); }

# case_FIXTURE: the cases of each fixture.
case_legacy_raid1 () {
  fleet legacy-raid1
  # (This machine runs no md: here a member is copied as it is, with a
  # warning, unless --no-flatten asked for that.)
  "$AGENT" plan "$dir/disk0.img" > "$tmpdir/plan.out" 2>&1 || fail "plan failed"
  grep -q "partition 2: an md RAID member whose array is not running here" "$tmpdir/plan.out" ||
    fail "no warning about a member of an array not running: $(cat "$tmpdir/plan.out")"
  "$AGENT" plan --no-flatten "$dir/disk0.img" > "$tmpdir/plan.out" 2>&1 || fail "plan --no-flatten failed"
  ! grep -q "not running" "$tmpdir/plan.out" || fail "plan --no-flatten warns"

  # 1. Degraded: legacy-raid1 with only its second disk.
  convert degraded "$dir/disk1.img"
  grep -a -q "is degraded" "$tmpdir/degraded.log" || fail "degraded: no warning on the console"
  [[ $(fact degraded md.0.state) == *degraded* ]] || fail "degraded: md.0.state is '$(fact degraded md.0.state)'"
  same_files degraded "$manifest" 2 "$out/degraded/disk0.raw"
}

case_arrays () {
  # 2. RAID5 on GPT partitions (grows: the next partition moves, the disk
  # grows, the backup GPT moves to its new end), RAID10 on whole disks
  # (the array is the disk).
  linux=0FC63DAF-8483-4772-8E79-3D69D8477DE4 swap=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
  arrays=$("$top_srcdir/tests/fleet/arrays.sh") || fail "building the RAID5/RAID10 disks failed"
  convert arrays "$arrays"/r5-{0,1,2}.img "$arrays"/r10-{0,1,2,3}.img
  ls "$out/arrays"
  for d in 0 1 2; do [[ -e $out/arrays/disk$d.raw ]] || fail "arrays: no disk$d.raw"; done
  [[ ! -e $out/arrays/disk3.raw ]] || fail "arrays: more than three disks"
  r5=$(sectors "$(md_fact arrays raid5 size)")
  [[ $(md_fact arrays raid5 target) == "disk 0 partition 1" ]] ||
    fail "arrays: raid5 went to '$(md_fact arrays raid5 target)'"
  [[ $(md_fact arrays raid10 target) == "disk 2" ]] ||
    fail "arrays: raid10 went to '$(md_fact arrays raid10 target)'"
  img=$out/arrays/disk0.raw
  shift=$(( ((r5 - 245760 + 2047) / 2048) * 2048 ))
  [[ $(part "$img" 1 start) == 2048 && $(part "$img" 1 size) == "$r5" &&
     $(part "$img" 1 type) == "$linux" ]] || fail "arrays: disk 0 partition 1: $(sfdisk -d "$img")"
  [[ $(part "$img" 2 start) == $((247808 + shift)) && $(part "$img" 2 size) == 81920 ]] ||
    fail "arrays: disk 0 partition 2 not moved by $shift sectors: $(sfdisk -d "$img")"
  (($(stat -c %s "$img") == 200 * 1048576 + shift * 512)) ||
    fail "arrays: disk 0 is $(stat -c %s "$img") bytes"
  # Both GPT headers valid (the backup at the grown disk's end), the
  # partitions' GUIDs those of the source.
  sfdisk --verify "$img" > "$tmpdir/verify" 2>&1
  grep -q "No errors detected" "$tmpdir/verify" && ! grep -qi "mismatch\|backup\|corrupt" "$tmpdir/verify" ||
    fail "arrays: disk 0's GPT does not verify: $(cat "$tmpdir/verify")"
  for n in 1 2; do
    [[ $(part "$img" $n uuid) == $(part "$arrays/r5-0.img" $n uuid) ]] ||
      fail "arrays: partition $n's GUID changed"
  done
  no_md "$img" 2048 "$r5"
  # r5-1 keeps its swap partition alone; its member partition is gone.
  img=$out/arrays/disk1.raw
  (($(nparts "$img") == 1)) && [[ $(part "$img" 2 type) == "$swap" ]] ||
    fail "arrays: disk 1 is not just the swap partition: $(sfdisk -d "$img")"
  [[ $(blkid -p -o value -s LABEL -O $((247808 * 512)) "$img") == swap1 ]] ||
    fail "arrays: disk 1's swap partition lost its content"
  # The RAID10 is a GPT disk of the array's size.
  img=$out/arrays/disk2.raw
  (($(stat -c %s "$img") == $(md_fact arrays raid10 size))) ||
    fail "arrays: disk 2 is not the RAID10's size"
  (($(nparts "$img") == 2)) || fail "arrays: disk 2: $(sfdisk -d "$img")"
  same_files arrays "$arrays/manifest" 4 "$out"/arrays/disk{0,1,2}.raw

  # 3. Nested arrays: the agent refuses (the live image then waits at its
  # menus, so QEMU is stopped once the console says why).
  log=$tmpdir/nested.log
  qemu-system-x86_64 -accel tcg -smp 1 -m 384 -display none -monitor none \
    -no-reboot -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
    -serial "file:$log" -kernel "$LIVE_IMG/vmlinuz" -initrd "$tmpdir/initrd" \
    -append "console=ttyS0,115200 p2v.server=10.0.2.2 p2v.port=$SSHD_PORT \
p2v.user=$(id -un) p2v.hostkey=$fp p2v.name=nested p2v.post=poweroff" \
    -drive "file=$arrays/nest-0.img,format=raw,if=virtio,readonly=on" \
    -drive "file=$arrays/nest-1.img,format=raw,if=virtio,readonly=on" &
  qemu=$!
  on_exit "kill $qemu 2>/dev/null"
  wait_for 6000 grep -s -a -q "^p2v: p2v-agent ended with status" "$log" ||
    { tail -c 3000 "$log"; fail "nested: the agent did not end"; }
  kill "$qemu"
  grep -a '^p2v' "$log" | tr -d '\r'
  grep -a -q "nested arrays are not flattened: send with --no-flatten" "$log" ||
    fail "nested: no clear refusal on the console"
  grep -a -q "^p2v: p2v-agent ended with status 1" "$log" || fail "nested: the agent did not fail"
  [[ ! -e $out/nested ]] || fail "nested: something reached the receiver"
}

# The fixtures of this pass (P2V_FLEET_E2E, docs/testing.md), or all.
ran=0
for fixture in ${P2V_FLEET_E2E:-legacy-raid1 arrays}; do
  case $fixture in
    legacy-raid1|arrays) "case_${fixture//-/_}"; ran=$((ran + 1)) ;;
  esac
done
((ran > 0)) || echo "none of this test's fixtures in this pass (P2V_FLEET_E2E=$P2V_FLEET_E2E)"
echo ok
