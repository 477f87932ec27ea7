#!/bin/bash
# XFS v5 (CRC) and v4: only the blocks outside the free extents of each
# allocation group's free-space B+tree are sent.  Free space full of
# stale data (random bytes before mkfs, a deleted file) arrives as holes,
# yet the converted filesystem passes xfs_repair -n, every file matches,
# and outside the free extents the partition (including the log and the
# bytes after the filesystem's end) is byte-identical.  Also covered: a
# two-level b-tree, a log that has wrapped, and 512-byte v4 blocks.  A
# dirty log, a b-tree block failing its CRC and an AGF whose free count
# disagrees with its b-tree make the map decline: the partition is then
# read with zero detection and arrives byte-identical; so does one whose
# two free-space trees (by block number, by size) disagree.
source "$(dirname "$0")/functions.sh"
requires mkfs.xfs xfs_db xfs_repair xfs_io xfs_logprint sfdisk mount umount
[[ $(id -u) -eq 0 ]] || { echo "SKIP: mounting XFS images needs root" >&2
                          exit 77; }

make_marker_files "$tmpdir/files"
fs_mb=64 tail_mb=8                    # the partition is 8 MiB larger
mnt=$tmpdir/mnt; mkdir "$mnt"
on_exit "umount '$mnt' 2>/dev/null"

# mkfs.xfs refuses filesystems under 300 MB except under fstests, which
# it recognises by these variables; the format is the same, the test small.
mkxfs () { TEST_DIR=$tmpdir TEST_DEV=unused QA_CHECK_FS=xfs mkfs.xfs "$@"; }

dbv () {                              # dbv FSIMG CMD...: values xfs_db prints
  local fs=$1 c args=(); shift
  for c; do args+=(-c "$c"); done
  xfs_db -r "${args[@]}" "$fs" | awk '{print $3}'
}

used_bytes () {                       # used_bytes FSIMG: all but bnobt extents
  local fs=$1 bs db n free=0 f ag cmds=()
  read -r bs db n < <(dbv "$fs" 'sb 0' 'p blocksize' 'p dblocks' 'p agcount' |
                      xargs)
  for ((ag = 0; ag < n; ag++)); do cmds+=("agf $ag" 'p freeblks'); done
  for f in $(dbv "$fs" "${cmds[@]}"); do free=$((free + f)); done
  echo $(((db - free) * bs))
}

# zero_free FSIMG PARTIMG: zero every extent xfs_db (not our code) calls
# free, so what is left must be identical between source and result.
zero_free () {
  local fs=$1 img=$2 bs agb s l
  read -r bs agb < <(dbv "$fs" 'sb 0' 'p blocksize' 'p agblocks' | xargs)
  xfs_db -r -c 'freesp -d' "$fs" |
    awk -v a="$agb" 'NF == 3 && $1 ~ /^[0-9]+$/ {print $1 * a + $2, $3}' |
    while read -r s l; do
      dd if=/dev/zero of="$img" bs="$bs" seek="$s" count="$l" conv=notrunc \
        status=none
    done
}

convert () {                          # convert NAME FSIMG: sets $part
  local name=$1 fs=$2
  part=$tmpdir/$name.part             # the filesystem, then random bytes
  cp "$fs" "$part"
  head -c "${tail_mb}M" /dev/urandom >> "$part"
  convert_partition "$name" "$part" 83
}

check_mapped () {                     # check_mapped NAME FSIMG
  local name=$1 fs=$2 got=$tmpdir/$1.got used data limit nz
  grep -q "xfs bnobt" "$tmpdir/$name.err" || fail "$name: map not used"
  xfs_repair -n "$got" > "$tmpdir/$name.repair" 2>&1 ||
    { cat "$tmpdir/$name.repair"; fail "$name: xfs_repair -n found problems"; }
  zero_free "$fs" "$part"
  zero_free "$fs" "$got"
  cmp "$part" "$got" || fail "$name: differs outside the free extents"
  used=$(used_bytes "$fs")
  data=$(json_field "$tmpdir/$name.json" data_bytes)
  # The MBR's 1 MiB chunk and the random bytes after the filesystem.
  limit=$((used * 105 / 100 + (1 + tail_mb) * 1024 * 1024))
  echo "$name: used $used, data_bytes $data, limit $limit"
  ((data <= limit)) || fail "$name: sent $data bytes for $used used"
  nz=$(nonzero_bytes "$fs")
  echo "$name: $nz non-zero bytes in the source filesystem"
  ((nz > used + 20 * 1024 * 1024)) || fail "$name: too little stale data"
}

check_files () {                      # check_files NAME FSIMG: mount, compare
  mount -o loop,ro,nouuid "$tmpdir/$1.got" "$mnt" ||
    fail "$1: the result does not mount"
  checksums "$mnt" > "$tmpdir/$1.sums"
  umount "$mnt"
  diff "$2.sums" "$tmpdir/$1.sums" | head -20
  cmp -s "$2.sums" "$tmpdir/$1.sums" || fail "$1: checksums differ"
}

log_state () {                        # log_state FSIMG CLEAN|DIRTY
  xfs_logprint -t "$1" > "$tmpdir/logprint" 2>&1
  grep -q "state: <$2>" "$tmpdir/logprint"
}

