#!/bin/bash
# p2v-agent probe shows the host facts and, per disk, the partition table
# (GPT with an ext4 root, an EFI System Partition and swap; MBR with an
# extended partition and logical ones), each partition's blkid TYPE,
# LABEL and UUID, and the used-block map send would try, as a table and
# as JSON that parses.  On loop devices it reports a read-only mount.
# Probing writes nothing, and an unreadable disk is a clear error.
source "$(dirname "$0")/functions.sh"
requires sfdisk mkfs.ext4 mkfs.vfat mkswap perl
perl -MJSON::PP -e 1 2>/dev/null || {
  echo "SKIP: perl JSON::PP is missing" >&2; exit 77; }

MiB=1048576

# --- Images --------------------------------------------------------------
# GPT: 1 ext4 "rootfs" 16 MiB at 1 MiB; 2 vfat ESP 8 MiB; 3 swap 4 MiB.
gpt=$tmpdir/gpt.img
truncate -s 40M "$gpt"
printf 'label: gpt\n%s\n%s\n%s\n' \
  'start=2048, size=32768, type=L, name="root"' \
  'start=34816, size=16384, type=U, name="EFI system"' \
  'start=51200, size=8192, type=S' | sfdisk -q "$gpt"
truncate -s 16M "$tmpdir/root.fs"
mkfs.ext4 -q -F -L rootfs "$tmpdir/root.fs"
truncate -s 8M "$tmpdir/esp.fs"
mkfs.vfat -n ESP "$tmpdir/esp.fs" >/dev/null
truncate -s 4M "$tmpdir/swap.fs"
mkswap -L swap0 "$tmpdir/swap.fs" >/dev/null 2>&1
put_partition "$gpt" "$tmpdir/root.fs" 2048
put_partition "$gpt" "$tmpdir/esp.fs" 34816
put_partition "$gpt" "$tmpdir/swap.fs" 51200
root_uuid=$(blkid -p -o value -s UUID "$tmpdir/root.fs" 2>/dev/null || true)

# MBR: 1 bootable, blank; 2 extended 24 MiB; 5 logical ext4 whose label
# has a control character and a byte that is not UTF-8; 6 logical swap.
mbr=$tmpdir/mbr.img
truncate -s 40M "$mbr"
printf 'label: dos\n%s\n%s\n%s\n%s\n' \
  "$mbr""1 : start=2048, size=16384, type=83, bootable" \
  "$mbr""2 : start=18432, size=49152, type=5" \
  "$mbr""5 : start=20480, size=16384, type=83" \
  "$mbr""6 : start=38912, size=16384, type=82" | sfdisk -q "$mbr"
truncate -s 8M "$tmpdir/log.fs"
mkfs.ext4 -q -F -L "$(printf 'log\001\377')" "$tmpdir/log.fs"
put_partition "$mbr" "$tmpdir/log.fs" 20480
put_partition "$mbr" "$tmpdir/swap.fs" 38912

# A filesystem on the whole image (libparted's "loop" label), and a blank one.
cp "$tmpdir/root.fs" "$tmpdir/whole.img"
truncate -s 4M "$tmpdir/blank.img"

sha256sum "$gpt" "$mbr" "$tmpdir/whole.img" > "$tmpdir/before.sums"
stat -c '%n %Y' "$gpt" "$mbr" > "$tmpdir/before.mtime"

# --- Helpers -------------------------------------------------------------
# json_ok FILE: the output parses (python3, else jq, else perl).
json_ok () {
  if command -v python3 >/dev/null; then python3 -m json.tool "$1" >/dev/null
  elif command -v jq >/dev/null; then jq . "$1" >/dev/null
  else perl -MJSON::PP -e 'local $/; decode_json (<>)' "$1"; fi ||
    { cat "$1"; fail "$1: not valid JSON"; }
}

# jget FILE EXPR: a value from the JSON, EXPR being Perl on $j, e.g.
# '$j->{disks}[0]{partitions}[1]{label}'.  Lists are joined with ','.
jget () {
  perl -MJSON::PP -e '
    local $/; my $j = decode_json (<STDIN>); my $v = eval $ARGV[0];
    die $@ if $@;
    print ref $v eq "ARRAY" ? join (",", @$v) : defined $v ? $v : "null";
  ' "$2" < "$1"
}

