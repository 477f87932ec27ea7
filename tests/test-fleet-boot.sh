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
# Each boot's result (its console log) is a fixture too, cached beside
# the machine as boot-CASE-KEY: KEY hashes the machine's cache entry
# and its checksums, boot-check, this script, functions.sh and the
# installed QEMU and OVMF, so a change to any of them boots again, and
# a warm run verifies the kept logs instead of booting (eleven boots,
# about 20 minutes under TCG).  It runs none of p2v's programs, but
# make check and make check-asan each prove the machines they convert
# (P2V_FLEET_E2E), so that the boots are shared out between the two.
# Cold, with the builds of whatever test-fixup-fleet has not built yet,
# it may take most of an hour:
# run-tests: timeout 4500
source "$(dirname "$0")/functions.sh"
requires guestfish debootstrap expect qemu-system-x86_64 qemu-img
(($(id -u) == 0)) || { echo "SKIP: building the fleet needs root (debootstrap)" >&2; exit 77; }

boot_check=$top_srcdir/tests/boot-check
# boot MEMBER LOG [BOOT-CHECK OPTION]...: boot-check MEMBER as the source.
boot () {
  local member=$1 log=$2 dir d mac images=() opts=()
  shift 2
  dir=$("$top_srcdir/tests/fleet/build.sh" "$member") || fail "$member: build failed"
  # shellcheck disable=SC1091
  source "$dir/machine.env"
  for d in $DISKS; do
    qemu-img create -q -f qcow2 -F raw -b "$dir/$d" "$tmpdir/$member-$d.qcow2"
    images+=("$tmpdir/$member-$d.qcow2")
  done
  [[ $FIRMWARE == uefi ]] && opts+=(--uefi)
  for mac in $MORE_MACS; do opts+=(--more-nic "$mac"); done
  [[ -z $EXTRA_CHECK ]] || opts+=(--check "$EXTRA_CHECK")
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

# proof CASE OUT: boot CASE (a member, or new-mac-xfs-nm) and keep its
# console log and result in OUT; exit 1 when it does not do as it must.
# The cache (tests/cache.sh) runs it as "test-fleet-boot.sh --proof".
proof () {
  local case=$1 out=$2 start=$SECONDS rc=0
  if [[ $case != new-mac-xfs-nm ]]; then
    boot "$case" "$out/console.log" > "$out/result" 2>&1 ||
      { cat "$out/result"; tail -40 "$out/console.log"
        echo "== systemd's failures on the console, if any:"
        grep -a -E "Timed out|Dependency failed|FAILED|emergency" "$out/console.log" | head -20 || true
        fail "$case does not pass its own boot check"; }
    noisy "$out/console.log"
    # Built in sync and stopped clean (tests/fleet/appliance.sh).
    ! grep -a "md: resync of RAID array" "$out/console.log" ||
      fail "$case's arrays resync at boot: they were not left clean"
    echo "$case: boot check passed in $((SECONDS - start)) s, kernel messages on its console" \
      >> "$out/result"
    return
  fi
  # The check must fail when it should: xfs-nm on a fresh MAC, as a copy
  # made without fixups would boot, leaves its NetworkManager keyfile
  # (pinned to the old MAC) unused and the NIC without its address.
  boot xfs-nm "$out/console.log" --mac 52:54:00:de:ad:01 2>"$out/result" || rc=$?
  cat "$out/result"
  ((rc == 1)) || { tail -40 "$out/console.log"; fail "boot-check of xfs-nm on a new MAC exited $rc, want 1"; }
  noisy "$out/console.log"
  grep -q "FAIL: ens3 does not carry 192.168.50.14/24" "$out/result" ||
    fail "the missing address was not reported"
  if grep "FAIL:" "$out/result" | grep -v -q "FAIL: ens3 "; then
    fail "boot-check reported failures that are not about the NIC"
  fi
  echo "xfs-nm on a new MAC: boot check failed as it must, in $((SECONDS - start)) s" >> "$out/result"
}
if [[ ${1:-} == --proof ]]; then
  proof "$2" "$3"
  exit 0
fi

# proven CASE MEMBER: the cached proof of CASE (booting MEMBER), made now
# if it is missing or fails its check; prints its result.
proven () {
  local case=$1 dir key entry
  dir=$("$top_srcdir/tests/fleet/build.sh" "$2") || fail "$2: build failed"
  key=$( { echo "${dir##*/}"; cat "$dir.sha256" "$boot_check" "$0" "$top_srcdir/tests/functions.sh"
           dpkg-query -W qemu-system-x86 ovmf; } | sha256sum | cut -c1-16)
  entry=$("$top_srcdir/tests/cache.sh" --prune "boot-$case-*" "${dir%/*}" "boot-$case-$key" \
          "$0" --proof "$case") || fail "$case: its boot proof failed (above)"
  cat "$entry/result"
}

# The machines of this pass, or all of them.
for member in $("$top_srcdir/tests/fleet/build.sh" --members); do
  [[ " ${P2V_FLEET_E2E:-$member} " == *" $member "* ]] || continue
  proven "$member" "$member"
  [[ $member != xfs-nm ]] || proven new-mac-xfs-nm xfs-nm
done
echo ok
