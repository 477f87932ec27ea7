#!/bin/bash
# liveimage/build.sh AGENT OUTDIR: build the p2v live image from this
# machine's Debian packages (no downloads): OUTDIR/p2v-live.iso (hybrid:
# BIOS and UEFI, from a CD or dd'd to a USB stick) and the PXE pair
# OUTDIR/vmlinuz + OUTDIR/initrd.img.  AGENT is a p2v-agent built with
# NBD=0 (make liveimage does both).
#
# The initramfs is the whole system: busybox, kmod, mdadm, lvm,
# p2v-agent and the libraries they load, the storage and NIC drivers
# old servers need (liveimage/modules), /init and p2v-live.  Nothing
# else is installed; the kernel is the newest linux-image installed.
set -euo pipefail
agent=${1:?usage: build.sh AGENT OUTDIR}
out=${2:?usage: build.sh AGENT OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^VERSION *= *//p' "$here/../Makefile")

die () { echo "liveimage: $*" >&2; exit 1; }
[[ -x $agent ]] || die "no agent at $agent (make liveimage builds it)"
for f in /bin/busybox /usr/bin/kmod /sbin/mdadm /sbin/lvm /usr/bin/grub-mkrescue \
         /usr/bin/xorriso /usr/bin/mformat /usr/lib/grub/i386-pc /usr/lib/grub/x86_64-efi; do
  [[ -e $f ]] || die "missing $f (make deps installs busybox-static, kmod, mdadm, lvm2, grub-common, grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools)"
done
kver=$(cd /lib/modules && ls -d [0-9]* | sort -V | tail -n 1)
[[ -n $kver && -f /boot/vmlinuz-$kver ]] || die "no kernel in /boot with modules in /lib/modules (linux-image-amd64)"
[[ -r /boot/vmlinuz-$kver ]] || die "cannot read /boot/vmlinuz-$kver (run as root)"

start=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/root
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,lib64} \
         "$r"/usr/share/udhcpc "$r"/etc/mdadm "$r"/etc/lvm
chmod 1777 "$r/tmp"

# copy_libs PROGRAM: every library it loads (ldd; the loader too), at
# the same paths.
copy_libs () {
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
    [[ -e $r$lib ]] && continue
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
}
for f in /bin/busybox /usr/bin/kmod /sbin/mdadm /sbin/lvm; do
  cp -L "$f" "$r$f"
  copy_libs "$f"
done
cp "$agent" "$r/usr/bin/p2v-agent"
copy_libs "$agent"
# busybox provides the rest: sh, mount, ip, udhcpc, wget, findfs, ...
for applet in $("$r/bin/busybox" --list); do
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
mods=$(sed 's/#.*//' "$here/modules" | xargs)
present=() missing=()
for m in $mods; do
  if modinfo -k "$kver" -n "$m" >/dev/null 2>&1; then present+=("$m"); else missing+=("$m"); fi
done
((${#missing[@]} == 0)) || echo "liveimage: not in kernel $kver (skipped): ${missing[*]}" >&2
for f in $(modprobe -S "$kver" --show-depends -a "${present[@]}" 2>/dev/null |
           awk '$1 == "insmod" {print $2}' | sort -u); do
  mkdir -p "$r$(dirname "$f")"
  cp "$f" "$r$f"
done
# Compressed one by one (kmod unpacks them as it loads them): the
# initramfs is unpacked into RAM, at most half of which it may use.
find "$r/lib/modules" -name '*.ko' -print0 | xargs -0 -n 16 -P "$(nproc)" xz --check=crc32
cp /lib/modules/"$kver"/modules.{order,builtin,builtin.modinfo} "$r/lib/modules/$kver/"
depmod -b "$r" "$kver"

# The initramfs, xz (the kernel wants CRC32 checks), and the ISO.
mkdir -p "$out" "$work/iso/live" "$work/iso/boot/grub"
(cd "$r" && find . | sort | cpio -o -H newc --quiet -R 0:0) |
  xz -T0 --check=crc32 -6 > "$work/iso/live/initrd.img"
cp "/boot/vmlinuz-$kver" "$work/iso/live/vmlinuz"
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
"$here/mkiso.sh" "$work/iso" "$out/p2v-live.iso"
# Each file complete or not there: another build may read OUTDIR.
for f in vmlinuz initrd.img; do
  tmp=$(mktemp "$out/.$f.XXXXXX")
  cp "$work/iso/live/$f" "$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$out/$f"
done
echo "liveimage: $out/p2v-live.iso ($(du -m "$out/p2v-live.iso" | cut -f1) MB; initrd" \
  "$(du -m "$out/initrd.img" | cut -f1) MB, kernel $kver) in $((SECONDS - start)) s" >&2
