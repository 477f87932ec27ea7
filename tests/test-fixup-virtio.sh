#!/bin/bash
# test-fixup-virtio: an old guest without virtio drivers (a crafted
# CentOS 5 root: a 2.6.18 kernel whose modules hold no virtio, GRUB
# legacy, /dev/sda names in fstab and grub.conf, an ifcfg-eth0 with the
# NIC's MAC) converted through the receiver, which runs p2v-fixup:
#  - the domain XML gets a SATA disk and an e1000 NIC (guest-hints);
#  - fstab and grub.conf name / and swap by UUID, with a serial console;
#  - ifcfg-eth0's HWADDR is the new MAC, in the same letter case, and
#    its original is kept hidden (.ifcfg-eth0.p2v-orig: the RHEL scripts
#    would read a visible copy as an interface);
#  - the missing initramfs tool is a warning in the report, not a crash;
#  - sent with --local (direct attach), the domain's NIC is the one the
#    guest's configuration names (eth0 and its old MAC, in nics and the
#    summary), its firmware the guest's, memory and vCPUs the defaults,
#    each fact saying where it came from, and no MAC of this host's.
# Also p2v-fixup's usage errors, and --dry-run: diffs, image untouched.
source "$(dirname "$0")/functions.sh"
requires guestfish mkfs.ext3 mkswap sfdisk debugfs python3 diff
FIXUP=$P2V_BUILD/p2v-fixup

# Usage errors name what is wrong, before any appliance starts.
expect_error () {
  local want=$1 rc=0
  shift
  "$FIXUP" "$@" > /dev/null 2> "$tmpdir/err" || rc=$?
  ((rc == 1)) && grep -q -- "$want" "$tmpdir/err" ||
    fail "p2v-fixup $*: exit $rc, '$(cat "$tmpdir/err")', want '$want'"
}
expect_error "no disk images given"
expect_error "expected OLD=NEW" --mac 00:11:22 x.img
expect_error "disk 3, but only 1 disk image" --md /dev/md1,a:b:c:d,3,1 x.img
expect_error "expected bios or uefi" --firmware efi x.img
expect_error "$tmpdir/missing.img" "$tmpdir/missing.img"

# The guest's ifcfg-eth0 ties eth0 to its MAC (in capitals, as RHEL
# writes it).  Sent with --local (direct attach), the source machine's
# NICs are unknown: the fixups find eth0 there, and the receiver builds
# the domain from what they found, whatever this host's NICs are.
mac=00:25:90:7c:00:14 MAC=00:25:90:7C:00:14

root=$tmpdir/root k=2.6.18-419.el5
mkdir -p "$root"/{bin,sbin,usr/bin,var,root,boot/grub,etc/sysconfig/network-scripts}
mkdir -p "$root/lib/modules/$k/kernel/drivers/"{scsi,net/e1000,block}
touch "$root/lib/modules/$k/kernel/drivers/scsi/ata_piix.ko" \
  "$root/lib/modules/$k/kernel/drivers/net/e1000/e1000.ko" \
  "$root/lib/modules/$k/kernel/drivers/block/floppy.ko"
head -c 100000 /dev/urandom > "$root/boot/vmlinuz-$k"
echo "CentOS release 5.11 (Final)" > "$root/etc/redhat-release"
printf '/dev/sda1 / ext3 defaults 1 1\n/dev/sda2 swap swap defaults 0 0\nproc /proc proc defaults 0 0\n' \
  > "$root/etc/fstab"
cat > "$root/boot/grub/grub.conf" <<G
default=0
timeout=5
title CentOS ($k)
	root (hd0,0)
	kernel /boot/vmlinuz-$k ro root=/dev/sda1 rhgb quiet
	initrd /boot/initrd-$k.img
G
cat > "$root/etc/sysconfig/network-scripts/ifcfg-eth0" <<I
DEVICE=eth0
BOOTPROTO=static
HWADDR=$MAC
IPADDR=192.168.50.15
NETMASK=255.255.255.0
ONBOOT=yes
I
img=$tmpdir/old.img
truncate -s 64M "$img"
printf 'label: dos\nstart=2048, size=48M, type=83\ntype=82\n' | sfdisk -q "$img"
mkfs.ext3 -q -F -E offset=1048576 -d "$root" "$img" 48M
truncate -s 15M "$tmpdir/swap"; mkswap -q "$tmpdir/swap" >/dev/null
dd if="$tmpdir/swap" of="$img" bs=1M seek=49 conv=notrunc,sparse status=none
sum=$(md5sum < "$img")

# --dry-run: every change as a diff, the image untouched.
"$FIXUP" --dry-run --mac "$mac=52:54:00:00:00:99,eth0" "$img" \
  > "$tmpdir/dry.out" 2> "$tmpdir/dry.err" || { cat "$tmpdir/dry.err"; fail "dry run failed"; }
cat "$tmpdir/dry.out" "$tmpdir/dry.err"
grep -q "^+UUID=.* / ext3 defaults 1 1" "$tmpdir/dry.out" || fail "dry run: no fstab diff"
grep -q "^-	kernel /boot/vmlinuz-$k ro root=/dev/sda1" "$tmpdir/dry.out" ||
  fail "dry run: no grub.conf diff"
[[ $(md5sum < "$img") == "$sum" ]] || fail "the dry run changed the image"

