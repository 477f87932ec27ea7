#!/bin/bash
# tests/fleet/build.sh MEMBER [CACHE_DIR]: build one "physical server"
# of the test fleet as disk images, inside the libguestfs appliance (the
# host kernel has no md or dm), from the shared Debian base (base.sh).
# Cached in CACHE_DIR/MEMBER-KEY/ (KEY: the base, this script, the
# member); prints that directory, which holds disk*.img and machine.env:
# what boot-check expects of it (MAC, NIC name, IP, firmware, md, root).
#
# Members: plain-gpt-uefi (more to come: legacy-raid1, lvm-on-md, xfs-nm).
# Every member: serial console on ttyS0, root password "p2v" (test only),
# marker files in /srv/markers listed in /root/markers.sha256.
set -euo pipefail
member=${1:?usage: build.sh MEMBER [CACHE_DIR]}
cache=${2:-/var/cache/p2v-tests/fleet}
here=$(cd "$(dirname "$0")" && pwd)
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}

base=$("$here/base.sh" "$cache")
key=$(cat "$base.sha256" 2>/dev/null || sha256sum < "$base" | cut -c1-16 | tee "$base.sha256")
key=$( { echo "$key"; cat "$0"; echo "$member"; } | sha256sum | cut -c1-16)
dir=$cache/$member-$key
if [[ -f $dir/machine.env ]]; then
  echo "$dir"
  exit 0
fi
work=$(mktemp -d "$cache/.$member.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Shared by every member, run inside the machine's root (chroot).  The
# base's initramfs (made by debootstrap, MODULES=most) already holds the
# virtio, SATA and IDE drivers; members that change what the initramfs
# must know (md arrays) rebuild it.
common_setup () {
  cat <<'SH'
set -eu
# debootstrap leaves the system users of sysusers.d uncreated (no
# systemd-network: networkd would not start).
systemd-sysusers
echo "root:p2v" | chpasswd
systemctl enable serial-getty@ttyS0.service
cat > /etc/default/grub <<G
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200 $GRUB_EXTRA"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
G
# Marker files with known checksums, to compare after conversion.
mkdir -p /srv/markers
for i in 1 2 3 4; do
  head -c $((i * 300000)) /dev/urandom > /srv/markers/file$i
done
seq 1 100000 > /srv/markers/numbers.txt
(cd / && sha256sum srv/markers/*) > /root/markers.sha256
SH
}

case $member in
plain-gpt-uefi)
  # One GPT disk: ESP + ext4 root, UEFI, a predictable NIC name (ens3:
  # the slot name udev gives virtio-net on PCI slot 3 under QEMU; its
  # altname is enp0s3) configured by systemd-networkd.
  mac=52:54:00:a1:00:03 nic=ens3 ip=192.168.50.13/24
  truncate -s 3G "$work/disk0.img"
  {
    echo 'GRUB_EXTRA=""'
    common_setup
    cat <<SH
echo $member > /etc/hostname
cat > /etc/fstab <<F
UUID=\$(blkid -s UUID -o value /dev/sda2) / ext4 errors=remount-ro 0 1
UUID=\$(blkid -s UUID -o value /dev/sda1) /boot/efi vfat umask=0077 0 1
F
mkdir -p /etc/systemd/network
printf '[Match]\nName=$nic\n\n[Network]\nAddress=$ip\n' \
  > /etc/systemd/network/10-$nic.network
systemctl enable systemd-networkd
systemctl disable networking 2>/dev/null || true
grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram
update-grub
SH
  } > "$work/setup.sh"
  guestfish --rw -a "$work/disk0.img" >&2 <<GF
set-smp 2
set-memsize 2048
run
part-init /dev/sda gpt
part-add /dev/sda p 2048 526335
part-add /dev/sda p 526336 -34
part-set-gpt-type /dev/sda 1 C12A7328-F81F-11D2-BA4B-00A0C93EC93B
mkfs vfat /dev/sda1
mkfs ext4 /dev/sda2
mount /dev/sda2 /
tar-in $base /
mkdir-p /boot/efi
mount /dev/sda1 /boot/efi
upload $work/setup.sh /root/setup.sh
sh "sh /root/setup.sh"
rm /root/setup.sh
GF
  cat > "$work/machine.env" <<ENV
MAC=$mac
NIC=$nic
IP=$ip
FIRMWARE=uefi
MD=no
ROOT='^/dev/vda2\$'
DISKS="disk0.img"
ENV
  ;;
*)
  echo "build.sh: unknown member '$member'" >&2
  exit 1
  ;;
esac

mkdir -p "$dir"
mv "$work"/disk*.img "$work/machine.env" "$dir/"
echo "$dir"
