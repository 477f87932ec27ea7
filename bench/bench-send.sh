#!/bin/bash
# bench/bench-send.sh [BUILD_DIR]: time p2v-agent send against the things
# people would otherwise use to copy a disk (or its file system) over SSH:
#
#   p2v          p2v-agent send (libssh2) -> p2v-receiver, default settings
#                (adaptive zstd level)
#   p2v-level1   the same with --level 1
#   partclone    partclone.ext4 -c -s PART -o - | zstd -1 | ssh HOST "zstd -d > OUT"
#                (the ext4 partition only, in partclone's image format)
#   partclone-fast  the same with -a0 -f 0: no CRC32, no wait for the
#                progress display's next tick at the end
#   dd|ssh       dd if=IMG bs=1M | ssh HOST "cat > OUT"
#   dd|zstd|ssh  dd if=IMG bs=1M | zstd -1 -c | ssh HOST "zstd -d -c > OUT"
#
# all through one private sshd on 127.0.0.1 (tests/functions.sh) -- or,
# with P2V_BENCH_LINK, over a rate-limited link to an sshd in a network
# namespace (tests/link.sh) -- on a realistic source disk: MBR, boot gap,
# ext4 with real files and the data of deleted files in its free space,
# and a used swap partition.  Every output is checked outside the timings:
# dd outputs by SHA-256 against the source, p2v's (whose free space is
# holes, not stale data) by the boot area, e2fsck and the checksum of
# every file, partclone's by restoring it.
#
# Prints a table, ratios relative to p2v and the figures the
# "filesystem-aware maps" work aims at (PASS/FAIL, informational: the
# exit status reflects only failed runs and failed checks), and writes
# BUILD_DIR/bench-send.json.  See bench/README.md.
# "bench-send.sh BUILD_DIR --source" prints the source image's path
# (built and cached first if need be), for the other benchmarks.
#
# Environment:
#   P2V_BENCH_PROFILE   maps (default): 4 GiB disk, ext4 with ~1.2 GiB of
#                       files and ~1 GiB of deleted data in its free space,
#                       0.5 GiB used swap.  stale: the older 2 GiB disk
#                       filled with stale data before partitioning.
#   P2V_BENCH_SIZE_MB   source disk size in MiB (default 4096 for maps,
#                       2048 for stale); the contents scale with it
#   P2V_BENCH_FILES_MB, P2V_BENCH_DELETED_MB, P2V_BENCH_SWAP_MB
#                       maps only: MiB of files (default 30% of the disk),
#                       of deleted data (25%), of swap (12.5%)
#   P2V_BENCH_METHODS   which methods to run, in order, p2v first (default
#                       "p2v p2v-level1 partclone partclone-fast dd-ssh
#                       dd-zstd-ssh")
#   P2V_BENCH_DD_SSH    full | sample | skip: dd|ssh for real, or on the
#                       first P2V_BENCH_DD_SAMPLE_MB (default 512) MiB with
#                       time and CPU scaled to the whole disk (labelled as an
#                       estimate), or not at all.  Default: full, except on
#                       a link where the whole disk would need more than
#                       90 s (e.g. 4 GiB at 100mbit: 344 s): sample.
#   P2V_BENCH_PARTCLONE_OPTS  extra options for partclone.ext4 -c (default
#                       none: its defaults, CRC32 checksums included)
#   P2V_BENCH_CACHE     where source images are cached
#                       (default /var/cache/p2v-tests/bench)
#   P2V_BENCH_SSH_OPTS  extra options for the ssh client of the pipelines,
#                       e.g. "-c aes128-ctr -m hmac-sha2-256" to use the
#                       cipher libssh2 (so p2v-agent) negotiates
#   P2V_BENCH_FSYNC     1 (default): the pipelines fsync their output, as
#                       p2v-receiver does before it reports success; 0: not
#   P2V_BENCH_LINK      unset (default): loopback, unlimited.  A rate such as
#                       100mbit or 1gbit: send over a veth pair shaped with
#                       tc tbf to an sshd in a network namespace of our own.
#                       Needs root and iproute2; prints "skipped: ..." and
#                       exits 0 if it cannot be done here.
#   P2V_BENCH_RTT       with P2V_BENCH_LINK, a long link: a round trip of
#                       this many ms (e.g. 200ms), added by a delay proxy
#                       (tests/delay-proxy.py) in the namespace, in front of
#                       its sshd, half each way.  The default methods become
#                       p2v (striped as it chooses), p2v-streams1 (one
#                       connection), partclone, dd|ssh and dd|zstd|ssh.
#   P2V_BENCH_CPU       a starved source: every sending process runs on one
#                       CPU (taskset) in a cgroup whose CPU quota is this
#                       percentage of it (cgroup v1 cpu.cfs_quota_us, or v2
#                       cpu.max).  The default methods become p2v, each
#                       fixed level from --min-level to --max-level (1-6),
#                       partclone, dd|ssh and dd|zstd|ssh.  Root; skipped
#                       like P2V_BENCH_LINK when it cannot be done.
#   P2V_BENCH_REPEAT    runs of each p2v method, the median wall kept
#                       (default 1; 3 with P2V_BENCH_CPU, whose walls are
#                       short and noisy)
#   P2V_BENCH_NAME      the JSON is BUILD_DIR/bench-NAME.json (default send)

BUILD_DIR=${1:-build}
# functions.sh takes the binaries from P2V_BUILD (relative to the top dir).
export P2V_BUILD=$BUILD_DIR
source "$(dirname "$0")/../tests/functions.sh"
source "$(dirname "$0")/../tests/link.sh"
bench_skip () { echo "skipped: $*"; exit 0; }
link_skip () { bench_skip "P2V_BENCH_LINK=$P2V_BENCH_LINK: $*"; }
link_log () { log "$@"; }
# Absolute from here on: the JSON goes there and we cd nowhere, but be safe.
BUILD_DIR=$P2V_BUILD
# A signal would otherwise end bash without running the on_exit handlers,
# and leave the sshd, the loop device or the link behind.
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM

requires ssh ssh-keygen sfdisk mkfs.ext4 mkswap debugfs e2fsck dumpe2fs \
  zstd sha256sum tar awk cmp split /usr/bin/time
for f in "$AGENT" "$RECEIVER" "$BUILD_DIR/count-nonzero"; do
  [[ -x $f ]] || fail "$f not built (make all $BUILD_DIR/count-nonzero)"
done

log () { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }
is_num () { [[ $1 =~ ^[0-9]+$ ]]; }

PROFILE=${P2V_BENCH_PROFILE:-maps}
# GEN_VERSION keys the cache: bump it when the way a profile's image is
# made changes.
case $PROFILE in
  maps)  GEN_VERSION=1 SIZE_MB=${P2V_BENCH_SIZE_MB:-4096} ;;
  stale) GEN_VERSION=1 SIZE_MB=${P2V_BENCH_SIZE_MB:-2048} ;;
  *) fail "P2V_BENCH_PROFILE=$PROFILE: want maps or stale" ;;
esac
is_num "$SIZE_MB" && ((SIZE_MB >= 64)) ||
  fail "P2V_BENCH_SIZE_MB must be a number of MiB >= 64"
SIZE_BYTES=$((SIZE_MB * 1048576))
if [[ $PROFILE == maps ]]; then
  FILES_MB=${P2V_BENCH_FILES_MB:-$((SIZE_MB * 30 / 100))}
  DELETED_MB=${P2V_BENCH_DELETED_MB:-$((SIZE_MB / 4))}
  SWAP_MB=${P2V_BENCH_SWAP_MB:-$((SIZE_MB / 8))}
  for v in FILES_MB DELETED_MB SWAP_MB; do
    is_num "${!v}" || fail "P2V_BENCH_$v must be a number of MiB"
  done
  ((SWAP_MB >= 1)) || fail "P2V_BENCH_SWAP_MB must be at least 1"
  EXT_MB=$((SIZE_MB - 1 - SWAP_MB))
  # Room for the metadata too (inode tables, journal: ~1/16 + 16 MiB).
  ((FILES_MB + DELETED_MB + EXT_MB / 16 + 16 <= EXT_MB)) ||
    fail "files ($FILES_MB MiB) and deleted data ($DELETED_MB MiB) do not fit an ext4 of $EXT_MB MiB"
else
  SWAP_MB=$((SIZE_MB / 16)); ((SWAP_MB >= 8)) || SWAP_MB=8
  EXT_MB=$((SIZE_MB - 1 - SWAP_MB))
  FILES_MB=$((SIZE_MB * 30 / 100)) DELETED_MB=0
fi

CACHE=${P2V_BENCH_CACHE:-/var/cache/p2v-tests/bench}
FSYNC=${P2V_BENCH_FSYNC:-1}
read -r -a SSH_EXTRA <<<"${P2V_BENCH_SSH_OPTS:-}"
read -r -a PARTCLONE_OPTS <<<"${P2V_BENCH_PARTCLONE_OPTS:-}"
LINK=${P2V_BENCH_LINK:-}
[[ -z $LINK ]] || link_parse "$LINK"
RTT_MS=${P2V_BENCH_RTT:-}
if [[ -n $RTT_MS ]]; then
  [[ $RTT_MS =~ ^([0-9]+)ms$ ]] && ((BASH_REMATCH[1] >= 2)) ||
    fail "P2V_BENCH_RTT=$RTT_MS: want a round trip like 200ms (at least 2ms)"
  RTT_MS=${BASH_REMATCH[1]}
  [[ -n $LINK ]] || fail "P2V_BENCH_RTT needs P2V_BENCH_LINK (the rate)"
