#!/bin/bash
# test-attach: a fleet machine's disk attached to this host (a
# read-only loop device of xfs-nm's image: the "SATA disk") runs as the
# VM at once, on an overlay, under the test's own libvirtd (QEMU, TCG),
# and moves into its image while it runs (p2v-receiver attach).
#  1. The image's filesystem is too full: the copy stops, attach says
#     so and exits 1, and the VM runs on.
#  2. With room made, attach again: the guest reaches its login on the
#     new MAC with its old NIC name and IP, and a writer starts in it.
#     libvirtd is restarted during the copy (attach waits for it), then
#     attach is stopped (SIGTERM: it says the copy goes on) and the
#     copy itself is killed (its block job aborted); the VM runs on.
#  3. attach again finishes: the pivot; the domain's XML (live and
#     defined) names only the image; the report has the downtime.
# Before all that, wrong arguments, a device in use and a name that is
# a conversion are refused, and nothing is made.
# Then the writer stops, the guest shuts down cleanly, the image passes
# xfs_repair -n, and with the device detached the domain boots again
# from its image alone, on its new MAC with its IP, root on it, the
# writer's files and the machine's own intact.  The device's SHA-256
# never changes.
# run-tests: timeout 2400
source "$(dirname "$0")/functions.sh"
requires qemu-system-x86_64 qemu-img qemu-nbd virsh expect losetup mkfs.ext4 \
  xfs_repair sfdisk python3
(($(id -u) == 0)) || { echo "SKIP: loop devices and libvirtd need root" >&2; exit 77; }

member=xfs-nm
dir=$("$top_srcdir/tests/fleet/build.sh" "$member") || fail "$member: fleet build failed"
# shellcheck disable=SC1091
source "$dir/machine.env"
# The images' filesystem: small, and nearly full for step 1; mounted
# before libvirtd starts, in a mount namespace of its own (a copy).
storage=$tmpdir/storage
mkdir "$storage"
truncate -s 1600M "$tmpdir/storage.img"
mkfs.ext4 -q -m 0 "$tmpdir/storage.img"
mount -o loop "$tmpdir/storage.img" "$storage"
on_exit "umount '$storage'"
chmod 755 "$storage"
fallocate -l "$(($(df -B1 --output=avail "$storage" | tail -1) - (200 << 20)))" \
  "$storage/filler"

start_libvirtd
chmod 711 "$tmpdir"            # QEMU runs as libvirt-qemu
V=(virsh -q -c "$LIBVIRT_URI")
test_domain_name attach
on_exit "virsh -q -c '$LIBVIRT_URI' destroy '$DOMAIN' >/dev/null 2>&1"
printf "<network><name>p2v-attach</name><bridge name='p2vat%s'/></network>\n" \
  "$((RANDOM % 1000))" > "$tmpdir/net.xml"
"${V[@]}" net-create "$tmpdir/net.xml" >/dev/null      # transient: nothing in /etc

dev=$(losetup -f --show -r "$dir/disk0.img")
# (Detached at the end; a number detached once may be someone else's.)
on_exit '[[ -z $dev ]] || losetup -d "$dev"'

sum () { sha256sum < "$dev" | cut -d' ' -f1; }
sha=$(sum)

echo "== wrong arguments, a device in use, a name that is a conversion"
# bad MESSAGE ARG...: attach exits 1 saying MESSAGE, and makes nothing.
bad () {
  local want=$1 rc=0
  shift
  "$RECEIVER" --output-dir "$tmpdir/bad" "$@" 2> "$tmpdir/bad.err" || rc=$?
  ((rc == 1)) && grep -qF -- "$want" "$tmpdir/bad.err" ||
    fail "$*: exit $rc, '$(cat "$tmpdir/bad.err")'; want 1 and '$want'"
  [[ ! -e $tmpdir/bad/x ]] || fail "$*: it made $tmpdir/bad/x"
}
bad "usage: p2v-receiver [OPTION]... attach --name NAME DEVICE..." attach "$dev"
bad "--force does not apply to attach" --force --name x attach "$dev"
bad "/nonexistent: No such file or directory" --name x attach /nonexistent
bad "$(findmnt -n -o SOURCE "$storage"): Device or resource busy: it is in use on this host" \
  --name x attach "$(findmnt -n -o SOURCE "$storage")"
