#!/bin/bash
# FAT12, FAT16 (512- and 2048-byte sectors) and FAT32: only the reserved
# sectors, the FATs, the root directory and the clusters the FAT marks
# used are sent.  Free clusters full of stale data (random bytes before
# mkfs, and a deleted file) arrive as holes, yet the converted filesystem
# passes fsck.fat -n and every file matches.  A dirty bit (FAT[1] on
# FAT16 and FAT32, the boot sector's on FAT12) makes the map decline: the
# partition is read with zero detection and arrives byte-identical.
source "$(dirname "$0")/functions.sh"
requires mkfs.fat fsck.fat mcopy mdel sfdisk

export MTOOLS_SKIP_CHECK=1            # mtools: no geometry complaints
make_marker_files "$tmpdir/files"
checksums "$tmpdir/files" > "$tmpdir/want.sums"

convert () {                          # convert NAME FSIMG [agent opts]
  local name=$1 fs=$2; shift 2
  convert_partition "$name" "$fs" c "$@"
}

check_fs () {                         # check_fs NAME: fsck, then every file
  local name=$1 got=$tmpdir/$1.got
  fsck.fat -n "$got" > "$tmpdir/$name.fsck" 2>&1 ||
    { cat "$tmpdir/$name.fsck"; fail "$name: fsck.fat -n found problems"; }
  rm -rf "$tmpdir/$name.dump"; mkdir "$tmpdir/$name.dump"
  mcopy -i "$got" -s -n ::/ "$tmpdir/$name.dump/"
  checksums "$tmpdir/$name.dump" > "$tmpdir/$name.sums"
  diff "$tmpdir/want.sums" "$tmpdir/$name.sums" ||
    fail "$name: file checksums differ"
}

fsck_field () {                       # fsck_field FSIMG: "USED CLUSTER META"
  fsck.fat -nv "$1" 2>/dev/null | awk '
    /bytes per cluster/ {c=$1}
    /Data area starts at byte/ {m=$6}
    /clusters$/ {split($(NF-1), u, "/")}
    END {print u[1], c, m}'
}

# Byte N of a file (decimal), and setting it.
get_byte () { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
set_byte () {
  printf "\\$(printf %03o "$3")" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
fat_offset () {                       # reserved sectors × bytes per sector
  echo $((($(get_byte "$1" 14) + 256 * $(get_byte "$1" 15)) *
          ($(get_byte "$1" 11) + 256 * $(get_byte "$1" 12))))
}

for variant in fat12:12:-F12 fat16:40:-F16 fat16-2k:40:-F16,-S2048,-s1 \
               fat32:40:-F32,-s1; do
  IFS=: read -r name mb opts <<< "$variant"
  fs=$tmpdir/$name.fs
  make_stale_fs "$fs" "$mb" mkfs.fat ${opts//,/ }
  mcopy -i "$fs" -s "$tmpdir/files/etc" "$tmpdir/files/srv" ::/
  # Write and delete a file: its clusters are free but keep its data.
  head -c $((mb / 4))M /dev/urandom > "$tmpdir/deleted.bin"
  mcopy -i "$fs" "$tmpdir/deleted.bin" ::/deleted.bin
  mdel -i "$fs" ::/deleted.bin
  fsck.fat -n "$fs" >/dev/null 2>&1 || fail "$name: source fs is broken"

  convert "$name" "$fs"
  grep -q "vfat, .*FAT table" "$tmpdir/$name.err" || fail "$name: map not used"
  check_fs "$name"
  read -r clusters csize meta <<< "$(fsck_field "$fs")"
  used=$((clusters * csize))
  data=$(json_field "$tmpdir/$name.json" data_bytes)
  # The 1 MiB boot gap and the metadata before the data area (reserved
  # sectors, FATs, root directory) are read too.
  limit=$((used * 105 / 100 + 1024 * 1024 + meta))
  nz=$(nonzero_bytes "$fs")
  echo "$name: used $used, metadata $meta, data_bytes $data," \
       "limit $limit, non-zero in source $nz"
  ((data <= limit)) || fail "$name: sent $data bytes for $used used"
  ((nz > used + meta + mb * 1024 * 1024 / 2)) ||
    fail "$name: too little stale data"
done

# Dirty bits: the FAT may not describe what is on disk, so the whole
# partition is read (zero detection) and arrives byte-identical.
dirty () {                            # dirty NAME FSIMG BYTE AND OR WARNING
  local fs=$tmpdir/$1.fs
  cp "$2" "$fs"
  set_byte "$fs" "$3" $((($(get_byte "$fs" "$3") & $4) | $5))
  convert "$1" "$fs"
  grep -q "$6.*reading it all with zero detection" "$tmpdir/$1.err" ||
    fail "$1: no fallback warning"
  cmp "$fs" "$tmpdir/$1.got" || fail "$1: partition differs"
}
# FAT16 FAT[1] bit 15 and FAT32 FAT[1] bit 27: "clean shutdown".
dirty dirty16 "$tmpdir/fat16.fs" $(($(fat_offset "$tmpdir/fat16.fs") + 3)) \
  0x7f 0 "not cleanly shut down"
dirty dirty32 "$tmpdir/fat32.fs" $(($(fat_offset "$tmpdir/fat32.fs") + 7)) \
  0xf7 0 "not cleanly shut down"
# The boot sector's dirty bit (BS_Reserved1 bit 0, byte 37 on FAT12/16),
# set by Linux and Windows while mounted.
dirty dirty12 "$tmpdir/fat12.fs" 37 0xff 1 "dirty bit is set"
echo ok
