# Shared helpers for tests/test-*.sh, bench/ and the demo.  Source it.
#
#   requires CMD...      skip the test (exit 77) naming what is missing
#   fail MSG             print MSG and exit 1
#   on_exit CMD          run CMD when the script ends (LIFO)
#   start_sshd           our own sshd on 127.0.0.1 with temp keys; sets
#                        SSHD_PORT, SSHD_PID, SSH_KEY, SSH_KNOWN_HOSTS,
#                        SSHD_HOST_PUB
#   make_test_disk FILE  a partitioned disk image with ext4 + files + swap
#   host_macs            this host's NICs' MACs
#   sleeping_fixup FILE  a stand-in p2v-fixup that sleeps, with a child
#   live_image [i686]    the live image, as make liveimage builds it (cached);
#                        sets LIVE_IMG
#
# P2V_BUILD (default build) names the directory holding the binaries.

set -euo pipefail

top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
P2V_BUILD=${P2V_BUILD:-$top_srcdir/build}
case $P2V_BUILD in /*) ;; *) P2V_BUILD=$top_srcdir/$P2V_BUILD ;; esac
AGENT=$P2V_BUILD/p2v-agent
RECEIVER=$P2V_BUILD/p2v-receiver
unset SSH_AUTH_SOCK             # never use the caller's ssh-agent
# The libguestfs appliance under TCG: KVM, where /dev/kvm exists at all
# on these machines, is nested and hangs or aborts (QEMU's "failed to
# set MSR 0x10a").  (A receiver behind sshd does not inherit this: its
# forced command sets them itself.)
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}

_exit_cmds=()
on_exit () { _exit_cmds+=("$*"); }
_run_exit_cmds () {
  local i
  for ((i = ${#_exit_cmds[@]} - 1; i >= 0; i--)); do
    eval "${_exit_cmds[i]}" || true
  done
}
trap _run_exit_cmds EXIT

fail () { echo "FAIL: $*" >&2; exit 1; }

requires () {
  local c
  for c; do
    command -v "$c" >/dev/null 2>&1 || {
      echo "SKIP: required command '$c' is not installed" >&2
      exit 77
    }
  done
}

# A private scratch directory, removed at exit.
tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/p2v-test.XXXXXX")
on_exit "rm -rf '$tmpdir'"

# Wait (bounded) until a command succeeds.
wait_for () {
  local tries=$1; shift
  while ((tries-- > 0)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# sshd_setup DIR COMMENT: host and user keys; sets SSH_KEY, SSHD_HOST_PUB.
sshd_setup () {
  local d=$1
  [[ -x /usr/sbin/sshd ]] || { echo "SKIP: /usr/sbin/sshd not installed" >&2; exit 77; }
  mkdir -p "$d"
  [[ $(id -u) -ne 0 ]] || mkdir -p /run/sshd   # privilege separation dir
  ssh-keygen -q -t ed25519 -N '' -C "$2-host" -f "$d/host_key"
  ssh-keygen -q -t ed25519 -N '' -C "$2-user" -f "$d/user_key"
  cp "$d/user_key.pub" "$d/authorized_keys"
  SSH_KEY=$d/user_key
  SSHD_HOST_PUB=$d/host_key.pub
}

# sshd_config DIR ADDRESS PORT: a private config listening only there.
sshd_config () {
  local d=$1
  cat > "$d/sshd_config" <<CONF
Port $3
ListenAddress $2
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
LogLevel VERBOSE
CONF
  : > "$d/sshd.log"
}

# sshd_known_hosts DIR ADDRESS PORT: sets SSH_KNOWN_HOSTS for that sshd.
sshd_known_hosts () {
  SSH_KNOWN_HOSTS=$1/known_hosts
  printf '[%s]:%s %s\n' "$2" "$3" "$(cut -d' ' -f1,2 "$1/host_key.pub")" \
    > "$SSH_KNOWN_HOSTS"
}

start_sshd () {
  local d=$tmpdir/sshd try
  sshd_setup "$d" p2v-test
  for try in 1 2 3 4 5 6 7 8 9 10; do
    SSHD_PORT=$((20000 + RANDOM % 40000))
    sshd_config "$d" 127.0.0.1 "$SSHD_PORT"
    /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
    SSHD_PID=$!
    if wait_for 100 grep -q "Server listening" "$d/sshd.log"; then
      on_exit "kill $SSHD_PID 2>/dev/null; wait $SSHD_PID 2>/dev/null"
      sshd_known_hosts "$d" 127.0.0.1 "$SSHD_PORT"
      return 0
    fi
    kill "$SSHD_PID" 2>/dev/null || true
    wait "$SSHD_PID" 2>/dev/null || true
  done
  cat "$d/sshd.log" >&2
  fail "could not start sshd on 127.0.0.1"
}

# start_libvirtd: our own libvirtd (system mode, as DESIGN.md says it
# runs here) on a private socket; sets LIBVIRT_URI.  It runs in a mount
# namespace of its own, where /dev/kvm is an empty file only root may
# open (nested KVM hangs or aborts here), so that libvirt's check of it
# and QEMU's probe both say there is no KVM: when the two disagree (a
# /dev/kvm its QEMU user can open but not use, or one it cannot open
# while the probe's QEMU could), libvirt probes QEMU again on every
# call, 15 s to a minute each; and /run/libvirt is a directory of the
# test's own: two libvirtds (two tests at once, the CI's two passes)
# would fight over its drivers' pid files there, and the second one die.  Domains are of type qemu (TCG).  Domains
# a test defines persist in /etc/libvirt/qemu: name them with
# test_domain_name, which also undefines them at exit.
start_libvirtd () {
  local d=$tmpdir/libvirt
  [[ -x /usr/sbin/libvirtd ]] || { echo "SKIP: libvirtd not installed" >&2; exit 77; }
  (($(id -u) == 0)) || { echo "SKIP: libvirtd in system mode needs root" >&2; exit 77; }
  mkdir -p "$d/run"
  cat > "$d/libvirtd.conf" <<CONF
unix_sock_dir = "$d/run"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$d/libvirtd.log"
CONF
  local kvm=
  if [[ -e /dev/kvm ]]; then
    : > "$d/no-kvm"
    chmod 600 "$d/no-kvm"
    kvm="mount --bind '$d/no-kvm' /dev/kvm &&"
  fi
  # The domains it starts log their consoles to files, not through a
  # virtlogd (which would need a socket of its own in /run/libvirt),
  # and have no /dev of their own (our /dev/kvm is a bind-mounted
  # file).  They run as libvirt-qemu, which must not be able to open
  # that /dev/kvm either (see above): a test that starts one lets it
  # into $tmpdir.
  { cat /etc/libvirt/qemu.conf
    printf '%s\n' 'stdio_handler = "file"' 'namespaces = []'
  } > "$d/qemu.conf"
  mkdir -p /run/libvirt "$d/state"
  chmod 755 "$d/state"
  # The namespaces are held by a process of their own, so that
  # restart_libvirtd starts the new one in them.  Mounts made after
  # this are not in libvirtd's (/ is not shared here).  Its network namespace
  # is new too: the bridges of the networks a test defines, and the
  # domains' NICs, are inside it.
  unshare -m -n sh -c "$kvm mount --bind '$d/state' /run/libvirt &&
    mount --bind '$d/qemu.conf' /etc/libvirt/qemu.conf && : > '$d/ns-ready' &&
    exec sleep 86400" &
  _LIBVIRT_NS=$!
  on_exit "kill $_LIBVIRT_NS 2>/dev/null"
  wait_for 100 test -e "$d/ns-ready" || fail "libvirtd's namespaces were not made"
  _libvirtd_up
  on_exit "kill \$(cat '$d/pid') 2>/dev/null"
  LIBVIRT_URI="qemu:///system?socket=$d/run/libvirt-sock"
}
_libvirtd_up () {
  local d=$tmpdir/libvirt
  nsenter -t "$_LIBVIRT_NS" -m -n /usr/sbin/libvirtd -d -p "$d/pid" -f "$d/libvirtd.conf" ||
    fail "libvirtd did not start: $(tail -5 "$d/libvirtd.log" 2>/dev/null)"
  wait_for 100 test -S "$d/run/libvirt-sock" -a -s "$d/pid" ||
    fail "libvirtd did not start: $(tail -5 "$d/libvirtd.log" 2>/dev/null)"
}

# restart_libvirtd: stop our libvirtd (by its pid) and start it again;
# its running domains carry on (their state is kept in $tmpdir, which
# the new one sees as /run/libvirt).
restart_libvirtd () {
  local d=$tmpdir/libvirt pid
  pid=$(cat "$d/pid")
  kill "$pid"
  wait_for 300 sh -c "! kill -0 $pid 2>/dev/null" || fail "libvirtd $pid did not stop"
  rm -f "$d/pid"
  _libvirtd_up
}

# test_domain_name SUFFIX: sets DOMAIN to a name no one else uses, which
# is undefined at exit (call it directly, not in $(...)).
test_domain_name () {
  DOMAIN=p2v-test-$$-$1
  on_exit "virsh -q -c '$LIBVIRT_URI' undefine --nvram '$DOMAIN' >/dev/null 2>&1 || virsh -q -c '$LIBVIRT_URI' undefine '$DOMAIN' >/dev/null 2>&1"
}

# live_image [i686]: sets LIVE_IMG to a directory holding the live
# image (vmlinuz, initrd.img, p2v-live.iso) that liveimage/build.sh
# makes as make liveimage does: of an agent built with NBD=0 (no
# sanitizer: the same binary for make check and make check-asan), or
# for i686 of the portable i686 agent and Debian's i386 packages.
# Cached (tests/cache.sh) in /var/cache/p2v-tests/live, keyed by the
# agent, liveimage/ and every installed package's version (the image
# copies the kernel, its modules and this machine's libraries and
# tools), and for i686 by apt's lists of i386 packages.
live_image () {
  local arch=${1:-x86_64} agent key
  if [[ $arch == i686 ]]; then
    portable_agent i686
    agent=$PORTABLE_AGENT
  else
    agent=$P2V_BUILD/live/p2v-agent
    make -s -C "$top_srcdir" O="$P2V_BUILD/live" NBD=0 SAN= CFLAGS="-O2 -g" "$agent" >&2
  fi
  key=$( { cat "$agent" "$top_srcdir"/liveimage/*; dpkg-query -W
           [[ $arch == x86_64 ]] || cat /var/lib/apt/lists/*_binary-i386_Packages*; } |
         sha256sum | cut -c1-16)
  LIVE_IMG=$("$top_srcdir/tests/cache.sh" --prune "live-$arch-*" /var/cache/p2v-tests/live \
    "live-$arch-$key" "$top_srcdir/liveimage/build.sh" --arch "$arch" "$agent") ||
    fail "the $arch live image did not build"
}

# portable_agent ARCH: sets PORTABLE_AGENT to make portable's agent for
# ARCH (x86_64 or i686), built from this tree into $P2V_BUILD (the same
# binary in make check and make check-asan: static, no sanitizer).  Its
# sysroot is a cached fixture (p2v-agent/portable/build.sh), built
# once: minutes cold.
portable_agent () {
  PORTABLE_AGENT=$P2V_BUILD/p2v-agent-$1
  "$top_srcdir/p2v-agent/portable/build.sh" "$1" "$PORTABLE_AGENT" >&2 ||
    fail "the portable $1 agent did not build"
}

# start_appliance IMAGE:LABEL...: a libguestfs appliance (guestfish
# --listen, stopped at the end) with those raw images as its drives,
# each named /dev/disk/guestfs/LABEL there (the appliance's kernel may
# give its own disk one of the sdX names).  Then gf runs a guestfish
# command on it, and app a script in it.
start_appliance () {
  local d
  eval "$(guestfish --listen)"
  [[ -n $GUESTFISH_PID ]] || fail "guestfish --listen did not start"
  on_exit "timeout 60 guestfish --remote exit 2>/dev/null; kill $GUESTFISH_PID 2>/dev/null"
  for d in "$@"; do
    gf add "${d%:*}" format:raw label:"${d##*:}" || fail "cannot add ${d%:*}"
  done
  gf run || fail "the libguestfs appliance did not start"
}
gf () { timeout 600 guestfish --remote "$@"; }
# make_kit IMAGE PROGRAM...: an ext4 image holding the programs (bin/)
# and the shared libraries they link (lib/), for the appliance, which is
# made from this machine's packages (the same glibc).
make_kit () {
  local img=$1 kit=$tmpdir/kit.$RANDOM lib
  shift
  mkdir -p "$kit/bin" "$kit/lib"
  cp "$@" "$kit/bin/"
  for lib in $(ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
    cp -L "$lib" "$kit/lib/"
  done
  truncate -s $(($(du -sm "$kit" | cut -f1) + 32))M "$img"
  mkfs.ext4 -q -d "$kit" "$img" || fail "cannot make the kit disk $img"
}
# appliance_kit LABEL: the kit on drive LABEL into the appliance's
# /tmp/p2v (bin/, lib/).
appliance_kit () {
  gf mount-ro "/dev/disk/guestfs/$1" / && app "cp -a /sysroot/. /tmp/p2v" >/dev/null &&
    gf umount / || fail "cannot copy the kit into the appliance"
}
# app SCRIPT: run SCRIPT in the appliance; its output (stdout and
# stderr) on stdout, its status as ours.  SCRIPT travels in base64,
# past guestfish's own quoting; guestfish ends its server on a failed
# command, so the status travels in the output.
app () {
  local out
  out=$(gf debug sh "echo $(base64 -w0 <<<"$1") | base64 -d | sh 2>&1; echo __rc=\$?" 2>&1) ||
    fail "the appliance did not run '$1': $out"
  printf '%s' "${out%__rc=*}"
  return "${out##*__rc=}"
}

# Options that make p2v-agent use our sshd.
ssh_opts () {
  echo --to "$(id -un)@127.0.0.1" --port "$SSHD_PORT" --identity "$SSH_KEY" \
       --known-hosts "$SSH_KNOWN_HOSTS"
}

# host_macs: this host's NICs' MACs (not the empty or all-zero ones of
# lo and tunnels), which no direct-attach domain may carry.
host_macs () {
  cat /sys/class/net/*/address 2>/dev/null |
    grep -xiE '([0-9a-f]{2}:){5}[0-9a-f]{2}' | grep -vx '00:00:00:00:00:00' || true
}

