#!/bin/bash
# test-portable-agent: the portable agents (make portable), for old
# servers.  Each is static (file(1)), at most 8 MB, and says its build.
# Each runs in an empty chroot that holds only itself and /dev, /proc
# and /sys, the key and known-hosts file coming from /dev/shm as on a
# server: the x86_64 one natively, the i686 one through
# qemu-i386-static on a Pentium II (no SSE at all, so no SSE2: QEMU's
# Pentium III lets SSE2 integer instructions through; this host's
# kernel runs no 32-bit x86 code).  There each says its version, probes a disk (a
# loop device), plans it and sends it to our sshd; the copy is the
# disk.  Then the syscall audit, under tests/old-kernel, which answers
# ENOSYS to every system call newer than Linux 2.6.32: the i686 agent's
# probe, plan, send, track and hot-clone in a guest that runs 32-bit
# code (the libguestfs appliance); the x86_64 agent's here, and with
# /proc/self/mountinfo empty (a mounted source is still refused, and
# still frozen), with no O_DIRECT, and with no FIFREEZE (the hot clone
# stops saying what to do, publishes nothing, and --final=readonly
# then finishes it).  Every run succeeds; the calls refused, each
# answered by a fallback, are listed.
# Cold, the two sysroots take 10 to 20 minutes to build:
# run-tests: timeout 3000
source "$(dirname "$0")/functions.sh"
requires file qemu-i386-static mkfs.ext4 losetup chroot unshare apt-get guestfish ldd
(($(id -u) == 0)) || { echo "SKIP: loop devices, chroot and freezing need root" >&2; exit 77; }

portable_agent x86_64; x64=$PORTABLE_AGENT
portable_agent i686; x32=$PORTABLE_AGENT
start_sshd
out=$tmpdir/out
sed -i "s|^|command=\"$RECEIVER --no-fixup --output-dir $out\",restrict |" \
  "$tmpdir/sshd/authorized_keys"

