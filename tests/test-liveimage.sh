#!/bin/bash
# test-liveimage: the live image (liveimage/, as make liveimage builds
# it) converts machines by itself.
#  1. The ISO, customised with settings and a key (customize.sh --iso),
#     boots as a CD under QEMU (TCG, 256 MB) with the fleet machine
#     plain-gpt-uefi's disk attached read-only and a NIC on QEMU's user
#     network, reaches our loopback sshd through QEMU's gateway
#     (10.0.2.2), where a batch coordinator recognises it by its MAC
#     (zero-touch: no name given), converts the disk unattended and
#     powers off by itself;
#     the receiver's image is the source's, byte for byte, once the
#     source's free blocks are zeroed (they are not sent).
#  2. The PXE files (vmlinuz, initrd.img plus a settings initrd from
#     customize.sh --initrd), booted with no p2v.server=: the menus on
#     the serial console, driven by expect, set the server, accept the
#     host key they show, and convert a small disk.
#  3. The ISO boots under UEFI too (make check only: make check-asan
#     has no program of its own in it).
# run-tests: timeout 2400
source "$(dirname "$0")/functions.sh"
requires qemu-system-x86_64 expect grub-mkrescue xorriso ssh-keygen sfdisk mkfs.ext4 dumpe2fs fallocate
(($(id -u) == 0)) || { echo "SKIP: the live image and the fleet need root" >&2; exit 77; }

# The image, as make liveimage builds it (an agent without libnbd).
live_image
iso_mb=$(($(stat -c %s "$LIVE_IMG/p2v-live.iso") >> 20))
echo "ISO: $iso_mb MiB"
((iso_mb <= 64)) || fail "the ISO is $iso_mb MiB, more than 64"

# The receiver behind our sshd, as a forced command (as in README.md):
# first a zero-touch batch one (p2v-batch(1)), whose coordinator knows
# the machine only by its NIC's MAC.
start_sshd
out=$tmpdir/out spool=$tmpdir/spool
key=$(cat "$tmpdir/sshd/user_key.pub")
echo "command=\"$RECEIVER --batch $spool\",restrict $key" > "$tmpdir/sshd/authorized_keys"
fp=$(ssh-keygen -lf "$SSHD_HOST_PUB" | awk '{print $2}')
printf '[defaults]\noutput-dir = %s\nfixup = no\n[server gpt]\nmatch = mac:52:54:00:12:34:56\n' \
  "$out" > "$tmpdir/manifest"
"$P2V_BUILD/p2v-batch" run --manifest "$tmpdir/manifest" --spool "$spool" \
  2>"$tmpdir/coordinator.err" &
coord=$!
on_exit "kill $coord 2>/dev/null"
wait_for 100 test -S "$spool/coordinator.sock" || fail "no coordinator: $(cat "$tmpdir/coordinator.err")"

# qemu_run LOG SECONDS ARG...: QEMU (TCG, user networking: the guest's
# 10.0.2.2 is this machine's 127.0.0.1), bounded in time.
qemu_run () {
  local log=$1 secs=$2
  shift 2
  timeout "$secs" qemu-system-x86_64 -accel tcg -smp 1 -display none -monitor none \
    -no-reboot -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
    -serial "file:$log" "$@"
}

# 1. Unattended, from the ISO.
dir=$("$top_srcdir/tests/fleet/build.sh" plain-gpt-uefi) || fail "fleet build failed"
"$top_srcdir/liveimage/customize.sh" --set p2v.server=10.0.2.2 \
  --set "p2v.port=$SSHD_PORT" --set "p2v.user=$(id -un)" --set "p2v.hostkey=$fp" \
  --identity "$SSH_KEY" \
  --iso "$LIVE_IMG/p2v-live.iso" "$tmpdir/custom.iso"
start=$SECONDS
rc=0
qemu_run "$tmpdir/cd.log" 1500 -m 256 -cdrom "$tmpdir/custom.iso" -boot d \
  -drive "file=$dir/disk0.img,format=raw,if=virtio,readonly=on" || rc=$?
echo "ISO boot and conversion: $((SECONDS - start)) s"
grep -a '^p2v' "$tmpdir/cd.log"
((rc == 0)) || fail "QEMU did not power off by itself (exit $rc)"
grep -a -q "^p2v: conversion finished" "$tmpdir/cd.log" || fail "no 'conversion finished' on the console"
grep -a -q "^p2v: network: eth0 10.0.2.15/24" "$tmpdir/cd.log" || fail "no DHCP address on the console"
grep -a -q "^p2v: settings from /run/p2v/medium/p2v/p2v.conf" "$tmpdir/cd.log" ||
  fail "the settings were not read from the boot medium"
[[ $(cat "$out/gpt/status") == complete ]] || fail "the conversion is not complete"
grep -q "queued name=gpt agent=p2v-525400123456 " "$spool/coordinator.log" ||
  fail "the coordinator did not recognise the machine: $(cat "$spool/coordinator.log")"
