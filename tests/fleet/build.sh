#!/bin/bash
# tests/fleet/build.sh MEMBER [CACHE_DIR]: build one "physical server"
# of the test fleet as disk images from the shared Debian base
# (base.sh).  The machine's root is configured on the host, in a chroot
# (native speed: its initramfs is built there); partitions, md arrays,
# LVM, filesystems and the boot loader are made inside the libguestfs
# appliance (the host kernel has no md or dm).  Every UUID is chosen
# here first, so the configuration can name them before they exist.
#
# Cached (tests/cache.sh: locked while built, verified on every use) in
# CACHE_DIR/MEMBER-KEY/ (KEY: the base's name, this script, in-root.sh,
# the member); prints that directory, which holds disk*.img and
# machine.env: what boot-check expects of it (MAC, NIC name and bus,
# IP, firmware, md, root).  Older builds of the member are removed.
# md arrays are made in sync and stopped clean (appliance.sh), so no
# resync runs when the images boot.  tests/cache.sh runs the build
# itself as "build.sh --build MEMBER CACHE_DIR OUT".
#
# Members (see README.md; build.sh --members lists them): legacy-raid1,
# lvm-on-md, plain-gpt-uefi, xfs-nm.  Every member: serial console on ttyS0, root password "p2v"
# (test only), marker files in /srv/markers listed in
# /root/markers.sha256.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/appliance.sh"
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}

members="legacy-raid1 lvm-on-md plain-gpt-uefi xfs-nm"
if [[ ${1:-} == --members ]]; then
  echo "$members"
  exit 0
elif [[ ${1:-} != --build ]]; then
  member=${1:?usage: build.sh MEMBER [CACHE_DIR] | --members}
  cache=${2:-/var/cache/p2v-tests/fleet}
  [[ " $members " == *" $member "* ]] ||
    { echo "build.sh: unknown member '$member' (the fleet: $members)" >&2; exit 1; }
  key=$( { "$here/base.sh" --name; echo "$member"; cat "$0" "$here/in-root.sh"; } |
    sha256sum | cut -c1-16)
  exec "$here/../cache.sh" --prune "$member-*" "$cache" "$member-$key" \
    "$0" --build "$member" "$cache"
fi
member=$2 dir=$4
base=$("$here/base.sh" "$3")/base.tar
work=$dir/.work
mkdir "$work"
start=$SECONDS

uuid () { cat /proc/sys/kernel/random/uuid; }
# mdadm's way of writing an array's UUID.
md_uuid () { local h=${1//-/}; echo "${h:0:8}:${h:8:8}:${h:16:8}:${h:24:8}"; }
# mkfs_cmd FSTYPE DEVICE UUID: the appliance command making it (once
# its node exists).
mkfs_cmd () {
  local mkfs
  case $1 in
    ext4) mkfs="mkfs.ext4 -q -F -U $3" ;;
    xfs) mkfs="mkfs.xfs -q -f -m uuid=$3" ;;
    vfat) mkfs="mkfs.vfat -i ${3//-/}" ;;
  esac
  echo "debug sh \"$(wait_nodes "$2") && $mkfs $2\""
}
# raid1_disks MEMBER: two MBR disks, each with a 384 MiB partition and
# one for the rest, mirrored as md0 and md1 (metadata 1.2).  Fresh
# images are all zeros, so both halves already agree: --assume-clean.
raid1_disks () {
  local d n
  for d in sda sdb; do
    echo "part-init /dev/$d mbr"
    echo "part-add /dev/$d p 2048 788479"
    echo "part-add /dev/$d p 788480 -1"
    echo "part-set-mbr-id /dev/$d 1 0xfd"
    echo "part-set-mbr-id /dev/$d 2 0xfd"
    echo "part-set-bootable /dev/$d 1 true"
  done
  for n in 0 1; do
    echo "debug sh \"$(wait_nodes "${pv}a$((n + 1))" "${pv}b$((n + 1))") &&" \
         "mdadm --create /dev/md$n --run --assume-clean --metadata=1.2" \
         "--level=1 --raid-devices=2 --homehost=$1 --name=$n --uuid=${md[n]}" \
         "${pv}a$((n + 1)) ${pv}b$((n + 1))\""
  done
}
interfaces () {   # interfaces NIC IP: ifupdown's static configuration
  printf 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n'
  printf 'allow-hotplug %s\niface %s inet static\n\taddress %s\n' "$1" "$1" "$2"
}

