#!/bin/bash
# liveimage/build.sh [--arch x86_64|i686] AGENT OUTDIR: build the p2v
# live image from Debian's packages (no other downloads): OUTDIR/p2v-live.iso
# (hybrid: from a CD or dd'd to a USB stick) and the PXE pair
# OUTDIR/vmlinuz + OUTDIR/initrd.img.
#
# The initramfs is the whole system: busybox, kmod, mdadm, lvm,
# p2v-agent and the libraries they load, the storage and NIC drivers
# old servers need (liveimage/modules), /init and p2v-live.
#  x86_64 (the default): this machine's own programs and its newest
#    installed kernel; BIOS and UEFI.  AGENT is a p2v-agent built with
#    NBD=0 (make liveimage builds it).
#  i686: for 32-bit servers (no SSE2 needed): Debian's i386 packages
#    (linux-image-686, busybox-static, kmod, mdadm, lvm2 and the
#    libraries they load), fetched with apt-get download and unpacked
#    here, never installed; BIOS only.  AGENT is the portable i686
#    agent (make portable).
set -euo pipefail
arch=x86_64
if [[ ${1:-} == --arch ]]; then arch=${2:-}; shift 2 || true; fi
agent=${1:?usage: build.sh [--arch x86_64|i686] AGENT OUTDIR}
out=${2:?usage: build.sh [--arch x86_64|i686] AGENT OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^VERSION *= *//p' "$here/../Makefile")

die () { echo "liveimage: $*" >&2; exit 1; }
[[ -x $agent ]] || die "no agent at $agent (make liveimage builds it)"
for f in /usr/bin/grub-mkrescue /usr/bin/xorriso /usr/bin/mformat /usr/lib/grub/i386-pc \
         /usr/bin/objdump /usr/bin/cpio /usr/bin/xz; do
  [[ -e $f ]] || die "missing $f (make deps installs grub-common, grub-pc-bin, xorriso, mtools, binutils, cpio, xz-utils)"
done
case $arch in
x86_64)
  sys=   # this machine
  triplet=x86_64-linux-gnu iso=()
  for f in /bin/busybox /usr/bin/kmod /sbin/mdadm /sbin/lvm /usr/lib/grub/x86_64-efi; do
    [[ -e $f ]] || die "missing $f (make deps installs busybox-static, kmod, mdadm, lvm2, grub-efi-amd64-bin)"
  done ;;
i686)
  triplet=i386-linux-gnu iso=(--bios-only)
  [[ $(od -An -tx1 -j4 -N1 "$agent" | tr -d ' ') == 01 ]] ||
    die "$agent is not a 32-bit program (the i686 image wants make portable's p2v-agent-i686)" ;;
*) die "--arch is x86_64 or i686, not '$arch'" ;;
esac
start=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# i686: the packages, unpacked into $sys.  fetch PKG...: download each
# (apt-get download, its i386 build) and unpack it there.
if [[ $arch == i686 ]]; then
  sys=$work/i386
  mkdir -p "$sys" "$work/debs"
  fetch () {
    (cd "$work/debs" && apt-get download -qq "${@/%/:i386}" 2>"$work/apt.log") ||
      { cat "$work/apt.log" >&2; die "cannot download $* for i386 (make deps adds the i386 architecture to apt)"; }
    local p
    for p; do dpkg-deb -x "$work"/debs/"${p}"_*_i386.deb "$sys"; done
  }
  kpkg=$(apt-cache depends linux-image-686:i386 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' | head -1)
  [[ -n $kpkg ]] || die "apt knows no linux-image-686 for i386 (make deps adds the i386 architecture to apt)"
  fetch "$kpkg" busybox-static kmod mdadm lvm2 libc6
fi
kver=$(cd "$sys/lib/modules" && ls -d [0-9]* | sort -V | tail -n 1)
[[ -n $kver && -f $sys/boot/vmlinuz-$kver ]] || die "no kernel in $sys/boot with modules in $sys/lib/modules (x86_64: install linux-image-amd64)"
[[ -r $sys/boot/vmlinuz-$kver ]] || die "cannot read $sys/boot/vmlinuz-$kver (run as root)"

r=$work/root
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,lib64} \
         "$r"/usr/share/udhcpc "$r"/etc/mdadm "$r"/etc/lvm
chmod 1777 "$r/tmp"

