#!/bin/bash
# test-fixup-fleet: every fleet machine, converted end to end, boots as
# the virtual machine with its network working.  Each is converted once,
# by one of the two ways a server reaches the hypervisor:
#  - The live image (PXE files, under QEMU, with the NIC on the
#    machine's "physical" MAC and PCIe bus) converts it to our loopback
#    sshd: the x86_64 image on qemu-system-x86_64, the i686 one for
#    legacy-i386 on a Pentium III with 128 MB (qemu-system-i386 -cpu
#    pentium3 -m 128, IDE disks, an e1000).  The md machines go this
#    way (the agent flattens the arrays that a kernel assembled: this
#    host has no md driver), and so do legacy-i386 and networkd-mac
#    (whose predictable NIC name only the agent on the machine can
#    tell: it reads the PCI topology).
#  - Direct attach: the machine's disks attached to this host and
#    converted with send --local, as an operator does with a server's
#    disks plugged into the hypervisor.  Nothing of this host's
#    describes the VM: the agent sends none of its facts, p2v-fixup
#    finds the NICs in the guest's own configuration and the firmware
#    on its disks; memory and vCPUs are the defaults, the domain is
#    titled with the guest's host name, the report says where each fact
#    came from, and no MAC of this host's is anywhere.  Every other
#    machine goes this way (no emulated CPU to compress and encrypt:
#    minutes less each under TCG).
# The receiver runs p2v-fixup on the images; on an md machine mdadm
# --examine must find no superblock on the converted disks or their
# partitions (0.90's sits at a member's end), and one the live image
# converted must arrive flattened (flattened, below: test-raid-flatten
# has the other layouts and does not convert these again).  Then tests/boot-check
# boots the result under qemu-system-x86_64 on the fresh MAC from the
# receiver's report and checks: a login, the old interface name up with
# the old IP, no md arrays, / on the virtual disk, the marker files
# intact.  Two machines convert at a time, and a boot check runs while
# the next machine converts.  The md machines with initramfs-tools have
# MODULES=dep (tests/fleet): their initramfs is rebuilt with virtio
# added.  Then p2v-fixup --dry-run on a converted machine finds nothing
# left to change (idempotent) and the originals are kept.  make check
# and make check-asan each convert their share of the machines
# (P2V_FLEET_E2E).
# run-tests: timeout 5400
source "$(dirname "$0")/functions.sh"
requires qemu-system-x86_64 qemu-system-i386 guestfish mdadm sfdisk expect python3 ssh-keygen virt-xml-validate
(($(id -u) == 0)) || { echo "SKIP: the live image and the fleet need root" >&2; exit 77; }