fi
CPU_PCT=${P2V_BENCH_CPU:-}
[[ -z $CPU_PCT ]] || { is_num "$CPU_PCT" && ((CPU_PCT >= 1 && CPU_PCT <= 100)); } ||
  fail "P2V_BENCH_CPU=$CPU_PCT: want a percentage of one CPU, 1 to 100"
REPEAT=${P2V_BENCH_REPEAT:-$([[ -n $CPU_PCT ]] && echo 3 || echo 1)}
is_num "$REPEAT" && ((REPEAT >= 1)) || fail "P2V_BENCH_REPEAT must be a number >= 1"
BENCH_NAME=${P2V_BENCH_NAME:-send}
[[ $BENCH_NAME =~ ^[a-z0-9-]+$ ]] || fail "P2V_BENCH_NAME=$BENCH_NAME: want [a-z0-9-]+"
# The fixed levels a starved run tries: the adaptive range's.
LEVELS=(1 2 3 4 5 6)

if [[ -n $CPU_PCT ]]; then
  DEFAULT_METHODS="p2v ${LEVELS[*]/#/p2v-level} partclone dd-ssh dd-zstd-ssh"
elif [[ -n $RTT_MS ]]; then
  DEFAULT_METHODS="p2v p2v-streams1 partclone dd-ssh dd-zstd-ssh"
else
  DEFAULT_METHODS="p2v p2v-level1 partclone partclone-fast dd-ssh dd-zstd-ssh"
fi
read -r -a METHOD_IDS <<<"${P2V_BENCH_METHODS:-$DEFAULT_METHODS}"
[[ ${METHOD_IDS[0]:-} == p2v ]] ||
  fail "P2V_BENCH_METHODS must start with p2v: the ratios are relative to it"
for m in "${METHOD_IDS[@]}"; do
  case $m in
    p2v|p2v-level[1-9]|p2v-level1[0-9]|p2v-streams[1-9]|p2v-streams1[0-6]) ;;
    partclone|partclone-fast|dd-ssh|dd-zstd-ssh) ;;
    *) fail "P2V_BENCH_METHODS: unknown method $m (p2v p2v-levelN p2v-streamsN partclone partclone-fast dd-ssh dd-zstd-ssh)" ;;
  esac
done
SKIPPED=()                      # "method: why" for the report
if ! command -v partclone.ext4 >/dev/null 2>&1; then
  for m in "${METHOD_IDS[@]}"; do
    [[ $m != partclone* ]] || SKIPPED+=("$m: partclone.ext4 is not installed (Debian package partclone)")
  done
fi

# dd|ssh: full, sample (extrapolated) or skip.
DD_MODE=${P2V_BENCH_DD_SSH:-auto}
DD_SAMPLE_MB=${P2V_BENCH_DD_SAMPLE_MB:-512}
is_num "$DD_SAMPLE_MB" && ((DD_SAMPLE_MB >= 1)) ||
  fail "P2V_BENCH_DD_SAMPLE_MB must be a number of MiB >= 1"
# The longest a full dd|ssh may take on a link before auto samples it.
DD_FULL_MAX_SECONDS=90
case $DD_MODE in
  auto)
    if [[ -n $LINK ]] &&
       ((SIZE_BYTES * 8 / LINK_BPS > DD_FULL_MAX_SECONDS)); then
      DD_MODE=sample
    else
      DD_MODE=full
    fi ;;
  full|sample|skip) ;;
  *) fail "P2V_BENCH_DD_SSH=$DD_MODE: want full, sample or skip" ;;
esac
((DD_SAMPLE_MB < SIZE_MB)) || [[ $DD_MODE != sample ]] || DD_MODE=full
[[ $DD_MODE != skip ]] || SKIPPED+=("dd-ssh: P2V_BENCH_DD_SSH=skip")

# The figures the filesystem-aware maps aim at (bench/README.md).
TARGET_WIRE_VS_PARTCLONE=0.95   # p2v wire bytes <= this x partclone's
TARGET_WALL_VS_PARTCLONE=0.8    # loopback: p2v wall <= this x partclone's
TARGET_WALL_VS_LINK=1.1         # link: p2v wall <= this x wire bytes / rate
TARGET_WALL_VS_DD_SSH=0.12      # link: p2v wall <= this x dd|ssh's
TARGET_RSS_KIB=32768            # p2v-agent peak RSS <= 32 MiB
TARGET_STARVED_VS_BEST=1.1      # starved: adaptive wall <= this x the fastest fixed level's
TARGET_LONG_VS_IDEAL=1.2        # long link: p2v wall <= this x its wire bytes / rate
TARGET_LONG_VS_PIPES=0.5        # long link: p2v wall <= this x the best zstd pipeline's

########################################################################
# The source disk image
########################################################################