# expect_part FILE DISK PART FIELD WANT
expect_part () {
  local got
  got=$(jget "$1" "\$j->{disks}[$2]{partitions}[$3]{$4}")
  [[ $got == "$5" ]] ||
    fail "$1: disk $2 partition index $3: $4 is '$got', expected '$5'"
}

# row FILE REGEX: a table row matches (columns are separated by blanks).
row () {
  grep -Eq "$2" "$1" || { cat "$1"; fail "$1: no row matching /$2/"; }
}

# --- GPT, human ----------------------------------------------------------
"$AGENT" probe "$gpt" > "$tmpdir/gpt.txt"
cat "$tmpdir/gpt.txt"
row "$tmpdir/gpt.txt" "^Host .*: [0-9]+ CPUs.* RAM, (bios|uefi) firmware"
row "$tmpdir/gpt.txt" "^$gpt: 40.0 MiB, image file, sectors 512/512"
row "$tmpdir/gpt.txt" "partition table: gpt"
row "$tmpdir/gpt.txt" \
  "^  1  1.0 MiB +16.0 MiB +- +root +ext4 1.0 +rootfs +$root_uuid +n/a +ext bitmap$"
row "$tmpdir/gpt.txt" \
  "^  2  17.0 MiB +8.0 MiB +([a-z_]+,)*esp(,[a-z_]+)* +EFI system +vfat FAT[0-9]+ +ESP .* n/a +[^ ]"
row "$tmpdir/gpt.txt" \
  "^  3  25.0 MiB +4.0 MiB +swap +- +swap 1 +swap0 .* n/a +swap header$"

# --- GPT, JSON -----------------------------------------------------------
"$AGENT" probe --json "$gpt" > "$tmpdir/gpt.json"
json_ok "$tmpdir/gpt.json"
for k in hostname cpus memory firmware kernel arch; do
  [[ $(jget "$tmpdir/gpt.json" "\$j->{host}{'$k'}") != null ]] ||
    fail "host fact $k missing"
done
[[ $(jget "$tmpdir/gpt.json" '$j->{host}{cpus}') -ge 1 ]] || fail "cpus < 1"
# P2V_TEST_FACTS (p2v-agent(1), ENVIRONMENT): facts replaced or added,
# as a test's agents pose as servers; a word that is not KEY=VALUE is
# an error.
P2V_TEST_FACTS="dmi.serial=TEST-SN1 nic.0.mac=52:54:00:00:00:01 cpus=7" \
  "$AGENT" probe --json "$gpt" > "$tmpdir/posing.json"
for kv in dmi.serial=TEST-SN1 nic.0.mac=52:54:00:00:00:01 cpus=7; do
  [[ $(jget "$tmpdir/posing.json" "\$j->{host}{'${kv%%=*}'}") == "${kv#*=}" ]] ||
    fail "P2V_TEST_FACTS: ${kv%%=*} is not ${kv#*=}: $(cat "$tmpdir/posing.json")"
done
[[ $(grep -c '"cpus"' "$tmpdir/posing.json") == 1 ]] || fail "P2V_TEST_FACTS: cpus twice"
if P2V_TEST_FACTS="cpus=1 bogus" "$AGENT" probe "$gpt" > /dev/null 2> "$tmpdir/err"; then
  fail "P2V_TEST_FACTS=bogus was taken"
fi
grep -q "P2V_TEST_FACTS: 'bogus' is not KEY=VALUE" "$tmpdir/err" || fail "no message: $(cat "$tmpdir/err")"
[[ $(jget "$tmpdir/gpt.json" '$j->{host}{memory}') -gt $((16 * MiB)) ]] ||
  fail "memory implausible"
[[ $(jget "$tmpdir/gpt.json" 'scalar @{$j->{disks}}') == 1 ]] ||
  fail "expected one disk"
[[ $(jget "$tmpdir/gpt.json" '$j->{disks}[0]{size}') == $((40 * MiB)) ]] ||
  fail "disk size"
[[ $(jget "$tmpdir/gpt.json" '$j->{disks}[0]{table}') == gpt ]] ||
  fail "table type"