# The machines: P2V_FLEET_E2E, or all of them.  make check and make
# check-asan each convert their own share (the Makefile's FLEET_E2E_*
# lists: every machine once per CI run).
fleet=" $("$top_srcdir/tests/fleet/build.sh" --members) " members=()
for m in ${P2V_FLEET_E2E:-$fleet}; do [[ $fleet != *" $m "* ]] || members+=("$m"); done
((${#members[@]} > 0)) || { echo "no fleet machine in this pass (P2V_FLEET_E2E=$P2V_FLEET_E2E)"; exit 0; }

# The machines that the live image converts (above); the others go by
# direct attach.
live_members=" legacy-raid1 lvm-on-md dracut-lvm-md legacy-i386 networkd-mac "

start_sshd
out=$tmpdir/out
# The receiver's environment is sshd's: libguestfs is told here to use
# TCG (nested KVM hangs on these machines).
sed -i "s|^|command=\"env LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg $RECEIVER --output-dir $out\",restrict |" \
  "$tmpdir/sshd/authorized_keys"
fp=$(ssh-keygen -lf "$SSHD_HOST_PUB" | awk '{print $2}')
"$top_srcdir/liveimage/customize.sh" --identity "$SSH_KEY" --initrd "$tmpdir/config.cpio.gz"

# live_for ARCH: the live image for ARCH with the settings, its kernel
# and initrd in $tmpdir/live-ARCH; made once, under a lock of its own,
# by the first lane that needs it.  The i686 one waits for the portable
# agent's sysroot (built beside the tests, cold about 12 minutes): the
# other lane converts meanwhile.
live_for () {
  (
    flock 9
    if [[ ! -e $tmpdir/live-$1/initrd ]]; then
      live_image "$1"
      mkdir -p "$tmpdir/live-$1"
      ln -sf "$LIVE_IMG/vmlinuz" "$tmpdir/live-$1/vmlinuz"
      cat "$LIVE_IMG/initrd.img" "$tmpdir/config.cpio.gz" > "$tmpdir/live-$1/initrd.new"
      mv "$tmpdir/live-$1/initrd.new" "$tmpdir/live-$1/initrd"
    fi
  ) 9> "$tmpdir/live-$1.lock"
}

# json NAME EXPR: a value from NAME's report.json (r is the report).
json () {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$out/$1/report.json" "$2"
}

# no_md_superblock IMAGE...: mdadm --examine finds no md superblock on
# each IMAGE, whole or any of its partitions (read-only loop devices);
# says where it finds one.
no_md_superblock () {
  local img off len lo found=0
  for img; do
    while read -r off len; do
      lo=$(losetup -r -f --show -o $((off * 512)) ${len:+--sizelimit $((len * 512))} "$img")
      # (On a whole disk mdadm also shows an MBR, and succeeds.)
      if mdadm --examine "$lo" > "$tmpdir/examine" 2>&1 &&
         grep -q "Raid Level :" "$tmpdir/examine"; then
        echo "$img, sector $off: $(grep -E 'Version|UUID' "$tmpdir/examine" | tr -s ' \n' ' ')"
        found=1
      fi
      losetup -d "$lo"
    done < <(echo 0; sfdisk -J "$img" | python3 -c 'import json,sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]: print(p["start"], p["size"])')
  done
  return $found
}

# flattened MEMBER DIR: an md machine that the live image converted
# arrives as one plain disk, its arrays read once (test-raid-flatten
# has the other layouts; these conversions are not made twice):
#  - the second member's disk is not sent, and the console says why;
#  - each array (RAID1) went to the partition of its first member,
#    which starts where it did, is sized to the array and typed Linux
#    (LVM for a PV);
#  - what travelled is one copy of the data, not the two members'
#    (measured on ext4);
#  - every filesystem passes its fsck and holds the source's files,
#    but for what the fixup says it changed (the files it lists, the
#    initramfs and the boot loader's files its commands rebuild), the
#    originals it keeps (*.p2v-orig) and the volatile directories.
flattened () {
  local member=$1 dir=$2 sent both src
  [[ ! -e $out/$member/disk1.raw ]] || fail "$member: the second member became a disk too"
  grep -a -q "is not sent: every partition on it is a member" "$tmpdir/$member.log" ||
    fail "$member: the console does not say why the second disk is not sent"
  python3 - "$out/$member/report.json" \
    <(sfdisk -J "$dir/disk0.img") <(sfdisk -J "$out/$member/disk0.raw") <<'PY' ||
import json, sys
layout = json.load(open(sys.argv[1]))["layout"]
parts = [{p["node"][-1]: p for p in json.load(open(f))["partitiontable"]["partitions"]}
         for f in sys.argv[2:]]
source, target = parts
arrays = sorted({k.split(".")[1] for k in layout if k.startswith("md.")})
assert len(arrays) == 2, "arrays: %s" % arrays
for n in arrays:
    md = lambda key: layout["md.%s.%s" % (n, key)]
    assert md("level") == "raid1", "md.%s is %s" % (n, md("level"))
    k = md("target").removeprefix("disk 0 partition ")
    assert k in target, "md.%s went to '%s'" % (n, md("target"))
    p, want = target[k], "8e" if md("content") == "LVM2_member" else "83"
    assert p["start"] == source[k]["start"], "partition %s moved" % k
    assert p["size"] == (int(md("size")) + 511) // 512, "partition %s is not md.%s's size" % (k, n)
    assert p["type"] == want, "partition %s has type %s, not %s" % (k, p["type"], want)
assert len(target) == len(arrays), "%d partitions" % len(target)
PY
    fail "$member: the arrays are not each a plain partition of disk 0 (above)"
  # (ext3's journal and every inode table are allocated but zero: what
  # legacy-i386 sends, 467 MiB, outweighs half its members' non-zero
  # 643 MiB.  There the second disk left out is the proof.)
  sent=$(json "$member" 'sum(d["data_bytes"] for d in r["disks"])')
  both=$(($("$P2V_BUILD/count-nonzero" "$dir/disk0.img") + $("$P2V_BUILD/count-nonzero" "$dir/disk1.img")))
  [[ $(json "$member" '[v for k, v in r["layout"].items() if k.endswith(".content")]') == *ext3* ]] ||
    ((sent * 100 <= both * 55)) || fail "$member: $sent bytes sent, more than one copy of $both"
  src=$("$top_srcdir/tests/fleet/manifest-of.sh" --cached "$dir" "$dir"/disk*.img) ||
    fail "$member: the source's manifest failed"
  "$top_srcdir/tests/fleet/manifest-of.sh" "$out/$member/disk0.raw" > "$tmpdir/$member.manifest" ||
    fail "$member: the converted disk's manifest failed"
  python3 - "$out/$member/report.json" "$src" "$tmpdir/$member.manifest" <<'PY' ||
import fnmatch, json, sys
changed = []
for c in json.load(open(sys.argv[1]))["fixup"]["changes"]:
    if "file" in c:
        changed.append(c["file"])
    elif c["command"].startswith("update-initramfs "):
        changed += ["/boot/initrd.img-*", "/var/lib/initramfs-tools/*"]
    elif c["command"].startswith("dracut "):
        changed.append("/boot/initrd.img-*")
    elif c["command"] == "update-grub":
        changed.append("/boot/grub/grub.cfg")
    elif c["command"].startswith("grub-install "):
        changed.append("/boot/grub/*")
    else:
        sys.exit("a command this check does not know: " + c["command"])
# (/run, /tmp and /var/tmp are volatile: the fixup's commands leave
# files there, such as LVM's /run/lvm/hints, that no boot ever sees.)
changed += ["/run/*", "/tmp/*", "/var/tmp/*"]
def fixed(path):   # the fleet's filesystems are mounted on /, /boot, /var
    return path.endswith(".p2v-orig") or any(
        fnmatch.fnmatch(m + path[1:], c) for m in ("", "/boot", "/var") for c in changed)
def manifest(name):
    fs, uuid = {}, None
    for line in open(name):
        if line.startswith("== "):
            uuid = line.split()[1]
            fs[uuid] = {"fsck": line.split()[3]}
        elif uuid and line[:1] != " ":
            md5, path = line.rstrip("\n").split("  ", 1)
            fs[uuid][path] = md5
    return fs
source, target = manifest(sys.argv[2]), manifest(sys.argv[3])
assert sorted(source) == sorted(target), "filesystems %s, not %s" % (sorted(target), sorted(source))
for uuid in source:
    assert target[uuid]["fsck"] == "fsck:ok", "filesystem %s fails its check" % uuid
    for path in sorted(set(source[uuid]) | set(target[uuid])):
        if not fixed(path):
            assert source[uuid].get(path) == target[uuid].get(path), \
                "filesystem %s: %s differs from the source's" % (uuid, path)
print("%d filesystems pass their checks and hold the source's files" % len(source), end="")
print(" (but for the fixup's: %s)" % " ".join(changed))
PY
    fail "$member: the converted filesystems differ from the source's (above)"
  echo "$member: one plain disk, each array on its partition; $((sent >> 20)) MiB of data sent, the members hold $((both >> 20)) MiB"
}

# via_live MEMBER DIR: boot the live image on MEMBER's disks (read-only) and
# NIC MAC, with its firmware; it converts unattended and powers off.
# An i686 machine is a Pentium III with 128 MB, IDE disks (IDE has no
# read-only disks: writes would go to a temporary overlay) and an e1000.
via_live () {
  local member=$1 dir=$2 drives=() machine=() live rc try locked qemu i=1 mac d
  live_for "$ARCH" || fail "$member: no $ARCH live image"
  live=$tmpdir/live-$ARCH
  if [[ $ARCH == i686 ]]; then
    machine=(qemu-system-i386 -cpu pentium3 -m 128 -device "e1000,netdev=n0,mac=$MAC")
    for d in $DISKS; do drives+=(-drive "file=$dir/$d,format=raw,if=ide,snapshot=on"); done
  else
    machine=(qemu-system-x86_64 -smp 1 -m 512)
    # The NIC where the machine has it (boot-check --nic-bus), so that
    # the agent sees the name the machine's own udev gives it.
    if ((NICBUS > 0)); then
      machine+=(-machine q35)
      for ((i = 1; i <= NICBUS; i++)); do
        machine+=(-device "pcie-root-port,id=rp$i,chassis=$i")
      done
      i=1
      machine+=(-device "virtio-net-pci,netdev=n0,mac=$MAC,bus=rp$NICBUS")
    else
      machine+=(-device "virtio-net-pci,netdev=n0,mac=$MAC")
    fi
    for mac in $MORE_MACS; do
      machine+=(-netdev "user,id=n$i" -device "virtio-net-pci,netdev=n$i,mac=$mac")
      i=$((i + 1))
    done
    for d in $DISKS; do drives+=(-drive "file=$dir/$d,format=raw,if=virtio,readonly=on"); done
  fi
  [[ $FIRMWARE == uefi ]] && machine+=(-bios /usr/share/ovmf/OVMF.fd)
  # Under TCG, Debian 12's kernel 6.1.0-57 has locked up in its first
  # seconds (both vCPUs in its keyring code, for ever).  A soft lockup
  # reported before the agent's first line is such a hang: QEMU is
  # stopped (by pid) and the live image booted once more.
  for try in 1 2; do
    rc=0 locked=0
    timeout 1800 "${machine[@]}" -accel tcg -display none -monitor none \
      -no-reboot -netdev user,id=n0 -serial "file:$tmpdir/$member.log" \
      -kernel "$live/vmlinuz" -initrd "$live/initrd" -append "console=ttyS0,115200 p2v.server=10.0.2.2 \
p2v.port=$SSHD_PORT p2v.user=$(id -un) p2v.hostkey=$fp p2v.name=$member \
p2v.post=poweroff" "${drives[@]}" &
    qemu=$!
    while kill -0 "$qemu" 2>/dev/null; do     # (timeout bounds it)
      if ((try == 1)) && grep -aqs "BUG: soft lockup" "$tmpdir/$member.log" &&
         ! grep -aqs "^p2v" "$tmpdir/$member.log"; then
        locked=1
        kill "$qemu"
        break
      fi
      sleep 5
    done
    wait "$qemu" || rc=$?
    ((locked)) || break
    echo "$member: the live image's kernel locked up while booting; booting it again"
    mv "$tmpdir/$member.log" "$tmpdir/$member.lockup.log"
  done
  grep -a '^p2v' "$tmpdir/$member.log" | tr -d '\r'
  ((rc == 0)) || fail "$member: QEMU did not power off by itself (exit $rc)"
}

# via_attach MEMBER DIR: direct attach; the receiver is a child process.
via_attach () {
  local member=$1 dir=$2 images=() d m why
  for d in $DISKS; do images+=("$dir/$d"); done
  "$AGENT" send --local --name "$member" --receiver-command "$RECEIVER --output-dir $out" \
    "${images[@]}" 2> "$tmpdir/$member.log" ||
    { cat "$tmpdir/$member.log"; fail "$member: send --local failed"; }
  grep -av "%" "$tmpdir/$member.log" || true
  [[ $(json "$member" 'r["domain"]["from"]["nics"]') == "the guest's network configuration" ]] ||
    fail "$member: want the NICs from the guest's network configuration: $(json "$member" 'r["domain"]["from"]')"
  grep -q "^  NICs: the guest's network configuration$" "$tmpdir/$member.log" ||
    fail "$member: the summary does not say where the NICs came from"
  if [[ $FIRMWARE == uefi ]]; then
    why="the EFI system partition /dev/sda1 with EFI/BOOT/BOOTX64.EFI"
    grep -q "<os firmware='efi'>" "$out/$member/domain.xml" || fail "$member: not UEFI"
  else
    why="GRUB installed for BIOS"
    ! grep -q "firmware='efi'" "$out/$member/domain.xml" || fail "$member: UEFI for a BIOS machine"
  fi
  [[ $(json "$member" 'r["domain"]["firmware"]') == "$FIRMWARE" &&
     $(json "$member" 'r["domain"]["from"]["firmware"]') == "the guest: $why" ]] ||
    fail "$member: want the firmware ($FIRMWARE) from the guest ($why): $(json "$member" 'r["domain"]')"
  [[ $(json "$member" 'r["domain"]["memory"]') == $((2 << 30)) &&
     $(json "$member" 'r["domain"]["vcpus"]') == 2 &&
     $(json "$member" 'r["domain"]["from"]["memory"]') == default ]] ||
    fail "$member: want the default memory and vCPUs: $(json "$member" 'r["domain"]')"
  grep -q "<title>p2v conversion of $member</title>" "$out/$member/domain.xml" ||
    fail "$member: not titled with the guest's host name: $(grep title "$out/$member/domain.xml")"
  for m in $(host_macs); do
    ! grep -qi "$m" "$out/$member/domain.xml" "$out/$member/nics" ||
      fail "$member: this host's MAC $m is in the domain"
  done
}

# convert MEMBER: build it (cached), convert it the way it goes (above),
# and check what the receiver and its fixup did.
convert () {
  local member=$1 dir start=$SECONDS changes how=attach
  dir=$("$top_srcdir/tests/fleet/build.sh" "$member") || fail "$member: fleet build failed"
  echo "$dir" > "$tmpdir/$member.dir"   # (checked once: the others read this)
  # shellcheck disable=SC1091
  source "$dir/machine.env"
  [[ $live_members != *" $member "* ]] || how=live
  "via_$how" "$member" "$dir"
  [[ $(cat "$out/$member/status" 2>/dev/null) == complete ]] ||
    fail "$member: the conversion is not complete"
  echo "== $member: converted ($how) and fixed up in $((SECONDS - start)) s" \
    "(the fixup: $(json "$member" 'r["fixup"].get("seconds")') s)"
  [[ $(json "$member" 'r["fixup"]["status"]') == fixed ]] ||
    { cat "$out/$member/fixup.log"; fail "$member: the fixup did not succeed"; }
  json "$member" '"\n".join("  changed " + (c.get("file") or "by running " + c["command"]) for c in r["fixup"]["changes"])'
  json "$member" '"\n".join("  NIC " + n for n in r["fixup"]["nics"])'
  changes=$(json "$member" '" ".join(c.get("file") or c["command"] for c in r["fixup"]["changes"])')
  if [[ $MD == yes && $INITRAMFS == dracut ]]; then
    [[ $changes == *"/etc/mdadm/mdadm.conf "*"/etc/default/grub "*"dracut -f /boot/initrd.img-"* &&
       $changes != *update-initramfs* ]] ||
      fail "$member: mdadm.conf, the kernel command line and dracut's rebuild are not all in the changes"
  elif [[ $MD == yes ]]; then
    [[ $changes == *"/etc/mdadm/mdadm.conf "*"/etc/initramfs-tools/modules "*"update-initramfs -u -k all"* ]] ||
      fail "$member: mdadm.conf, the initramfs modules (MODULES=dep) and the rebuild are not all in the changes"
  fi
  if [[ $MD == yes ]]; then
    no_md_superblock "$out/$member"/disk*.raw ||
      fail "$member: an md superblock is left on the converted disks (above)"
    echo "$member: mdadm --examine finds no md superblock on the converted disks or their partitions"
    [[ $how != live ]] || flattened "$member" "$dir"
  fi
  [[ $(json "$member" 'len(r["fixup"]["warnings"])') == 0 ]] ||
    fail "$member: fixup warnings: $(json "$member" 'r["fixup"]["warnings"]')"
  grep -q "<model type='virtio'/>" "$out/$member/domain.xml" ||
    fail "$member: the guest has virtio, the domain does not use it"
  [[ -z $MORE_MACS ]] || trunk "$member"
}

# vlan_stanzas: the VLAN interfaces' stanzas (dotted names) and auto
# lines of the ifupdown file on standard input.
vlan_stanzas () {
  awk '/^(auto|allow-[a-z]+) / { if ($2 ~ /\./) print; next }
       /^(iface|mapping|source|source-directory) / { on = ($1 == "iface" && $2 ~ /\./) }
       on'
}

# trunk MEMBER: a bond machine converted without --vlan-map: its bond
# is one NIC in the domain, which carries the VLANs tagged (a valid
# libvirt XML), and the guest's VLAN configuration is byte for byte
# what it was.
trunk () {
  local member=$1
  [[ $(json "$member" '" ".join(n["new_mac"] + ":" + n.get("trunk", "") + ":" + str(n.get("dropped", False)) for n in r["domain"]["nics"])') == \
     *:10,20:False" "*:True ]] ||
    fail "$member: want the bond's first NIC carrying VLANs 10 and 20, its second dropped: $(json "$member" 'r["domain"]["nics"]')"
  (($(grep -c "<interface " "$out/$member/domain.xml") == 1)) &&
    grep -q "<vlan trunk='yes'>" "$out/$member/domain.xml" ||
    fail "$member: the domain is not one NIC carrying the VLANs: $(cat "$out/$member/domain.xml")"
  virt-xml-validate "$out/$member/domain.xml" domain ||
    fail "$member: libvirt's schema refuses the domain XML"
  guestfish --ro -a "$out/$member/disk0.raw" -i <<GF ||
download /etc/network/interfaces $tmpdir/$member.after
-download /etc/network/interfaces.p2v-orig $tmpdir/$member.before
GF
    fail "$member: reading its interfaces file failed"
  [[ -e $tmpdir/$member.before ]] || cp "$tmpdir/$member.after" "$tmpdir/$member.before"
  diff <(vlan_stanzas < "$tmpdir/$member.before") <(vlan_stanzas < "$tmpdir/$member.after") ||
    fail "$member: the VLANs' configuration changed in trunk mode"
  vlan_stanzas < "$tmpdir/$member.before" | grep -q "^iface bond0.20 " ||
    fail "$member: no VLAN stanzas found to compare"
  echo "$member: trunk mode: one NIC carrying VLANs 10 and 20 (virt-xml-validate passes), the VLANs' configuration unchanged"
}

# check MEMBER: boot-check the converted images on the new MAC (the
# result lands in $tmpdir/MEMBER.check).
check () {
  local member=$1 images=() opts=() mac old start=$SECONDS
  # shellcheck disable=SC1091
  source "$(cat "$tmpdir/$member.dir")/machine.env"
  mac=$(json "$member" 'r["domain"]["nics"][0]["new_mac"]')
  # (By direct attach, a NIC that its configuration names only by name
  # has no old MAC.)
  old=$(json "$member" 'r["domain"]["nics"][0].get("old_mac") or "-"')
  [[ $old == "$MAC" || ($live_members != *" $member "* && $old == -) ]] ||
    fail "$member: the NIC's old MAC is not the machine's: $(json "$member" 'r["domain"]["nics"]')"
  for d in "$out/$member"/disk*.raw; do images+=("$d"); done
  [[ $FIRMWARE == uefi ]] && opts+=(--uefi)
  [[ -z $EXTRA_CHECK ]] || opts+=(--check "$EXTRA_CHECK")
  # dracut's machine: the root's array is gone from the kernel command
  # line, its logical volume is still there.
  [[ $INITRAMFS != dracut ]] ||
    opts+=(--check 'grep rd.lvm.lv=vg0/root /proc/cmdline && ! grep rd.md.uuid= /proc/cmdline')
  if "$top_srcdir/tests/boot-check" "${opts[@]}" --mac "$mac" --nic "$NIC" \
       --ip "$IP" --md no --root '^/dev/(vda[0-9]|mapper/vg0-root)$' \
       --log "$tmpdir/$member.console" "${images[@]}" > "$tmpdir/$member.check" 2>&1; then
    echo "PASS in $((SECONDS - start)) s" >> "$tmpdir/$member.check"
  else
    echo "FAILED in $((SECONDS - start)) s" >> "$tmpdir/$member.check"
  fi
}

# lane MEMBER...: convert each in turn, boot-checking one while the next
# converts.  Two lanes keep both CPUs busy: the md machines' initramfs
# rebuilds (minutes under TCG) run side by side.
lane () {
  local member pids=()
  for member; do
    convert "$member"
    check "$member" &
    pids+=("$!")
  done
  wait "${pids[@]}"
}

# Two lanes, dealt in turn.
lanes=("" "")
for i in "${!members[@]}"; do lanes[i % 2]+="${members[i]} "; done
start=$SECONDS
# shellcheck disable=SC2086
lane ${lanes[0]} > "$tmpdir/lane0.log" 2>&1 &
lane0=$!
# shellcheck disable=SC2086
lane ${lanes[1]} > "$tmpdir/lane1.log" 2>&1 &
lane1=$!
rc0=0 rc1=0
wait "$lane0" || rc0=$?
wait "$lane1" || rc1=$?
cat "$tmpdir/lane0.log" "$tmpdir/lane1.log"
((rc0 == 0 && rc1 == 0)) || fail "a conversion failed (above)"
echo "== ${members[*]}: converted, fixed up and boot-checked in $((SECONDS - start)) s"
failed=()
for member in "${members[@]}"; do
  echo "== $member: boot check on the new MAC"
  cat "$tmpdir/$member.check"
  grep -q "^PASS" "$tmpdir/$member.check" || {
    tail -60 "$tmpdir/$member.console"; failed+=("$member"); }
done
((${#failed[@]} == 0)) || fail "the converted ${failed[*]} did not pass the boot check"

# Idempotent: on an md machine converted by the live image, a dry run
# finds nothing to change (same arguments as the receiver's run); and
# the originals are kept: fstab, mdadm.conf, the network file that named
# the old MAC.
member=
for m in "${members[@]}"; do
  # shellcheck disable=SC1091
  source "$(cat "$tmpdir/$m.dir")/machine.env"
  [[ $MD == yes && $live_members == *" $m "* ]] && { member=$m; break; }
done
[[ -n $member ]] || { echo ok; exit 0; }
mac=$(json $member 'r["domain"]["nics"][0]["old_mac"] + "=" + r["domain"]["nics"][0]["new_mac"]')
mds=$(json $member '" ".join("--md %s,%s,%s,%s" % (r["layout"]["md.%d.device" % j], r["layout"]["md.%d.uuid" % j], *r["layout"]["md.%d.target" % j].replace("disk ", "").split(" partition ")) for j in range(2))')
# shellcheck disable=SC2086
"$P2V_BUILD/p2v-fixup" --dry-run --mac "$mac" $mds "$out/$member/disk0.raw" \
  > "$tmpdir/again.out" 2>&1 || { cat "$tmpdir/again.out"; fail "$member: the dry run failed"; }
cat "$tmpdir/again.out"
grep -q "dry run: 0 change(s)" "$tmpdir/again.out" || fail "$member: a second run would change more"
guestfish --ro -a "$out/$member/disk0.raw" -i <<'GF' > "$tmpdir/orig" || fail "reading the originals failed"
cat /etc/fstab.p2v-orig
cat /etc/mdadm/mdadm.conf.p2v-orig
sh "cat /etc/udev/rules.d/*.p2v-orig /etc/systemd/network/*.p2v-orig 2>/dev/null; true"
GF
grep -q "^/dev/md0 /boot ext[34] " "$tmpdir/orig" && grep -q "^ARRAY /dev/md/\?1 " "$tmpdir/orig" &&
  grep -qi "$MAC" "$tmpdir/orig" ||
  { cat "$tmpdir/orig"; fail "$member: the originals were not kept"; }
echo "$member: a second fixup would change nothing; the originals are kept"
echo ok
