#!/bin/bash
# --format qcow2: the image is written directly through qemu-nbd, with
# no raw copy: qemu-img check is clean, qemu-img compare finds it equal
# to the raw conversion of the same disk, its allocation is close to the
# data sent, and domain.xml names it as qcow2.  Interrupted (the output
# filesystem fills up) and resumed, it still comes out equal.
source "$(dirname "$0")/functions.sh"
requires qemu-img qemu-nbd sfdisk mkfs.ext4 mount

make_test_disk "$tmpdir/src.img" 48
out=$tmpdir/out
convert () {
  local name=$1; shift
  "$AGENT" send --local --name "$name" --retries 0 "$tmpdir/src.img" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out $*"
}
convert raw -q
convert q --format qcow2 --verify 2>"$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "qcow2 conversion failed"; }
img=$out/q/disk0.qcow2
qemu-img check "$img" || fail "qemu-img check"
qemu-img compare -f raw -F qcow2 "$out/raw/disk0.raw" "$img" ||
  fail "qcow2 differs from the raw conversion"
qemu-img compare -f raw -F qcow2 "$tmpdir/src.img" "$img" ||
  fail "qcow2 differs from the source"
[[ $(qemu-img info --output=json "$img" | sed -n 's/.*"format": "\(.*\)".*/\1/p' | head -1) == qcow2 ]] ||
  fail "not a qcow2 file"
data=$(sed -n 's/.*"data_bytes": \([0-9]*\).*/\1/p' "$out/q/report.json")
alloc=$(allocated_bytes "$img")
echo "data sent $data bytes, qcow2 allocates $alloc"
((alloc <= data + data / 10 + 2 * 1048576)) ||
  fail "qcow2 allocates $alloc bytes for $data bytes of data"
grep -q '"format": "qcow2"' "$out/q/report.json" || fail "report format"
grep -q '"verification": { "result": "verified" }' "$out/q/report.json" ||
  fail "--verify did not verify"
grep -q "<driver name='qemu' type='qcow2'/>" "$out/q/domain.xml" ||
  fail "domain.xml does not say qcow2"
grep -q "<source file='$out/q/disk0.qcow2'/>" "$out/q/domain.xml" ||
  fail "domain.xml does not name the image"
"$RECEIVER" verify "$out/q" || fail "verify"

# Interrupted by a full filesystem, resumed once there is room.
if (($(id -u) == 0)); then
  small=$tmpdir/small
  mkdir -p "$small"
  mount -t tmpfs -o size=3m tmpfs "$small" || fail "cannot mount a tmpfs"
  on_exit "umount '$small'"
  out=$small
  if convert full --format qcow2 2>"$tmpdir/err"; then
    fail "about 5.5 MiB of qcow2 fitted into 3 MiB"
  fi
  grep -q "No space left on device" "$tmpdir/err" ||
    { cat "$tmpdir/err"; fail "no ENOSPC message"; }
  mount -o remount,size=64m "$small"
  convert full --format qcow2 2>"$tmpdir/err2" ||
    { cat "$tmpdir/err2"; fail "resume failed"; }
  grep -q "resuming the unfinished conversion 'full'" "$tmpdir/err2" ||
    fail "did not resume"
  qemu-img check "$small/full/disk0.qcow2" || fail "qemu-img check after resume"
  qemu-img compare -f raw -F qcow2 "$tmpdir/src.img" "$small/full/disk0.qcow2" ||
    fail "resumed qcow2 differs from the source"
fi
echo ok
