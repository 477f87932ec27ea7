#!/bin/bash
# test-direct-attach: a fleet machine's disks attached to this host and
# converted with send --local, as an operator does with a server's
# disks plugged into the hypervisor.  Nothing of this host's describes
# the VM: the agent sends none of its facts, p2v-fixup finds the NICs in
# the guest's own configuration and the firmware on its disks, and the
# result boots on its new MAC with its network working.
#  - plain-gpt-uefi: UEFI, from its EFI system partition and the boot
#    loader there; its NIC enp3s0 (named in a networkd .network, no MAC
#    there) is pinned to the new MAC.
#  - xfs-nm: BIOS; its NIC is the MAC its NetworkManager keyfile names,
#    and the keyfile gets the new MAC.
# Both: memory and vCPUs are the defaults, the domain is titled with the
# guest's host name, the report says where each fact came from, and no
# MAC of this host's is anywhere.  make check and make check-asan each
# take the machines of their half of the fleet (P2V_FLEET_E2E).
# run-tests: timeout 2400
source "$(dirname "$0")/functions.sh"
requires guestfish qemu-system-x86_64 expect python3
(($(id -u) == 0)) || { echo "SKIP: the fleet needs root" >&2; exit 77; }

out=$tmpdir/out
json () {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$out/$1/report.json" "$2"
}

# attach MEMBER FIRMWARE-WHY NICS-LINE: convert, check the facts, boot.
attach () {
  local member=$1 why=$2 nics=$3 dir images=() opts=() new name old
  dir=$("$top_srcdir/tests/fleet/build.sh" "$member") || fail "$member: fleet build failed"
  # shellcheck disable=SC1091
  source "$dir/machine.env"
  for d in $DISKS; do images+=("$dir/$d"); done
  "$AGENT" send --local --name "$member" --receiver-command "$RECEIVER --output-dir $out" \
    "${images[@]}" 2> "$tmpdir/$member.err" ||
    { cat "$tmpdir/$member.err"; fail "$member: send --local failed"; }
  cat "$tmpdir/$member.err"
  [[ $(json "$member" 'r["fixup"]["status"]') == fixed ]] ||
    { cat "$out/$member/fixup.log"; fail "$member: the fixup did not succeed"; }
  read -r name old new < "$out/$member/nics"
  [[ $(wc -l < "$out/$member/nics") == 1 && "$name $old" == "$nics" ]] ||
    fail "$member: nics: '$(cat "$out/$member/nics")', expected '$nics NEW'"
  grep -q "<mac address='$new'/>" "$out/$member/domain.xml" || fail "$member: the NIC is not in the domain"
  [[ $(json "$member" 'r["domain"]["from"]["nics"]') == "the guest's network configuration" ]] ||
    fail "$member: nics from: $(json "$member" 'r["domain"]["from"]')"
  [[ $(json "$member" 'r["domain"]["firmware"]') == "$FIRMWARE" &&
     $(json "$member" 'r["domain"]["from"]["firmware"]') == "the guest: $why" ]] ||
    fail "$member: firmware: $(json "$member" 'r["domain"]')"
  if [[ $FIRMWARE == uefi ]]; then
    grep -q "<os firmware='efi'>" "$out/$member/domain.xml" || fail "$member: not UEFI"
    opts+=(--uefi)
  else
    grep -q "firmware='efi'" "$out/$member/domain.xml" && fail "$member: UEFI for a BIOS machine"
  fi
  [[ $(json "$member" 'r["domain"]["memory"]') == $((2 << 30)) &&
     $(json "$member" 'r["domain"]["vcpus"]') == 2 &&
     $(json "$member" 'r["domain"]["from"]["memory"]') == default ]] ||
    fail "$member: memory, vCPUs: $(json "$member" 'r["domain"]')"
  grep -q "<title>p2v conversion of $member</title>" "$out/$member/domain.xml" ||
    fail "$member: not titled with the guest's host name: $(grep title "$out/$member/domain.xml")"
  grep -q "^  NICs: the guest's network configuration$" "$tmpdir/$member.err" ||
    fail "$member: the summary does not say where the NICs came from"
  for m in $(host_macs); do
    grep -qi "$m" "$out/$member/domain.xml" "$out/$member/nics" &&
      fail "$member: this host's MAC $m is in the domain"
  done
  images=()
  for d in "$out/$member"/disk*.raw; do images+=("$d"); done
  "$top_srcdir/tests/boot-check" "${opts[@]}" --mac "$new" --nic "$NIC" --ip "$IP" \
    --md no --root "$ROOT" --log "$tmpdir/$member.console" "${images[@]}" ||
    { tail -60 "$tmpdir/$member.console"; fail "$member: the converted machine failed its boot check"; }
  echo "== $member: converted by direct attach and boot-checked"
}

fleet=" ${P2V_FLEET_E2E:-plain-gpt-uefi xfs-nm} " n=0
if [[ $fleet == *" plain-gpt-uefi "* ]]; then
  attach plain-gpt-uefi "the EFI system partition /dev/sda1 with EFI/BOOT/BOOTX64.EFI" "enp3s0 -"
  n=$((n + 1))
fi
if [[ $fleet == *" xfs-nm "* ]]; then
  attach xfs-nm "GRUB installed for BIOS" "- 00:25:90:7c:00:14"
  python3 -c 'import json,sys; c=[x.get("file") for x in json.load(open(sys.argv[1]))["fixup"]["changes"]]
sys.exit("/etc/NetworkManager/system-connections/wired.nmconnection" not in c)' "$out/xfs-nm/report.json" ||
    fail "xfs-nm: the keyfile was not given the new MAC"
  n=$((n + 1))
fi
((n > 0)) || echo "no direct-attach machine in this pass (P2V_FLEET_E2E=${P2V_FLEET_E2E-})"
echo ok
