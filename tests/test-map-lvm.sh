#!/bin/bash
# LVM2: a partition holding a PV whose VG has two plain LVs with ext4
# (root, home) and one LV in two pieces (log).  Only the label and
# metadata area, what ext4 uses inside root and home, and the whole of
# log are sent; free extents full of stale data arrive as holes.  Both
# filesystems pass e2fsck -fn with every file intact, and LVM itself
# (pvck, vgck, lvs) finds the VG and its LVs on the result.  A metadata
# checksum or metadata area header that fails makes the map decline: the
# partition then arrives byte-identical.
#
# No device-mapper is needed: the LVs are created without activation and
# filled by writing filesystem images at their offsets on the PV.  LVM
# runs with its own lvm.conf (LVM_SYSTEM_DIR), sees only our loop device,
# takes no locks and keeps no backups, so the host's LVM state is never
# touched.
source "$(dirname "$0")/functions.sh"
requires pvcreate vgcreate lvcreate lvextend lvs pvs vgs pvck vgck losetup \
  mkfs.ext4 e2fsck debugfs dumpe2fs sfdisk

export LVM_SYSTEM_DIR=$tmpdir/lvm LVM_SUPPRESS_FD_WARNINGS=1
mkdir "$LVM_SYSTEM_DIR"
cat > "$LVM_SYSTEM_DIR/lvm.conf" <<'CONF'
devices { use_devicesfile = 0 obtain_device_list_from_udev = 0
          external_device_info_source = "none" hints = "none" scan_lvs = 0
          multipath_component_detection = 0 md_component_detection = 0 }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
global { use_lvmpolld = 0 event_activation = 0 }
backup { backup = 0 archive = 0 }
CONF
host_lvm_state () { find /etc/lvm /run/lvm /run/lock/lvm -printf '%p %s %T@\n' 2>/dev/null | sort; }
host_lvm_state > "$tmpdir/etc-lvm.before"

# lvm_on DEV COMMAND ARGS...: an LVM command that sees only DEV.  Its
# warnings (no activation, no backup) go to lvm.log, shown on failure.
lvm_on () {
  local dev=$1 cmd=$2 f; shift 2
  f="[ \"a|^$dev\$|\", \"r|.*|\" ]"
  "$cmd" --nolocking --driverloaded n \
    --config "devices { filter = $f global_filter = $f }" "$@" \
    2>> "$tmpdir/lvm.log" ||
    { cat "$tmpdir/lvm.log" >&2; fail "$cmd $* failed"; }
}

# Our loop devices, detached at exit unless detached before.
loops=()
on_exit 'for l in "${loops[@]}"; do [[ -z $l ]] || losetup -d "$l"; done'
loop_attach () {                      # loop_attach [losetup opts] FILE
  loop=$(losetup -f --show "$@")
  loops+=("$loop")
}
loop_detach () {
  losetup -d "$loop"
  loops=("${loops[@]/#$loop/}")
}

mib=$((1024 * 1024))
pv=$tmpdir/pv.img
head -c 60M /dev/urandom > "$pv"      # stale data everywhere to begin with