# An endless stream of real bytes: tar archives of /usr, over and over.
# Text, man pages, locale files, shared libraries and executables: about
# what a used disk holds where files used to be.  Returns when the reader
# has had enough (tar dies of SIGPIPE) or tar fails outright.
stale_stream () {
  local rc d dirs=()
  for d in usr/share usr/lib usr/bin; do [[ -d /$d ]] && dirs+=("$d"); done
  ((${#dirs[@]})) || fail "no /usr/share, /usr/lib or /usr/bin to read"
  while :; do
    rc=0
    tar -cf - -C / "${dirs[@]}" 2>/dev/null || rc=$?
    ((rc <= 1)) || return 0     # 1 = "some files changed", harmless
  done
}

# stale_file FILE MB: MB MiB of stale_stream in FILE.
stale_file () {
  # head closes the pipe when it has enough, so the pipeline "fails" with
  # SIGPIPE; check the size instead.
  stale_stream | head -c "$2M" > "$1" || true
  (($(stat -c %s "$1") == $2 * 1048576)) ||
    fail "could not write $2 MiB to $1 (disk full?)"
}

# pick_files DIR BUDGET_BYTES: list (relative to /) regular files under
# /DIR, in directory order, until their sizes add up to BUDGET_BYTES.
pick_files () {
  (cd / && find "$1" -xdev -type f -size -16M ! -name $'*\n*' \
     -printf '%s %p\n' 2>/dev/null) |
    awk -v budget="$2" '{
      size = $1; sub(/^[0-9]+ /, "")
      if (sum + size > budget) next
      sum += size; print
    }'
}

# fill_files DIR MB: the files of the ext4 file system, about MB MiB of a
# mix of compressible and incompressible data:
#   40% /usr/share  (text, man pages, some already gzipped)
#   45% /usr/lib    (shared libraries, executables: compress ~2-3x)
#   15% random      (stands for media, archives, encrypted files)
fill_files () {
  local dir=$1 bytes=$(($2 * 1024 * 1024)) list=$tmpdir/files.list i n
  mkdir -p "$dir/etc" "$dir/srv/share" "$dir/srv/lib" "$dir/home/user"
  printf 'p2v bench disk\n' > "$dir/etc/motd"
  pick_files usr/share $((bytes * 40 / 100)) > "$list"
  tar -cf - -C / --verbatim-files-from -T "$list" 2>/dev/null |
    tar -xf - -C "$dir/srv/share"
  pick_files usr/lib $((bytes * 45 / 100)) > "$list"
  tar -cf - -C / --verbatim-files-from -T "$list" 2>/dev/null |
    tar -xf - -C "$dir/srv/lib"
  # Random data in 8 MiB "photos".
  n=$(((bytes * 15 / 100 + 8388607) / 8388608))
  for ((i = 0; i < n; i++)); do
    head -c 8M /dev/urandom > "$dir/home/user/IMG_$((1000 + i)).jpg"
  done
}

# Directories of the files that are deleted after mkfs.  mkfs.ext4 -d
# copies in name order and packs the blocks, so these names put deleted
# data between the kept files: before the photos, before srv/lib, between
# srv/lib and srv/share, and last.
DELETED_DIRS=(home/user/.cache/old srv/backup srv/old var/tmp/old)

# add_deleted_files DIR MB: MB MiB of stale_stream in 64 MiB files spread
# over DELETED_DIRS.  Sets DELETED_LIST (paths in the file system) and
# DELETED_BYTES (their non-zero bytes: what stays behind in free space).
add_deleted_files () {
  local dir=$1 mb=$2 chunk=64 part=$tmpdir/deleted. f i=0 name
  DELETED_LIST=() DELETED_BYTES=0
  ((mb > 0)) || return 0
  ((mb >= 4 * chunk)) || chunk=$(((mb + 3) / 4))
  stale_file "$tmpdir/deleted.all" "$mb"
  split -b "${chunk}M" -d -a 4 "$tmpdir/deleted.all" "$part"
  rm -f "$tmpdir/deleted.all"
  for f in "$part"*; do
    name=${DELETED_DIRS[i % ${#DELETED_DIRS[@]}]}/deleted-$(printf %04d "$i").bin
    mkdir -p "$dir/${name%/*}"
    DELETED_BYTES=$((DELETED_BYTES + $("$BUILD_DIR/count-nonzero" "$f")))
    mv "$f" "$dir/$name"
    DELETED_LIST+=("/$name")
    i=$((i + 1))
  done
}

# The boot gap: boot code in sector 0 (sfdisk keeps it), a GRUB-sized
# core image in sectors 1.., zeros after it, as after grub-install on a
# new disk.  Real machine code stands in for GRUB.
write_boot_code () {
  dd if=/dev/zero of="$1" bs=512 seek=1 count=2047 conv=notrunc status=none
  dd if=/usr/bin/bash of="$1" bs=440 count=1 conv=notrunc status=none
  dd if=/usr/bin/bash of="$1" bs=512 skip=8 seek=1 count=60 conv=notrunc \
    status=none
}

# ext_used_bytes SPEC: bytes of the file system the superblock counts as used.
ext_used_bytes () {
  dumpe2fs -h "$1" 2>/dev/null | awk -F: '
    /^Block count/ { n = $2 } /^Free blocks/ { f = $2 } /^Block size/ { b = $2 }
    END { printf "%d\n", (n - f) * b }'
}

# make_stale_image IMG (profile stale).  Layout:
#   0        MBR with boot code, then a GRUB-like core image, then zeros
#   1 MiB    partition 1, ext4 with the files of fill_files
#   ...      partition 2, swap (last SIZE/16 MiB, at least 8 MiB)
# Every byte not written by sfdisk, mkfs.ext4 or mkswap keeps the stale
# data written first.
make_stale_image () {
  local img=$1 files=$tmpdir/files swap=$tmpdir/swap.img

  log "writing ${SIZE_MB} MiB of stale data (old copies of /usr) to the image"
  stale_file "$img" "$SIZE_MB"
  write_boot_code "$img"
  printf 'label: dos\nstart=2048, size=%dMiB, type=83, bootable\ntype=82\n' \
    "$EXT_MB" | sfdisk -q "$img"

  log "making ext4 (${EXT_MB} MiB) with ~${FILES_MB} MiB of files"
  rm -rf "$files"
  fill_files "$files" "$FILES_MB"
  FILES_BYTES=$(du -sb "$files" | cut -f1)
  # nodiscard: on a regular file mke2fs would "discard" by punching holes,
  # i.e. zero the stale data we just wrote -- real disks keep it.
  mkfs.ext4 -q -F -L bench-root -E offset=$((2048 * 512)),nodiscard \
    -d "$files" "$img" "${EXT_MB}M"
  rm -rf "$files"

  # mkswap writes only its header page; conv=sparse skips the zeros of
  # the separate file, so the swap area keeps stale data like a used swap.
  truncate -s "${SWAP_MB}M" "$swap"
  chmod 600 "$swap"
  # It warns that a sparse file is no good as a swap file; we only want
  # the header, so show its output only if it fails.
  mkswap -L bench-swap "$swap" > "$tmpdir/mkswap.log" 2>&1 ||
    { cat "$tmpdir/mkswap.log" >&2; fail "mkswap failed"; }
  dd if="$swap" of="$img" bs=1M seek=$((1 + EXT_MB)) conv=notrunc,sparse \
    status=none
  rm -f "$swap"
  (($(stat -c %s "$img") == SIZE_BYTES)) ||
    fail "the image changed size while being made"
}

# make_maps_image IMG (profile maps).  Layout:
#   0        MBR with boot code, then a GRUB-like core image, then zeros
#   1 MiB    partition 1, ext4: FILES_MB of files from fill_files, and the
#            blocks of DELETED_MB of files deleted after mkfs, which keep
#            their data (nothing on a disk zeroes what a file leaves)
#   ...      partition 2, swap of SWAP_MB whose whole body holds data
# Free space that no deleted file had reads as zeros (never written).
make_maps_image () {
  local img=$1 files=$tmpdir/files swap=$tmpdir/swap.img
  local fs="$1?offset=1048576" d

  rm -f "$img"
  truncate -s "${SIZE_MB}M" "$img"
  write_boot_code "$img"
  printf 'label: dos\nstart=2048, size=%dMiB, type=83, bootable\ntype=82\n' \
    "$EXT_MB" | sfdisk -q "$img"

  log "collecting ~${FILES_MB} MiB of files and ${DELETED_MB} MiB of data to delete"
  rm -rf "$files"
  fill_files "$files" "$FILES_MB"
  FILES_BYTES=$(du -sb "$files" | cut -f1)
  add_deleted_files "$files" "$DELETED_MB"
  log "making ext4 (${EXT_MB} MiB)"
  # nodiscard: on a regular file mke2fs would "discard" by punching holes.
  mkfs.ext4 -q -F -L bench-root -E offset=1048576,nodiscard \
    -d "$files" "$img" "${EXT_MB}M"
  rm -rf "$files"

  # Delete them: rm frees the blocks in the bitmaps and leaves the data.
  log "deleting ${#DELETED_LIST[@]} files (debugfs rm): their blocks keep their data"
  {
    for d in "${DELETED_LIST[@]}"; do echo "rm $d"; done
    for d in "${DELETED_DIRS[@]}"; do echo "rmdir /$d"; done
  } > "$tmpdir/debugfs.cmds"
  debugfs -w -f "$tmpdir/debugfs.cmds" "$fs" > "$tmpdir/debugfs.log" 2>&1 ||
    { cat "$tmpdir/debugfs.log" >&2; fail "debugfs rm failed"; }
  EXT_USED=$(ext_used_bytes "$fs")

  # A used swap: data all through, mkswap's header page in front.
  stale_file "$swap" "$SWAP_MB"
  chmod 600 "$swap"
  mkswap -L bench-swap "$swap" > "$tmpdir/mkswap.log" 2>&1 ||
    { cat "$tmpdir/mkswap.log" >&2; fail "mkswap failed"; }
  SWAP_NONZERO=$("$BUILD_DIR/count-nonzero" "$swap")
  dd if="$swap" of="$img" bs=1M seek=$((1 + EXT_MB)) conv=notrunc \
    status=none
  rm -f "$swap"
  (($(stat -c %s "$img") == SIZE_BYTES)) ||
    fail "the image changed size while being made"
}

# check_source_image IMG: the partitions and file systems are where they
# should be and the stale data survived (nothing punched holes in it).
check_source_image () {
  local img=$1 alloc
  sfdisk -d "$img" | grep -q 'type=83' || fail "no Linux partition in $img"
  sfdisk -d "$img" | grep -q 'type=82' || fail "no swap partition in $img"
  dd if="$img" bs=1 skip=$((2048 * 512 + 1024 + 56)) count=2 status=none |
    od -An -tx1 | grep -q '53 ef' || fail "no ext4 superblock in $img"
  e2fsck -fn "$img?offset=1048576" > "$tmpdir/e2fsck.log" 2>&1 ||
    { cat "$tmpdir/e2fsck.log" >&2; fail "e2fsck: the ext4 of $img is not clean"; }
  alloc=$(allocated_bytes "$img")
  NONZERO=$("$BUILD_DIR/count-nonzero" "$img")
  if [[ $PROFILE == stale ]]; then
    # The files take ~30% of the disk; with stale data around them,
    # nearly all of it must be non-zero and allocated.
    ((NONZERO > SIZE_BYTES * 8 / 10)) ||
      fail "only $NONZERO non-zero bytes in $img: stale data lost (holes?)"
    ((alloc > SIZE_BYTES * 8 / 10)) ||
      fail "only $alloc bytes allocated in $img: mke2fs punched holes?"
    return 0
  fi
  # tar streams are nearly all non-zero; the deleted files must not count
  # as used, and their data and the swap's must be in the image.
  ((DELETED_BYTES >= DELETED_MB * 1048576 * 8 / 10)) ||
    fail "only $DELETED_BYTES non-zero bytes in the $DELETED_MB MiB to delete"
  ((SWAP_NONZERO >= SWAP_MB * 1048576 * 8 / 10)) ||
    fail "only $SWAP_NONZERO non-zero bytes in the $SWAP_MB MiB of swap"
  ((EXT_USED < FILES_BYTES + DELETED_BYTES / 2 + EXT_MB * 1048576 / 8)) ||
    fail "ext4 uses $EXT_USED bytes for $FILES_BYTES of files: the deleted files are not free"
  ((NONZERO >= DELETED_BYTES + SWAP_NONZERO + FILES_BYTES / 2)) ||
    fail "only $NONZERO non-zero bytes in $img: data lost (holes?)"
  ((alloc >= NONZERO)) ||
    fail "only $alloc bytes allocated in $img for $NONZERO non-zero"
}

# The disk's partitions, from its table: P_START, P_SIZE (sectors of 512)
# and P_TYPE (83, 82, ...); EXT_I and SWAP_I index the first of each type;
# BOOT_BYTES: everything before the first partition.
read_partitions () {
  local start size type i
  P_START=() P_SIZE=() P_TYPE=() EXT_I=-1 SWAP_I=-1
  while read -r start size type; do
    P_START+=("$start") P_SIZE+=("$size") P_TYPE+=("$type")
  done < <(sfdisk -d "$IMG" | awk -F'[ ,=]+' '/start=/ {
             for (i = 1; i < NF; i++) {
               if ($i == "start") s = $(i + 1)
               if ($i == "size") z = $(i + 1)
               if ($i == "type") t = $(i + 1)
             }
             print s, z, t }' | sort -n)
  ((${#P_START[@]})) || fail "no partitions in $IMG"
  for i in "${!P_TYPE[@]}"; do
    [[ ${P_TYPE[i]} != 83 ]] || ((EXT_I >= 0)) || EXT_I=$i
    [[ ${P_TYPE[i]} != 82 ]] || ((SWAP_I >= 0)) || SWAP_I=$i
  done
  ((EXT_I >= 0)) || fail "no Linux partition in $IMG"
  BOOT_BYTES=$((P_START[0] * 512))
  EXT_OFFSET=$((P_START[EXT_I] * 512)) EXT_BYTES=$((P_SIZE[EXT_I] * 512))
}

# ext_files_sums SPEC OUT: "sha256  ./path" of every file in the ext4 at
# SPEC (FILE or FILE?offset=N), sorted, read with debugfs: no mounting.
ext_files_sums () {
  local dir=$tmpdir/rdump
  rm -rf "$dir"; mkdir "$dir"
  debugfs -R "rdump / $dir" "$1" > "$tmpdir/rdump.log" 2>&1 ||
    { cat "$tmpdir/rdump.log" >&2; fail "debugfs rdump of $1 failed"; }
  # Sorted the same whatever the locale: the source's sums are cached.
  LC_ALL=C checksums "$dir" > "$2"
  rm -rf "$dir"
}

meta_get () { sed -n "s/^$1=//p" "$META"; }

# make_source_image DIR: the source image (DIR/source.img), what is
# known of it (DIR/meta) and the checksums of its ext4's files
# (DIR/sums).  Run as "bench-send.sh BUILD_DIR --source-into DIR" by
# tests/cache.sh.
make_source_image () {
  IMG=$1/source.img
  log "building source image $IMG (cached for later runs)"
  DELETED_BYTES='' SWAP_NONZERO='' EXT_USED=''
  if [[ $PROFILE == maps ]]; then
    make_maps_image "$IMG"
  else
    make_stale_image "$IMG"
  fi
  check_source_image "$IMG"
  [[ -n $EXT_USED ]] || EXT_USED=$(ext_used_bytes "$IMG?offset=1048576")
  SRC_SHA=$(openssl dgst -sha256 -r < "$IMG" | cut -d' ' -f1)
  {
    printf 'profile=%s\nsize_mb=%s\ngen_version=%s\n' "$PROFILE" "$SIZE_MB" "$GEN_VERSION"
    printf 'files_mb=%s\ndeleted_mb=%s\nswap_mb=%s\n' "$FILES_MB" "$DELETED_MB" "$SWAP_MB"
    printf 'nonzero=%s\nfiles_bytes=%s\n' "$NONZERO" "$FILES_BYTES"
    printf 'deleted_bytes=%s\nswap_nonzero=%s\next_used=%s\n' \
      "$DELETED_BYTES" "$SWAP_NONZERO" "$EXT_USED"
    printf 'sha256=%s\n' "$SRC_SHA"
  } > "$1/meta"
  read_partitions
  log "checksumming the files of the source's ext4"
  ext_files_sums "$IMG?offset=$EXT_OFFSET" "$1/sums"
  # Written back now: otherwise the kernel flushes gigabytes of it
  # while the first method runs, and slows it.
  sync "$IMG"
}

# get_source_image: set IMG, META, NONZERO, FILES_BYTES, SRC_SHA, the
# partitions, and SRC_SUMS (checksums of the ext4's files), from the
# cache entry made with these parameters (tests/cache.sh: locked,
# verified), built if missing.
get_source_image () {
  local key entry
  if [[ $PROFILE == maps ]]; then
    key=maps-${SIZE_MB}M-f${FILES_MB}-d${DELETED_MB}-s${SWAP_MB}-v${GEN_VERSION}
  else
    key=src-${SIZE_MB}M-v${GEN_VERSION}
  fi
  if ! mkdir -p "$CACHE" 2>/dev/null || [[ ! -w $CACHE ]]; then
    CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/p2v-tests/bench
    mkdir -p "$CACHE"
  fi
  entry=$("$top_srcdir/tests/cache.sh" "$CACHE" "$key" "$0" "$BUILD_DIR" --source-into) ||
    fail "could not build the source image"
  IMG=$entry/source.img META=$entry/meta SRC_SUMS=$entry/sums
  log "source image $IMG"
  NONZERO=$(meta_get nonzero) FILES_BYTES=$(meta_get files_bytes)
  SRC_SHA=$(meta_get sha256)
  DELETED_BYTES=$(meta_get deleted_bytes) SWAP_NONZERO=$(meta_get swap_nonzero)
  EXT_USED=$(meta_get ext_used)
  read_partitions
  NFILES=$(wc -l < "$SRC_SUMS")
  ((NFILES > 0)) || fail "no files in the ext4 of $IMG"
}

########################################################################
# Checking the outputs (never timed)
########################################################################

# check_ext4 SPEC WHAT: e2fsck finds nothing wrong, and every file is
# there with the same contents as in the source.
check_ext4 () {
  local sums=$tmpdir/sums.out
  e2fsck -fn "$1" > "$tmpdir/e2fsck.log" 2>&1 ||
    { cat "$tmpdir/e2fsck.log" >&2; fail "$METHOD: e2fsck -fn: errors in $2"; }
  ext_files_sums "$1" "$sums"
  cmp -s "$sums" "$SRC_SUMS" || {
    diff "$SRC_SUMS" "$sums" | head -20 >&2
    fail "$METHOD: the files in $2 differ from the source's"
  }
}

# check_identical OUT: byte-identical to the source, or fail loudly.
check_identical () {
  local sum
  [[ -f $1 ]] || fail "$METHOD: no output at $1"
  sum=$(sha256sum < "$1" | cut -d' ' -f1)
  [[ $sum == "$SRC_SHA" ]] ||
    fail "$METHOD: output $1 differs from the source (sha256 $sum, want $SRC_SHA)"
  VERIFIED="sha256 of the whole disk identical"
}

# check_disk OUT: a whole-disk copy that may have holes where the source
# had data no file system uses.  Identical: all outside the partitions,
# and every partition p2v has no map for; ext4: e2fsck -fn and the files'
# checksums; swap: the header page.
check_disk () {
  local out=$1 i off len end=0 what=()
  [[ -f $out ]] || fail "$METHOD: no output at $out"
  (($(stat -c %s "$out") == SIZE_BYTES)) ||
    fail "$METHOD: $out is $(stat -c %s "$out") bytes, want $SIZE_BYTES"
  cmp -s -n "$BOOT_BYTES" "$IMG" "$out" ||
    fail "$METHOD: the MBR and boot gap (first $BOOT_BYTES bytes) differ"
  what+=("MBR and boot gap ($BOOT_BYTES bytes) identical")
  for i in "${!P_START[@]}"; do
    off=$((P_START[i] * 512)) len=$((P_SIZE[i] * 512))
    ((off + len <= end)) || end=$((off + len))
    case ${P_TYPE[i]} in
      83)
        check_ext4 "$out?offset=$off" "partition $((i + 1)) (ext4)"
        what+=("ext4: e2fsck -fn clean, all $NFILES files identical") ;;
      82)
        cmp -s -n 4096 -i "$off:$off" "$IMG" "$out" ||
          fail "$METHOD: the swap header (partition $((i + 1))) differs"
        what+=("swap header identical") ;;
      *)
        cmp -s -n "$len" -i "$off:$off" "$IMG" "$out" ||
          fail "$METHOD: partition $((i + 1)) (type ${P_TYPE[i]}) differs"
        what+=("partition $((i + 1)) identical") ;;
    esac
  done
  ((end >= SIZE_BYTES)) ||
    cmp -s -i "$end:$end" "$IMG" "$out" ||
    fail "$METHOD: the bytes after the last partition differ"
  VERIFIED=$(IFS=';'; echo "${what[*]}" | sed 's/;/; /g')
}

# check_partclone OUT: restore partclone's image to a file (-W: a raw
# file of the partition's size) and check it like an ext4 partition.
check_partclone () {
  local out=$1 restored=$tmpdir/restored.img
  [[ -f $out ]] || fail "$METHOD: no output at $out"
  rm -f "$restored"
  partclone.ext4 -r -W -s "$out" -o "$restored" \
    -L "$tmpdir/partclone-restore.log" > "$tmpdir/partclone-restore.out" 2>&1 ||
    { tr '\r' '\n' < "$tmpdir/partclone-restore.out" | tail -5 >&2
      fail "$METHOD: partclone.ext4 -r could not restore $out"; }
  (($(stat -c %s "$restored") == EXT_BYTES)) ||
    fail "$METHOD: restored $(stat -c %s "$restored") bytes, want $EXT_BYTES"
  check_ext4 "$restored" "the restored partition"
  rm -f "$restored"
  VERIFIED="restored with partclone.ext4 -r: e2fsck -fn clean, all $NFILES files identical"
}

########################################################################
# Measuring
########################################################################

# Each sending process runs under /usr/bin/time writing "wall user sys
# maxrss_kib" to a file; sum_times FILE... adds user, sys and maxrss up
# (the processes of a pipeline run at the same time, so the sum of their
# peaks is what the machine must have).
TIMEFMT='%e %U %S %M'
sum_times () {
  awk '{ u += $2; s += $3; m += $4 } END { printf "%.2f %.2f %d\n", u, s, m }' "$@"
}

now () { date +%s.%N; }
# elapsed T0 T1: T1 - T0 in seconds, 2 decimals.
elapsed () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# add A B: A + B.
add () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
# mul A B: A x B.
mul () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a * b }'; }

# The ssh client of the pipelines: same key, known_hosts and account as
# p2v-agent uses (ssh_opts), otherwise ssh's defaults.  An array, not a
# function, so /usr/bin/time can run it.
set_ssh_cmd () {
  SSH_CMD=(ssh -i "$SSH_KEY" -p "$SSHD_PORT"
    -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" -o StrictHostKeyChecking=yes
    -o BatchMode=yes "${SSH_EXTRA[@]}" "$(id -un)@$SSH_HOST")
}

# The same for p2v-agent (ssh_opts of tests/functions.sh, with SSH_HOST).
agent_ssh_opts () {
  echo --to "$(id -un)@$SSH_HOST" --port "$SSHD_PORT" --identity "$SSH_KEY" \
       --known-hosts "$SSH_KNOWN_HOSTS"
}

# What the remote side does after writing OUT: p2v-receiver fdatasyncs
# before it acknowledges, so by default the others wait for the disk too.
remote_sync () { ((FSYNC)) && printf ' && sync %q' "$1" || true; }

# json_num FILE FIELD: a number from a one-line JSON object.
json_num () { sed -n "s/.*\"$2\":\(-\{0,1\}[0-9.]*\).*/\1/p" "$1"; }

# Results, by method name, in the order run (ORDER).
ORDER=()
declare -A R_WIRE R_WALL R_USER R_SYS R_RSS R_VERIFIED R_EST R_RUNS STATS ALLOC
STARVE=()                       # command prefix: P2V_BENCH_CPU's cgroup
# record NAME WIRE WALL USER SYS RSS
record () {
  ORDER+=("$1")
  R_WIRE[$1]=$2 R_WALL[$1]=$3 R_USER[$1]=$4 R_SYS[$1]=$5 R_RSS[$1]=$6
  R_VERIFIED[$1]=$VERIFIED
}
has () { [[ -n ${R_WALL[$1]+x} ]]; }

warm_up () { cat "$IMG" > /dev/null; }

# run_p2v NAME [OPTION...]: p2v-agent send of the whole disk, REPEAT
# times; the run with the median wall is the one recorded (its stats,
# CPU and RSS with it), the first one's output is checked.
run_p2v () {
  local name=$1; shift
  METHOD=$name
  local out=$tmpdir/out-$name t=$tmpdir/t.$name stats=$tmpdir/stats-$name.json
  local t0 t1 wire i walls=() keep
  for ((i = 1; i <= REPEAT; i++)); do
    rm -rf "$out"
    warm_up
    log "$name: p2v-agent send${*:+ $*}$( ((REPEAT == 1)) || echo " (run $i of $REPEAT)")"
    t0=$(now)
    "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.$i" "$AGENT" send $(agent_ssh_opts) -q "$@" \
      --name bench --receiver-command "$RECEIVER --output-dir $out --force --no-fixup" \
      --stats "$stats.$i" "$IMG" || fail "$name: p2v-agent send failed"
    t1=$(now)
    walls+=("$(elapsed "$t0" "$t1") $i")
    ((i > 1)) && continue
    ALLOC[$name]=$(allocated_bytes "$out/bench/disk0.raw")
    log "$name: checking the output"
    check_disk "$out/bench/disk0.raw"
    [[ $name != p2v ]] || time_fixup "$out/bench/disk0.raw"
  done
  rm -rf "$out"
  keep=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(((REPEAT + 1) / 2))p")
  i=${keep#* }
  R_RUNS[$name]=$(printf '%s\n' "${walls[@]}" | cut -d' ' -f1 | paste -sd' ')
  STATS[$name]=$(cat "$stats.$i")
  cp "$stats.$i" "$stats"
  wire=$(json_num "$stats" wire_bytes)
  [[ $wire =~ ^[0-9]+$ ]] || fail "no wire_bytes in ${STATS[$name]}"
  record "$name" "$wire" "${keep% *}" $(sum_times "$t.$i")
}

# setup_starve: a cgroup with a CPU quota of CPU_PCT% of one CPU, and
# STARVE, a command prefix that runs its command in it on CPU 0 only.
# The receiving side (sshd and what it starts) stays outside.
setup_starve () {
  local cg q period=100000
  (($(id -u) == 0)) || bench_skip "P2V_BENCH_CPU=$CPU_PCT: needs root (a cgroup)"
  command -v taskset >/dev/null || bench_skip "P2V_BENCH_CPU=$CPU_PCT: needs taskset (util-linux)"
  q=$((period * CPU_PCT / 100))
  if [[ -d /sys/fs/cgroup/cpu && -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
    cg=/sys/fs/cgroup/cpu/p2v-bench-$$
    mkdir "$cg" && echo "$period" > "$cg/cpu.cfs_period_us" &&
      echo "$q" > "$cg/cpu.cfs_quota_us" ||
      bench_skip "P2V_BENCH_CPU=$CPU_PCT: cannot make a cgroup with a quota at $cg"
    STARVE_DESC="cgroup v1 $cg: cpu.cfs_quota_us $q of cpu.cfs_period_us $period"
  elif [[ -e /sys/fs/cgroup/cgroup.controllers ]] &&
       grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    cg=/sys/fs/cgroup/p2v-bench-$$
    mkdir "$cg" && echo "$q $period" > "$cg/cpu.max" ||
      bench_skip "P2V_BENCH_CPU=$CPU_PCT: cannot make a cgroup with a quota at $cg"
    STARVE_DESC="cgroup v2 $cg: cpu.max $q $period"
  else
    bench_skip "P2V_BENCH_CPU=$CPU_PCT: no cgroup CPU controller here"
  fi
  on_exit "rmdir $cg"
  cat > "$tmpdir/starve" <<EOS
#!/bin/sh
echo \$\$ > $cg/$([[ $cg == */cpu/* ]] && echo tasks || echo cgroup.procs) || exit 126
exec taskset -c 0 "\$@"
EOS
  chmod +x "$tmpdir/starve"
  STARVE=("$tmpdir/starve")
  STARVE_DESC="one CPU (taskset -c 0) at ${CPU_PCT}%: $STARVE_DESC"
}

# time_fixup IMAGE: p2v-fixup on the received image, as the receiver
# runs it after a transfer unless --no-fixup (the walls leave it out:
# libguestfs's appliance takes ~15 s to start under TCG, whatever the
# disk holds).  Sets FIXUP_WALL.
time_fixup () {
  local t0 t1
  log "p2v: timing p2v-fixup on the received image"
  t0=$(now)
  "$P2V_BUILD/p2v-fixup" -q --report "$tmpdir/fixup.json" "$1" \
    > "$tmpdir/fixup.log" 2>&1 ||
    { tail -5 "$tmpdir/fixup.log" >&2; fail "p2v-fixup on $1 failed"; }
  t1=$(now)
  FIXUP_WALL=$(elapsed "$t0" "$t1")
  FIXUP_STATUS=$(jq -r '.status // "?"' "$tmpdir/fixup.json" 2>/dev/null || echo '?')
}

# start_delay_proxy: tests/delay-proxy.py in the namespace, between its
# address and the sshd, RTT_MS / 2 each way; the clients go to it
# (SSHD_PORT and known_hosts point there).
start_delay_proxy () {
  local pf=$tmpdir/delay.port
  ip netns exec "$LINK_NS" python3 "$top_srcdir/tests/delay-proxy.py" \
    "$LINK_NS_ADDR" "$pf" "$LINK_NS_ADDR" "$SSHD_PORT" $((RTT_MS / 2)) \
    2> "$tmpdir/delay.log" &
  DELAY_PID=$!
  on_exit "stop_pid $DELAY_PID"
  wait_for 100 test -s "$pf" || { cat "$tmpdir/delay.log" >&2; fail "the delay proxy did not start"; }
  SSHD_PORT=$(cat "$pf")
  sshd_known_hosts "$tmpdir/sshd-link" "$LINK_NS_ADDR" "$SSHD_PORT"
  log "delay proxy: $LINK_NS_ADDR:$SSHD_PORT -> sshd, ${RTT_MS} ms round trip"
}

# The partition partclone reads: a read-only loop device over it (as root),
# else a copy in a file.  Made once, before any timing.
setup_partclone_source () {
  local dev
  if (($(id -u) == 0)) && command -v losetup >/dev/null &&
     dev=$(losetup -r -f --show -o "$EXT_OFFSET" --sizelimit "$EXT_BYTES" \
           "$IMG" 2>"$tmpdir/losetup.err"); then
    on_exit "losetup -d $dev"
    PART_SRC=$dev
    PART_SRC_DESC="$dev (losetup -r -o $EXT_OFFSET --sizelimit $EXT_BYTES over the image)"
  else
    log "no loop device ($(cat "$tmpdir/losetup.err" 2>/dev/null || echo "not root")): copying partition $((EXT_I + 1)) to a file"
    PART_SRC=$tmpdir/partition.img
    dd if="$IMG" of="$PART_SRC" bs=1M iflag=skip_bytes,count_bytes \
      skip="$EXT_OFFSET" count="$EXT_BYTES" conv=sparse status=none
    PART_SRC_DESC="$PART_SRC (a copy of partition $((EXT_I + 1)) of the image)"
  fi
  PARTCLONE_VERSION=$(partclone.ext4 -v 2>&1 | sed -n 's/^Partclone *: *\(v[^ ]*\).*/\1/p' | head -1)
}

# run_partclone NAME [OPTION...]: partclone.ext4 -c of the ext4 partition
# to stdout, zstd -1, ssh; the receiving side keeps the image.
run_partclone () {
  local name=$1; shift
  METHOD=$name
  local out=$tmpdir/out-$name.pcl t=$tmpdir/t.$name cnt=$tmpdir/$name.bytes t0 t1
  rm -f "$cnt"
  warm_up
  cat "$PART_SRC" > /dev/null
  log "$name: partclone.ext4 -c${*:+ $*} | zstd -1 | ssh"
  t0=$(now)
  "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.pc" partclone.ext4 -c -s "$PART_SRC" \
      -o - -L "$tmpdir/$name.log" "$@" 2> "$tmpdir/$name.err" |
    "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.zstd" zstd -q -1 -c |
    tee >(wc -c > "$cnt") |
    "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.ssh" \
      "${SSH_CMD[@]}" "zstd -q -d -c > $(printf %q "$out")$(remote_sync "$out")" ||
    { tr '\r' '\n' < "$tmpdir/$name.err" | tail -5 >&2
      fail "$name: partclone.ext4 | zstd | ssh failed"; }
  t1=$(now)
  wait_for 100 test -s "$cnt" || fail "could not count the compressed bytes"
  log "$name: restoring and checking the output"
  check_partclone "$out"
  rm -f "$out"
  record "$name" "$(cat "$cnt")" "$(elapsed "$t0" "$t1")" \
    $(sum_times "$t.pc" "$t.zstd" "$t.ssh")
}

run_dd_ssh () {
  METHOD="dd|ssh"
  local out=$tmpdir/out-dd.raw t=$tmpdir/t.dd t0 t1 count=() mb=$SIZE_MB
  local wall f sample_sha user sys rss
  [[ $DD_MODE != sample ]] || count=(count="$DD_SAMPLE_MB") mb=$DD_SAMPLE_MB
  warm_up
  log "dd|ssh$([[ $DD_MODE != sample ]] || echo " (first $mb MiB only, extrapolated)")"
  t0=$(now)
  "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.dd" dd if="$IMG" bs=1M "${count[@]}" status=none |
    "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.ssh" \
      "${SSH_CMD[@]}" "cat > $(printf %q "$out")$(remote_sync "$out")" ||
    fail "dd | ssh failed"
  t1=$(now)
  wall=$(elapsed "$t0" "$t1")
  if [[ $DD_MODE != sample ]]; then
    check_identical "$out"
    rm -f "$out"
    record "dd|ssh" "$SIZE_BYTES" "$wall" $(sum_times "$t.dd" "$t.ssh")
    return 0
  fi
  sample_sha=$(head -c "${mb}M" "$IMG" | sha256sum | cut -d' ' -f1)
  [[ $(sha256sum < "$out" | cut -d' ' -f1) == "$sample_sha" ]] ||
    fail "dd|ssh: the output differs from the first $mb MiB of the source"
  rm -f "$out"
  VERIFIED="sha256 of the $mb MiB sample identical"
  # Scale the time and CPU to the whole disk; memory does not grow.
  f=$(awk -v a="$SIZE_MB" -v b="$mb" 'BEGIN { printf "%.6f", a / b }')
  read -r user sys rss <<<"$(sum_times "$t.dd" "$t.ssh")"
  record "dd|ssh" "$SIZE_BYTES" "$(mul "$wall" "$f")" "$(mul "$user" "$f")" \
    "$(mul "$sys" "$f")" "$rss"
  R_EST["dd|ssh"]="estimated: $mb MiB sent in $wall s, times and CPU x $(awk -v f="$f" 'BEGIN { printf "%.2f", f }')"
  DD_SAMPLE_WALL=$wall
}

run_dd_zstd_ssh () {
  METHOD="dd|zstd|ssh"
  local out=$tmpdir/out-zstd.raw t=$tmpdir/t.zstd cnt=$tmpdir/zstd.bytes t0 t1
  rm -f "$cnt"
  warm_up
  log "dd|zstd|ssh"
  # tee counts the compressed bytes; it is measuring, not sending, so it
  # is left out of the CPU and memory sums (it costs one more pipe copy).
  t0=$(now)
  "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.dd" dd if="$IMG" bs=1M status=none |
    "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.zstd" zstd -q -1 -c |
    tee >(wc -c > "$cnt") |
    "${STARVE[@]}" /usr/bin/time -f "$TIMEFMT" -o "$t.ssh" \
      "${SSH_CMD[@]}" "zstd -q -d -c > $(printf %q "$out")$(remote_sync "$out")" ||
    fail "dd | zstd | ssh failed"
  t1=$(now)
  wait_for 100 test -s "$cnt" || fail "could not count the compressed bytes"
  check_identical "$out"
  rm -f "$out"
  record "dd|zstd|ssh" "$(cat "$cnt")" "$(elapsed "$t0" "$t1")" \
    $(sum_times "$t.dd" "$t.zstd" "$t.ssh")
}

########################################################################
# Reporting
########################################################################

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
ratio3 () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b ? a / b : 0 }'; }
mib () { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1048576 }'; }
cpu () { add "${R_USER[$1]}" "${R_SYS[$1]}"; }
# link_seconds BYTES: how long BYTES take at the link's rate.
link_seconds () { awk -v w="$1" -v b="$LINK_BPS" 'BEGIN { printf "%.2f", w * 8 / b }'; }
json_str () { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

link_desc () {
  if [[ -n $RTT_MS ]]; then
    echo "link $LINK_RATE with a ${RTT_MS} ms round trip (a delay proxy before the sshd at $LINK_NS_ADDR in a network namespace)"
  elif [[ -n $LINK ]]; then
    echo "link $LINK_RATE (sshd at $LINK_NS_ADDR in a network namespace)"
  else
    echo "sshd on 127.0.0.1 (loopback, unlimited)"
  fi
}
tbf_desc () { echo "rate $LINK_RATE burst $TBF_BURST latency $TBF_LATENCY"; }

# Over a shaped link: how long the wire bytes alone take at the rate, and
# how much of the link each method used.  A method faster than the link
# means the shaping did not work, which would make the figures meaningless.
link_report () {
  local name wire wall min use
  echo
  echo "link $LINK_RATE: wire bytes / rate (payload only: TCP, IP and SSH overhead add ~5%)"
  for name in "${ORDER[@]}"; do
    wire=${R_WIRE[$name]} wall=${R_WALL[$name]}
    min=$(link_seconds "$wire")
    use=$(awk -v m="$min" -v t="$wall" 'BEGIN { printf "%.0f", (t > 0) ? 100 * m / t : 0 }')
    printf '  %-14s needs %8.2f s at least, took %8.2f s%s: %3s%% of the link\n' \
      "$name" "$min" "$wall" "$([[ -z ${R_EST[$name]:-} ]] || echo " (est.)")" "$use"
    ((use <= 102)) ||
      echo "  WARNING: $name was faster than $LINK_RATE: is the shaping working?"
  done
  echo "  tbf: $(link_stats)"
}

# Targets: TARGETS holds "result id name method value limit note" lines,
# the fields separated by TS (names and notes may hold spaces and |).
TARGETS=() TS=$'\x1f'

# target ID NAME METHOD VALUE LIMIT [NOTE]: PASS if VALUE <= LIMIT.
target () {
  local r
  r=$(awk -v v="$4" -v l="$5" 'BEGIN { print (v <= l) ? "PASS" : "FAIL" }')
  TARGETS+=("$r$TS$1$TS$2$TS$3$TS$4$TS$5$TS${6:-}")
}
# target_na ID NAME METHOD WHY
target_na () { TARGETS+=("n/a$TS$1$TS$2$TS$3$TS$TS$TS$4"); }

# fast_note FIELD M: the same ratio against partclone-fast, if it ran.
fast_note () {
  local -n field=$1
  has partclone-fast || return 0
  printf '; vs partclone-fast: %s' "$(ratio3 "${field[$2]}" "${field[partclone-fast]}")"
}

evaluate_targets () {
  local m v ideal ddw ddmin
  for m in p2v p2v-level1; do
    has "$m" || continue
    if [[ -n $CPU_PCT ]]; then
      target_na wire_vs_partclone "wire bytes / partclone's" "$m" "starved, the level trades bytes for CPU: a figure of the default profile"
      target_na loopback_wall_vs_partclone "loopback wall / partclone's" "$m" "a loopback figure: run without P2V_BENCH_CPU"
    elif has partclone; then
      target wire_vs_partclone "wire bytes / partclone's" "$m" \
        "$(ratio3 "${R_WIRE[$m]}" "${R_WIRE[partclone]}")" "$TARGET_WIRE_VS_PARTCLONE" \
        "$(mib "${R_WIRE[$m]}") vs $(mib "${R_WIRE[partclone]}") MiB$(fast_note R_WIRE "$m")"
      if [[ -z $LINK ]]; then
        target loopback_wall_vs_partclone "loopback wall / partclone's" "$m" \
          "$(ratio3 "${R_WALL[$m]}" "${R_WALL[partclone]}")" "$TARGET_WALL_VS_PARTCLONE" \
          "${R_WALL[$m]} s vs ${R_WALL[partclone]} s$(fast_note R_WALL "$m")"
      else
        target_na loopback_wall_vs_partclone "loopback wall / partclone's" "$m" "a loopback figure: run without P2V_BENCH_LINK"
      fi
    else
      target_na wire_vs_partclone "wire bytes / partclone's" "$m" "partclone not run"
      target_na loopback_wall_vs_partclone "loopback wall / partclone's" "$m" "partclone not run"
    fi
    if [[ -n $LINK ]]; then
      if [[ -n $RTT_MS ]]; then
        target_na link_wall_vs_wire_time "link wall / own wire bytes at the rate" "$m" "a short link's figure (P2V_BENCH_LINK alone): the long link has its own, below"
      else
        ideal=$(link_seconds "${R_WIRE[$m]}")
        target link_wall_vs_wire_time "link wall / own wire bytes at $LINK_RATE" "$m" \
          "$(ratio3 "${R_WALL[$m]}" "$ideal")" "$TARGET_WALL_VS_LINK" \
          "${R_WALL[$m]} s vs $ideal s"
      fi
      if has "dd|ssh"; then
        ddw=${R_WALL["dd|ssh"]} ddmin=$(link_seconds "$SIZE_BYTES")
        target link_wall_vs_dd_ssh "link wall / dd|ssh's" "$m" \
          "$(ratio3 "${R_WALL[$m]}" "$ddw")" "$TARGET_WALL_VS_DD_SSH" \
          "${R_WALL[$m]} s vs $ddw s$([[ -z ${R_EST["dd|ssh"]:-} ]] || echo " (estimated from a sample)"); vs dd|ssh's floor $ddmin s (disk size / rate): $(ratio3 "${R_WALL[$m]}" "$ddmin")"
      else
        target_na link_wall_vs_dd_ssh "link wall / dd|ssh's" "$m" "dd|ssh not run"
      fi
    else
      target_na link_wall_vs_wire_time "link wall / own wire bytes at the rate" "$m" "a link figure: P2V_BENCH_LINK=100mbit"
      target_na link_wall_vs_dd_ssh "link wall / dd|ssh's" "$m" "a link figure: P2V_BENCH_LINK=100mbit"
    fi
    target peak_rss_kib "peak RSS KiB" "$m" "${R_RSS[$m]}" "$TARGET_RSS_KIB" "32 MiB"
  done
  [[ -z $CPU_PCT ]] || starved_target
  [[ -z $RTT_MS ]] || long_link_targets
}

# The long link's targets: p2v against its own link-bound ideal and
# against the best zstd pipeline; the single connection's figure beside.
long_link_targets () {
  local m best= p
  for p in "dd|zstd|ssh" partclone; do
    has "$p" || continue
    [[ -n $best ]] && awk -v a="${R_WALL[$p]}" -v b="${R_WALL[$best]}" 'BEGIN { exit !(a >= b) }' ||
      best=$p
  done
  for m in "${ORDER[@]}"; do
    [[ $m == p2v || $m == p2v-streams* ]] || continue
    target long_wall_vs_ideal "long link wall / own wire bytes at $LINK_RATE" "$m" \
      "$(ratio3 "${R_WALL[$m]}" "$(link_seconds "${R_WIRE[$m]}")")" "$TARGET_LONG_VS_IDEAL" \
      "${R_WALL[$m]} s vs $(link_seconds "${R_WIRE[$m]}") s; $(json_num "$tmpdir/stats-$m.json" streams) connection(s)"
    if [[ -n $best ]]; then
      target long_wall_vs_pipelines "long link wall / best zstd pipeline's" "$m" \
        "$(ratio3 "${R_WALL[$m]}" "${R_WALL[$best]}")" "$TARGET_LONG_VS_PIPES" \
        "${R_WALL[$m]} s vs $best's ${R_WALL[$best]} s"
    else
      target_na long_wall_vs_pipelines "long link wall / best zstd pipeline's" "$m" "neither dd|zstd|ssh nor partclone ran"
    fi
  done
}

# The starved source's target: the adaptive level against the fastest
# fixed one that ran.
starved_target () {
  local m best=
  for m in "${ORDER[@]}"; do
    [[ $m == p2v-level* ]] || continue
    [[ -n $best ]] && awk -v a="${R_WALL[$m]}" -v b="${R_WALL[$best]}" 'BEGIN { exit !(a >= b) }' ||
      best=$m
  done
  if [[ -z $best ]]; then
    target_na starved_wall_vs_best_level "starved wall / fastest fixed level's" p2v "no fixed level ran"
    return 0
  fi
  target starved_wall_vs_best_level "starved wall / fastest fixed level's" p2v \
    "$(ratio3 "${R_WALL[p2v]}" "${R_WALL[$best]}")" "$TARGET_STARVED_VS_BEST" \
    "${R_WALL[p2v]} s at mean level $(json_num "$tmpdir/stats-p2v.json" level_mean) vs $best's ${R_WALL[$best]} s"
  STARVED_BEST=$best
}

print_targets () {
  local t r id name m v l note
  echo
  echo "targets (informational: they do not change the exit status)"
  for t in "${TARGETS[@]}"; do
    IFS=$TS read -r r id name m v l note <<<"$t"
    if [[ $r == n/a ]]; then
      printf '  %-4s  %-11s %-40s %s\n' "$r" "$m" "$name" "($note)"
    else
      printf '  %-4s  %-11s %-40s %9s <= %-6s %s\n' "$r" "$m" "$name" "$v" "$l" "($note)"
    fi
  done
}

# How libguestfs's appliance runs (tests/functions.sh forces TCG).
fixup_accel () {
  [[ ${LIBGUESTFS_BACKEND_SETTINGS:-} == *force_tcg* ]] && echo TCG ||
    echo "KVM where available"
}

p2v_stats_desc () {
  local f=$tmpdir/stats-$1.json level mean
  level=$(json_num "$f" level) mean=$(json_num "$f" level_mean)
  printf 'mapped %s MiB, data %s MiB, wire %s MiB; zstd level %s%s%s' \
    "$(mib "$(json_num "$f" mapped_bytes)")" "$(mib "$(json_num "$f" data_bytes)")" \
    "$(mib "$(json_num "$f" wire_bytes)")" "${level:-?}" \
    "$([[ -z $mean ]] || echo ", mean $mean")" \
    "$(grep -q '"adaptive":true' "$f" && echo ", adaptive" || true)"
}

report () {
  local name wire wall user sys rss p2v_cpu json=$BUILD_DIR/bench-$BENCH_NAME.json
  local sep="" rss_note s
  p2v_cpu=$(cpu p2v)

  echo
  echo "p2v send benchmark: profile $PROFILE, ${SIZE_MB} MiB source disk, $(nproc) CPUs, $(link_desc)"
  [[ -z $LINK ]] ||
    echo "  link: veth $LINK_VETH -> netns $LINK_NS, tc tbf $(tbf_desc) on the sending side"
  [[ -z $CPU_PCT ]] ||
    echo "  starved source: every sending process on $STARVE_DESC; the receiving side unlimited"
  echo "  source: $IMG"
  echo "  layout: MBR and boot gap $((BOOT_BYTES / 1024)) KiB (with boot code), ext4 $((EXT_BYTES / 1048576)) MiB$( ((SWAP_I < 0)) || echo ", swap $((P_SIZE[SWAP_I] / 2048)) MiB")"
  if [[ -n $DELETED_BYTES ]]; then
    echo "  ext4: $NFILES files, $(mib "$FILES_BYTES") MiB; $(mib "$EXT_USED") MiB used with metadata;" \
      "$(mib "$DELETED_BYTES") MiB of deleted files' data (non-zero) in its free space"
    echo "  swap: $(mib "$SWAP_NONZERO") MiB non-zero (a used swap; only its header page matters)"
    echo "  non-zero bytes in the image: $NONZERO ($(mib "$NONZERO") MiB)"
  else
    echo "  non-zero bytes $NONZERO ($(mib "$NONZERO") MiB) of which files $FILES_BYTES ($(mib "$FILES_BYTES") MiB); the rest is stale data"
  fi
  echo "  ssh client cipher: $SSH_CIPHER; p2v-agent: libssh2 $LIBSSH2_VERSION (its own choice, see bench/README.md)"
  [[ -z ${PART_SRC:-} ]] || {
    echo "  partclone.ext4 ${PARTCLONE_VERSION:-?} reads $PART_SRC_DESC;"
    echo "    options: partclone ${PARTCLONE_OPTS[*]:-(defaults)}, partclone-fast -a0 -f 0${PARTCLONE_OPTS[*]:+ ${PARTCLONE_OPTS[*]}}"
  }
  echo "  each method ran once, after a warm-up read of its source (cat > /dev/null);"
  echo "  page cache not dropped; outputs $( ((FSYNC)) && echo "fsynced by every method" || echo "fsynced by p2v only")"
  echo "  CPU and peak RSS: sending side only; pipelines: sum over their processes (tee excluded)"
  for s in "${SKIPPED[@]}"; do echo "  skipped: $s"; done
  echo
  printf '%-14s %14s %9s %8s %9s %8s %8s %10s\n' method "wire bytes" "wire MiB" \
    "wall s" "disk MiB/s" "user s" "sys s" "RSS KiB"
  for name in "${ORDER[@]}"; do
    printf '%-14s %14s %9s %8.2f %9.1f %8.2f %8.2f %10s\n' \
      "$name$([[ -z ${R_EST[$name]:-} ]] || echo '*')" "${R_WIRE[$name]}" \
      "$(mib "${R_WIRE[$name]}")" "${R_WALL[$name]}" \
      "$(ratio "$SIZE_MB" "${R_WALL[$name]}")" "${R_USER[$name]}" \
      "${R_SYS[$name]}" "${R_RSS[$name]}"
  done
  for name in "${ORDER[@]}"; do
    [[ -z ${R_EST[$name]:-} ]] || echo "  * $name: ${R_EST[$name]}"
  done
  echo
  for name in "${ORDER[@]}"; do
    [[ $name == p2v* ]] || continue
    printf '  %-11s %s\n' "$name" "$(p2v_stats_desc "$name")"
    [[ -z ${R_RUNS[$name]:-} ]] || ((REPEAT == 1)) ||
      printf '  %-11s walls of its %s runs: %s s (the median kept)\n' "" "$REPEAT" "${R_RUNS[$name]}"
  done
  [[ -z ${FIXUP_WALL:-} ]] ||
    echo "  fixup       not in the walls (the receiver ran with --no-fixup): p2v-fixup on p2v's image took $FIXUP_WALL s ($FIXUP_STATUS), the libguestfs appliance's start under $(fixup_accel) included"
  echo "checked (outside the timings):"
  for name in "${ORDER[@]}"; do
    printf '  %-14s %s\n' "$name" "${R_VERIFIED[$name]}"
  done
  [[ -z $LINK ]] || link_report
  echo
  ((${#ORDER[@]} < 2)) || echo "relative to p2v (x > 1: p2v is better):"
  for name in "${ORDER[@]:1}"; do
    printf '  %-14s / p2v: wall time %sx, wire bytes %sx, CPU %sx, peak RSS %sx\n' \
      "$name" "$(ratio "${R_WALL[$name]}" "${R_WALL[p2v]}")" \
      "$(ratio "${R_WIRE[$name]}" "${R_WIRE[p2v]}")" \
      "$(ratio "$(cpu "$name")" "$p2v_cpu")" "$(ratio "${R_RSS[$name]}" "${R_RSS[p2v]}")"
  done
  evaluate_targets
  print_targets

  {
    printf '{\n  "profile": "%s",\n  "size_mb": %s,\n  "source_bytes": %s,\n' \
      "$PROFILE" "$SIZE_MB" "$SIZE_BYTES"
    printf '  "nonzero_bytes": %s,\n  "files_bytes": %s,\n  "files": %s,\n' \
      "$NONZERO" "$FILES_BYTES" "$NFILES"
    printf '  "deleted_bytes": %s,\n  "swap_nonzero_bytes": %s,\n  "ext4_used_bytes": %s,\n' \
      "${DELETED_BYTES:-null}" "${SWAP_NONZERO:-null}" "${EXT_USED:-null}"
    printf '  "ext4_partition_bytes": %s,\n  "boot_area_bytes": %s,\n' "$EXT_BYTES" "$BOOT_BYTES"
    printf '  "image": "%s",\n  "generator_version": %s,\n' "$IMG" "$GEN_VERSION"
    printf '  "cpus": %s,\n  "ssh_cipher": "%s",\n  "libssh2_version": "%s",\n' \
      "$(nproc)" "$SSH_CIPHER" "$LIBSSH2_VERSION"
    printf '  "fsync_all": %s,\n' "$( ((FSYNC)) && echo true || echo false)"
    if [[ -n $LINK ]]; then
      printf '  "link": "%s",\n  "link_bits_per_second": %s,\n  "tbf": "%s",\n' \
        "$LINK_RATE" "$LINK_BPS" "$(tbf_desc)"
    else
      printf '  "link": "loopback",\n  "link_bits_per_second": null,\n  "tbf": null,\n'
    fi
    printf '  "dd_ssh_mode": "%s",\n' "$DD_MODE"
    printf '  "receiver_fixup": false,\n  "fixup_seconds": %s,\n  "fixup_status": %s,\n' \
      "${FIXUP_WALL:-null}" "$(json_str "${FIXUP_STATUS:-not run}")"
    if [[ -n ${PART_SRC:-} ]]; then
      printf '  "partclone": {"version": "%s", "source": %s, "options": %s},\n' \
        "${PARTCLONE_VERSION:-}" "$(json_str "$PART_SRC_DESC")" "$(json_str "${PARTCLONE_OPTS[*]}")"
    fi
    printf '  "notes": "one run per method after a warm-up read of its source; page cache not dropped; cpu and rss are the sending side, summed over pipeline processes (tee, which counts, excluded); partclone copies the ext4 partition only, the other methods the whole disk",\n'
    if [[ -n $CPU_PCT ]]; then
      printf '  "cpu_quota_percent": %s,\n  "starve": %s,\n' "$CPU_PCT" "$(json_str "$STARVE_DESC")"
    else
      printf '  "cpu_quota_percent": null,\n'
    fi
    printf '  "p2v_runs_each": %s,\n  "rtt_ms": %s,\n' "$REPEAT" "${RTT_MS:-null}"
    for name in "${ORDER[@]}"; do
      [[ $name == p2v* ]] || continue
      printf '  "%s_stats": %s,\n  "%s_output_allocated_bytes": %s,\n' \
        "${name//-/_}" "${STATS[$name]}" "${name//-/_}" "${ALLOC[$name]}"
    done
    printf '  "methods": ['
    for name in "${ORDER[@]}"; do
      case $name in
        p2v*) rss_note=p2v-agent ;;
        *) rss_note="sum of sending processes" ;;
      esac
      printf '%s\n    {"method": "%s", "wire_bytes": %s, "wall_seconds": %s, "user_seconds": %s, "sys_seconds": %s, "peak_rss_kib": %s, "rss": "%s",\n' \
        "$sep" "$name" "${R_WIRE[$name]}" "${R_WALL[$name]}" "${R_USER[$name]}" \
        "${R_SYS[$name]}" "${R_RSS[$name]}" "$rss_note"
      printf '     "verified": %s,' "$(json_str "${R_VERIFIED[$name]}")"
      [[ -z ${R_RUNS[$name]:-} ]] || printf ' "walls_of_runs": [%s],' "${R_RUNS[$name]// /, }"
      if [[ -n ${R_EST[$name]:-} ]]; then
        printf ' "estimated": true, "estimate": %s, "sample_bytes": %s, "sample_wall_seconds": %s,' \
          "$(json_str "${R_EST[$name]}")" $((DD_SAMPLE_MB * 1048576)) "$DD_SAMPLE_WALL"
      else
        printf ' "estimated": false,'
      fi
      [[ -z $LINK ]] ||
        printf ' "link_seconds_for_wire_bytes": %s,' "$(link_seconds "${R_WIRE[$name]}")"
      printf '\n     "vs_p2v": {"wall": %s, "wire_bytes": %s, "cpu": %s, "peak_rss": %s}}' \
        "$(ratio "${R_WALL[$name]}" "${R_WALL[p2v]}")" \
        "$(ratio "${R_WIRE[$name]}" "${R_WIRE[p2v]}")" \
        "$(ratio "$(cpu "$name")" "$p2v_cpu")" "$(ratio "${R_RSS[$name]}" "${R_RSS[p2v]}")"
      sep=,
    done
    printf '\n  ],\n  "targets": ['
    sep=""
    local t r id tname m v l note
    for t in "${TARGETS[@]}"; do
      IFS=$TS read -r r id tname m v l note <<<"$t"
      printf '%s\n    {"id": "%s", "target": %s, "method": "%s", "value": %s, "limit": %s, "result": "%s", "note": %s}' \
        "$sep" "$id" "$(json_str "$tname")" "$m" "${v:-null}" "${l:-null}" "$r" "$(json_str "$note")"
      sep=,
    done
    printf '\n  ]\n}\n'
  } > "$json"
  echo
  echo "wrote $json"
}

########################################################################

if [[ ${2:-} == --source-into ]]; then
  make_source_image "${3:?usage: bench-send.sh BUILD_DIR --source-into DIR}"
  exit 0
elif [[ ${2:-} == --source ]]; then   # for the other benchmarks
  get_source_image
  echo "$IMG"
  exit 0
fi
# The link first: if it cannot be made here, skip before building images.
[[ -z $LINK ]] || link_setup
[[ -z $CPU_PCT ]] || setup_starve
get_source_image
log "source: $IMG, non-zero $NONZERO bytes, files $FILES_BYTES bytes"

run_method () {
  case $1 in
    p2v) run_p2v p2v ;;
    p2v-level*) run_p2v "$1" --level "${1#p2v-level}" ;;
    p2v-streams*) run_p2v "$1" --streams "${1#p2v-streams}" ;;
    partclone) run_partclone partclone "${PARTCLONE_OPTS[@]}" ;;
    partclone-fast) run_partclone partclone-fast -a0 -f 0 "${PARTCLONE_OPTS[@]}" ;;
    dd-ssh) run_dd_ssh ;;
    dd-zstd-ssh) run_dd_zstd_ssh ;;
  esac
}
skipped () {
  local s
  for s in "${SKIPPED[@]}"; do [[ ${s%%:*} != "$1" ]] || return 0; done
  return 1
}

for m in "${METHOD_IDS[@]}"; do
  [[ $m != partclone* ]] || skipped "$m" || [[ -n ${PART_SRC:-} ]] ||
    setup_partclone_source
done

if [[ -n $LINK ]]; then
  start_sshd_link
  SSH_HOST=$LINK_NS_ADDR
  [[ -z $RTT_MS ]] || start_delay_proxy
else
  start_sshd
  SSH_HOST=127.0.0.1
fi
set_ssh_cmd
SSH_CIPHER=$("${SSH_CMD[@]:0:${#SSH_CMD[@]}-1}" -v "${SSH_CMD[-1]}" true 2>&1 |
  sed -n 's/.*kex: client->server cipher: \([^ ]*\) MAC: \([^ ]*\).*/\1 MAC \2/p' |
  head -1)
SSH_CIPHER=${SSH_CIPHER:-unknown}
LIBSSH2_VERSION=$(pkg-config --modversion libssh2 2>/dev/null || echo unknown)

for m in "${METHOD_IDS[@]}"; do
  skipped "$m" && continue
  run_method "$m"
  [[ -z $LINK ]] || log "tbf so far: $(link_stats)"
done
report