expect_part "$tmpdir/gpt.json" 0 0 number 1
expect_part "$tmpdir/gpt.json" 0 0 start $((1 * MiB))
expect_part "$tmpdir/gpt.json" 0 0 size $((16 * MiB))
expect_part "$tmpdir/gpt.json" 0 0 type ext4
expect_part "$tmpdir/gpt.json" 0 0 label rootfs
expect_part "$tmpdir/gpt.json" 0 0 uuid "$root_uuid"
expect_part "$tmpdir/gpt.json" 0 0 name root
expect_part "$tmpdir/gpt.json" 0 0 map "ext bitmap"
expect_part "$tmpdir/gpt.json" 0 0 mounts null
expect_part "$tmpdir/gpt.json" 0 1 number 2
expect_part "$tmpdir/gpt.json" 0 1 start $((17 * MiB))
expect_part "$tmpdir/gpt.json" 0 1 size $((8 * MiB))
expect_part "$tmpdir/gpt.json" 0 1 type vfat
expect_part "$tmpdir/gpt.json" 0 1 label ESP
[[ ,$(jget "$tmpdir/gpt.json" '$j->{disks}[0]{partitions}[1]{flags}'), == \
   *,esp,* ]] || fail "the ESP has no esp flag"
expect_part "$tmpdir/gpt.json" 0 2 number 3
expect_part "$tmpdir/gpt.json" 0 2 type swap
expect_part "$tmpdir/gpt.json" 0 2 label swap0
expect_part "$tmpdir/gpt.json" 0 2 map "swap header"

# --- MBR with logical partitions -----------------------------------------
"$AGENT" probe "$mbr" > "$tmpdir/mbr.txt"
cat "$tmpdir/mbr.txt"
row "$tmpdir/mbr.txt" "partition table: msdos"
row "$tmpdir/mbr.txt" "^  1  1.0 MiB +8.0 MiB +boot +- .* n/a +zero detection$"
row "$tmpdir/mbr.txt" "^  2  9.0 MiB +24.0 MiB +- +\(extended\) .* n/a +-$"
row "$tmpdir/mbr.txt" "^  5  10.0 MiB +8.0 MiB +- +ext4 1.0 +log\?\? .* ext bitmap$"
row "$tmpdir/mbr.txt" "^  6  19.0 MiB +8.0 MiB +swap +swap 1 +swap0 .* swap header$"
"$AGENT" probe --json "$mbr" > "$tmpdir/mbr.json"
json_ok "$tmpdir/mbr.json"
[[ $(jget "$tmpdir/mbr.json" \
   'join " ", map { "$_->{number}:$_->{kind}" } @{$j->{disks}[0]{partitions}}') \
   == "1:primary 2:extended 5:logical 6:logical" ]] ||
  fail "MBR partition numbers/kinds"
expect_part "$tmpdir/mbr.json" 0 2 start $((10 * MiB))
expect_part "$tmpdir/mbr.json" 0 2 size $((8 * MiB))
expect_part "$tmpdir/mbr.json" 0 2 label 'log??'
expect_part "$tmpdir/mbr.json" 0 1 map -
expect_part "$tmpdir/mbr.json" 0 0 flags boot

# --- Whole-disk filesystem, blank image, several disks at once -----------
"$AGENT" probe --json "$tmpdir/whole.img" "$tmpdir/blank.img" "$gpt" \
  > "$tmpdir/multi.json"
json_ok "$tmpdir/multi.json"
[[ $(jget "$tmpdir/multi.json" 'scalar @{$j->{disks}}') == 3 ]] ||
  fail "expected three disks"
expect_part "$tmpdir/multi.json" 0 0 type ext4
expect_part "$tmpdir/multi.json" 0 0 start 0
expect_part "$tmpdir/multi.json" 0 0 size $((16 * MiB))
[[ $(jget "$tmpdir/multi.json" '$j->{disks}[1]{table}') == none ]] ||
  fail "a blank image has no table"
expect_part "$tmpdir/multi.json" 1 0 number 0
expect_part "$tmpdir/multi.json" 1 0 type ""
expect_part "$tmpdir/multi.json" 1 0 map "zero detection"

# --- Errors --------------------------------------------------------------
rc=0
"$AGENT" probe "$tmpdir/nope" "$gpt" > "$tmpdir/err.out" 2> "$tmpdir/err" ||
  rc=$?
cat "$tmpdir/err"
((rc != 0)) || fail "a missing disk did not fail"
grep -q "$tmpdir/nope: No such file" "$tmpdir/err" || fail "unclear message"
grep -q "partition table: gpt" "$tmpdir/err.out" ||
  fail "the readable disk was not shown"
