#!/bin/bash
# test-liveimage-i686: the i686 live image (make liveimage ARCH=i686)
# runs on a 32-bit server of the Pentium III age: no 64-bit, no SSE2,
# 128 MB of RAM.
#  1. The image: Debian's i386 686 kernel, a static 32-bit agent, the
#     i386 userland; the ISO BIOS-only and at most 64 MiB.
#  2. The ISO boots as a CD under qemu-system-i386 -cpu pentium3 -m 128
#     to its menus.
#  3. The PXE pair plus a settings initrd (customize.sh --initrd), on
#     the same machine with an IDE disk (IDE has no read-only disks:
#     writes would go to a temporary overlay) and an e1000 NIC on QEMU's user
#     network, converts the disk unattended to our loopback sshd and
#     powers off; the image is the disk, byte for byte.
# The image's tests of its own (settings, menus, batch, UEFI) are
# test-liveimage's: the same init and p2v-live.
# run-tests: timeout 1800
source "$(dirname "$0")/functions.sh"
requires qemu-system-i386 qemu-i386-static file grub-mkrescue xorriso ssh-keygen sfdisk mkfs.ext4 cpio xz
(($(id -u) == 0)) || { echo "SKIP: the live image needs root" >&2; exit 77; }

# 1. The image.
live_image i686
iso_mb=$(($(stat -c %s "$LIVE_IMG/p2v-live.iso") >> 20))
echo "ISO: $iso_mb MiB; $(file -b "$LIVE_IMG/vmlinuz" | grep -o 'version [^ ]*')"
((iso_mb <= 64)) || fail "the ISO is $iso_mb MiB, more than 64"
file -b "$LIVE_IMG/vmlinuz" | grep -q -- '-686 ' || fail "not a 686 kernel: $(file -b "$LIVE_IMG/vmlinuz")"
xorriso -indev "$LIVE_IMG/p2v-live.iso" -find / -name efi.img 2>/dev/null | grep -q efi.img &&
  fail "the i686 ISO has an EFI image (it is meant for BIOS only)"
mkdir "$tmpdir/initrd"
xz -dc "$LIVE_IMG/initrd.img" | (cd "$tmpdir/initrd" && cpio -id --quiet)
for f in usr/bin/p2v-agent bin/busybox usr/bin/kmod sbin/mdadm sbin/lvm; do
  file -bL "$tmpdir/initrd/$f" | grep -q '^ELF 32-bit LSB .* Intel 80386' ||
    fail "$f in the initrd is not an i386 program: $(file -bL "$tmpdir/initrd/$f")"
done
file -b "$tmpdir/initrd/usr/bin/p2v-agent" | grep -q 'statically linked' ||
  fail "the agent is not static: $(file -b "$tmpdir/initrd/usr/bin/p2v-agent")"
echo "initrd: $(du -sm "$tmpdir/initrd" | cut -f1) MiB unpacked, $(find "$tmpdir/initrd" -name '*.ko.xz' | wc -l) modules"
rm -rf "$tmpdir/initrd"

# pentium3 LOG SECONDS ARG...: a Pentium III (i686, SSE but no SSE2,
# no 64-bit) with 128 MB (P2V_LIVE_RAM: the smallest RAM that works is
# found by lowering it; docs/liveimage.md) under TCG, an e1000 NIC on QEMU's user network
# (the guest's 10.0.2.2 is this machine's 127.0.0.1), bounded in time.
pentium3 () {
  local log=$1 secs=$2
  shift 2
  timeout "$secs" qemu-system-i386 -accel tcg -cpu pentium3 -m "${P2V_LIVE_RAM:-128}" -display none \
    -monitor none -no-reboot -netdev user,id=n0 -device e1000,netdev=n0 \
    -serial "file:$log" "$@"
}

# 2. The ISO, as a CD, to the menus (no p2v.server= anywhere).
pentium3 "$tmpdir/cd.log" 900 -cdrom "$LIVE_IMG/p2v-live.iso" -boot d &
qemu=$!   # a subshell: its child, timeout, passes SIGTERM on to QEMU
on_exit "pkill -TERM -P $qemu; kill $qemu 2>/dev/null"
start=$SECONDS
menus="^p2v: no p2v.server= given: interactive menus"
wait_for 6000 grep -a -q -s -e "$menus" -e "Kernel panic" "$tmpdir/cd.log" || true
grep -a -q "$menus" "$tmpdir/cd.log" ||
  { tail -c 2000 "$tmpdir/cd.log"; fail "the ISO did not boot to the menus on a pentium3"; }
echo "CD boot to the menus: $((SECONDS - start)) s"
grep -a -q "SSE2" "$tmpdir/cd.log" && fail "the console mentions SSE2: $(grep -a SSE2 "$tmpdir/cd.log")"
pkill -TERM -P "$qemu"
wait "$qemu" || true

# 3. PXE: the pair plus settings, unattended, into the receiver.
start_sshd
out=$tmpdir/out
key=$(cat "$tmpdir/sshd/user_key.pub")
echo "command=\"$RECEIVER --no-fixup --output-dir $out\",restrict $key" > "$tmpdir/sshd/authorized_keys"
fp=$(ssh-keygen -lf "$SSHD_HOST_PUB" | awk '{print $2}')
make_test_disk "$tmpdir/disk.img" 64
"$top_srcdir/liveimage/customize.sh" --set p2v.server=10.0.2.2 --set "p2v.port=$SSHD_PORT" \
  --set "p2v.user=$(id -un)" --set "p2v.hostkey=$fp" --set p2v.name=old32 \
  --identity "$SSH_KEY" --initrd "$tmpdir/config.cpio.gz"
cat "$LIVE_IMG/initrd.img" "$tmpdir/config.cpio.gz" > "$tmpdir/initrd+config"
start=$SECONDS
rc=0
pentium3 "$tmpdir/pxe.log" 1200 -kernel "$LIVE_IMG/vmlinuz" -initrd "$tmpdir/initrd+config" \
  -append "console=ttyS0,115200 panic=1" \
  -drive "file=$tmpdir/disk.img,format=raw,if=ide,snapshot=on" || rc=$?
echo "PXE boot and conversion on a pentium3 with ${P2V_LIVE_RAM:-128} MB: $((SECONDS - start)) s"
grep -a '^p2v' "$tmpdir/pxe.log"
((rc == 0)) || { tail -c 3000 "$tmpdir/pxe.log"; fail "QEMU did not power off by itself (exit $rc)"; }
grep -a -q "^p2v: conversion finished" "$tmpdir/pxe.log" || fail "no 'conversion finished' on the console"
grep -a -q "^p2v: network: eth0 10.0.2.15/24" "$tmpdir/pxe.log" || fail "no DHCP address on the console"
[[ $(cat "$out/old32/status") == complete ]] || fail "the conversion is not complete"
cmp "$tmpdir/disk.img" "$out/old32/disk0.raw" || fail "the image differs from the source disk"
echo ok