# What each member is: its disks and how the appliance lays them out
# and mounts them (layout: guestfish commands); its configuration,
# written into the root here (configure, run in this shell with $r the
# root); and what boot-check must see.
ndisks=1 nicbus=0 has_md=no grub_extra="" rootfs=ext4 modules_dep="" fs=() md=()
for i in 0 1 2; do fs[i]=$(uuid); md[i]=$(uuid); done
r=$work/root
case $member in
legacy-raid1)
  # An old server: two MBR disks mirrored by md for /boot (md0) and /
  # (md1), named /dev/mdN in fstab and on the kernel command line; the
  # kernel's NIC names (net.ifnames=0), eth0 pinned to the "physical"
  # MAC by a 70-persistent-net.rules; ifupdown.
  # MODULES=dep in an initramfs-tools conf.d file.
  ndisks=2 firmware=bios has_md=yes network=networking
  mac=00:1e:c9:5a:00:11 nic=eth0 ip=192.168.50.11/24 root='^/dev/md1$'
  grub_extra=net.ifnames=0 modules_dep=conf.d
  layout=$(raid1_disks "$member"
    mkfs_cmd ext4 /dev/md0 "${fs[0]}"
    mkfs_cmd ext4 /dev/md1 "${fs[1]}"
    printf '%s\n' "mount /dev/md1 /" "mkdir /boot" "mount /dev/md0 /boot")
  configure () {
    printf '/dev/md1 / ext4 errors=remount-ro 0 1\n/dev/md0 /boot ext4 defaults 0 2\n' \
      > "$r/etc/fstab"
    cat > "$r/etc/udev/rules.d/70-persistent-net.rules" <<R
# This file was automatically generated by the /lib/udev/write_net_rules
# program, run by the persistent-net-generator.rules rules file.
#
# PCI device 0x14e4:0x1659 (tg3)
SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="$mac", ATTR{dev_id}=="0x0", ATTR{type}=="1", KERNEL=="eth*", NAME="$nic"
R
    interfaces "$nic" "$ip" > "$r/etc/network/interfaces"
    echo GRUB_DISABLE_LINUX_UUID=true >> "$r/etc/default/grub"
  }
  ;;
lvm-on-md)
  # /boot on md0; md1 is the one PV of vg0, with / and /var as LVs.  A
  # systemd .link file names the NIC lan0 by its MAC; ifupdown.
  # MODULES=dep in initramfs.conf itself.
  ndisks=2 firmware=bios has_md=yes network=networking modules_dep=initramfs.conf
  mac=00:17:a4:3b:00:12 nic=lan0 ip=192.168.50.12/24 root='^/dev/mapper/vg0-root$'
  layout=$(raid1_disks "$member"
    printf '%s\n' "pvcreate /dev/md1" "vgcreate vg0 /dev/md1" \
      "lvcreate root vg0 1600" "lvcreate-free var vg0 100"
    mkfs_cmd ext4 /dev/md0 "${fs[0]}"
    mkfs_cmd ext4 /dev/vg0/root "${fs[1]}"
    mkfs_cmd ext4 /dev/vg0/var "${fs[2]}"
    printf '%s\n' "mount /dev/vg0/root /" "mkdir /boot" "mkdir /var" \
      "mount /dev/md0 /boot" "mount /dev/vg0/var /var")
  configure () {
    cat > "$r/etc/fstab" <<F
/dev/mapper/vg0-root / ext4 errors=remount-ro 0 1
/dev/md0 /boot ext4 defaults 0 2
/dev/mapper/vg0-var /var ext4 defaults 0 2
F
    mkdir -p "$r/etc/systemd/network"
    printf '[Match]\nMACAddress=%s\n\n[Link]\nName=%s\n' "$mac" "$nic" \
      > "$r/etc/systemd/network/10-$nic.link"
    interfaces "$nic" "$ip" > "$r/etc/network/interfaces"
  }
  ;;
plain-gpt-uefi)
  # One GPT disk: ESP + ext4 root, UEFI.  The NIC sits on PCI Express
  # bus 3 (boot-check --nic-bus 3), so udev names it enp3s0, and a
  # systemd-networkd .network matches that name.
  firmware=uefi nicbus=3 network=systemd-networkd
  mac=a0:36:9f:1c:00:13 nic=enp3s0 ip=192.168.50.13/24 root='^/dev/vda2$'
  esp=${fs[0]:0:4}-${fs[0]:4:4}; esp=${esp^^}   # a FAT serial
  layout=$(printf '%s\n' "part-init /dev/sda gpt" "part-add /dev/sda p 2048 526335" \
      "part-add /dev/sda p 526336 -34" \
      "part-set-gpt-type /dev/sda 1 C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    mkfs_cmd vfat "${pv}a1" "$esp"
    mkfs_cmd ext4 "${pv}a2" "${fs[1]}"
    printf '%s\n' "mount /dev/sda2 /" "mkdir-p /boot/efi" "mount /dev/sda1 /boot/efi")
  configure () {
    printf 'UUID=%s / ext4 errors=remount-ro 0 1\nUUID=%s /boot/efi vfat umask=0077 0 1\n' \
      "${fs[1]}" "$esp" > "$r/etc/fstab"
    mkdir -p "$r/etc/systemd/network"
    printf '[Match]\nName=%s\n\n[Network]\nAddress=%s\n' "$nic" "$ip" \
      > "$r/etc/systemd/network/10-$nic.network"
  }
  ;;