rc=0; "$AGENT" probe "$tmpdir" >/dev/null 2> "$tmpdir/err" || rc=$?
((rc != 0)) && grep -q "not a block device" "$tmpdir/err" ||
  fail "a directory was not refused clearly"
rc=0; "$AGENT" probe --frobnicate 2> "$tmpdir/err" || rc=$?
((rc != 0)) && grep -q "probe --help" "$tmpdir/err" || fail "bad option"

# --- Default scan: every disk in /sys/block, exit 0, or an error naming
# a device the container may not open. -------------------------------------
rc=0
timeout 60 "$AGENT" probe --json > "$tmpdir/scan.json" 2> "$tmpdir/scan.err" ||
  rc=$?
cat "$tmpdir/scan.err"
json_ok "$tmpdir/scan.json"
if ((rc != 0)); then
  grep -q "error: /dev/" "$tmpdir/scan.err" || fail "default scan failed"
  echo "default scan: a disk could not be opened here (exit $rc)"
fi
echo "default scan found: $(jget "$tmpdir/scan.json" \
  'join " ", map { $_->{path} } @{$j->{disks}}')"

# --- Loop devices (root) -------------------------------------------------
loop_tests () {
  local loop part mnt=$tmpdir/mnt
  loop=$(losetup -f --show "$gpt" 2>/dev/null) || return 77
  on_exit "losetup -d $loop"
  "$AGENT" probe "$loop" > "$tmpdir/loop.txt"
  cat "$tmpdir/loop.txt"
  row "$tmpdir/loop.txt" "^$loop: 40.0 MiB, block device, sectors 512/512"
  row "$tmpdir/loop.txt" "^  1  1.0 MiB +16.0 MiB .* rootfs .* - +ext bitmap$"
  row "$tmpdir/loop.txt" "^  2  17.0 MiB .*esp.* ESP "
  # The ext4 partition mounted read-only through a loop device at its
  # offset (these loop devices have no partition scanning).
  part=$(losetup -f --show -r -o $((1 * MiB)) --sizelimit $((16 * MiB)) \
           "$gpt" 2>/dev/null) || return 77
  on_exit "losetup -d $part"
  mkdir -p "$mnt"
  mount -o ro "$part" "$mnt" 2>/dev/null || return 77
  on_exit "umount '$mnt' 2>/dev/null"
  "$AGENT" probe "$part" > "$tmpdir/part.txt"
  cat "$tmpdir/part.txt"
  row "$tmpdir/part.txt" "partition table: loop"
  row "$tmpdir/part.txt" "^  1  0 B +16.0 MiB +ext4 1.0 +rootfs .* $mnt \(ro\) +ext bitmap$"
  "$AGENT" probe --json "$part" "$loop" > "$tmpdir/part.json"
  json_ok "$tmpdir/part.json"
  [[ $(jget "$tmpdir/part.json" '$j->{disks}[0]{block_device}') == 1 ]] ||
    fail "a loop device is a block device"
  [[ $(jget "$tmpdir/part.json" \
       '$j->{disks}[0]{partitions}[0]{mounts}[0]{target} . " " .
        $j->{disks}[0]{partitions}[0]{mounts}[0]{mode}') == "$mnt ro" ]] ||
    fail "mount state of $part not reported"
  [[ $(jget "$tmpdir/part.json" \
       'scalar @{$j->{disks}[1]{partitions}[0]{mounts}}') == 0 ]] ||
    fail "$loop partition 1 reported mounted"
  umount "$mnt"
  return 0
}
if [[ $(id -u) -eq 0 ]] && command -v losetup >/dev/null; then
  rc=0; loop_tests || rc=$?
  ((rc == 0)) || { ((rc == 77)) &&
    echo "loop devices or mounting unavailable: loop part skipped"; } ||
    fail "loop tests"
else
  echo "not root or no losetup: loop device part skipped"
fi

# --- Nothing was written --------------------------------------------------
sha256sum -c --quiet "$tmpdir/before.sums" || fail "probing changed an image"
stat -c '%n %Y' "$gpt" "$mbr" | cmp -s - "$tmpdir/before.mtime" ||
  fail "probing touched an image's mtime"
echo ok
