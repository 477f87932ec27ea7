#!/bin/bash
# tests/fleet/base.sh: the Debian roots the fleet machines start from,
# made by debootstrap from this machine's own apt archive (read here,
# never hard-coded), cached (tests/cache.sh) as base.tar in an entry
# keyed by everything that shapes it: this script, in-root.sh, the
# suite, the architecture and the mirror.  Prints the entry's directory.
#
#   tests/fleet/base.sh [FLAVOUR] [CACHE_DIR]
#                                 (default /var/cache/p2v-tests/fleet)
#   tests/fleet/base.sh [FLAVOUR] --name      the entry's name only
#   tests/fleet/base.sh [FLAVOUR] --build OUT (tests/cache.sh runs this)
#
# Without a FLAVOUR: this machine's own suite, amd64.  --suite SUITE:
# the same packages from another suite (trixie, for trixie-uefi).
# --legacy: the 32-bit server of issue 23, Debian 11 (bullseye, the
# oldest suite the archive serves) for i386 with the 686 kernel.  Where this kernel
# cannot run i386 programs (no IA32 emulation), debootstrap's second
# stage and every later chroot run them through qemu-i386-static,
# registered with binfmt_misc (binfmt.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

legacy=no flag=()
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
case ${1:-} in
  --legacy) legacy=yes flag=(--legacy); shift ;;
  --suite) suite=${2:?usage: base.sh --suite SUITE ...} flag=(--suite "$2"); shift 2 ;;
esac
if [[ $legacy == no ]]; then
  # One package set for the 64-bit machines: each uses what it needs.
  arch=amd64
  packages=(
    linux-image-amd64 systemd-sysv udev kmod procps iproute2 netbase
    initramfs-tools busybox
    ifupdown dbus                               # legacy-raid1
    mdadm lvm2 xfsprogs e2fsprogs dosfstools    # md, LVM, XFS, the ESP
    grub-pc-bin grub-efi-amd64-bin grub2-common # installed by the builder
  )
  # Installed by apt in a second step: polkitd's postinst fails under
  # debootstrap's second stage (it wants /proc).
  late=(network-manager)                        # xfs-nm
else
  arch=i386 suite=bullseye late=()
  packages=(
    linux-image-686 systemd-sysv udev kmod procps iproute2 netbase
    initramfs-tools busybox ifupdown mdadm e2fsprogs grub-pc-bin grub2-common
  )
fi

# The first Debian archive this machine uses (deb822 or one-line form).
mirror=$(
  { sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
      /etc/apt/sources.list.d/*.sources 2>/dev/null
    sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -v -- '-security' | head -1 || true)
[[ -n $mirror ]] ||
  { echo "base.sh: cannot find a Debian mirror in /etc/apt" >&2; exit 1; }

name=base-$suite-$arch-$( { cat "$0" "$here/in-root.sh" "$here/binfmt.sh"
  printf '%s\n' "$suite" "$arch" "$mirror"; } | sha256sum | cut -c1-16)
case ${1:-} in
  --name) echo "$name"; exit 0 ;;
  --build) ;;
  *) exec "$here/../cache.sh" --prune "base-$suite-$arch-*" \
       "${1:-/var/cache/p2v-tests/fleet}" "$name" "$0" "${flag[@]}" --build ;;
esac

out=${2:?usage: base.sh --build OUT}
root=$out/root
trap 'rm -rf "$root"' EXIT
echo "base.sh: debootstrap $suite for $arch from $mirror into $root" >&2
debootstrap --foreign --arch="$arch" --variant=minbase \
  --include="$(IFS=,; echo "${packages[*]}")" "$suite" "$root" "$mirror" >&2
"$here/binfmt.sh" "$root"
# What no test reads is left out: documentation, manual pages,
# translations, and the kernel's drivers for hardware that neither a
# virtual machine nor these servers have (graphics, sound, media,
# wireless, Bluetooth, InfiniBand, industrial I/O, staging).  With
# apt's caches (below), 870 MB and 17,463 files become about 550 MB and
# 11,706: each machine's build, transfers and manifests move that much
# less under TCG.  dpkg leaves them out (the rules stay in the root,
# for each machine's own packages); what debootstrap's first stage
# unpacked before dpkg ran is removed.
{
  printf 'path-exclude=%s\n' '/usr/share/doc/*' '/usr/share/man/*' \
    '/usr/share/info/*' '/usr/share/locale/*' '/usr/share/lintian/*'
  echo 'path-include=/usr/share/doc/*/copyright'
  for m in /lib/modules /usr/lib/modules; do
    for d in drivers/gpu drivers/media sound drivers/infiniband drivers/iio \
             drivers/staging drivers/comedi drivers/net/wireless net/wireless \
             net/mac80211 drivers/bluetooth net/bluetooth; do
      echo "path-exclude=$m/*/kernel/$d/*"
    done
  done
} > "$root/etc/dpkg/dpkg.cfg.d/p2v-fleet-excludes"
chroot "$root" /debootstrap/debootstrap --second-stage >&2
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
for d in man info locale lintian; do
  [[ ! -d $root/usr/share/$d ]] || find "$root/usr/share/$d" -mindepth 1 -delete
done
# The root must be 0755: every service not running as root (apt's
# downloads, networkd, dbus) would find nothing in a 0700 one.
chmod 755 "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
if ((${#late[@]})); then
  "$here/in-root.sh" "$root" apt-get -q update >&2
  DEBIAN_FRONTEND=noninteractive "$here/in-root.sh" "$root" \
    apt-get -q -y --no-install-recommends install "${late[@]}" >&2
fi
rm "$root/etc/resolv.conf"
# No machine identity, logs or package caches in the shared base.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
  "$root"/var/lib/apt/lists/*
: > "$root/etc/machine-id"
tar -C "$root" --numeric-owner -cf "$out/base.tar" .