xfs-nm)
  # One MBR disk, XFS root, NetworkManager with a keyfile pinned to the
  # NIC's MAC (the kernel name does not matter to it: ens3 under QEMU).
  firmware=bios network=NetworkManager rootfs=xfs
  mac=00:25:90:7c:00:14 nic=ens3 ip=192.168.50.14/24 root='^/dev/vda1$'
  layout=$(printf '%s\n' "part-init /dev/sda mbr" "part-add /dev/sda p 2048 -1" \
      "part-set-bootable /dev/sda 1 true"
    mkfs_cmd xfs "${pv}a1" "${fs[0]}"
    echo "mount /dev/sda1 /")
  configure () {
    echo "UUID=${fs[0]} / xfs defaults 0 1" > "$r/etc/fstab"
    local k=$r/etc/NetworkManager/system-connections/wired.nmconnection
    cat > "$k" <<K
[connection]
id=wired
uuid=$(uuid)
type=ethernet
autoconnect=true

[ethernet]
mac-address=${mac^^}

[ipv4]
method=manual
address1=$ip

[ipv6]
method=ignore
K
    chmod 600 "$k"
  }
  ;;
esac

echo "build.sh: configuring $member" >&2
mkdir "$r"
tar -C "$r" -xf "$base"
echo "$member" > "$r/etc/hostname"
cat > "$r/etc/default/grub" <<G
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200${grub_extra:+ $grub_extra}"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
G
# Marker files with known checksums, to compare after conversion.
mkdir -p "$r/srv/markers"
for i in 1 2 3 4; do
  head -c $((i * 300000)) /dev/urandom > "$r/srv/markers/file$i"
done
seq 1 100000 > "$r/srv/markers/numbers.txt"
(cd "$r" && sha256sum srv/markers/*) > "$r/root/markers.sha256"
if [[ $has_md == yes ]]; then
  { echo "HOMEHOST <system>"; echo "MAILADDR root"
    for n in 0 1; do
      echo "ARRAY /dev/md/$n metadata=1.2 UUID=$(md_uuid "${md[n]}") name=$member:$n"
    done; } > "$r/etc/mdadm/mdadm.conf"
fi
configure
"$here/in-root.sh" "$r" sh -ec '
  # debootstrap leaves the system users of sysusers.d uncreated (no
  # systemd-network: networkd would not start).
  systemd-sysusers
  echo "root:p2v" | chpasswd
  systemctl enable serial-getty@ttyS0.service
  # One network stack, as on the real machine.
  for s in networking systemd-networkd NetworkManager; do
    if [ "$s" = "$1" ]; then systemctl enable "$s"
    else systemctl disable "$s" 2>/dev/null || true; fi
  done
  systemctl disable NetworkManager-wait-online systemd-networkd-wait-online \
    2>/dev/null || true
  # The initramfs now knows the arrays (mdadm.conf) and volumes.  Its
  # fsck hook cannot look at / from here: FSTYPE tells it, for this run.
  echo "FSTYPE=$2" > /etc/initramfs-tools/conf.d/p2v-fleet-fstype
  update-initramfs -u -k all
  rm /etc/initramfs-tools/conf.d/p2v-fleet-fstype
' sh "$network" "$rootfs" >&2
# MODULES=dep, as administrators set it for a small initramfs: a rebuild
# takes only the drivers of the hardware it runs on, so the converted
# machine's must be named (p2v-fixup adds virtio).  Set after the build
# above, which runs on this host: dep there would take the host's.
case $modules_dep in
  conf.d) echo MODULES=dep > "$r/etc/initramfs-tools/conf.d/modules" ;;
  initramfs.conf) sed -i 's/^MODULES=most$/MODULES=dep/' "$r/etc/initramfs-tools/initramfs.conf"
    grep -qx MODULES=dep "$r/etc/initramfs-tools/initramfs.conf" ;;
esac
tar -C "$r" --numeric-owner -cf "$work/root.tar" .
rm -rf "$r"

# The boot loader, installed from inside the machine's root in the
# appliance (it has to see the disks, arrays and filesystems).
if [[ $firmware == uefi ]]; then
  bootloader="grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram"
else
  # (run in the guest: each drive by its label, appliance.sh)
  bootloader="grub-install --target=i386-pc \$(readlink -f ${pv}a)"
  ((ndisks == 1)) || bootloader+=" && grub-install --target=i386-pc \$(readlink -f ${pv}b)"
fi

finish=
[[ $has_md == no ]] || finish=$(stop_arrays "${pv}a1" "${pv}a2" "${pv}b1" "${pv}b2")
disks=""
for ((i = 0; i < ndisks; i++)); do
  truncate -s 3G "$dir/disk$i.img"
  disks+="${disks:+ }disk$i.img"
done
echo "build.sh: making $member's disks in the libguestfs appliance" >&2
guestfish >&2 <<GF
$(add_drives "$dir"/disk*.img)
set-smp 2
set-memsize 2048
run
$layout
tar-in $work/root.tar /
sh "$bootloader && update-grub"
$finish
GF

cat > "$dir/machine.env" <<ENV
MAC=$mac
NIC=$nic
NICBUS=$nicbus
IP=$ip
FIRMWARE=$firmware
MD=$has_md
ROOT='$root'
DISKS="$disks"
ENV
rm -rf "$work"
echo "build.sh: $member built in $((SECONDS - start)) s" >&2
