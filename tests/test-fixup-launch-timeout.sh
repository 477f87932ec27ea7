#!/bin/bash
# test-fixup-launch-timeout: p2v-fixup bounds the libguestfs
# appliance's start (--launch-timeout): an appliance that has not
# started in time is stopped and started once more, and when that one
# is late too, p2v-fixup fails saying so, leaves no QEMU running and
# the image unchanged.  A timeout of 1 s stands for a hung appliance
# (one takes about 30 s to start under TCG).  With the default, the
# same image is opened.  And a bad value is refused.
source "$(dirname "$0")/functions.sh"
requires guestfish mkfs.ext4 pgrep
FIXUP=$P2V_BUILD/p2v-fixup
img=$tmpdir/disk.img
truncate -s 64M "$img"
mkfs.ext4 -q -F "$img"
sum=$(sha256sum < "$img")

rc=0
"$FIXUP" --launch-timeout abc "$img" 2> "$tmpdir/err" || rc=$?
((rc == 1)) && grep -q -- "--launch-timeout" "$tmpdir/err" ||
  fail "--launch-timeout abc: exit $rc, '$(cat "$tmpdir/err")'"

# The default: the appliance starts (and, first, is built when not yet
# cached: not something to cut short).
"$FIXUP" "$img" > "$tmpdir/ok" 2>&1 || { cat "$tmpdir/ok"; fail "p2v-fixup with the default timeout failed"; }
grep -q "no Linux operating system found" "$tmpdir/ok" ||
  { cat "$tmpdir/ok"; fail "p2v-fixup did not look at the image"; }

start=$SECONDS
rc=0
timeout 120 "$FIXUP" --launch-timeout 1 "$img" > "$tmpdir/late" 2>&1 || rc=$?
cat "$tmpdir/late"
((rc == 1)) || fail "p2v-fixup --launch-timeout 1 exited $rc, want 1"
(($(grep -c "starting the libguestfs appliance" "$tmpdir/late") == 2)) ||
  fail "the appliance was not started exactly twice"
grep -q "warning: the libguestfs appliance did not start within 1 s (--launch-timeout): stopped; starting it once more" "$tmpdir/late" ||
  fail "no warning about the first, late appliance"
grep -q "error: the libguestfs appliance did not start within 1 s, twice" "$tmpdir/late" ||
  fail "no error naming the timeout"
((SECONDS - start < 60)) || fail "giving up took $((SECONDS - start)) s"
! pgrep -f -- "file=$img" > /dev/null || fail "a QEMU on $img is still running"
[[ $(sha256sum < "$img") == "$sum" ]] || fail "the image changed"
echo ok
