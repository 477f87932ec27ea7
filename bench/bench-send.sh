#!/bin/bash
# bench/bench-send.sh [BUILD_DIR]: time p2v-agent send against the two
# things people would otherwise use to copy a disk over SSH:
#
#   p2v        p2v-agent send (libssh2) -> p2v-receiver
#   dd|ssh     dd if=IMG bs=1M | ssh HOST "cat > OUT"
#   dd|zstd|ssh  dd if=IMG bs=1M | zstd -1 -c | ssh HOST "zstd -d -c > OUT"
#
# all through one private sshd on 127.0.0.1 (tests/functions.sh) -- or,
# with P2V_BENCH_LINK, over a rate-limited link to an sshd in a network
# namespace (bench/link.sh) -- on a realistic source disk: MBR, boot gap, ext4 with real files, swap, and --
# what matters most -- free space full of stale data from deleted files,
# which no tool can skip without understanding the file system.
#
# Prints a table and ratios relative to p2v and writes BUILD_DIR/bench-send.json.
# See bench/README.md for what is measured and how.
#
# Environment:
#   P2V_BENCH_SIZE_MB   source disk size in MiB (default 2048)
#   P2V_BENCH_CACHE     where source images are cached
#                       (default /var/cache/p2v-tests/bench)
#   P2V_BENCH_SSH_OPTS  extra options for the ssh client of the dd methods,
#                       e.g. "-c aes128-ctr -m hmac-sha2-256" to use the
#                       cipher libssh2 (so p2v-agent) negotiates
#   P2V_BENCH_FSYNC     1 (default): the dd methods fsync their output, as
#                       p2v-receiver does before it reports success; 0: not
#   P2V_BENCH_LINK      unset (default): loopback, unlimited.  A rate such as
#                       100mbit or 1gbit: send over a veth pair shaped with
#                       tc tbf to an sshd in a network namespace of our own.
#                       Needs root and iproute2; prints "skipped: ..." and
#                       exits 0 if it cannot be done here.

BUILD_DIR=${1:-build}
# functions.sh takes the binaries from P2V_BUILD (relative to the top dir).
export P2V_BUILD=$BUILD_DIR
source "$(dirname "$0")/../tests/functions.sh"
source "$(dirname "$0")/link.sh"
# Absolute from here on: the JSON goes there and we cd nowhere, but be safe.
BUILD_DIR=$P2V_BUILD

requires ssh ssh-keygen sfdisk mkfs.ext4 mkswap zstd sha256sum tar awk \
  /usr/bin/time
for f in "$AGENT" "$RECEIVER" "$BUILD_DIR/count-nonzero"; do
  [[ -x $f ]] || fail "$f not built (make all $BUILD_DIR/count-nonzero)"
done

# Bump when the way the source image is made changes: it keys the cache.
GEN_VERSION=1
SIZE_MB=${P2V_BENCH_SIZE_MB:-2048}
[[ $SIZE_MB =~ ^[0-9]+$ ]] && ((SIZE_MB >= 64)) ||
  fail "P2V_BENCH_SIZE_MB must be a number of MiB >= 64"
CACHE=${P2V_BENCH_CACHE:-/var/cache/p2v-tests/bench}
FSYNC=${P2V_BENCH_FSYNC:-1}
read -r -a SSH_EXTRA <<<"${P2V_BENCH_SSH_OPTS:-}"
LINK=${P2V_BENCH_LINK:-}
[[ -z $LINK ]] || link_parse "$LINK"

log () { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }

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

