#!/bin/bash
# liveimage/customize.sh: put settings and an SSH key into the live
# image, so it converts without anyone typing anything.
#
#   customize.sh [--set KEY=VALUE]... [--config FILE] [--identity KEY] \
#                (--iso IN.iso OUT.iso | --initrd OUT.cpio.gz)
#
# --set p2v.server=hv1 (any p2v.* key, or ip=) and --config FILE (lines
# of KEY=VALUE) make /p2v/p2v.conf; --identity copies a private key to
# /p2v/id_ed25519.  --iso writes a copy of the ISO with them on it (still
# hybrid: dd it to a USB stick); --initrd writes a small initrd to load
# after the image's own (PXE: "initrd initrd.img p2v-config.cpio.gz"),
# which keeps the key off the PXE server's kernel command line.
set -euo pipefail
die () { echo "customize.sh: $*" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/p2v"
: > "$work/p2v/p2v.conf"
mode="" in="" out=""
while (($#)); do
  case $1 in
    --set) [[ ${2:-} == *=* ]] || die "--set wants KEY=VALUE"
           echo "$2" >> "$work/p2v/p2v.conf"; shift 2 ;;
    --config) [[ -f ${2:-} ]] || die "no config file '${2:-}'"
              cat "$2" >> "$work/p2v/p2v.conf"; shift 2 ;;
    --identity) [[ -f ${2:-} ]] || die "no key file '${2:-}'"
                install -m 600 "$2" "$work/p2v/id_ed25519"; shift 2 ;;
    --iso) mode=iso in=${2:-} out=${3:-}; shift 3 || die "--iso IN OUT" ;;
    --initrd) mode=initrd out=${2:-}; shift 2 || die "--initrd OUT" ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n $mode && -n $out ]] || die "say --iso IN OUT or --initrd OUT (see --help)"
[[ ! -e $out ]] || die "$out exists; not overwriting it"
# Made beside OUT under a name of its own, then renamed (never over a
# file that appeared meanwhile).
tmp=$(mktemp "$out.XXXXXX") || die "cannot write beside $out"
trap 'rm -rf "$work" "$tmp"' EXIT

case $mode in
iso)
  # The image's files, plus p2v/, made into an ISO again: xorriso
  # cannot replay the boot records grub-mkrescue writes.
  [[ -f $in ]] || die "no ISO '$in'"
  xorriso -osirrox on -indev "$in" -extract / "$work/iso" >/dev/null 2>"$work/log" ||
    { cat "$work/log" >&2; die "cannot read $in"; }
  chmod -R u+w "$work/iso"
  [[ -f $work/iso/live/initrd.img ]] || die "$in is not a p2v live image"
  # (the i686 image boots by BIOS only: it has no EFI image)
  platform=--bios-only
  [[ ! -e $work/iso/efi.img ]] || platform=
  # (without what grub-mkrescue adds: it adds them again)
  find "$work/iso/boot/grub" -mindepth 1 -maxdepth 1 ! -name grub.cfg -exec rm -rf {} +
  rm -rf "$work/iso/p2v" "$work/iso/boot.catalog" "$work/iso/efi.img" \
    "$work/iso/EFI" "$work/iso/System" "$work/iso/mach_kernel"
  cp -r "$work/p2v" "$work/iso/p2v"
  "$(dirname "$0")/mkiso.sh" $platform "$work/iso" "$tmp"
  ;;
initrd)
  (cd "$work" && find p2v | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$tmp"
  ;;
esac
chmod "$(printf '%o' $((0666 & ~0$(umask))))" "$tmp"   # mktemp's 0600 -> as umask says
mv -n "$tmp" "$out"
[[ ! -e $tmp ]] || die "$out exists; not overwriting it"
echo "customize.sh: wrote $out"
