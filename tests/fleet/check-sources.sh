#!/bin/bash
# tests/fleet/check-sources.sh: the fleet's source machines boot as the
# physical servers they stand for and pass their own boot check (tests/boot-check), which proves the
# fixtures are real before conversions are judged on them; and the boot
# check fails when it should: told to expect the wrong MAC, it reports
# exactly that.  Images are built once per machine (make fleet; cached
# in /var/cache/p2v-tests/fleet) and booted from throwaway overlays.
# (Not yet in make check: it joins tests/ as test-fleet-boot.sh once
# every member builds; see tests/fleet/README.md.)
source "$(dirname "$0")/../functions.sh"
requires guestfish debootstrap expect qemu-system-x86_64 qemu-img
(($(id -u) == 0)) || { echo "SKIP: building the fleet needs root (debootstrap)" >&2; exit 77; }
[[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ]] || { echo "SKIP: OVMF not installed" >&2; exit 77; }

boot_check=$top_srcdir/tests/boot-check
for member in plain-gpt-uefi; do
  dir=$("$top_srcdir/tests/fleet/build.sh" "$member") || fail "$member: build failed"
  # shellcheck disable=SC1091
  source "$dir/machine.env"
  images=()
  for d in $DISKS; do
    qemu-img create -q -f qcow2 -F raw -b "$dir/$d" "$tmpdir/$member-$d.qcow2"
    images+=("$tmpdir/$member-$d.qcow2")
  done
  uefi=(); [[ $FIRMWARE == uefi ]] && uefi=(--uefi)
  "$boot_check" --format qcow2 "${uefi[@]}" --mac "$MAC" --nic "$NIC" --ip "$IP" \
    --md "$MD" --root "$ROOT" --log "$tmpdir/$member.log" "${images[@]}" ||
    { tail -40 "$tmpdir/$member.log"; fail "$member does not pass its own boot check"; }

  # The check must fail when the machine is not what it expects.
  rc=0
  "$boot_check" --format qcow2 "${uefi[@]}" --mac "$MAC" \
    --expect-mac 52:54:00:de:ad:01 --nic "$NIC" \
    --ip "$IP" --md "$MD" --root "$ROOT" --log "$tmpdir/$member-bad.log" \
    "${images[@]}" 2>"$tmpdir/bad.err" || rc=$?
  cat "$tmpdir/bad.err"
  ((rc == 1)) || fail "$member: boot-check with a wrong MAC exited $rc, want 1"
  grep -q "FAIL: $NIC does not have MAC 52:54:00:de:ad:01" "$tmpdir/bad.err" ||
    fail "$member: the wrong MAC was not reported"
done
echo ok
