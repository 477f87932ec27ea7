#!/bin/bash
# liveimage/mkiso.sh [--bios-only] TREE OUT.iso: the hybrid ISO of a
# live image tree (live/vmlinuz, live/initrd.img, boot/grub/grub.cfg,
# maybe p2v/): El Torito for CDs (BIOS and UEFI, or BIOS only) and
# MBR/GPT for USB sticks, by grub-mkrescue, labelled P2V_LIVE (p2v-live
# finds its medium by it).
set -euo pipefail
platform=()
[[ ${1:-} != --bios-only ]] || { platform=(-d /usr/lib/grub/i386-pc); shift; }
tree=${1:?usage: mkiso.sh [--bios-only] TREE OUT.iso}
out=${2:?usage: mkiso.sh [--bios-only] TREE OUT.iso}
# Written beside OUT under a name of its own, then renamed: a reader
# never sees half an ISO, and two builders never share a file.
log=$(mktemp)
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$log" "$tmp"' EXIT
grub-mkrescue "${platform[@]}" -o "$tmp" "$tree" -- -volid P2V_LIVE >/dev/null 2>"$log" ||
  { cat "$log" >&2; echo "mkiso.sh: grub-mkrescue failed" >&2; exit 1; }
chmod 644 "$tmp"
mv "$tmp" "$out"
