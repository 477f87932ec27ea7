#!/bin/sh
# tests/fleet/manifest.sh: run inside the libguestfs appliance (upload
# it, then debug sh), where md arrays are assembled and LVM active.  For
# every ext2/3/4 or vfat filesystem it sees: "== UUID TYPE fsck:ok|FAIL"
# (e2fsck -fn, fsck.vfat -n), then the MD5 of each of its files, sorted.
# Two disk sets hold the same filesystems when their manifests match.
# The appliance's own root and the scratch disk manifest.sh came on
# (mounted on / and /sysroot) are not the disks': left out.
udevadm settle
mkdir -p /tmp/m
own=" $(mountpoint -d /) $(mountpoint -d /sysroot 2>/dev/null) "
for dev in $(blkid -o device | sort); do
  case $own in *" $(mountpoint -x "$dev") "*) continue ;; esac
  type=$(blkid -p -o value -s TYPE "$dev" 2>/dev/null)
  case $type in
    ext2|ext3|ext4) check="e2fsck -fn $dev" ;;
    vfat) check="fsck.vfat -n $dev" ;;
    *) continue ;;
  esac
  if $check >/tmp/fsck.log 2>&1; then ok=ok; else ok=FAIL; fi
  echo "== $(blkid -p -o value -s UUID "$dev") $type fsck:$ok"
  [ $ok = ok ] || sed 's/^/   /' /tmp/fsck.log
  mount -o ro "$dev" /tmp/m || continue
  (cd /tmp/m && find . -xdev -type f -print0 | sort -z | xargs -0r md5sum)
  umount /tmp/m
done