mkdir -p "$tmpdir/bad/conv"
echo complete > "$tmpdir/bad/conv/status"
bad "$tmpdir/bad/conv holds a conversion made by send, not an attach" --name conv attach "$dev"
[[ $(cat "$tmpdir/bad/conv/status") == complete ]] || fail "the conversion's status changed"

out=$tmpdir/out
# attach: this machine's attach, as an operator types it.
opts=(--output-dir "$out" --storage "$storage" --connect "$LIBVIRT_URI"
      --hypervisor qemu --network p2v-attach --boot-timeout 1500)
attach () { "$RECEIVER" "${opts[@]}" attach --name "$DOMAIN" "$dev"; }
running () { [[ $("${V[@]}" domstate "$DOMAIN") == running ]]; }
json () {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$out/$DOMAIN/report.json" "$1"
}
console () { "$top_srcdir/tests/guest-console" "$LIBVIRT_URI" "$DOMAIN" "$tmpdir/console.log" "$@"; }

echo "== 1: the image's filesystem is full"
rc=0
attach 2> "$tmpdir/1.err" || rc=$?
cat "$tmpdir/1.err"
((rc == 1)) || fail "attach exited $rc with its filesystem full, want 1"
grep -q "error: the copy of disk 0 ($dev) into $storage/$DOMAIN-disk0.raw stopped before it was in sync: the filesystem there is full" \
  "$tmpdir/1.err" || fail "no clear message for the full filesystem"
grep -q "the VM runs on its overlays" "$tmpdir/1.err" || fail "attach did not say the VM runs on"
running || fail "the VM does not run after the failed copy"
grep -q "^failed: the copy of disk 0" "$out/$DOMAIN/status" || fail "status: $(cat "$out/$DOMAIN/status")"
[[ $(sum) == "$sha" ]] || fail "the device changed"
rm "$storage/filler"

echo "== 2: the guest on the overlay; libvirtd restarted; attach stopped; the copy killed"
exec "$RECEIVER" "${opts[@]}" --bandwidth 8M attach --name "$DOMAIN" "$dev" \
  2> "$tmpdir/2.err" &
pid=$!
console 1500 "cat /sys/class/net/$NIC/address" "ip -o -4 addr show dev $NIC" \
  "mkdir -p /srv/writer && setsid -f sh -c 'i=0; while [ ! -e /root/stop-writer ] && [ \$i -lt 2000 ]; do head -c 1000000 /dev/urandom > /srv/writer/f\$i; i=\$((i + 1)); sleep 0.5; done; (cd / && cat root/markers.sha256 && sha256sum srv/writer/*) > /root/after.tmp && mv /root/after.tmp /root/after.sha256 && sync' </dev/null >/dev/null 2>&1" \
  > "$tmpdir/guest.out" || { cat "$tmpdir/guest.out"; tail -30 "$tmpdir/console.log"; fail "no login on the guest running on its overlay"; }
cat "$tmpdir/guest.out"
new=$(awk '$1 == "-" {print $3}' "$out/$DOMAIN/nics")
[[ $new && $new != "$MAC" ]] || fail "no new MAC in $out/$DOMAIN/nics: $(cat "$out/$DOMAIN/nics")"
grep -q "^$new" "$tmpdir/guest.out" || fail "$NIC is not on the new MAC $new"
grep -q "inet $IP " "$tmpdir/guest.out" || fail "$NIC does not carry $IP"
echo "the guest runs on its overlay: $NIC on the new MAC $new with $IP; a writer writes"
kill -0 "$pid" || fail "attach ended before libvirtd could be restarted: $(cat "$tmpdir/2.err")"
restart_libvirtd
echo "libvirtd restarted (pid $(cat "$tmpdir/libvirt/pid"))"; ps -o pid,args -C libvirtd
wait_for 1200 grep -q "libvirt is back" "$tmpdir/2.err" ||
  { cat "$tmpdir/2.err"; fail "attach did not take up libvirt again"; }
