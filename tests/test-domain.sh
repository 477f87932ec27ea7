#!/bin/bash
# domain.xml for every conversion, against a real libvirtd started here:
# two conversions of one source get different UUIDs and MACs; new MACs
# avoid those of an already-defined domain and the source's (a 5-byte
# --mac-prefix leaves only 256 candidates, most of them taken); the XML
# passes virt-xml-validate (KVM, Xen HVM and Xen PV); --define defines
# it and virsh dumpxml gives it back; a name libvirt already has is
# refused, leaving the existing domain alone; nics maps old to new MACs.
# These conversions describe this host (--local --host-facts).  Direct
# attach (--local alone, no fixups) describes nothing of it: 2 GiB, 2
# vCPUs, BIOS, one NIC, titled by the conversion's name.
source "$(dirname "$0")/functions.sh"
requires virsh virt-xml-validate unshare perl
start_libvirtd

head -c 2000000 /dev/urandom > "$tmpdir/src.img"
out=$tmpdir/out
# convert NAME [RECEIVER-OPTION...]
convert () {
  local name=$1; shift
  "$AGENT" send --local --host-facts --name "$name" "$tmpdir/src.img" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out --connect $LIBVIRT_URI $*" \
    2>"$tmpdir/$name.err" || { cat "$tmpdir/$name.err"; fail "$name: send failed"; }
  virt-xml-validate "$out/$name/domain.xml" domain ||
    fail "$name: domain.xml does not validate"
}
xml_uuid () { sed -n 's|.*<uuid>\(.*\)</uuid>.*|\1|p' "$1"; }
xml_macs () { sed -n "s|.*<mac address='\([^']*\)'/>.*|\1|p" "$1" | sort; }

# A neighbour owning 250 of the 256 MACs of prefix 52:54:00:ab:cd.
test_domain_name neighbour
neighbour=$DOMAIN
{
  echo "<domain type='qemu'><name>$neighbour</name><memory>65536</memory>"
  echo "<os><type arch='x86_64'>hvm</type></os><devices>"
  for ((i = 0; i < 250; i++)); do
    printf "<interface type='network'><mac address='52:54:00:ab:cd:%02x'/><source network='default'/></interface>\n" "$i"
  done
  echo "</devices></domain>"
} > "$tmpdir/neighbour.xml"
virsh -q -c "$LIBVIRT_URI" define "$tmpdir/neighbour.xml" >/dev/null ||
  fail "cannot define the neighbour domain"

test_domain_name a; a=$DOMAIN
test_domain_name b; b=$DOMAIN
convert "$a" --hypervisor qemu --define --mac-prefix 52:54:00:ab:cd
convert "$b" --hypervisor qemu --define --mac-prefix 52:54:00:ab:cd
grep -q "receiver: '$a' is in $out/$a:" "$tmpdir/$a.err" || fail "summary"

