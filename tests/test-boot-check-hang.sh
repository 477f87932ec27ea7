#!/bin/bash
# test-boot-check-hang: tests/boot-check takes a boot that hangs before
# the login prompt, its console silent (--silence) or its kernel
# reporting a soft lockup with no progress after it, for a hung boot:
# it starts QEMU again, once, and then gives up with exit status 2,
# naming the hang, having killed its QEMU.  A blank disk stands for the
# silent guest (the BIOS finds nothing to boot and prints nothing on the
# serial console); a boot sector that prints a kernel's soft-lockup
# line on the serial port and halts, for the other.  A soft lockup that
# the boot gets past (a systemd unit started after it: a vCPU starved
# by a busy host) is no hang: the same boot sector, printing such a
# line after the lockup's, hangs for its silence only.
# run-tests: no p2v programs
source "$(dirname "$0")/functions.sh"
requires expect qemu-system-x86_64 pgrep as ld

# hang NAME IMAGE WHY: boot-check IMAGE must start QEMU twice, then
# fail with WHY.
hang () {
  local name=$1 img=$2 why=$3 rc=0 start=$SECONDS
  timeout 120 "$top_srcdir/tests/boot-check" --silence 5 --timeout 100 \
    --log "$tmpdir/$name.log" "$img" 2> "$tmpdir/$name.err" || rc=$?
  cat "$tmpdir/$name.err"
  ((rc == 2)) || fail "$name: boot-check exited $rc, want 2"
  (($(grep -c -F "boot-check: $why before a login prompt (a hung boot): starting QEMU again" "$tmpdir/$name.err") == 1)) ||
    fail "$name: QEMU was not started again exactly once"
  grep -q -F "FAIL: no login prompt: $why, twice" "$tmpdir/$name.err" ||
    fail "$name: the failure does not name the hang"
  grep -q -F "[boot-check: $why: QEMU started again]" "$tmpdir/$name.log" ||
    fail "$name: the console log does not say QEMU was started again"
  ((SECONDS - start < 60)) || fail "$name: giving up took $((SECONDS - start)) s"
  ! pgrep -f -- "file=$img," > /dev/null || fail "$name: a QEMU on $img is still running"
}

truncate -s 16M "$tmpdir/blank.img"
hang silent "$tmpdir/blank.img" "the console was silent for 5 s"

# lockup_image NAME LINES: a boot sector printing LINES, then halting.
lockup_image () {
  cat > "$tmpdir/$1.s" <<ASM
.code16
.globl _start
_start:
  cli
  xor %ax, %ax
  mov %ax, %ds
  mov \$0x3f8, %dx
  mov \$msg, %si
1: lodsb
  test %al, %al
  jz 2f
  out %al, %dx
  jmp 1b
2: hlt
  jmp 2b
msg: .asciz "$2"
.org 510
.byte 0x55, 0xaa
ASM
  as --32 -o "$tmpdir/$1.o" "$tmpdir/$1.s"
  ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmpdir/$1.img" "$tmpdir/$1.o"
  truncate -s 1M "$tmpdir/$1.img"
}
lockup='[   48.719089] watchdog: BUG: soft lockup - CPU#1 stuck for 45s! [swapper/0:1]\r\n'
lockup_image lockup "$lockup"
hang lockup "$tmpdir/lockup.img" "the kernel reported a soft lockup"
lockup_image passed "$lockup[  OK  ] Started systemd-udevd.service - Rule-based Manager.\r\n"
hang passed "$tmpdir/passed.img" "the console was silent for 5 s"
echo ok