# PV, VG (1 MiB extents) and LVs: log gets its second piece after root,
# so it is not one linear piece.
loop_attach "$pv"
lvm_on "$loop" pvcreate -q -y "$loop"
lvm_on "$loop" vgcreate -q -s 1M p2vvg "$loop"
for lv in log:2M root:20M log:+2M home:16M; do
  if [[ ${lv#*:} == +* ]]; then
    cmd=(lvextend -q -L "${lv#*:}" "p2vvg/${lv%%:*}")
  else
    cmd=(lvcreate -q -an -Zn -L "${lv#*:}" -n "${lv%%:*}" p2vvg)
  fi
  lvm_on "$loop" "${cmd[@]}"
done
lvm_on "$loop" lvs --noheadings -o lv_name,seg_pe_ranges p2vvg |
  sed "s|$loop|PV|" | sort > "$tmpdir/want.lvs"
pe_start=$(lvm_on "$loop" pvs --noheadings --units b --nosuffix -o pe_start "$loop")
ext=$(lvm_on "$loop" vgs --noheadings --units b --nosuffix -o vg_extent_size p2vvg)
pe_count=$(lvm_on "$loop" pvs --noheadings -o pv_pe_count "$loop")
loop_detach
cat "$tmpdir/want.lvs"

lv_offset () {                        # lv_offset LV: bytes into the PV
  local first
  first=$(sed -n "s|^ *$1 PV:\([0-9]*\)-.*|\1|p" "$tmpdir/want.lvs" | head -1)
  echo $((pe_start + first * ext))
}

# ext4 on root and home, with files, and free space holding stale data.
used=0
for lv in root home; do
  [[ $lv == root ]] && mb=20 || mb=16
  make_marker_files "$tmpdir/$lv.files"
  checksums "$tmpdir/$lv.files" > "$tmpdir/$lv.want"
  make_stale_fs "$tmpdir/$lv.fs" $mb mkfs.ext4 -q -F -E nodiscard \
    -d "$tmpdir/$lv.files"
  head -c 5M /dev/urandom > "$tmpdir/deleted.bin"
  debugfs -w -R "write $tmpdir/deleted.bin deleted.bin" "$tmpdir/$lv.fs" \
    >/dev/null 2>&1
  debugfs -w -R "rm deleted.bin" "$tmpdir/$lv.fs" >/dev/null 2>&1
  e2fsck -fn "$tmpdir/$lv.fs" >/dev/null 2>&1 || fail "$lv: source fs broken"
  dd if="$tmpdir/$lv.fs" of="$pv" bs=1M seek=$(($(lv_offset $lv) / mib)) \
    conv=notrunc status=none
  used=$((used + $(dumpe2fs -h "$tmpdir/$lv.fs" 2>/dev/null | awk -F: '
    /^Block count/ {c=$2} /^Free blocks/ {f=$2} /^Block size/ {b=$2}
    END {print (c - f) * b}')))
done

convert () {                          # convert NAME PVIMG
  convert_partition "$1" "$2" 8e
}

convert lvm "$pv"
got=$tmpdir/lvm.got
grep -q "LVM2_member.*LVM2 PV extents" "$tmpdir/lvm.err" || fail "map not used"
for lv in root home; do
  grep -q "LV $lv: .*ext4; ext bitmap" "$tmpdir/lvm.err" ||
    fail "$lv: ext map not used inside the LV"
done
grep -q "LV log:" "$tmpdir/lvm.err" &&
  fail "log is in two pieces: it must be read whole, not mapped"

# Each filesystem, cut out of the result at its LV's offset.
for lv in root home; do
  [[ $lv == root ]] && mb=20 || mb=16
  dd if="$got" of="$tmpdir/$lv.got" bs=1M skip=$(($(lv_offset $lv) / mib)) \
    count=$mb status=none
  e2fsck -fn "$tmpdir/$lv.got" > "$tmpdir/$lv.fsck" 2>&1 ||
    { cat "$tmpdir/$lv.fsck"; fail "$lv: e2fsck -fn found problems"; }
  mkdir "$tmpdir/$lv.dump"
  debugfs -R "rdump /srv /etc $tmpdir/$lv.dump" "$tmpdir/$lv.got" 2>/dev/null
  diff <(sed 's|\./srv/|./|; s|\./etc/|./|' "$tmpdir/$lv.want" | sort) \
       <(checksums "$tmpdir/$lv.dump" |
         sed 's|\./srv/|./|; s|\./etc/|./|' | sort) ||
    fail "$lv: file checksums differ"
done

# log (two pieces) arrives whole; free extents arrive as holes.
while read -r first last; do
  cmp <(dd if="$pv" bs=1M skip=$(((pe_start + first * ext) / mib)) \
          count=$((last - first + 1)) status=none) \
      <(dd if="$got" bs=1M skip=$(((pe_start + first * ext) / mib)) \
          count=$((last - first + 1)) status=none) ||
    fail "log extents $first-$last differ"
done < <(sed -n 's|^ *log PV:\([0-9]*\)-\([0-9]*\).*|\1 \2|p' \
           "$tmpdir/want.lvs")
last_used=$(sed -n 's|.*PV:[0-9]*-\([0-9]*\).*|\1|p' "$tmpdir/want.lvs" |
            sort -n | tail -1)
free_off=$((pe_start + (last_used + 1) * ext))
dd if="$got" of="$tmpdir/free.got" bs=1M skip=$((free_off / mib)) \
  count=$((pe_count - last_used - 1)) status=none
[[ $(nonzero_bytes "$tmpdir/free.got") == 0 ]] ||
  fail "free extents were sent"

# LVM reads the result: the same VG and LVs, label and metadata intact.
loop_attach -r "$got"
lvm_on "$loop" pvck "$loop" > /dev/null
lvm_on "$loop" vgck p2vvg
lvm_on "$loop" lvs --noheadings -o lv_name,seg_pe_ranges p2vvg |
  sed "s|$loop|PV|" | sort | diff "$tmpdir/want.lvs" - ||
  fail "lvs on the result differs"

# What was sent: ext4's used blocks, everything before pe_start (label,
# metadata area: 1 MiB), log whole (4 MiB), each ext map's 64 KiB head,
# and the disk's 1 MiB boot gap.
data=$(json_field "$tmpdir/lvm.json" data_bytes)
log_bytes=$((4 * mib))
limit=$((used * 105 / 100 + pe_start + mib + log_bytes + 2 * 65536))
echo "lvm: ext4 used $used, data_bytes $data, limit $limit"
((data <= limit)) || fail "sent $data bytes for $used used"
nz=$(nonzero_bytes "$pv")
echo "lvm: non-zero bytes in the source PV: $nz"
((nz > used + log_bytes + 30 * mib)) || fail "too little stale data"

# A metadata text that fails its checksum: the map declines and the
# partition arrives byte-identical.
mda_off=4096                          # where pvcreate puts the first one
text_off=$(od -An -t u8 -j $((mda_off + 40)) -N 8 "$pv" | tr -d ' ')
cp "$pv" "$tmpdir/badsum.img"
printf 'X' | dd of="$tmpdir/badsum.img" bs=1 seek=$((mda_off + text_off + 8)) \
  conv=notrunc status=none
convert badsum "$tmpdir/badsum.img"
grep -q "VG metadata fails its checksum.*reading it all with zero detection" \
  "$tmpdir/badsum.err" || fail "no fallback for a bad metadata checksum"
cmp "$tmpdir/badsum.img" "$tmpdir/badsum.got" ||
  fail "bad metadata checksum: partition differs"

# The same for a damaged metadata area header.
cp "$pv" "$tmpdir/badmda.img"
printf 'X' | dd of="$tmpdir/badmda.img" bs=1 seek=$((mda_off + 300)) \
  conv=notrunc status=none
convert badmda "$tmpdir/badmda.img"
grep -q "header at 4096 fails its checksum.*zero detection" \
  "$tmpdir/badmda.err" || fail "no fallback for a bad metadata area header"
cmp "$tmpdir/badmda.img" "$tmpdir/badmda.got" ||
  fail "bad metadata area header: partition differs"

host_lvm_state | diff "$tmpdir/etc-lvm.before" - ||
  fail "the host's LVM state (/etc/lvm, /run/lvm, /run/lock/lvm) changed"
echo ok