nnics=$(grep -c '"nic\.[0-9]*\.name"' "$out/$a/inventory.json" || true)
for n in "$a" "$b"; do
  macs=$(xml_macs "$out/$n/domain.xml")
  [[ $(echo "$macs" | grep -c .) -eq $nnics ]] ||
    fail "$n: $(echo "$macs" | grep -c .) NICs for $nnics source NICs"
  for m in $macs; do
    [[ $m == 52:54:00:ab:cd:* ]] || fail "$n: MAC $m outside the prefix"
    ((16#${m##*:} >= 250)) || fail "$n: MAC $m belongs to the neighbour"
    grep -qi "\"$m\"" "$out/$n/inventory.json" && fail "$n: MAC $m is the source's"
  done
  # The map for the fixups: every source NIC, old MAC, new MAC.
  [[ $(wc -l < "$out/$n/nics") -eq $nnics ]] || fail "$n: nics: $(cat "$out/$n/nics")"
  while read -r nic old new; do
    grep -q "\"$old\"" "$out/$n/inventory.json" || fail "$n: nics names $old"
    grep -q "'$new'" "$out/$n/domain.xml" || fail "$n: nics names $new"
  done < "$out/$n/nics"
  grep -q "\"defined\": true" "$out/$n/report.json" || fail "$n: not defined"
  # libvirt has it, and gives back what we wrote.
  virsh -q -c "$LIBVIRT_URI" dumpxml "$n" > "$tmpdir/$n.dump" ||
    fail "$n: not in libvirt"
  [[ $(xml_uuid "$tmpdir/$n.dump") == "$(xml_uuid "$out/$n/domain.xml")" ]] ||
    fail "$n: UUID differs in libvirt"
  [[ $(xml_macs "$tmpdir/$n.dump") == "$macs" ]] || fail "$n: MACs differ in libvirt"
  grep -q "<source file='$out/$n/disk0.raw'/>" "$tmpdir/$n.dump" ||
    fail "$n: disk path differs in libvirt"
  virt-xml-validate "$tmpdir/$n.dump" domain || fail "$n: dumpxml does not validate"
done
[[ $(xml_uuid "$out/$a/domain.xml") != "$(xml_uuid "$out/$b/domain.xml")" ]] ||
  fail "two conversions, one UUID"
if ((nnics > 0)); then
  both=$(sort <(xml_macs "$out/$a/domain.xml") <(xml_macs "$out/$b/domain.xml") | uniq -d)
  [[ -z $both ]] || fail "two conversions share MACs: $both"
fi

# A name libvirt already has: the XML is written, the domain left alone.
uuid_before=$(virsh -q -c "$LIBVIRT_URI" domuuid "$a")
rm -rf "${out:?}/$a"
"$AGENT" send --local --host-facts --name "$a" "$tmpdir/src.img" \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out --connect $LIBVIRT_URI --hypervisor qemu --define" \
  2>"$tmpdir/clash.err" || { cat "$tmpdir/clash.err"; fail "clash: the copy itself failed"; }
cat "$tmpdir/clash.err"
grep -q "warning: receiver: the domain was not defined: libvirt already has a domain named '$a'" \
  "$tmpdir/clash.err" || fail "no clear refusal of the name"
grep -q '"defined": false, "error": "libvirt already has a domain named' \
  "$out/$a/report.json" || fail "report.json does not say why"
[[ $(virsh -q -c "$LIBVIRT_URI" domuuid "$a") == "$uuid_before" ]] ||
  fail "the existing domain was replaced"

# The default, KVM: only written here (this machine runs TCG), valid.
test_domain_name kvm; kvm=$DOMAIN
convert "$kvm"
grep -q "<domain type='kvm'>" "$out/$kvm/domain.xml" || fail "not a KVM domain"
grep -q "<cpu mode='host-model'/>" "$out/$kvm/domain.xml" || fail "no host CPU model"

# Xen, HVM and PV, with a bridge and a network per NIC; spice; e1000.
test_domain_name xen; xen=$DOMAIN
convert "$xen" --hypervisor xen --bridge xenbr1 --nic-model e1000 --graphics spice
grep -q "<domain type='xen'>" "$out/$xen/domain.xml" || fail "not a Xen domain"
grep -q "machine='xenfv'>hvm<" "$out/$xen/domain.xml" || fail "not HVM"
grep -q "<target dev='xvda' bus='xen'/>" "$out/$xen/domain.xml" || fail "Xen HVM disk bus"
((nnics == 0)) || grep -q "<source bridge='xenbr1'/>" "$out/$xen/domain.xml" ||
  fail "NICs not on the bridge"
test_domain_name pv; pv=$DOMAIN
convert "$pv" --hypervisor xen --xen-pv --vcpus 3 --memory 1G
grep -q "<bootloader>/usr/lib/xen/bin/pygrub</bootloader>" "$out/$pv/domain.xml" ||
  fail "PV without pygrub"
grep -q "<vcpu placement='static'>3</vcpu>" "$out/$pv/domain.xml" || fail "--vcpus"
grep -q "<memory unit='KiB'>1048576</memory>" "$out/$pv/domain.xml" || fail "--memory"

# A UEFI source (its inventory says firmware=uefi: the captured stream,
# edited) gets firmware='efi', which libvirt accepts with OVMF.
test_domain_name efi; efi=$DOMAIN
"$AGENT" send --local --host-facts --name "$efi" -q "$tmpdir/src.img" \
  --receiver-command "tee $tmpdir/efi.stream | $RECEIVER --no-fixup --output-dir $tmpdir/capture"
perl -0777 -pe 's/\0\0\0\x08firmware\0\0\0\x04bios/\0\0\0\x08firmware\0\0\0\x04uefi/' \
  < "$tmpdir/efi.stream" > "$tmpdir/efi.uefi"
perl -0777 -ne 'exit !/firmware\0\0\0\x04uefi/' "$tmpdir/efi.uefi" ||
  fail "no firmware fact to edit"
"$RECEIVER" --no-fixup --output-dir "$out" --connect "$LIBVIRT_URI" --hypervisor qemu \
  --define < "$tmpdir/efi.uefi" >/dev/null 2>"$tmpdir/efi.err" ||
  { cat "$tmpdir/efi.err"; fail "UEFI conversion failed"; }
grep -q "<os firmware='efi'>" "$out/$efi/domain.xml" || fail "not UEFI"
virt-xml-validate "$out/$efi/domain.xml" domain || fail "UEFI XML invalid"
grep -q '"defined": true' "$out/$efi/report.json" ||
  fail "libvirt did not define the UEFI domain: $(grep error "$out/$efi/report.json")"

# Direct attach without the fixups: nothing of this host's.
test_domain_name direct; direct=$DOMAIN
"$AGENT" send --local --name "$direct" -q "$tmpdir/src.img" \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out --connect $LIBVIRT_URI" ||
  fail "direct attach: send failed"
virt-xml-validate "$out/$direct/domain.xml" domain || fail "direct attach: XML invalid"
grep -q "<memory unit='KiB'>2097152</memory>" "$out/$direct/domain.xml" &&
  grep -q "<vcpu placement='static'>2</vcpu>" "$out/$direct/domain.xml" &&
  grep -q "<title>p2v conversion of $direct</title>" "$out/$direct/domain.xml" &&
  ! grep -q "firmware='efi'" "$out/$direct/domain.xml" ||
  fail "direct attach: not the defaults: $(cat "$out/$direct/domain.xml")"
[[ $(xml_macs "$out/$direct/domain.xml" | wc -l) == 1 && $(cut -d' ' -f1,2 "$out/$direct/nics") == "- -" ]] ||
  fail "direct attach: nics: $(cat "$out/$direct/nics")"
grep -q '"attach": "direct"' "$out/$direct/inventory.json" || fail "no attach=direct fact"
grep -q '"nic\.\|"firmware"\|"dmi\.\|"cpu.model"' "$out/$direct/inventory.json" &&
  fail "direct attach: this host's facts were sent: $(cat "$out/$direct/inventory.json")"

echo ok
