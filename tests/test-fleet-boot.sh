#!/bin/bash
# test-fleet-boot: every fleet machine boots as the physical server it
# stands for (all its disks, its own MAC) and passes its own boot check
# (tests/boot-check), which proves the fixtures are real before any
# conversion is judged on them; and the boot check fails when it
# should: on a new MAC, xfs-nm's NIC gets no address, and the check
# reports exactly that.  Every boot check runs with --kmsg-noise: the
# guest writes emergency kernel messages, which reach the serial
# console, while the checks run; the results must be the same.
# Images are built once per machine (make fleet; cached in
# /var/cache/p2v-tests/fleet) and booted from throwaway overlays.
# Cold, the builds take about 10 minutes, the boots 5:
# run-tests: timeout 2700
# run-tests: no p2v programs
source "$(dirname "$0")/functions.sh"
requires guestfish debootstrap expect qemu-system-x86_64 qemu-img
(($(id -u) == 0)) || { echo "SKIP: building the fleet needs root (debootstrap)" >&2; exit 77; }

boot_check=$top_srcdir/tests/boot-check
# boot MEMBER LOG [BOOT-CHECK OPTION]...: boot-check MEMBER as the source.
boot () {
  local member=$1 log=$2 dir d images=() opts=()
  shift 2
  dir=$("$top_srcdir/tests/fleet/build.sh" "$member") || fail "$member: build failed"
  # shellcheck disable=SC1091
  source "$dir/machine.env"
  for d in $DISKS; do
    qemu-img create -q -f qcow2 -F raw -b "$dir/$d" "$tmpdir/$member-$d.qcow2"
    images+=("$tmpdir/$member-$d.qcow2")
  done
  [[ $FIRMWARE == uefi ]] && opts+=(--uefi)
  "$boot_check" --format qcow2 "${opts[@]}" --mac "$MAC" --nic-bus "$NICBUS" \
    --nic "$NIC" --ip "$IP" --md "$MD" --root "$ROOT" --log "$log" --kmsg-noise \
    "$@" "${images[@]}"
}
# noisy LOG: the kernel's messages did reach the console during the
# checks (or this test would prove nothing about them).
noisy () {
  (($(grep -a -c 'p2v-noise [0-9]*: md: md1: resync done' "$1") >= 3)) ||
    fail "no kernel messages on the console in $1: the noise did not work"
}

for member in $("$top_srcdir/tests/fleet/build.sh" --members); do
  start=$SECONDS
  boot "$member" "$tmpdir/$member.log" ||
    { tail -40 "$tmpdir/$member.log"; fail "$member does not pass its own boot check"; }
  noisy "$tmpdir/$member.log"
  # Built in sync and stopped clean (tests/fleet/appliance.sh).
  ! grep -a "md: resync of RAID array" "$tmpdir/$member.log" ||
    fail "$member's arrays resync at boot: they were not left clean"
  echo "$member: boot check passed in $((SECONDS - start)) s, kernel messages on its console"
  rm -f "$tmpdir/$member"-*.qcow2
done

# The check must fail when it should: xfs-nm on a fresh MAC, as a copy
# made without fixups would boot, leaves its NetworkManager keyfile
# (pinned to the old MAC) unused and the NIC without its address.
rc=0
boot xfs-nm "$tmpdir/bad.log" --mac 52:54:00:de:ad:01 2>"$tmpdir/bad.err" || rc=$?
cat "$tmpdir/bad.err"
((rc == 1)) || { tail -40 "$tmpdir/bad.log"; fail "boot-check of xfs-nm on a new MAC exited $rc, want 1"; }
noisy "$tmpdir/bad.log"
grep -q "FAIL: ens3 does not carry 192.168.50.14/24" "$tmpdir/bad.err" ||
  fail "the missing address was not reported"
if grep "FAIL:" "$tmpdir/bad.err" | grep -v -q "FAIL: ens3 "; then
  fail "boot-check reported failures that are not about the NIC"
fi
echo ok
