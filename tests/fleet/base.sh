#!/bin/bash
# tests/fleet/base.sh: the Debian root every fleet machine starts from,
# made by debootstrap from this machine's own apt sources (read here,
# never hard-coded), cached (tests/cache.sh) as base.tar in an entry
# keyed by everything that shapes it: this script, the suite, the
# mirror and the package lists.  Prints the entry's directory.
#
#   tests/fleet/base.sh [CACHE_DIR]     (default /var/cache/p2v-tests/fleet)
#   tests/fleet/base.sh --name          the entry's name, nothing built
#   tests/fleet/base.sh --build OUT     (tests/cache.sh runs this)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# One package set for all four machines: each uses what it needs.
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

# The first Debian archive this machine uses (deb822 or one-line form)
# and its release.
mirror=$(
  { sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
      /etc/apt/sources.list.d/*.sources 2>/dev/null
    sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -v -- '-security' | head -1 || true)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
[[ -n $mirror && -n $suite ]] ||
  { echo "base.sh: cannot find a Debian mirror in /etc/apt" >&2; exit 1; }

name=base-$suite-$( { cat "$0" "$here/in-root.sh"; printf '%s\n' "$suite" "$mirror"; } |
  sha256sum | cut -c1-16)
case ${1:-} in
  --name) echo "$name"; exit 0 ;;
  --build) ;;
  *) exec "$here/../cache.sh" --prune "base-$suite-*" "${1:-/var/cache/p2v-tests/fleet}" \
       "$name" "$0" --build ;;
esac

out=${2:?usage: base.sh --build OUT}
root=$out/root
trap 'rm -rf "$root"' EXIT
echo "base.sh: debootstrap $suite from $mirror into $root" >&2
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  "$suite" "$root" "$mirror" >&2
# The root must be 0755: every service not running as root (apt's
# downloads, networkd, dbus) would find nothing in a 0700 one.
chmod 755 "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
"$here/in-root.sh" "$root" apt-get -q update >&2
DEBIAN_FRONTEND=noninteractive "$here/in-root.sh" "$root" \
  apt-get -q -y --no-install-recommends install "${late[@]}" >&2
rm "$root/etc/resolv.conf"
# No machine identity, logs or package caches in the shared base.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
: > "$root/etc/machine-id"
tar -C "$root" --numeric-owner -cf "$out/base.tar" .
