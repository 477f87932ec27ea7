#!/bin/bash
# test-boot-check-silence: tests/boot-check takes a console that stays
# silent before the login prompt (--silence) for a hung boot: it starts
# QEMU again, once, and then gives up with exit status 2, naming the
# silence, having killed its QEMU.  A blank disk stands for the hung
# guest (the BIOS finds nothing to boot and prints nothing on the
# serial console).
# run-tests: no p2v programs
source "$(dirname "$0")/functions.sh"
requires expect qemu-system-x86_64 pgrep

img=$tmpdir/blank.img
truncate -s 16M "$img"
start=$SECONDS
rc=0
timeout 120 "$top_srcdir/tests/boot-check" --silence 5 --timeout 100 \
  --log "$tmpdir/console.log" "$img" 2> "$tmpdir/err" || rc=$?
cat "$tmpdir/err"
((rc == 2)) || fail "boot-check exited $rc, want 2"
(($(grep -c "silent for 5 s before a login prompt (a hung boot): starting QEMU again" "$tmpdir/err") == 1)) ||
  fail "QEMU was not started again exactly once"
grep -q "FAIL: no login prompt: the console was silent for 5 s, twice" "$tmpdir/err" ||
  fail "the failure does not name the silence"
grep -q "silent for 5 s: QEMU started again" "$tmpdir/console.log" ||
  fail "the console log does not say QEMU was started again"
((SECONDS - start < 60)) || fail "giving up took $((SECONDS - start)) s, not about 10"
! pgrep -f -- "file=$img," > /dev/null || fail "a QEMU on $img is still running"
echo ok