# copy_prog FILE AS: FILE into the image as AS, with its loader and
# every library it loads (its ELF NEEDED entries, recursively), each
# taken from $sys where the loader looks (/lib/TRIPLET,
# /usr/lib/TRIPLET, /lib, /usr/lib) and put at the same path.  For
# i686, a library not unpacked yet comes from the i386 build of the
# package that holds it on this machine (dpkg -S).
copy_prog () {
  local f=$1 as=$2 so d p interp
  [[ -e $r$as ]] && return
  mkdir -p "$r$(dirname "$as")"
  cp -L "$f" "$r$as"
  interp=$(readelf -l "$f" | sed -n 's/.*interpreter: \(.*\)]$/\1/p')
  [[ -z $interp ]] || copy_prog "$sys$interp" "$interp"
  for so in $(objdump -p "$f" | awk '$1 == "NEEDED" {print $2}'); do
    [[ $so != ld-linux* ]] || continue   # the loader: the interpreter, above
    for d in /lib/$triplet /usr/lib/$triplet /lib /usr/lib; do
      [[ -e $sys$d/$so ]] && break
    done
    if [[ ! -e $sys$d/$so && $arch == i686 ]]; then
      p=$(dpkg -S "*/x86_64-linux-gnu/$so" 2>/dev/null | sed -n '1s/:amd64: .*//p')
      [[ -n $p ]] || die "no package known for $so (needed by $as)"
      fetch "$p"
      for d in /lib/$triplet /usr/lib/$triplet; do [[ -e $sys$d/$so ]] && break; done
    fi
    [[ -e $sys$d/$so ]] || die "cannot find $so (needed by $as)"
    copy_prog "$sys$d/$so" "$d/$so"
  done
}
for f in /bin/busybox /usr/bin/kmod /sbin/mdadm /sbin/lvm; do
  src=$sys$f
  [[ -e $src ]] || src=$sys/bin/${f##*/}   # (kmod, in the i386 package)
  copy_prog "$src" "$f"
done
copy_prog "$agent" /usr/bin/p2v-agent
# busybox provides the rest: sh, mount, ip, udhcpc, wget, findfs, ...
# (the i386 one run by qemu-user)
run=()
[[ $arch == x86_64 ]] || run=(qemu-i386-static)
for applet in $("${run[@]}" "$r/bin/busybox" --list); do
  [[ -e $r/bin/$applet || -e $r/sbin/$applet || -e $r/usr/bin/$applet ]] ||
    ln -s busybox "$r/bin/$applet"
done
for t in modprobe insmod lsmod rmmod depmod modinfo; do ln -sf ../usr/bin/kmod "$r/sbin/$t"; done
for t in vgs vgchange vgmknodes pvs lvs; do ln -sf lvm "$r/sbin/$t"; done
install -m 755 "$here/init" "$r/init"
install -m 755 "$here/p2v-live" "$r/sbin/p2v-live"
install -m 755 "$here/udhcpc.script" "$r/usr/share/udhcpc/default.script"
echo "$version" > "$r/etc/p2v-version"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\n' > "$r/etc/group"
printf '127.0.0.1 localhost\n' > "$r/etc/hosts"
printf 'hosts: files dns\n' > "$r/etc/nsswitch.conf"
echo p2v-live > "$r/etc/hostname"
# Arrays from any host, assembled read-only; LVM without udev.
printf 'DEVICE partitions containers\nHOMEHOST <ignore>\nAUTO +all\n' > "$r/etc/mdadm/mdadm.conf"
cat > "$r/etc/lvm/lvm.conf" <<'LVM'
devices { obtain_device_list_from_udev = 0 }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
global { locking_dir = "/run/lock/lvm" }
LVM

# Drivers: every module liveimage/modules names, with its dependencies.
# (The i386 kernel package has no modules.dep: depmod makes it there.)
[[ -z $sys ]] || depmod -b "$sys" "$kver"
info=(modinfo -k "$kver") deps=(modprobe -S "$kver")
[[ -z $sys ]] || info+=(-b "$sys") deps+=(-d "$sys")
mods=$(sed 's/#.*//' "$here/modules" | xargs)
present=() missing=()
for m in $mods; do
  if "${info[@]}" -n "$m" >/dev/null 2>&1; then present+=("$m"); else missing+=("$m"); fi
done
((${#missing[@]} == 0)) || echo "liveimage: not in kernel $kver (skipped): ${missing[*]}" >&2
for f in $("${deps[@]}" --show-depends -a "${present[@]}" 2>/dev/null |
           awk '$1 == "insmod" {print $2}' | sort -u); do
  f=${f#"$sys"}
  mkdir -p "$r$(dirname "$f")"
  cp "$sys$f" "$r$f"
done
# Compressed one by one (kmod unpacks them as it loads them): the
# initramfs is unpacked into RAM, at most half of which it may use.
find "$r/lib/modules" -name '*.ko' -print0 | xargs -0 -n 16 -P "$(nproc)" xz --check=crc32
cp "$sys/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$r/lib/modules/$kver/"
depmod -b "$r" "$kver"

# The initramfs, xz (the kernel wants CRC32 checks), and the ISO.
mkdir -p "$out" "$work/iso/live" "$work/iso/boot/grub"
(cd "$r" && find . | sort | cpio -o -H newc --quiet -R 0:0) |
  xz -T0 --check=crc32 -6 > "$work/iso/live/initrd.img"
cp "$sys/boot/vmlinuz-$kver" "$work/iso/live/vmlinuz"
cat > "$work/iso/boot/grub/grub.cfg" <<CFG
# p2v live image $version: settings go on the linux line (p2v.server=...)
# or in /p2v/p2v.conf on this medium (liveimage/customize.sh).
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=5
menuentry "p2v $version: convert this machine (screen)" {
  linux /live/vmlinuz console=ttyS0,115200 console=tty0 quiet
  initrd /live/initrd.img
}
menuentry "p2v $version: convert this machine (serial console ttyS0)" {
  linux /live/vmlinuz console=tty0 console=ttyS0,115200 quiet
  initrd /live/initrd.img
}
CFG
"$here/mkiso.sh" "${iso[@]}" "$work/iso" "$out/p2v-live.iso"
# Each file complete or not there: another build may read OUTDIR.
for f in vmlinuz initrd.img; do
  tmp=$(mktemp "$out/.$f.XXXXXX")
  cp "$work/iso/live/$f" "$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$out/$f"
done
echo "liveimage: $out/p2v-live.iso ($(du -m "$out/p2v-live.iso" | cut -f1) MB; initrd" \
  "$(du -m "$out/initrd.img" | cut -f1) MB, kernel $kver) in $((SECONDS - start)) s" >&2
