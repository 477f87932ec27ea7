#!/bin/bash
# liveimage/mkiso.sh TREE OUT.iso: the hybrid ISO of a live image tree
# (live/vmlinuz, live/initrd.img, boot/grub/grub.cfg, maybe p2v/):
# El Torito for CDs (BIOS and UEFI) and MBR/GPT for USB sticks, by
# grub-mkrescue, labelled P2V_LIVE (p2v-live finds its medium by it).
set -euo pipefail
tree=${1:?usage: mkiso.sh TREE OUT.iso}
out=${2:?usage: mkiso.sh TREE OUT.iso}
log=$(mktemp)
trap 'rm -f "$log" "$out.tmp"' EXIT
grub-mkrescue -o "$out.tmp" "$tree" -- -volid P2V_LIVE >/dev/null 2>"$log" ||
  { cat "$log" >&2; echo "mkiso.sh: grub-mkrescue failed" >&2; exit 1; }
mv "$out.tmp" "$out"