fill () {                             # fill FSIMG [CMD]: files in, CMD, sums
  mount -o loop "$1" "$mnt" ||
    { echo "SKIP: cannot mount an XFS image on a loop device" >&2; exit 77; }
  cp -r "$tmpdir/files/." "$mnt/"
  head -c 16M /dev/urandom > "$mnt/deleted.bin"
  sync; rm "$mnt/deleted.bin"
  [[ $# -lt 2 ]] || "${@:2}"
  checksums "$mnt" > "$1.sums"
  umount "$mnt"
  # Unmounted for good, unless another mount namespace still holds it
  # (tests/run-tests.sh gives each test its own).
  log_state "$1" CLEAN ||
    fail "$1: the log is not clean after umount (still mounted elsewhere?)"
}

# Many small files, every other one deleted: hundreds of free extents,
# more than one leaf holds.  Then churn until the log wraps.
fragment () {
  mkdir "$mnt/frag"
  (cd "$mnt/frag" && seq 1 500 | xargs -n 1 sh -c 'head -c 1000 /dev/urandom > "$0"'
   sync; seq 1 2 500 | xargs rm)
  for _ in 1 2 3 4; do
    mkdir "$mnt/churn"
    (cd "$mnt/churn" && seq -f "%0200g" 1 3000 | xargs touch)
    sync; rm -rf "$mnt/churn"; sync
  done
}

# v5 with the defaults (4 KiB blocks), filled through the kernel.
fs=$tmpdir/v5.fs
make_stale_fs "$fs" $fs_mb mkxfs -q -K
fill "$fs"
convert v5 "$fs"
check_mapped v5 "$fs"
check_files v5 "$fs"

# v5 with 1 KiB blocks: a two-level free-space b-tree, a wrapped log.
fs=$tmpdir/frag.fs
make_stale_fs "$fs" $fs_mb mkxfs -q -K -b size=1024
fill "$fs" fragment
levels=$(dbv "$fs" 'agf 0' 'p bnolevel' 'agf 1' 'p bnolevel' 'agf 2' \
  'p bnolevel' 'agf 3' 'p bnolevel' | sort -n | tail -1)
((levels >= 2)) || fail "frag: no two-level b-tree"
xfs_logprint "$fs" > "$tmpdir/frag.log" 2>&1
grep -q "cycle: [2-9]" "$tmpdir/frag.log" || fail "frag: log not wrapped"
convert frag "$fs"
check_mapped frag "$fs"
check_files frag "$fs"

# v4 with 512-byte blocks.  The kernel may no longer mount v4, so mkfs
# copies the files in from a protofile, and the byte comparison outside
# the free extents stands in for the file checksums.
proto () {                            # proto DIR: protofile lines for DIR
  local f
  for f in "$1"/*; do
    if [[ -d $f ]]; then
      echo "${f##*/} d--755 0 0"; proto "$f"; echo '$'
    else
      echo "${f##*/} ---644 0 0 $f"
    fi
  done
}
{ echo /dev/null; echo 0 0; echo 'd--755 0 0'; proto "$tmpdir/files"
  echo '$'; } > "$tmpdir/files.proto"
fs=$tmpdir/v4.fs
make_stale_fs "$fs" $fs_mb mkxfs -q -K -m crc=0 -b size=512 \
  -p "$tmpdir/files.proto"
[[ $(dbv "$fs" 'sb 0' 'p versionnum') == 0x*4 ]] || fail "v4: not v4"
convert v4 "$fs"
check_mapped v4 "$fs"

# Declining: each arrives byte-identical, read with zero detection.
declines () {                         # declines NAME FSIMG PATTERN
  convert "$1" "$2"
  grep -q "$3.*reading it all with zero detection" "$tmpdir/$1.err" ||
    fail "$1: no fallback warning matching '$3'"
  cmp "$part" "$tmpdir/$1.got" || fail "$1: partition differs"
}

# A log needing recovery: shut down without unmounting.
fs=$tmpdir/dirty.fs
cp "$tmpdir/v5.fs" "$fs"
mount -o loop "$fs" "$mnt"
echo "written just before the crash" > "$mnt/etc/issue"
sync
xfs_io -x -c "shutdown -f" "$mnt"
umount "$mnt"
log_state "$fs" DIRTY || fail "dirty: xfs_logprint says the log is clean"
declines dirty "$fs" "log needs recovery"

# One byte of AG 0's b-tree root flipped (its unused tail): CRC fails.
fs=$tmpdir/crc.fs
cp "$tmpdir/v5.fs" "$fs"
read -r bs root < <(dbv "$fs" 'sb 0' 'p blocksize' 'agf 0' 'p bnoroot' | xargs)
off=$(((root + 1) * bs - 1))
byte=$(od -An -tu1 -j $off -N1 "$fs")
printf '%b' "\\$(printf '%03o' $((byte ^ 0xff)))" |
  dd of="$fs" bs=1 seek=$off conv=notrunc status=none
xfs_repair -n "$fs" > /dev/null 2>&1 && fail "crc: xfs_repair -n sees no damage"
declines crc "$fs" "fails its checksum"

# AG 1's free count off by one (xfs_db rewrites the AGF's CRC).
fs=$tmpdir/count.fs
cp "$tmpdir/v5.fs" "$fs"
free=$(dbv "$fs" 'agf 1' 'p freeblks')
xfs_db -x -c 'agf 1' -c "write freeblks $((free - 1))" "$fs" > /dev/null
declines count "$fs" "AGF says"

# AG 0's first free extent moved down a block over used space, with a
# good CRC: only the by-size tree, which disagrees, shows it.
fs=$tmpdir/moved.fs
cp "$tmpdir/v5.fs" "$fs"
first=$(dbv "$fs" 'agf 0' 'addr bnoroot' 'p recs[1].startblock')
xfs_db -x -c 'agf 0' -c 'addr bnoroot' \
  -c "write recs[1].startblock $((first - 1))" "$fs" > /dev/null
declines moved "$fs" "list different extents"
echo ok
