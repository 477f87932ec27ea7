#!/bin/bash
# NTFS: only the clusters $Bitmap marks used are sent, plus the boot
# sector and everything past the volume's last cluster inside the
# partition (backup boot sector, slack).  Free space full of stale data
# (a random pre-fill under a quick format, and a deleted file) arrives
# as holes, yet the result passes ntfsfix -n and ntfsresize's cluster
# accounting and every file reads back (ntfscat) with its checksum.
# A volume marked dirty, or with a hibernation image in hiberfil.sys,
# falls back to zero detection and arrives byte-identical.
source "$(dirname "$0")/functions.sh"
requires mkfs.ntfs
requires ntfscat ntfscp ntfsfix ntfsinfo ntfsls ntfsresize sfdisk

make_marker_files "$tmpdir/files"
(cd "$tmpdir/files" && find . -type f | sed 's|^\./||' | sort) \
  > "$tmpdir/files.list"
sectors=$((40 * 2048))                # a 40 MiB partition
fs_mb=36                              # the volume ends 4 MiB before it

# Files go in through an ntfs-3g (FUSE) mount when this machine allows
# one; otherwise ntfscp copies them flat into the root directory (it
# cannot make directories or delete), and only the pre-fill is stale.
# P2V_TEST_NO_FUSE=1 forces the ntfscp way.
use_fuse=no
fuse_pid=
mount_fs () {                         # mount_fs FSIMG: sets fuse_pid
  mkdir -p "$tmpdir/mnt"
  ntfs-3g -o no_detach "$1" "$tmpdir/mnt" >"$tmpdir/ntfs-3g.log" 2>&1 &
  fuse_pid=$!
  on_exit "umount '$tmpdir/mnt' 2>/dev/null; wait $fuse_pid 2>/dev/null"
  wait_for 100 mountpoint -q "$tmpdir/mnt" && return 0
  kill "$fuse_pid" 2>/dev/null; wait "$fuse_pid" 2>/dev/null
  return 1
}
umount_fs () {
  umount "$tmpdir/mnt"
  wait "$fuse_pid" || fail "ntfs-3g exited with an error"
}
if [[ -z ${P2V_TEST_NO_FUSE:-} && -c /dev/fuse ]] &&
   command -v ntfs-3g >/dev/null; then
  truncate -s 8M "$tmpdir/probe.fs"
  mkfs.ntfs -q -F -f "$tmpdir/probe.fs" >/dev/null 2>&1 || true
  if mount_fs "$tmpdir/probe.fs"; then
    use_fuse=yes
    umount_fs
  fi
fi
echo "files copied in with: $([[ $use_fuse = yes ]] && echo ntfs-3g mount ||
  echo ntfscp)"

in_fs () {                            # in_fs RELPATH: its path in the fs
  if [[ $use_fuse = yes ]]; then echo "$1"; else echo "${1//\//_}"; fi
}

# make_ntfs FSIMG CLUSTER_SIZE [extra]: quick format over random bytes,
# marker files in; with FUSE also a 10 MiB file written and deleted.
# "hiberfil" adds a hiberfil.sys holding a hibernation image header.
make_ntfs () {
  local fs=$1 cs=$2 extra=${3:-} f
  make_stale_fs "$fs" $fs_mb mkfs.ntfs -q -F -f -Q -c "$cs" \
    2> "$tmpdir/mkfs.err" || { cat "$tmpdir/mkfs.err"; fail "mkfs.ntfs"; }
  head -c 8192 /dev/urandom > "$tmpdir/hiberfil.sys"
  printf 'hibr' | dd of="$tmpdir/hiberfil.sys" conv=notrunc status=none
  if [[ $use_fuse = yes ]]; then
    mount_fs "$fs" || fail "ntfs-3g mount failed"
    cp -r "$tmpdir/files/." "$tmpdir/mnt/"
    head -c 10M /dev/urandom > "$tmpdir/mnt/deleted.bin"
    sync "$tmpdir/mnt/deleted.bin"
    rm "$tmpdir/mnt/deleted.bin"
    [[ $extra != hiberfil ]] || cp "$tmpdir/hiberfil.sys" "$tmpdir/mnt/"
    umount_fs
  else
    while read -r f; do
      ntfscp -q "$fs" "$tmpdir/files/$f" "$(in_fs "$f")" ||
        fail "ntfscp $f failed"
    done < "$tmpdir/files.list"
    [[ $extra != hiberfil ]] ||
      ntfscp -q "$fs" "$tmpdir/hiberfil.sys" hiberfil.sys
  fi
  ntfsfix -n "$fs" > "$tmpdir/fix.out" 2>&1 ||
    { cat "$tmpdir/fix.out"; fail "the source volume is broken"; }
}