# make_source_image IMG: build the image described at the top.  Layout:
#   0        MBR with boot code, then a GRUB-like core image, then zeros
#   1 MiB    partition 1, ext4 with the files of fill_files
#   ...      partition 2, swap (last SIZE/16 MiB, at least 8 MiB)
# Every byte not written by sfdisk, mkfs.ext4 or mkswap keeps the stale
# data written first.
make_source_image () {
  local img=$1 files=$tmpdir/files swap=$tmpdir/swap.img
  local swap_mb=$((SIZE_MB / 16)) ext_mb files_mb=$((SIZE_MB * 30 / 100))
  ((swap_mb >= 8)) || swap_mb=8
  ext_mb=$((SIZE_MB - 1 - swap_mb))

  log "writing ${SIZE_MB} MiB of stale data (old copies of /usr) to the image"
  # head closes the pipe when it has enough, so the pipeline "fails" with
  # SIGPIPE; check the size instead.
  stale_stream | head -c "${SIZE_MB}M" > "$img" || true
  (($(stat -c %s "$img") == SIZE_MB * 1024 * 1024)) ||
    fail "could not write ${SIZE_MB} MiB to $img (disk full?)"

  # The boot gap: boot code in sector 0 (sfdisk keeps it), a GRUB-sized
  # core image in sectors 1.., zeros after it, as after grub-install on
  # a new disk.  Real machine code stands in for GRUB.
  dd if=/dev/zero of="$img" bs=512 seek=1 count=2047 conv=notrunc status=none
  dd if=/usr/bin/bash of="$img" bs=440 count=1 conv=notrunc status=none
  dd if=/usr/bin/bash of="$img" bs=512 skip=8 seek=1 count=60 conv=notrunc \
    status=none

  printf 'label: dos\nstart=2048, size=%dMiB, type=83, bootable\ntype=82\n' \
    "$ext_mb" | sfdisk -q "$img"

  log "making ext4 (${ext_mb} MiB) with ~${files_mb} MiB of files"
  rm -rf "$files"
  fill_files "$files" "$files_mb"
  FILES_BYTES=$(du -sb "$files" | cut -f1)
  # nodiscard: on a regular file mke2fs would "discard" by punching holes,
  # i.e. zero the stale data we just wrote -- real disks keep it.
  mkfs.ext4 -q -F -L bench-root -E offset=$((2048 * 512)),nodiscard \
    -d "$files" "$img" "${ext_mb}M"
  rm -rf "$files"

  # mkswap writes only its header page; conv=sparse skips the zeros of
  # the separate file, so the swap area keeps stale data like a used swap.
  truncate -s "${swap_mb}M" "$swap"
  chmod 600 "$swap"
  # It warns that a sparse file is no good as a swap file; we only want
  # the header, so show its output only if it fails.
  mkswap -L bench-swap "$swap" > "$tmpdir/mkswap.log" 2>&1 ||
    { cat "$tmpdir/mkswap.log" >&2; fail "mkswap failed"; }
  dd if="$swap" of="$img" bs=1M seek=$((1 + ext_mb)) conv=notrunc,sparse \
    status=none
  rm -f "$swap"
  (($(stat -c %s "$img") == SIZE_MB * 1024 * 1024)) ||
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
  alloc=$(allocated_bytes "$img")
  NONZERO=$("$BUILD_DIR/count-nonzero" "$img")
  # The files take ~30% of the disk; with stale data around them, nearly
  # all of it must be non-zero and allocated.
  ((NONZERO > SIZE_MB * 1024 * 1024 * 8 / 10)) ||
    fail "only $NONZERO non-zero bytes in $img: stale data lost (holes?)"
  ((alloc > SIZE_MB * 1024 * 1024 * 8 / 10)) ||
    fail "only $alloc bytes allocated in $img: mke2fs punched holes?"
}

