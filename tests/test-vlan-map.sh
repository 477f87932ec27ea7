#!/bin/bash
# test-vlan-map: the fleet's router-vlans (two NICs in an active-backup
# bond0 carrying only VLANs 10 and 20, dhcpd on bond0.10, iptables rules
# naming both) converted by direct attach with --vlan-map
# 10=br10,20=br20,30=br30.  Each VLAN becomes a NIC of its own on its
# bridge, the bond goes with its two NICs, and VLAN 30, which the guest
# does not have, is reported and gets no NIC.  The domain validates
# against libvirt's schema.  The result boots with its two NICs on two
# separate QEMU networks: each VLAN's address is on the NIC whose MAC the
# domain gives that VLAN, no bond is left, dhcpd listens on VLAN 10's
# NIC, and iptables names only interfaces that exist.  (Trunk mode, the
# default, is router-vlans' conversion in test-fixup-fleet.)  Wrong maps
# are refused first.
# run-tests: timeout 1800
source "$(dirname "$0")/functions.sh"
requires guestfish qemu-system-x86_64 expect python3 virt-xml-validate
(($(id -u) == 0)) || { echo "SKIP: the fleet needs root" >&2; exit 77; }

for bad in 0=br0 4095=br 10 10= x=br 10=br,10=br2 10=network:; do
  "$RECEIVER" --vlan-map "$bad" --output-dir "$tmpdir/none" < /dev/null > "$tmpdir/bad" 2>&1 &&
    fail "--vlan-map $bad was taken"
  grep -q -- "--vlan-map" "$tmpdir/bad" || { cat "$tmpdir/bad"; fail "--vlan-map $bad: no message"; }
done
[[ ! -e $tmpdir/none ]] || fail "a refused --vlan-map made the output directory"

out=$tmpdir/out
json () {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$out/rv/report.json" "$1"
}
dir=$("$top_srcdir/tests/fleet/build.sh" router-vlans) || fail "router-vlans: fleet build failed"
# shellcheck disable=SC1091
source "$dir/machine.env"
"$AGENT" send --local --name rv --receiver-command \
  "$RECEIVER --output-dir $out --vlan-map 10=br10,20=br20,30=br30" "$dir/disk0.img" \
  2> "$tmpdir/send.err" || { cat "$tmpdir/send.err"; fail "send --local failed"; }
cat "$tmpdir/send.err"
[[ $(json 'r["fixup"]["status"]') == fixed ]] ||
  { cat "$out/rv/fixup.log"; fail "the fixup did not succeed"; }
json '"\n".join("  changed " + (c.get("file") or "by running " + c["command"]) for c in r["fixup"]["changes"])'
json '"\n".join("  NIC " + n for n in r["fixup"]["nics"])'
[[ $(json 'len(r["fixup"]["warnings"])') == 1 &&
   $(json 'r["fixup"]["warnings"][0]') == "--vlan 30: the guest's ifupdown configuration has no VLAN 30" ]] ||
  fail "want one warning, about VLAN 30: $(json 'r["fixup"]["warnings"]')"
grep -q "vlan-map 30: the guest's configuration has no VLAN 30" "$tmpdir/send.err" ||
  fail "the receiver did not say that VLAN 30 got no NIC"

# The domain: the two VLANs' NICs on their bridges, nothing else.
mac10=$(json '[n["new_mac"] for n in r["domain"]["nics"] if n.get("vlan") == 10][0]')
mac20=$(json '[n["new_mac"] for n in r["domain"]["nics"] if n.get("vlan") == 20][0]')
[[ $(json '" ".join(n["name"] for n in r["domain"]["nics"] if n.get("dropped"))') == "eth0 eth1" &&
   $(json '" ".join(n["name"] for n in r["domain"]["nics"] if not n.get("dropped"))') == "vlan10 vlan20" ]] ||
  fail "want eth0 and eth1 dropped, vlan10 and vlan20 made: $(json 'r["domain"]["nics"]')"
python3 - "$out/rv/domain.xml" "$mac10" "$mac20" <<'PY' || fail "the domain's NICs are not the VLANs' (above)"
import sys, xml.etree.ElementTree as ET
nics = [(i.get("type"), i.find("mac").get("address"), i.find("source").get("bridge"))
        for i in ET.parse(sys.argv[1]).findall("devices/interface")]
want = [("bridge", sys.argv[2], "br10"), ("bridge", sys.argv[3], "br20")]
print("domain NICs:", nics)
sys.exit(nics != want)
PY
virt-xml-validate "$out/rv/domain.xml" domain || fail "libvirt's schema refuses the domain XML"

# Boot it, VLAN 10's NIC first, each NIC on a QEMU network of its own.
iptables_check='for i in $(iptables-save | grep -oE -- "-[io] [^ ]+" | cut -c4- | sort -u); do
  [ -e "/sys/class/net/$i" ] || { echo "iptables names $i, which is not here"; exit 1; }; done;
  iptables-save | grep -- "-i vlan10 " && iptables-save | grep -- "-o vlan20 "'
"$top_srcdir/tests/boot-check" --mac "$mac10" --nic vlan10 --ip 10.10.0.1/24 \
  --more-nic "$mac20" --md no --root "$ROOT" --log "$tmpdir/rv.console" \
  --check "ip -o -4 addr show dev vlan20 | grep ' inet 10.20.0.1/24 ' && grep -x $mac20 /sys/class/net/vlan20/address" \
  --check "! ls -d /sys/class/net/bond* /sys/class/net/*.10 /sys/class/net/*.20 2>/dev/null" \
  --check "systemctl is-active isc-dhcp-server && ps -o args= -C dhcpd | grep -E ' vlan10\$'" \
  --check "$iptables_check" "$out/rv/disk0.raw" ||
  { tail -60 "$tmpdir/rv.console"; fail "the converted router failed its boot check"; }
echo ok