# The conversion, through the receiver, which runs the fixups.
out=$tmpdir/out
"$AGENT" send --local --name old "$img" \
  --receiver-command "$RECEIVER --output-dir $out" 2> "$tmpdir/send.err" ||
  { cat "$tmpdir/send.err"; fail "the conversion failed"; }
cat "$tmpdir/send.err"
grep -q "p2v-fixup: found" "$tmpdir/send.err" || fail "the agent was not told of the fixups"
json () {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$out/old/report.json" "$1"
}
[[ $(json 'r["fixup"]["status"]') == fixed ]] || fail "fixup: $(json 'r["fixup"]')"
[[ $(json 'r["fixup"]["os"]["distro"]') == centos ]] || fail "not inspected as CentOS"
[[ $(json 'r["fixup"]["virtio"]') == False ]] || fail "virtio found in a kernel without it"
[[ $(json 'r["fixup"]["kernels"]') == "[{'version': '$k', 'virtio': 'no'}]" ]] ||
  fail "kernels: $(json 'r["fixup"]["kernels"]')"
json 'r["fixup"]["warnings"]' | grep -q "no update-initramfs, dracut or mkinitrd" ||
  fail "no warning about the initramfs"
grep -q "^virtio=no$" "$out/old/guest-hints" || fail "no virtio=no hint"
grep -q "<target dev='sda' bus='sata'/>" "$out/old/domain.xml" || fail "not SATA"
grep -q "<model type='e1000'/>" "$out/old/domain.xml" || fail "not e1000"
# Direct attach: the guest's NIC (name and old MAC) in nics and in the
# domain, BIOS from the guest, memory and vCPUs by default, and no MAC
# of this host's.
read -r nic old new < "$out/old/nics"
[[ $nic == eth0 && $old == "$mac" && $(wc -l < "$out/old/nics") == 1 ]] ||
  fail "nics: $(cat "$out/old/nics")"
grep -q "<mac address='$new'/>" "$out/old/domain.xml" || fail "the guest's NIC is not in the domain"
for m in $(host_macs); do
  grep -qi "$m" "$out/old/domain.xml" "$out/old/nics" && fail "this host's MAC $m leaked"
done
[[ $(json 'r["domain"]["from"]["nics"]') == "the guest's network configuration" ]] ||
  fail "nics from: $(json 'r["domain"]["from"]')"
[[ $(json 'r["domain"]["from"]["firmware"]') == "the guest: no EFI system partition" &&
   $(json 'r["domain"]["firmware"]') == bios ]] || fail "firmware: $(json 'r["domain"]')"
[[ $(json 'r["domain"]["from"]["memory"]') == default &&
   $(json 'r["domain"]["memory"]') == $((2 << 30)) &&
   $(json 'r["domain"]["vcpus"]') == 2 ]] || fail "memory, vCPUs: $(json 'r["domain"]')"
grep -q "^  memory 2.0 GiB (default), 2 vCPUs (default), BIOS firmware (the guest: no EFI system partition)$" \
  "$tmpdir/send.err" || fail "the summary does not say where the facts came from"
grep -q "^  NIC eth0: $mac -> $new$" "$tmpdir/send.err" || fail "the summary does not show the NIC"
! grep -q virtio "$out/old/domain.xml" || fail "virtio in the XML"
if command -v virt-xml-validate > /dev/null; then
  virt-xml-validate "$out/old/domain.xml" domain || fail "invalid XML"
fi

# The guest's files, read from the converted image.
dd if="$out/old/disk0.raw" of="$tmpdir/p1" bs=1M skip=1 count=48 conv=sparse status=none
cat_guest () { debugfs -R "cat $1" "$tmpdir/p1" 2>/dev/null; }
uuid=$(blkid -p -o value -s UUID "$tmpdir/p1")
swap=$(blkid -p -o value -s UUID -O $((49 << 20)) "$out/old/disk0.raw")
cat_guest /etc/fstab | grep -q "^UUID=$uuid / ext3" || fail "fstab: / not by UUID: $(cat_guest /etc/fstab)"
cat_guest /etc/fstab | grep -q "^UUID=$swap swap" || fail "fstab: swap not by UUID"
cat_guest /etc/fstab.p2v-orig | grep -q "^/dev/sda1 / ext3" || fail "fstab's original not kept"
cat_guest /boot/grub/grub.conf |
  grep -q "kernel /boot/vmlinuz-$k ro root=UUID=$uuid rhgb quiet console=tty0 console=ttyS0,115200n8" ||
  fail "grub.conf: $(cat_guest /boot/grub/grub.conf)"
cat_guest /etc/sysconfig/network-scripts/ifcfg-eth0 | grep -q "^HWADDR=${new^^}$" ||
  fail "ifcfg-eth0: $(cat_guest /etc/sysconfig/network-scripts/ifcfg-eth0)"
cat_guest /etc/sysconfig/network-scripts/.ifcfg-eth0.p2v-orig | grep -q "^HWADDR=$MAC$" ||
  fail "ifcfg-eth0's original not kept as .ifcfg-eth0.p2v-orig"
! cat_guest /etc/sysconfig/network-scripts/ifcfg-eth0.p2v-orig | grep -q . ||
  fail "a visible ifcfg-eth0.p2v-orig would be read as an interface"
echo ok