# --- static, small, named -------------------------------------------------
for a in x86_64:"$x64" i686:"$x32"; do
  arch=${a%%:*} bin=${a#*:}
  desc=$(file -b "$bin")
  echo "$(basename "$bin"): $(stat -c %s "$bin") bytes; $desc"
  [[ $desc == *"statically linked"* ]] || fail "$bin is not statically linked"
  (($(stat -c %s "$bin") <= 8000000)) || fail "$bin is larger than 8 MB"
done
[[ $(file -b "$x32") == *"Intel 80386"* ]] || fail "$x32 is not i386 code"
if "$x32" --version >/dev/null 2>&1; then
  echo "(this host runs the i686 agent itself, binfmt_misc or IA32 emulation)"
else
  echo "(this host's kernel runs no 32-bit x86 code: the i686 agent runs through qemu-i386-static)"
fi

# --- an empty chroot: the binary, /dev, /proc, /sys -------------------------
make_test_disk "$tmpdir/disk.img" 64
loop=$(losetup -f --show -r "$tmpdir/disk.img")
on_exit "losetup -d $loop"
shm=$(mktemp -d /dev/shm/p2v-test.XXXXXX)
on_exit "rm -rf $shm"
cp "$SSH_KEY" "$shm/key"
sed "s/^\[127.0.0.1\]:$SSHD_PORT/[127.0.0.1]:$SSHD_PORT/" "$SSH_KNOWN_HOSTS" > "$shm/known_hosts"
root=$tmpdir/root
mkdir -p "$root"/{dev,proc,sys}
cp "$x64" "$x32" "$(command -v qemu-i386-static)" "$root/"
# In a mount namespace of the test's own: the mounts go with it.
in_chroot () {
  unshare -m sh -ec 'r=$1; shift
    mount --rbind /dev "$r/dev"; mount -t proc proc "$r/proc"; mount -t sysfs sysfs "$r/sys"
    exec chroot "$r" "$@"' sh "$root" "$@"
}
for arch in x86_64 i686; do
  run=(/p2v-agent-x86_64)
  [[ $arch == i686 ]] && run=(/qemu-i386-static -cpu pentium2 /p2v-agent-i686)
  [[ $(ls "$root" | tr "\n" " ") == "dev p2v-agent-i686 p2v-agent-x86_64 proc qemu-i386-static sys " ]] ||
    fail "the chroot holds more than the agents: $(ls "$root")"
  in_chroot "${run[@]}" --version | tee "$tmpdir/version"
  grep -q "^p2v-agent [0-9.]* (portable $arch, static, musl [0-9.]*)$" "$tmpdir/version" ||
    fail "$arch: --version does not name the portable build"
  in_chroot "${run[@]}" probe "$loop" > "$tmpdir/probe-$arch" 2>&1 ||
    { cat "$tmpdir/probe-$arch"; fail "$arch: probe failed in the chroot"; }
  grep -q "ext4" "$tmpdir/probe-$arch" || { cat "$tmpdir/probe-$arch"; fail "$arch: probe saw no ext4"; }
  in_chroot "${run[@]}" plan "$loop" > "$tmpdir/plan-$arch" 2>&1 ||
    { cat "$tmpdir/plan-$arch"; fail "$arch: plan failed in the chroot"; }
  in_chroot "${run[@]}" send --to "$(id -un)@127.0.0.1" --port "$SSHD_PORT" \
    --identity "$shm/key" --known-hosts "$shm/known_hosts" --name "chroot-$arch" -q "$loop" ||
    fail "$arch: send from the empty chroot failed"
  cmp "$tmpdir/disk.img" "$out/chroot-$arch/disk0.raw" ||
    fail "$arch: the copy differs from the disk"
  echo "$arch: version, probe, plan and send work in the empty chroot; the copy is the disk"
done

# --- the i686 agent in a 32-bit-capable guest, on 2.6.32's calls ------------
# The libguestfs appliance: a QEMU guest whose Debian amd64 kernel runs
# 32-bit x86 code.  There tests/old-kernel filters i386 system calls
# (under qemu-user it would see only QEMU's own).  The receiver it
# starts (--local) is this build's, with its libraries.
make_kit "$tmpdir/kit.img" "$x32" "$RECEIVER" "$P2V_BUILD/old-kernel"
head -c 12000000 /dev/urandom > "$tmpdir/src.img"
truncate -s 32M "$tmpdir/src.img"
truncate -s 128M "$tmpdir/hot32.img"
mkfs.ext4 -q -d "$tmpdir/disk-files" "$tmpdir/hot32.img"
start_appliance "$tmpdir/kit.img:kit" "$tmpdir/src.img:src" "$tmpdir/hot32.img:hot"
appliance_kit kit
dev=/dev/disk/guestfs
a32="env PATH=/tmp/p2v/bin:/usr/sbin:/sbin:/usr/bin:/bin LD_LIBRARY_PATH=/tmp/p2v/lib \
  ASAN_OPTIONS=${ASAN_OPTIONS:-} old-kernel --log /tmp/refused.\$step p2v-agent-i686"
recv="--receiver-command 'p2v-receiver --no-fixup --output-dir /tmp/out'"
app "set -e; cd /tmp
  step=probe; $a32 probe $dev/src > /dev/null
  step=plan; $a32 plan --name src32 $dev/src > /dev/null
  step=send; $a32 send --local --name src32 -q $recv $dev/src
  cmp $dev/src /tmp/out/src32/disk0.raw
  step=track; $a32 track --seconds 1 $dev/src > /dev/null
  mkdir /tmp/m; mount $dev/hot /tmp/m
  (while :; do head -c 65536 /dev/urandom >> /tmp/m/grow; sleep 0.05; done) & w=\$!
  step=hot; $a32 hot-clone --local --name hot32 --converge-bytes 1M $recv \
    --frozen-command 'dd if=$dev/hot of=/tmp/hot.frozen bs=1M iflag=direct status=none' $dev/hot \
    > /tmp/hot.log 2>&1 || { cat /tmp/hot.log; exit 1; }
  kill \$w
  cmp /tmp/hot.frozen /tmp/out/hot32/disk0.raw
  grep 'tracking writes' /tmp/hot.log
  cat /tmp/refused.*" > "$tmpdir/i686.out" ||
  { cat "$tmpdir/i686.out"; fail "the i686 agent failed in the guest on 2.6.32's calls"; }
grep "refused to" "$tmpdir/i686.out" > "$tmpdir/refused.i686" || true
grep -q "statx (Linux 4.11) refused to p2v-agent-i686" "$tmpdir/refused.i686" ||
  { cat "$tmpdir/i686.out"; fail "the i686 audit refused no statx (musl's stat): the filter did not work"; }
echo "i686 in the appliance: probe, plan, send (the copy is the disk), track and hot-clone (the"
echo "target is the frozen disk) on 2.6.32's calls; $(grep 'tracking writes' "$tmpdir/i686.out")"

# --- the syscall audit: Linux 2.6.32's system calls only --------------------
old=("$P2V_BUILD/old-kernel")
audit () { "${old[@]}" --log "$tmpdir/refused.$1" "${@:2}"; }
audit probe "$x64" probe "$loop" > "$tmpdir/audit-probe" 2>&1 ||
  { cat "$tmpdir/audit-probe"; fail "probe failed on 2.6.32's calls"; }
audit plan "$x64" plan "$loop" > /dev/null || fail "plan failed on 2.6.32's calls"
audit send "$x64" send $(ssh_opts) --name audit-send -q "$loop" || fail "send failed on 2.6.32's calls"
cmp "$tmpdir/disk.img" "$out/audit-send/disk0.raw" || fail "audit: the copy differs from the disk"
audit track "$x64" track --seconds 2 "$loop" > "$tmpdir/audit-track" 2>&1 ||
  { cat "$tmpdir/audit-track"; fail "track failed on 2.6.32's calls"; }
# The agent's memfd_create fallback (flattening md, which this host
# cannot assemble), on the same code in its unit test.
audit memfd "$P2V_BUILD/test-fileio" 2>/dev/null || fail "p2v_memfd failed on 2.6.32's calls"
grep -q "memfd_create (Linux 3.17) refused" "$tmpdir/refused.memfd" ||
  fail "memfd_create was not refused: the fallback was not tested"

# A mounted filesystem, written while it is copied.
truncate -s 256M "$tmpdir/hot.img"
mkfs.ext4 -q "$tmpdir/hot.img"
hot=$(losetup -f --show "$tmpdir/hot.img")
on_exit "losetup -d $hot"
mnt=$tmpdir/mnt
mkdir -p "$mnt"
mount "$hot" "$mnt"
on_exit "umount $mnt"
for i in $(seq 1 20); do head -c 1M /dev/urandom > "$mnt/f$i"; done
sync
writer () {
  local n=0
  while :; do
    n=$((n + 1))
    head -c 64k /dev/urandom >> "$mnt/grow" || return
    dd if=/dev/urandom of="$mnt/f$((n % 20 + 1))" bs=64k count=1 seek=$((n % 16)) \
      conv=notrunc status=none
    sleep 0.05
  done
}

# With /proc/self/mountinfo empty, /proc/mounts still says it is mounted.
"${old[@]}" --no-mountinfo "$x64" send --local --name refused "$hot" 2>"$tmpdir/err" &&
  fail "a mounted filesystem was sent without --allow-mounted"
grep -q "no usable /proc/self/mountinfo (Linux before 2.6.26?): reading /proc/mounts instead" "$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "the mountinfo fallback was not reported"; }
grep -q "mounted read-write" "$tmpdir/err" || { cat "$tmpdir/err"; fail "the mounted source was not refused"; }

# hotclone NAME [OLD-KERNEL OPTION...] -- [AGENT OPTION...]: hot-clone
# $hot to NAME on 2.6.32's calls, the writer running; the frozen copy
# (read past the device's cache, flushed: O_DIRECT may be refused)
# and the target must be equal.
hotclone () {
  local name=$1 opts=() w rc=0
  shift
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  writer & w=$!
  "${old[@]}" --log "$tmpdir/refused.$name" "${opts[@]}" "$x64" hot-clone $(ssh_opts) \
    --name "$name" --converge-bytes 2M \
    --frozen-command "blockdev --flushbufs $hot && dd if=$hot of=$tmpdir/$name.frozen bs=1M status=none" \
    "$@" "$hot" > "$tmpdir/$name.log" 2>&1 || rc=$?
  kill "$w"; wait "$w" 2>/dev/null || true
  return $rc
}
hotclone audit-hot --no-mountinfo -- || { cat "$tmpdir/audit-hot.log"; fail "hot-clone failed on 2.6.32's calls"; }
cmp "$tmpdir/audit-hot.frozen" "$out/audit-hot/disk0.raw" || fail "hot-clone: the target is not the frozen disk"
hotclone audit-nodirect --no-odirect -- ||
  { cat "$tmpdir/audit-nodirect.log"; fail "hot-clone without O_DIRECT failed"; }
grep -q "$hot: no direct reads here (O_DIRECT: Invalid argument)" "$tmpdir/audit-nodirect.log" ||
  fail "the O_DIRECT fallback was not reported"
cmp "$tmpdir/audit-nodirect.frozen" "$out/audit-nodirect/disk0.raw" ||
  fail "hot-clone without O_DIRECT: the target is not the frozen disk"
hotclone audit-nofreeze --no-fifreeze -- && fail "hot-clone succeeded without FIFREEZE"
grep -q "cannot freeze it: .* (the kernel or this filesystem has no freeze: nothing is published; run hot-clone again with --final=readonly" \
  "$tmpdir/audit-nofreeze.log" || { cat "$tmpdir/audit-nofreeze.log"; fail "no clear message without FIFREEZE"; }
[[ $(cat "$out/audit-nofreeze/status" 2>/dev/null) != complete ]] ||
  fail "a conversion that was never frozen was published"
# --final=readonly remounts: the writer must be stopped first, as the
# operator stops the services that write.
"${old[@]}" --no-fifreeze "$x64" hot-clone $(ssh_opts) --name audit-nofreeze --final=readonly \
  --frozen-command "blockdev --flushbufs $hot && dd if=$hot of=$tmpdir/ro.frozen bs=1M status=none" \
  "$hot" > "$tmpdir/audit-ro.log" 2>&1 || { cat "$tmpdir/audit-ro.log"; fail "--final=readonly failed"; }
cmp "$tmpdir/ro.frozen" "$out/audit-nofreeze/disk0.raw" || fail "--final=readonly: the target is not the disk"

echo "The calls refused to the portable agent (each answered by its fallback):"
cat "$tmpdir"/refused.* | grep -E "refused to (p2v-agent|test-fileio)" |
  sed 's/, [0-9]* times$//' | sort -u | sed 's/^/  /'
grep -q "close_range (Linux 5.9) refused to p2v-agent" "$tmpdir/refused.audit-hot" ||
  fail "the audit refused nothing the freeze calls: the filter did not work"
echo ok