# sleeping_fixup FILE: a stand-in p2v-fixup (for --fixup-program) that
# only sleeps, with a child of its own in place of the appliance; it
# writes their pids to $tmpdir/fixup.pid and $tmpdir/appliance.pid.
sleeping_fixup () {
  printf '#!/bin/sh\nsleep 300 &\necho $! > %s/appliance.pid\necho $$ > %s/fixup.pid\nexec sleep 300\n' \
    "$tmpdir" "$tmpdir" > "$1"
  chmod +x "$1"
}

# make_test_disk FILE [SIZE_MB]: MBR, a 1 MiB boot gap, an ext4 partition
# made by mkfs.ext4 -d with real files, and a swap partition.  Built on a
# sparse file, so bytes that are not data read as zeros.
make_test_disk () {
  local img=$1 mb=${2:-64} files=$tmpdir/disk-files
  local swap_mb=8 ext_mb
  ext_mb=$((mb - 1 - swap_mb - 1))
  rm -rf "$files"; mkdir -p "$files/etc" "$files/data"
  seq 1 200000 > "$files/data/numbers.txt"
  head -c 3M /dev/urandom > "$files/data/random.bin"
  printf 'p2v test disk\n' > "$files/etc/motd"
  cp -r /usr/share/doc/coreutils "$files/data/" 2>/dev/null || true
  rm -f "$img"; truncate -s "${mb}M" "$img"
  printf 'label: dos\nstart=2048, size=%dM, type=83\ntype=82\n' "$ext_mb" |
    sfdisk -q "$img"
  mkfs.ext4 -q -F -E offset=$((2048 * 512)) -d "$files" "$img" "${ext_mb}M"
  # GRUB-like bytes in the boot gap, as a real disk would have.
  printf 'GRUB boot code stand-in' | dd of="$img" bs=1 seek=$((64 * 512)) \
    conv=notrunc status=none
  truncate -s "${swap_mb}M" "$tmpdir/swap.img"
  mkswap "$tmpdir/swap.img" >/dev/null 2>&1
  dd if="$tmpdir/swap.img" of="$img" bs=1M seek=$((1 + ext_mb)) \
    conv=notrunc,sparse status=none
}