grep -qx "state=complete" "$spool/jobs/gpt" || fail "job: $(cat "$spool/jobs/gpt")"
# Only what the filesystems use travels: the source, with the ext4
# root's free blocks zeroed (on a copy), must be the image.
cp --sparse=always "$dir/disk0.img" "$tmpdir/src.img"
punch_free_ext "$tmpdir/src.img" $((526336 * 512))
cmp "$tmpdir/src.img" "$out/gpt/disk0.raw" || fail "the image differs from the source disk"
rm -f "$tmpdir/src.img"

# 2. Interactive, PXE style, on a small disk; the plain forced command.
echo "command=\"$RECEIVER --no-fixup --output-dir $out\",restrict $key" > "$tmpdir/sshd/authorized_keys"
make_test_disk "$tmpdir/small.img" 64
"$top_srcdir/liveimage/customize.sh" --identity "$SSH_KEY" --initrd "$tmpdir/config.cpio.gz"
cat "$LIVE_IMG/initrd.img" "$tmpdir/config.cpio.gz" > "$tmpdir/initrd+config"
cat > "$tmpdir/menu.exp" <<EXP
set timeout 300
log_user 0
log_file -a -noappend $tmpdir/menu.log
spawn qemu-system-x86_64 -accel tcg -smp 1 -m 256 -display none -monitor none \
  -no-reboot -netdev user,id=n0 -device virtio-net-pci,netdev=n0 -serial stdio \
  -kernel $LIVE_IMG/vmlinuz -initrd $tmpdir/initrd+config \
  -append "console=ttyS0,115200 p2v.post=shell" \
  -drive file=$tmpdir/small.img,format=raw,if=virtio,readonly=on
set qemu [exp_pid]
proc step {pattern answer} {
  global expect_out
  expect {
    -re \$pattern { send "\$answer\r" }
    timeout { puts stderr "menu: no '\$pattern' on the console"; exit 1 }
    eof { puts stderr "menu: QEMU ended at '\$pattern'"; exit 1 }
  }
}
step {choice \[\]: } 2
step {server \(host name or address\) \[\]: } 10.0.2.2
step {SSH port \[22\]: } $SSHD_PORT
step {user \[root\]: } $(id -un)
step {host key fingerprint[^\n]*: } ""
step {SSH key[^\n]*: } ""
step {choice \[\]: } 3
step {conversion name \[p2v-525400123456\]: } small
step {choice \[\]: } 5
step {after the conversion[^\n]*\[shell\]: } poweroff
step {choice \[\]: } s
step {has host key (SHA256:[^ ]+)\.[\r\n]+trust it\? \(yes/no\) \[no\]: } yes
set seen \$expect_out(1,string)
if {\$seen ne "$fp"} { puts stderr "menu: shown host key \$seen, not $fp"; exit 1 }
set timeout 600
expect {
  "p2v: powering off" {}
  timeout { puts stderr "menu: no power-off"; exit 1 }
  eof { puts stderr "menu: QEMU ended before powering off"; exit 1 }
}
expect eof
catch {exec kill \$qemu}
exit 0
EXP
start=$SECONDS
timeout 1200 expect -f "$tmpdir/menu.exp" || { tail -30 "$tmpdir/menu.log"; fail "the menus did not convert"; }
echo "PXE boot, menus and conversion: $((SECONDS - start)) s"
grep -a '^p2v' "$tmpdir/menu.log" | tr -d '\r'
[[ $(cat "$out/small/status") == complete ]] || fail "the menu's conversion is not complete"
cmp "$tmpdir/small.img" "$out/small/disk0.raw" || fail "the small image differs from its source"
# 3. The plain ISO also boots under UEFI (OVMF; 384 MB: with 256 MB,
# GRUB's EFI loader runs out of memory under OVMF) to the menus.  No
# p2v program of this build runs there: not again under sanitizers.
if [[ ${P2V_SANITIZED:-} == 1 ]]; then
  echo "(3., the UEFI boot, runs none of p2v's programs: not under sanitizers)"
  echo ok
  exit 0
fi
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$tmpdir/vars.fd"
qemu_run "$tmpdir/uefi.log" 600 -m 384 -cdrom "$LIVE_IMG/p2v-live.iso" \
  -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
  -drive "if=pflash,format=raw,file=$tmpdir/vars.fd" &
qemu=$!   # a subshell: its child, timeout, passes SIGTERM on to QEMU
on_exit "pkill -TERM -P $qemu; kill $qemu 2>/dev/null"
start=$SECONDS
wait_for 3000 grep -a -q "^p2v: no p2v.server= given: interactive menus" "$tmpdir/uefi.log" ||
  { tail -c 2000 "$tmpdir/uefi.log"; fail "the ISO did not boot to the menus under UEFI"; }
echo "UEFI boot to the menus: $((SECONDS - start)) s"
pkill -TERM -P "$qemu"
echo ok