# get_source_image: set IMG, NONZERO, FILES_BYTES and SRC_SHA, from the
# cache when it holds an image made with these parameters.
get_source_image () {
  local key=src-${SIZE_MB}M-v${GEN_VERSION} tmp
  if ! mkdir -p "$CACHE" 2>/dev/null || [[ ! -w $CACHE ]]; then
    CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/p2v-tests/bench
    mkdir -p "$CACHE"
  fi
  IMG=$CACHE/$key.img
  if [[ -f $IMG && -f $CACHE/$key.meta ]]; then
    log "using cached source image $IMG"
    NONZERO=$(sed -n 's/^nonzero=//p' "$CACHE/$key.meta")
    FILES_BYTES=$(sed -n 's/^files_bytes=//p' "$CACHE/$key.meta")
    SRC_SHA=$(sed -n 's/^sha256=//p' "$CACHE/$key.meta")
    [[ -n $NONZERO && -n $FILES_BYTES && -n $SRC_SHA ]] ||
      fail "$CACHE/$key.meta is damaged: remove it"
    # Cheap check that nobody has replaced or truncated the image.
    (($(stat -c %s "$IMG") == SIZE_MB * 1024 * 1024)) ||
      fail "$IMG has the wrong size: remove it"
    return 0
  fi
  log "building source image $IMG (cached for later runs)"
  tmp=$CACHE/.$key.$$.tmp
  on_exit "rm -f '$tmp'"
  make_source_image "$tmp"
  check_source_image "$tmp"
  SRC_SHA=$(sha256sum < "$tmp" | cut -d' ' -f1)
  # Write the image back now (this file only): otherwise the kernel
  # flushes gigabytes of it while the first method runs, and slows it.
  sync "$tmp"
  # The image first, then the meta that says it is complete.
  mv "$tmp" "$IMG"
  printf 'size_mb=%s\ngen_version=%s\nnonzero=%s\nfiles_bytes=%s\nsha256=%s\n' \
    "$SIZE_MB" "$GEN_VERSION" "$NONZERO" "$FILES_BYTES" "$SRC_SHA" \
    > "$CACHE/$key.meta.tmp"
  mv "$CACHE/$key.meta.tmp" "$CACHE/$key.meta"
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

# The ssh client of the dd methods: same key, known_hosts and account as
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

# check_output FILE: byte-identical to the source, or fail loudly.  Then
# delete it: dd outputs are full size.
check_output () {
  local sum
  [[ -f $1 ]] || fail "$METHOD: no output at $1"
  sum=$(sha256sum < "$1" | cut -d' ' -f1)
  [[ $sum == "$SRC_SHA" ]] ||
    fail "$METHOD: output $1 differs from the source (sha256 $sum, want $SRC_SHA)"
  rm -f "$1"
}

# Results, one line per method: name wire wall user sys rss
RESULTS=()
record () { RESULTS+=("$*"); }

warm_up () { cat "$IMG" > /dev/null; }

run_p2v () {
  METHOD=p2v
  local out=$tmpdir/out-p2v t=$tmpdir/t.p2v stats=$tmpdir/stats.json t0 t1 wire
  rm -rf "$out"
  warm_up
  log "p2v: p2v-agent send"
  t0=$(now)
  /usr/bin/time -f "$TIMEFMT" -o "$t" "$AGENT" send $(agent_ssh_opts) -q \
    --name bench --receiver-command "$RECEIVER --output-dir $out --force" \
    --stats "$stats" "$IMG" || fail "p2v-agent send failed"
  t1=$(now)
  P2V_STATS=$(cat "$stats")
  wire=$(sed 's/.*"wire_bytes":\([0-9]*\).*/\1/' "$stats")
  [[ $wire =~ ^[0-9]+$ ]] || fail "no wire_bytes in $P2V_STATS"
  P2V_ALLOC=$(allocated_bytes "$out/bench/disk0.raw")
  check_output "$out/bench/disk0.raw"
  rm -rf "$out"
  record p2v "$wire" "$(elapsed "$t0" "$t1")" $(sum_times "$t")
}

run_dd_ssh () {
  METHOD="dd|ssh"
  local out=$tmpdir/out-dd.raw t=$tmpdir/t.dd t0 t1
  warm_up
  log "dd|ssh"
  t0=$(now)
  /usr/bin/time -f "$TIMEFMT" -o "$t.dd" dd if="$IMG" bs=1M status=none |
    /usr/bin/time -f "$TIMEFMT" -o "$t.ssh" \
      "${SSH_CMD[@]}" "cat > $(printf %q "$out")$(remote_sync "$out")" ||
    fail "dd | ssh failed"
  t1=$(now)
  check_output "$out"
  record "dd|ssh" $((SIZE_MB * 1024 * 1024)) "$(elapsed "$t0" "$t1")" \
    $(sum_times "$t.dd" "$t.ssh")
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
  /usr/bin/time -f "$TIMEFMT" -o "$t.dd" dd if="$IMG" bs=1M status=none |
    /usr/bin/time -f "$TIMEFMT" -o "$t.zstd" zstd -q -1 -c |
    tee >(wc -c > "$cnt") |
    /usr/bin/time -f "$TIMEFMT" -o "$t.ssh" \
      "${SSH_CMD[@]}" "zstd -q -d -c > $(printf %q "$out")$(remote_sync "$out")" ||
    fail "dd | zstd | ssh failed"
  t1=$(now)
  wait_for 100 test -s "$cnt" || fail "could not count the compressed bytes"
  check_output "$out"
  record "dd|zstd|ssh" "$(cat "$cnt")" "$(elapsed "$t0" "$t1")" \
    $(sum_times "$t.dd" "$t.zstd" "$t.ssh")
}

########################################################################
# Reporting
########################################################################

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
mib () { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1048576 }'; }

link_desc () {
  if [[ -n $LINK ]]; then
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
  local r name wire wall min use
  echo
  echo "link $LINK_RATE: wire bytes / rate (payload only: TCP, IP and SSH overhead add ~5%)"
  for r in "${RESULTS[@]}"; do
    read -r name wire wall _ <<<"$r"
    min=$(awk -v w="$wire" -v b="$LINK_BPS" 'BEGIN { printf "%.2f", w * 8 / b }')
    use=$(awk -v m="$min" -v t="$wall" 'BEGIN { printf "%.0f", (t > 0) ? 100 * m / t : 0 }')
    printf '  %-12s needs %8.2f s at least, took %8.2f s: %3s%% of the link\n' \
      "$name" "$min" "$wall" "$use"
    ((use <= 102)) ||
      echo "  WARNING: $name was faster than $LINK_RATE: is the shaping working?"
  done
  echo "  tbf: $(link_stats)"
}

report () {
  local r name wire wall user sys rss p2v_wire p2v_wall p2v_cpu p2v_rss
  local json=$BUILD_DIR/bench-send.json sep="" rss_note
  read -r _ p2v_wire p2v_wall user sys p2v_rss <<<"${RESULTS[0]}"
  p2v_cpu=$(add "$user" "$sys")

  echo
  echo "p2v send benchmark: ${SIZE_MB} MiB source disk, $(nproc) CPUs, $(link_desc)"
  [[ -z $LINK ]] ||
    echo "  link: veth $LINK_VETH -> netns $LINK_NS, tc tbf $(tbf_desc) on the sending side"
  echo "  source: $IMG"
  echo "  non-zero bytes $NONZERO ($(mib "$NONZERO") MiB) of which files $FILES_BYTES ($(mib "$FILES_BYTES") MiB); the rest is stale data"
  echo "  ssh client cipher: $SSH_CIPHER; p2v-agent: libssh2 $LIBSSH2_VERSION (its own choice, see bench/README.md)"
  echo "  each method ran once, after a warm-up read of the image (cat IMG > /dev/null);"
  echo "  page cache not dropped; outputs $( ((FSYNC)) && echo "fsynced by every method" || echo "fsynced by p2v only")"
  echo "  CPU and peak RSS: sending side only; pipelines: sum over dd, zstd, ssh"
  echo
  printf '%-12s %14s %9s %8s %8s %8s %8s %10s\n' method "wire bytes" "wire MiB" \
    "wall s" "MiB/s" "user s" "sys s" "RSS KiB"
  for r in "${RESULTS[@]}"; do
    read -r name wire wall user sys rss <<<"$r"
    printf '%-12s %14s %9s %8.2f %8.1f %8.2f %8.2f %10s\n' "$name" "$wire" \
      "$(mib "$wire")" "$wall" "$(ratio "$SIZE_MB" "$wall")" "$user" "$sys" "$rss"
  done
  [[ -z $LINK ]] || link_report
  echo
  echo "relative to p2v (x > 1: p2v is better):"
  for r in "${RESULTS[@]:1}"; do
    read -r name wire wall user sys rss <<<"$r"
    printf '  %-12s / p2v: wall time %sx, wire bytes %sx, CPU %sx, peak RSS %sx\n' \
      "$name" "$(ratio "$wall" "$p2v_wall")" "$(ratio "$wire" "$p2v_wire")" \
      "$(ratio "$(add "$user" "$sys")" "$p2v_cpu")" "$(ratio "$rss" "$p2v_rss")"
  done

  {
    printf '{\n  "size_mb": %s,\n  "source_bytes": %s,\n' "$SIZE_MB" $((SIZE_MB * 1048576))
    printf '  "nonzero_bytes": %s,\n  "files_bytes": %s,\n' "$NONZERO" "$FILES_BYTES"
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
    printf '  "notes": "one run per method after cat IMG > /dev/null; page cache not dropped; cpu and rss are the sending side, summed over pipeline processes (tee, which counts, excluded)",\n'
    printf '  "p2v_stats": %s,\n  "p2v_output_allocated_bytes": %s,\n' "$P2V_STATS" "$P2V_ALLOC"
    printf '  "methods": ['
    for r in "${RESULTS[@]}"; do
      read -r name wire wall user sys rss <<<"$r"
      rss_note=$([[ $name == p2v ]] && echo "p2v-agent" || echo "sum of sending processes")
      printf '%s\n    {"method": "%s", "wire_bytes": %s, "wall_seconds": %s, "user_seconds": %s, "sys_seconds": %s, "peak_rss_kib": %s, "rss": "%s", "identical": true,\n' \
        "$sep" "$name" "$wire" "$wall" "$user" "$sys" "$rss" "$rss_note"
      printf '     "vs_p2v": {"wall": %s, "wire_bytes": %s, "cpu": %s, "peak_rss": %s}}' \
        "$(ratio "$wall" "$p2v_wall")" "$(ratio "$wire" "$p2v_wire")" \
        "$(ratio "$(add "$user" "$sys")" "$p2v_cpu")" "$(ratio "$rss" "$p2v_rss")"
      sep=,
    done
    printf '\n  ]\n}\n'
  } > "$json"
  echo
  echo "wrote $json"
}

########################################################################

# The link first: if it cannot be made here, skip before building images.
[[ -z $LINK ]] || link_setup
get_source_image
log "source: $IMG, non-zero $NONZERO bytes, files $FILES_BYTES bytes"

if [[ -n $LINK ]]; then
  start_sshd_link
  SSH_HOST=$LINK_NS_ADDR
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

for run in run_p2v run_dd_ssh run_dd_zstd_ssh; do
  $run
  [[ -z $LINK ]] || log "tbf so far: $(link_stats)"
done
report