# Bytes of FILE in 4 KiB blocks that hold anything but zeros.
nonzero_bytes () { "$P2V_BUILD/count-nonzero" "$1"; }
allocated_bytes () { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }

# make_stale_fs FSIMG SIZE_MB MKFS...: a filesystem image whose free space
# holds stale non-zero data, as on a real disk where files were deleted:
# random bytes first, then mkfs (told not to discard), files copied in.
make_stale_fs () {
  local img=$1 mb=$2; shift 2
  rm -f "$img"
  head -c "${mb}M" /dev/urandom > "$img"
  "$@" "$img" >/dev/null
}

# A directory of files with known checksums, for make_stale_fs -d and
# for checking a converted filesystem afterwards.
make_marker_files () {
  local d=$1
  mkdir -p "$d/etc" "$d/srv/data"
  seq 1 100000 > "$d/srv/data/numbers.txt"
  head -c 2M /dev/urandom > "$d/srv/data/random.bin"
  printf 'converted by p2v\n' > "$d/etc/motd"
  for i in $(seq 1 20); do head -c $((i * 1000)) /dev/urandom > "$d/srv/f$i"; done
}

# checksums DIR: sorted "sha256  path" lines for every file under DIR.
checksums () { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# put_partition DISK FSIMG START_SECTOR: copy a filesystem image in.
put_partition () {
  dd if="$2" of="$1" bs=512 seek="$3" conv=notrunc status=none
}

# get_partition DISK OUT START_SECTOR SECTORS
get_partition () {
  dd if="$1" of="$2" bs=512 skip="$3" count="$4" status=none
}

# convert_partition NAME PARTIMG MBRTYPE [AGENT-OPTION...]: a fresh disk
# whose partition 1 (at 1 MiB, MBR type MBRTYPE) holds PARTIMG, converted
# with --local; the converted partition is cut out to $tmpdir/NAME.got.
# The agent's messages go to $tmpdir/NAME.err (and are shown), its
# stats to $tmpdir/NAME.json.
convert_partition () {
  local name=$1 part=$2 type=$3 disk=$tmpdir/$1.disk sectors; shift 3
  sectors=$((($(stat -c %s "$part") + 511) / 512))
  rm -f "$disk"; truncate -s $(((2048 + sectors) * 512 + 1048576)) "$disk"
  printf 'label: dos\nstart=2048, size=%d, type=%s\n' "$sectors" "$type" |
    sfdisk -q "$disk"
  put_partition "$disk" "$part" 2048
  "$AGENT" send --local --name "$name" --stats "$tmpdir/$name.json" "$@" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $tmpdir/out" "$disk" \
    2> "$tmpdir/$name.err" ||
    { cat "$tmpdir/$name.err"; fail "$name: p2v-agent send failed"; }
  cat "$tmpdir/$name.err"
  get_partition "$tmpdir/out/$name/disk0.raw" "$tmpdir/$name.got" 2048 \
    "$sectors"
  rm -f "$disk"
}

# punch_free_ext IMG OFFSET: make the free blocks of the ext2/3/4
# filesystem at OFFSET in IMG read as zeros (holes), as a sparse copy
# of it would have them; the filesystem itself is only read (dumpe2fs).
punch_free_ext () {
  local img=$1 off=$2 lo dump bs range
  lo=$(losetup -r -f --show -o "$off" "$img")
  dump=$(dumpe2fs "$lo" 2>/dev/null)
  losetup -d "$lo"
  bs=$(sed -n 's/^Block size: *//p' <<<"$dump")
  for range in $(sed -n 's/^ *Free blocks: //p' <<<"$dump" | tr ',' ' '); do
    fallocate -p -o $((off + ${range%-*} * bs)) \
      -l $(((${range#*-} - ${range%-*} + 1) * bs)) "$img"
  done
}

# json_field FILE FIELD: a number from a one-line JSON object.
json_field () { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }
