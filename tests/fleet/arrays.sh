#!/bin/bash
# tests/fleet/arrays.sh [CACHE_DIR]: the md RAID shapes the fleet's
# machines do not have, as bare data disks (no OS), for the flattening
# test.  Made inside the libguestfs appliance (the host has no md):
#   r5-0..2   GPT disks; partition 1 of each (120 MiB, Linux RAID) is a
#             member of a RAID5 (metadata 1.0: superblock at the end)
#             holding ext4 "r5"; r5-0 also has partition 2, ext4
#             "keep0" (after the array's partition: it must move right
#             when the array's 240 MiB replace 120), r5-1 a swap
#             partition 2; r5-2 nothing else.
#   r10-0..3  whole disks (no table), RAID10 (near 2, metadata 1.2),
#             the array partitioned (GPT): ext4 "r10a" and vfat "R10B".
#   nest-0,1  MBR disks, nested arrays: a RAID1 (ext4 "nested") over two
#             RAID0s, each over a partition of both disks (refused).
# Every filesystem holds marker files and 4-8 MiB of random data.  The
# directory also holds manifest (manifest-of.sh of the disks).
# Cached (tests/cache.sh) in CACHE_DIR/arrays-KEY (KEY: this script,
# appliance.sh and the manifest scripts); prints that directory.  The
# arrays are made in sync (--assume-clean: the disks are zeros) and
# stopped clean.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/appliance.sh"
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}

if [[ ${1:-} != --build ]]; then
  key=$(cat "$0" "$here/appliance.sh" "$here/manifest.sh" "$here/manifest-of.sh" |
    sha256sum | cut -c1-16)
  exec "$here/../cache.sh" --prune "arrays-*" "${1:-/var/cache/p2v-tests/fleet}" \
    "arrays-$key" "$0" --build
fi
work=${2:?usage: arrays.sh --build OUT}
# Drives a-c: r5-0..2, d-g: r10-0..3, h-i: nest-0,1.
for i in 0 1 2; do truncate -s 200M "$work/r5-$i.img"; done
for i in 0 1 2 3; do truncate -s 128M "$work/r10-$i.img"; done
for i in 0 1; do truncate -s 64M "$work/nest-$i.img"; done

# fill DEV MiB: marker files and random data on a new filesystem.
fill () {
  echo "mount $1 /"
  echo "write /marker-$2 \"$2\""
  echo "debug sh \"dd if=/dev/urandom of=/sysroot/blob bs=1M count=$3 status=none && mkdir -p /sysroot/dir && cp -r /etc /sysroot/dir/ 2>/dev/null; true\""
  echo "umount /"
}
{
  add_drives "$work"/r5-{0,1,2}.img "$work"/r10-{0,1,2,3}.img "$work"/nest-{0,1}.img
  echo run
  for d in sda sdb sdc; do
    echo "part-init /dev/$d gpt"
    echo "part-add /dev/$d p 2048 247807"          # 120 MiB
    echo "part-set-gpt-type /dev/$d 1 A19D880F-05FC-4D3B-A006-743F0F84911E"
  done
  echo "part-add /dev/sda p 247808 329727"         # 40 MiB
  echo "part-add /dev/sdb p 247808 329727"
  echo "part-set-gpt-type /dev/sdb 2 0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
  echo "debug sh \"$(wait_nodes "$pv"{a,b,c}1 "$pv"{a,b}2) && mdadm --create /dev/md5 --run --assume-clean --metadata=1.0 --level=5 --raid-devices=3 --name=r5 $(echo "$pv"{a,b,c}1)\""
  echo "debug sh \"$(wait_nodes "$pv"{d,e,f,g}) && mdadm --create /dev/md10 --run --assume-clean --metadata=1.2 --level=10 --layout=n2 --raid-devices=4 --name=r10 $(echo "$pv"{d,e,f,g})\""
  echo "debug sh \"$(wait_nodes /dev/md5) && mkfs.ext4 -q -F -L r5 /dev/md5 && mkfs.ext4 -q -F -L keep0 ${pv}a2 && mkswap -L swap1 ${pv}b2\""
  printf '%s\n' "part-init /dev/md10 gpt" "part-add /dev/md10 p 2048 329727" \
    "part-add /dev/md10 p 329728 -34"
  echo "debug sh \"$(wait_nodes /dev/md10p1 /dev/md10p2) && mkfs.ext4 -q -F -L r10a /dev/md10p1 && mkfs.vfat -n R10B /dev/md10p2\""
  for d in sdh sdi; do
    printf '%s\n' "part-init /dev/$d mbr" "part-add /dev/$d p 2048 63487" \
      "part-add /dev/$d p 63488 -1"
  done
  echo "debug sh \"$(wait_nodes "$pv"{h,i}{1,2}) && mdadm --create /dev/md20 --run --level=0 --raid-devices=2 ${pv}h1 ${pv}i1 && mdadm --create /dev/md21 --run --level=0 --raid-devices=2 ${pv}h2 ${pv}i2 && $(wait_nodes /dev/md20 /dev/md21) && mdadm --create /dev/md22 --run --assume-clean --level=1 --raid-devices=2 /dev/md20 /dev/md21 && $(wait_nodes /dev/md22) && mkfs.ext4 -q -F -L nested /dev/md22\""
  fill /dev/md5 r5 8
  fill /dev/sda2 keep0 4
  fill /dev/md10p1 r10a 8
  fill /dev/md10p2 R10B 4
  stop_arrays "$pv"{a,b,c}1 "$pv"{d,e,f,g} "$pv"{h,i}{1,2}
} > "$work/script"
guestfish -f "$work/script" >&2
rm -f "$work/script"
"$here/manifest-of.sh" "$work"/r5-*.img "$work"/r10-*.img > "$work/manifest"
grep -q '^== ' "$work/manifest"
