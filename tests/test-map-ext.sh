#!/bin/bash
# ext2, ext3, ext4 (and ext4 with bigalloc): only the blocks the bitmaps
# mark used are sent.  Free space full of stale data arrives as holes,
# yet the converted filesystem passes e2fsck -fn and every file matches.
# A journal needing recovery falls back to zero detection, with a warning,
# and arrives byte-identical.
source "$(dirname "$0")/functions.sh"
requires mkfs.ext4 e2fsck debugfs dumpe2fs sfdisk

make_marker_files "$tmpdir/files"
checksums "$tmpdir/files" > "$tmpdir/want.sums"

convert () {                          # convert NAME FSIMG [agent opts]
  local name=$1 fs=$2; shift 2
  convert_partition "$name" "$fs" 83 "$@"
}

check_fs () {                         # check_fs NAME FSIMG
  local name=$1 fs=$2 got=$tmpdir/$1.got
  e2fsck -fn "$got" > "$tmpdir/$name.fsck" 2>&1 ||
    { cat "$tmpdir/$name.fsck"; fail "$name: e2fsck -fn found problems"; }
  rm -rf "$tmpdir/$name.dump"; mkdir "$tmpdir/$name.dump"
  debugfs -R "rdump /srv /etc $tmpdir/$name.dump" "$got" 2>/dev/null
  checksums "$tmpdir/$name.dump" | sed 's| \./| ./|' > "$tmpdir/$name.sums"
  diff <(sed 's|\./srv/|./|; s|\./etc/|./|' "$tmpdir/want.sums" | sort) \
       <(sed 's|\./srv/|./|; s|\./etc/|./|' "$tmpdir/$name.sums" | sort) ||
    fail "$name: file checksums differ"
}

used_bytes () {                       # used_bytes FSIMG: from the superblock
  dumpe2fs -h "$1" 2>/dev/null | awk -F: '
    /^Block count/ {c=$2} /^Free blocks/ {f=$2} /^Block size/ {b=$2}
    END {print (c - f) * b}'
}

for variant in ext2 ext3 ext4 ext4-bigalloc; do
  fs=$tmpdir/$variant.fs
  case $variant in
    ext4-bigalloc) mk=(mkfs.ext4 -q -F -E nodiscard -O bigalloc -C 16384) ;;
    *) mk=(mkfs."$variant" -q -F -E nodiscard) ;;
  esac
  make_stale_fs "$fs" 40 "${mk[@]}" -d "$tmpdir/files"
  # Write and delete a file: its blocks are free but keep its data.
  head -c 6M /dev/urandom > "$tmpdir/deleted.bin"
  debugfs -w -R "write $tmpdir/deleted.bin deleted.bin" "$fs" >/dev/null 2>&1
  debugfs -w -R "rm deleted.bin" "$fs" >/dev/null 2>&1
  e2fsck -fn "$fs" >/dev/null 2>&1 || fail "$variant: source fs is broken"

  convert "$variant" "$fs"
  grep -q "ext bitmap" "$tmpdir/$variant.err" || fail "$variant: map not used"
  check_fs "$variant" "$fs"
  used=$(used_bytes "$fs")
  data=$(json_field "$tmpdir/$variant.json" data_bytes)
  # The 1 MiB boot gap and the 64 KiB head are read too.
  limit=$((used * 105 / 100 + 1024 * 1024 + 65536))
  echo "$variant: used $used, data_bytes $data, limit $limit"
  ((data <= limit)) || fail "$variant: sent $data bytes for $used used"
  nz=$(nonzero_bytes "$fs")
  ((nz > used + 20 * 1024 * 1024)) || fail "$variant: too little stale data"
done

# A journal that needs recovery: the bitmaps may be stale, so the whole
# partition is read (zero detection) and arrives byte-identical.
fs=$tmpdir/dirty.fs
make_stale_fs "$fs" 40 mkfs.ext4 -q -F -E nodiscard -d "$tmpdir/files"
debugfs -w -R "feature needs_recovery" "$fs" >/dev/null 2>&1
convert dirty "$fs"
grep -q "journal needs recovery.*reading it all with zero detection" \
  "$tmpdir/dirty.err" || fail "no fallback warning for a dirty journal"
cmp "$fs" "$tmpdir/dirty.got" || fail "dirty journal: partition differs"

# --no-maps reads everything: the partition arrives byte-identical.
convert nomaps "$tmpdir/ext4.fs" --no-maps
cmp "$tmpdir/ext4.fs" "$tmpdir/nomaps.got" || fail "--no-maps: differs"
echo ok
