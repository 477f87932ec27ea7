#!/bin/bash
# --lvm VG and --lvm VG/THINPOOL: each disk onto a new logical volume,
# identical to the source.  A thick LV is zeroed where the source has no
# data (here it lies on old random data); a new thin one reads as zeros
# already.  A link cut mid-disk resumes on the same LV; verify re-reads
# it.  An LV of the same name that is not this conversion's is refused
# and left alone, and so is a VG or pool without room, before any data
# is sent.
#
# LVM needs device-mapper, which this machine's kernel lacks (no dm
# module), so the agent and the receiver run where it exists: in the
# libguestfs appliance, whose kernel has it and which has lvm2.  They go
# in on a scratch disk, with the libraries they link (the appliance is
# made from this machine's own packages, so the same glibc); the source
# disks and the PV are the appliance's other disks, named by label.
source "$(dirname "$0")/functions.sh"
requires guestfish mkfs.ext4 ldd

make_kit "$tmpdir/kit.img" "$AGENT" "$RECEIVER"
head -c 20000000 /dev/urandom > "$tmpdir/src.img"   # data, then zeros
truncate -s 40M "$tmpdir/src.img"
truncate -s 1G "$tmpdir/big.img"
truncate -s 200M "$tmpdir/pv.img"

# kit, the source, a 1 GiB source, the PV.
dev=/dev/disk/guestfs
start_appliance "$tmpdir/kit.img:kit" "$tmpdir/src.img:src" "$tmpdir/big.img:big" \
  "$tmpdir/pv.img:pv"
appliance_kit kit

# (make check-asan's ASAN_OPTIONS too.)
env="export PATH=/tmp/p2v/bin:/usr/sbin:/sbin:\$PATH LD_LIBRARY_PATH=/tmp/p2v/lib \
  ASAN_OPTIONS=${ASAN_OPTIONS:-}"
# send NAME DISK RECEIVER-OPTIONS [PIPE]: a conversion into /tmp/out;
# PIPE goes between the agent and the receiver.
send () {
  app "$env; p2v-agent send --local --name $1 --retries 0 \
    --chunk-size 256K --window 2M $2 --receiver-command \
    'sh -c \"${4:-} p2v-receiver --no-fixup --output-dir /tmp/out $3\"' 2>&1"
}
app "$env; pvcreate -q $dev/pv && vgcreate -q p2vt $dev/pv &&
  lvcreate -q -y -L 64M -T p2vt/pool &&
  lvcreate -q -y -L 100M -n junk p2vt &&
  dd if=/dev/urandom of=/dev/p2vt/junk bs=1M count=100 status=none &&
  lvremove -q -y p2vt/junk" || fail "cannot make the VG"

# --- thick, on old data, cut after 8 MB and resumed ---------------------
out=$(send thick $dev/src "--lvm p2vt" "dd iflag=count_bytes count=8000000 bs=64K status=none |") &&
  fail "the cut conversion succeeded: $out"
app "test -b /dev/p2vt/thick-disk0" >/dev/null || fail "no LV after the cut: $out"
out=$(send thick $dev/src "--lvm p2vt") || fail "the resume failed: $out"
[[ $out =~ resuming\ the\ unfinished\ conversion\ \'thick\'\ \(([0-9.]+)%\ already ]] &&
  [[ ${BASH_REMATCH[1]} != 0.0 ]] || fail "it did not resume where it was: $out"
app "cmp $dev/src /dev/p2vt/thick-disk0" || fail "the thick LV differs from the source"
app "$env; p2v-receiver verify /tmp/out/thick" >/dev/null || fail "verify of the thick LV"
echo "thick: cut, resumed, identical"

# --- thin ------------------------------------------------------------------
out=$(send thin $dev/src "--lvm p2vt/pool") || fail "--lvm p2vt/pool failed: $out"
app "cmp $dev/src /dev/p2vt/thin-disk0" || fail "the thin LV differs from the source"
app "$env; p2v-receiver verify /tmp/out/thin" >/dev/null || fail "verify of the thin LV"
echo "thin: identical"

# --- an LV that is not ours --------------------------------------------------
app "lvcreate -q -y -L 8M -n taken-disk0 p2vt && echo keep me > /dev/p2vt/taken-disk0" ||
  fail "cannot make the LV"
out=$(send taken $dev/src "--lvm p2vt") && fail "an existing LV was overwritten: $out"
[[ $out == *"/dev/p2vt/taken-disk0 already exists and is not this conversion's; give another --name, remove it (lvremove p2vt/taken-disk0), or run the receiver with --force"* ]] ||
  fail "no clear refusal of an existing LV: $out"
[[ $(app "head -c 7 /dev/p2vt/taken-disk0") == "keep me" ]] || fail "the existing LV was written"

# --- no room, told before any data ---------------------------------------------
nothing_sent () {
  app "test ! -e /dev/p2vt/big-disk0 && test ! -e /tmp/out/big/.device0 &&
    ! ls /tmp/out/big/disk0* 2>/dev/null" >/dev/null ||
    fail "$1: something was created: $(app "ls -la /tmp/out/big; lvs")"
}
out=$(send big $dev/big "--lvm p2vt") && fail "a 1 GiB disk went into a smaller VG: $out"
[[ $out =~ volume\ group\ p2vt\ has\ [0-9.]+\ MiB\ free,\ but\ the\ disks\ need\ 1.0\ GiB\ \(each\ disk\'s\ whole\ size\)\;\ extend\ it\ \(vgextend\) ]] ||
  fail "no clear refusal of a full VG: $out"
nothing_sent "a full VG"
out=$(send big $dev/big "--lvm p2vt/pool") && fail "1 GiB of data went into a 64 MiB pool: $out"
[[ $out =~ thin\ pool\ p2vt/pool\ has\ [0-9.]+\ MiB\ free,\ but\ the\ disks\ need\ 1.0\ GiB\ \(their\ data\) ]] ||
  fail "no clear refusal of a full pool: $out"
nothing_sent "a full pool"
echo "full VG and pool: refused before any data"

# --- not a VG, not a pool --------------------------------------------------------
out=$(send bad $dev/src "--lvm nosuchvg") && fail "--lvm nosuchvg accepted: $out"
[[ $out == *'--lvm nosuchvg: vgs: '*'nosuchvg'*'not found'* ]] || fail "no clear error for a missing VG: $out"
out=$(send bad $dev/src "--lvm p2vt/thick-disk0") && fail "a plain LV taken for a pool: $out"
[[ $out == *'--lvm p2vt/thick-disk0: a linear volume, not a thin pool'* ]] ||
  fail "no clear error for a plain LV as the pool: $out"
echo ok