convert () {                          # convert NAME FSIMG
  local name=$1 fs=$2 part=$tmpdir/$1.part
  # The partition is larger than the volume, as after a shrink: its
  # tail holds stale bytes and, in its last sector, the backup boot
  # sector where Windows keeps it.  All of it must arrive as it was.
  head -c 40M /dev/urandom > "$part"
  dd if="$fs" of="$part" conv=notrunc status=none
  dd if="$fs" of="$part" bs=512 count=1 seek=$((sectors - 1)) \
    conv=notrunc status=none
  ntfsfix -n "$part" > "$tmpdir/$name.srcfix" 2>&1 ||
    { cat "$tmpdir/$name.srcfix"; fail "$name: the source is broken"; }
  convert_partition "$name" "$part" 7
}

check_fs () {                         # check_fs NAME
  local name=$1 got=$tmpdir/$1.got f want have
  ntfsfix -n "$got" > "$tmpdir/$name.fix" 2>&1 ||
    { cat "$tmpdir/$name.fix"; fail "$name: ntfsfix -n found problems"; }
  grep -q "alternate boot sector... OK" "$tmpdir/$name.fix" ||
    { cat "$tmpdir/$name.fix"; fail "$name: backup boot sector lost"; }
  ntfsresize --info --force --no-progress-bar "$got" \
    > "$tmpdir/$name.resize" 2>&1 ||
    { cat "$tmpdir/$name.resize"; fail "$name: ntfsresize check failed"; }
  ntfsls -R -a "$got" > "$tmpdir/$name.ls" 2>&1 ||
    { cat "$tmpdir/$name.ls"; fail "$name: ntfsls -R failed"; }
  while read -r f; do
    want=$(sha256sum < "$tmpdir/files/$f")
    have=$(ntfscat "$got" "$(in_fs "$f")" | sha256sum) ||
      fail "$name: cannot read $f"
    [[ $want = "$have" ]] || fail "$name: $f differs"
  done < "$tmpdir/files.list"
  cmp -s <(tail -c +$((fs_mb * 1024 * 1024 + 1)) "$tmpdir/$name.part") \
         <(tail -c +$((fs_mb * 1024 * 1024 + 1)) "$got") ||
    fail "$name: the partition's tail after the volume differs"
}

used_bytes () {                       # used_bytes FSIMG: from $Bitmap
  ntfsinfo -m "$1" 2>/dev/null | awk -F: '
    /Cluster Size/ {b=$2} /Volume Size in Clusters/ {c=$2}
    /Free Clusters/ {split($2, f, " ")}
    END {print (c - f[1]) * b}'
}

for cs in 4096 512 65536; do
  name=ntfs-$cs fs=$tmpdir/ntfs-$cs.fs
  make_ntfs "$fs" $cs
  convert $name "$fs"
  grep -q "ntfs bitmap" "$tmpdir/$name.err" || fail "$name: map not used"
  check_fs $name
  used=$(used_bytes "$fs")
  data=$(json_field "$tmpdir/$name.json" data_bytes)
  # Also read: the 1 MiB boot gap, the 4 MiB partition tail past the
  # volume, and the partition's middle sector (where chkdsk keeps the
  # backup boot sector of a volume that fills its partition).
  limit=$((used * 105 / 100 + 1024 * 1024 + 4 * 1024 * 1024 + 4096))
  nz=$(nonzero_bytes "$fs")
  echo "$name: used $used, data_bytes $data, limit $limit, non-zero $nz"
  ((used > 2 * 1024 * 1024)) || fail "$name: implausible used bytes $used"
  ((data <= limit)) || fail "$name: sent $data bytes for $used used"
  ((nz > used + 20 * 1024 * 1024)) || fail "$name: too little stale data"
done

# Marked dirty (what ntfsfix does to schedule chkdsk): the bitmap may be
# stale, so the whole partition is read and arrives byte-identical.
fs=$tmpdir/dirty.fs
cp "$tmpdir/ntfs-4096.fs" "$fs"
ntfsfix "$fs" >/dev/null 2>&1
ntfsinfo -m "$fs" >/dev/null 2>&1 && fail "ntfsfix did not mark it dirty"
convert dirty "$fs"
grep -q "marked dirty.*reading it all with zero detection" \
  "$tmpdir/dirty.err" || fail "no fallback warning for a dirty volume"
cmp "$tmpdir/dirty.part" "$tmpdir/dirty.got" || fail "dirty: partition differs"

# Windows hibernated on it: a hiberfil.sys starting with "hibr".
fs=$tmpdir/hiber.fs
make_ntfs "$fs" 4096 hiberfil
convert hiber "$fs"
grep -q "hibernated.*reading it all with zero detection" \
  "$tmpdir/hiber.err" || fail "no fallback warning for a hibernated volume"
cmp "$tmpdir/hiber.part" "$tmpdir/hiber.got" || fail "hiber: partition differs"
echo ok
