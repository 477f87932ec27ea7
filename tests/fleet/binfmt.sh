#!/bin/bash
# tests/fleet/binfmt.sh ROOT: make sure this kernel runs the programs of
# the Debian tree ROOT (an i386 tree on an amd64 host), for chroot.  A
# kernel with IA32 emulation runs them itself: nothing is done.  One
# without it runs them through qemu-i386-static, registered here with
# binfmt_misc (mounted first if it is not) under the name p2v-i386, with
# the F flag: the kernel opens the interpreter now, so the tree needs no
# copy of it.  The registration stays until the host reboots (or
# "echo -1 > /proc/sys/fs/binfmt_misc/p2v-i386").
set -euo pipefail
root=${1:?usage: binfmt.sh ROOT}
chroot "$root" /bin/true 2>/dev/null && exit 0
qemu=$(command -v qemu-i386-static) ||
  { echo "binfmt.sh: $root's programs do not run on this kernel, and qemu-i386-static is not installed (scripts/install-deps installs it)" >&2; exit 1; }
misc=/proc/sys/fs/binfmt_misc
[[ -e $misc/register ]] || mount -t binfmt_misc binfmt_misc "$misc"
if [[ ! -e $misc/p2v-i386 ]]; then
  echo "binfmt.sh: running i386 programs through $qemu (binfmt_misc: p2v-i386)" >&2
  # ELF, 32-bit, little-endian, executable or shared object, machine 3.
  printf ':p2v-i386:M::%s:%s:%s:F\n' \
    '\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00' \
    '\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' \
    "$qemu" > "$misc/register"
fi
chroot "$root" /bin/true ||
  { echo "binfmt.sh: $root's programs still do not run here" >&2; exit 1; }