sleep 5
kill -0 "$pid" || { cat "$tmpdir/2.err"; fail "attach ended after libvirtd's restart"; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
cat "$tmpdir/2.err"
((rc == 1)) || fail "attach stopped by SIGTERM exited $rc, want 1"
grep -q "error: stopped by signal 15: the copy goes on in QEMU" "$tmpdir/2.err" ||
  fail "no clear message when stopped"
"${V[@]}" blockjob "$DOMAIN" vda --abort || fail "no copy to kill"
running || fail "the VM does not run after its copy was killed"
[[ $(sum) == "$sha" ]] || fail "the device changed"

echo "== 3: attach again finishes"
start=$SECONDS
attach 2> "$tmpdir/3.err" || { cat "$tmpdir/3.err"; fail "attach did not finish"; }
cat "$tmpdir/3.err"
echo "the copy and the pivot took $((SECONDS - start)) s"
image=$storage/$DOMAIN-disk0.raw
for flag in "" --inactive; do
  xml=$("${V[@]}" dumpxml $flag "$DOMAIN")
  grep -q "<source file='$image'" <<<"$xml" || fail "the domain ($flag) does not name $image"
  ! grep -E "overlay|$dev'" <<<"$xml" || fail "the domain ($flag) still names its overlay or the device"
done
! grep -E "overlay|$dev'" "$out/$DOMAIN/domain.xml" || fail "domain.xml names the overlay or the device"
[[ $(cat "$out/$DOMAIN/status") == complete* ]] || fail "status: $(cat "$out/$DOMAIN/status")"
[[ $(json 'r["disks"][0]["image"]') == "$image" &&
   $(json 'r["downtime"]["booted_s"] is not None') == True &&
   $(json 'r["copy"]["bytes"] > 0') == True ]] ||
  fail "report.json: $(cat "$out/$DOMAIN/report.json")"
echo "down until the login prompt: $(json 'r["downtime"]["booted_s"]') s" \
  "(running after $(json 'r["downtime"]["running_s"]') s)"
[[ ! -e $out/$DOMAIN/overlay0.qcow2 ]] || fail "the overlay is left"
running || fail "the VM does not run on its image"
attach 2> "$tmpdir/4.err" || { cat "$tmpdir/4.err"; fail "attach again after the end failed"; }
grep -q "is complete already" "$tmpdir/4.err" || fail "attach again after the end: $(cat "$tmpdir/4.err")"

echo "== the image alone"
console 300 "touch /root/stop-writer" \
  "for i in \$(seq 120); do [ -e /root/after.sha256 ] && break; sleep 1; done; wc -l /root/after.sha256" \
  > "$tmpdir/guest.out" ||
  { cat "$tmpdir/guest.out"; tail -30 "$tmpdir/console.log"; fail "the writer did not finish"; }
cat "$tmpdir/guest.out"
writes=$(awk '/after.sha256/ {print $1; exit}' "$tmpdir/guest.out")
"${V[@]}" shutdown "$DOMAIN" >/dev/null
for ((i = 0; i < 300; i++)); do running || break; sleep 1; done
running && fail "the guest did not shut down within 300 s"
[[ $(sum) == "$sha" ]] || fail "the device changed"
echo "the device's SHA-256 never changed: $sha"
offset=$(sfdisk -J "$image" | python3 -c 'import json,sys; t=json.load(sys.stdin)["partitiontable"]; print(t["partitions"][0]["start"] * 512)')
part=$(losetup -f --show -r -o "$offset" "$image")
rc=0
xfs_repair -n "$part" > "$tmpdir/fsck.log" 2>&1 || rc=$?
losetup -d "$part"
((rc == 0)) || { cat "$tmpdir/fsck.log"; fail "xfs_repair -n found damage in the image"; }
echo "the image's filesystem is clean (xfs_repair -n)"
# The device detached: the domain, started again, has only its image.
losetup -d "$dev"
dev=
"${V[@]}" start "$DOMAIN" >/dev/null
console 1500 "cat /sys/class/net/$NIC/address" "ip -o -4 addr show dev $NIC" \
  "findmnt -n -o SOURCE /" "cd / && sha256sum --quiet -c root/after.sha256 && echo all-match" \
  > "$tmpdir/guest.out" ||
  { cat "$tmpdir/guest.out"; tail -30 "$tmpdir/console.log"; fail "the image does not boot on its own with the writer's files"; }
cat "$tmpdir/guest.out"
grep -q "^$new" "$tmpdir/guest.out" && grep -q "inet $IP " "$tmpdir/guest.out" &&
  grep -Eq "$ROOT" "$tmpdir/guest.out" && grep -q "^all-match" "$tmpdir/guest.out" ||
  fail "the image alone: not $NIC on $new with $IP, / not on $ROOT, or the files differ"
echo "the image boots on its own, the device detached: $NIC on $new with $IP; the $writes files listed (the writer's and the machine's) match"
echo ok
