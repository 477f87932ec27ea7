#!/bin/bash
# test-hot-clone-vm: a hot clone of a really running server.  The fleet
# machine xfs-nm boots under QEMU as the physical server, its own
# services running, with a "USB stick" (a second disk, label P2VKIT)
# holding the portable x86_64 agent, the SSH key and a script.  A unit
# the test adds to the server's overlay starts the script when the stick
# appears: an application writes files and logs the time of every write
# that returns; the agent, copied to /dev/shm and run from there,
# hot-clones /dev/vda over QEMU's user network (restricted: the guest
# reaches only 192.168.50.100:22, which QEMU hands to `sshd -i` with the
# test's config, whose forced command is the receiver) while the
# application writes; the frozen command writes a manifest of the
# application's files.  Then the receiver's fixups, and
# tests/boot-check boots the clone on its new MAC: a login, ens3 up
# with 192.168.50.14/24, the markers.  The clone holds exactly the
# files of the manifest, and the agent left nothing in /dev/shm nor a
# trace instance.  Reported: the downtime as the application saw it
# (its wait for the write across the freeze), the freeze the agent
# measured, and the bytes of each pass.
# run-tests: timeout 2700
source "$(dirname "$0")/functions.sh"
requires qemu-system-x86_64 guestfish expect python3 mkfs.ext4 ssh-keygen
(($(id -u) == 0)) || { echo "SKIP: the fleet and the kit disk need root" >&2; exit 77; }

member=xfs-nm
dir=$("$top_srcdir/tests/fleet/build.sh" "$member") || fail "$member: fleet build failed"
# shellcheck disable=SC1091
source "$dir/machine.env"
portable_agent x86_64
out=$tmpdir/out
d=$tmpdir/sshd
sshd_setup "$d" p2v-test
sshd_config "$d" 127.0.0.1 22
sed -i "s|^|command=\"env LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg $RECEIVER --output-dir $out\",restrict |" \
  "$d/authorized_keys"
fp=$(ssh-keygen -lf "$SSHD_HOST_PUB" | awk '{print $2}')

# --- the kit: agent, key, script ---------------------------------------------
kit=$tmpdir/kit
mkdir -p "$kit/out"
cp "$PORTABLE_AGENT" "$kit/p2v-agent"
cp "$SSH_KEY" "$kit/key"
cat > "$kit/run.sh" <<EOF
#!/bin/sh
# In the running server: the application, then the hot clone.
k=/run/p2v-kit o=/run/p2v-kit/out
ls -A /dev/shm > \$o/shm-before
cp \$k/p2v-agent \$k/key /dev/shm/
chmod 600 /dev/shm/key
mkdir -p /srv/app
(
  n=0
  while :; do
    n=\$((n + 1))
    head -c 65536 /dev/urandom >> /srv/app/log
    head -c 32768 /dev/urandom > /srv/app/new\$((n % 20))
    [ \$((n % 7)) = 0 ] && rm -f /srv/app/new\$(((n + 9) % 20))
    date +%s.%N >> /dev/shm/ticks
    sleep 0.1
  done
) &
w=\$!
sleep 5
/dev/shm/p2v-agent hot-clone --to root@192.168.50.100 --identity /dev/shm/key \\
  --host-key $fp --name $member --stats /dev/shm/stats.json --converge-bytes 16M \\
  --frozen-command 'date +%s.%N > /dev/shm/frozen-at; cd /srv && find app markers -type f | LC_ALL=C sort | xargs sha256sum > /dev/shm/frozen.sha256' \\
  /dev/vda > \$o/agent.log 2>&1
echo \$? > \$o/rc
kill \$w
cp /dev/shm/stats.json /dev/shm/ticks /dev/shm/frozen-at /dev/shm/frozen.sha256 \$o/
rm -f /dev/shm/p2v-agent /dev/shm/key /dev/shm/stats.json /dev/shm/ticks \\
  /dev/shm/frozen-at /dev/shm/frozen.sha256
ls -A /dev/shm > \$o/shm-after
ls -A /sys/kernel/tracing/instances > \$o/instances-after
cd /
umount \$k
systemctl poweroff
EOF
mkfs.ext4 -q -L P2VKIT -d "$kit" "$tmpdir/kit.img" 64M

# --- the server: its disk (an overlay) with the unit that runs the kit ------
qemu-img create -q -f qcow2 -F raw -b "$dir/disk0.img" "$tmpdir/server.qcow2"
cat > "$tmpdir/p2v-kit.service" <<'EOF'
[Unit]
Description=p2v test: hot-clone this server with the kit disk's agent
BindsTo=dev-disk-by\x2dlabel-P2VKIT.device
After=dev-disk-by\x2dlabel-P2VKIT.device network-online.target multi-user.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mkdir -p /run/p2v-kit && mount LABEL=P2VKIT /run/p2v-kit && exec /bin/sh /run/p2v-kit/run.sh'
StandardOutput=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=dev-disk-by\x2dlabel-P2VKIT.device
EOF
wants='/etc/systemd/system/dev-disk-by\x2dlabel-P2VKIT.device.wants'
guestfish -a "$tmpdir/server.qcow2" -m /dev/sda1 <<EOF || fail "the unit could not be added"
upload $tmpdir/p2v-kit.service /etc/systemd/system/p2v-kit.service
mkdir-p '$wants'
ln-s /etc/systemd/system/p2v-kit.service '$wants/p2v-kit.service'
EOF

# --- boot it; the hot clone runs and it powers off --------------------------
start=$SECONDS
timeout 1800 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -display none -monitor none \
  -no-reboot -serial "file:$tmpdir/server.log" \
  -netdev "user,id=n0,restrict=on,net=192.168.50.0/24,host=192.168.50.2,guestfwd=tcp:192.168.50.100:22-cmd:/usr/sbin/sshd -i -f $d/sshd_config -E $d/sshd.log" \
  -device "virtio-net-pci,netdev=n0,mac=$MAC,addr=0x3" \
  -drive "file=$tmpdir/server.qcow2,format=qcow2,if=virtio,cache=unsafe" \
  -drive "file=$tmpdir/kit.img,format=raw,if=virtio" ||
  { tail -40 "$tmpdir/server.log"; fail "the server did not power off by itself"; }
echo "== the server booted, was hot-cloned and powered off in $((SECONDS - start)) s"
mkdir -p "$tmpdir/k"
mount -o loop,ro "$tmpdir/kit.img" "$tmpdir/k"
on_exit "umount $tmpdir/k 2>/dev/null"
cp -r "$tmpdir/k/out" "$tmpdir/res"
umount "$tmpdir/k"
grep '^p2v-agent' "$tmpdir/res/agent.log" | grep -v '%' | head -40
[[ $(cat "$tmpdir/res/rc") == 0 ]] ||
  { cat "$tmpdir/res/agent.log"; tail -20 "$d/sshd.log"; fail "hot-clone in the server exited $(cat "$tmpdir/res/rc")"; }
grep -q "block trace events: trace instance /sys/kernel/tracing/instances/p2v-" "$tmpdir/res/agent.log" ||
  fail "the agent did not track writes with the block trace"
[[ $(cat "$tmpdir/res/shm-before") == "$(cat "$tmpdir/res/shm-after")" &&
   ! -s $tmpdir/res/instances-after ]] ||
  fail "the agent left something behind: /dev/shm $(cat "$tmpdir/res/shm-after"), instances $(cat "$tmpdir/res/instances-after")"
[[ $(cat "$out/$member/status") == complete ]] || fail "the conversion is not complete"

# The downtime as the application saw it, the agent's, the passes.
python3 - "$tmpdir/res" <<'PY' || fail "the report or the application's log is wrong"
import json, sys
d = sys.argv[1]
r = json.load(open(d + "/stats.json"))
h = r["hot_clone"]
ticks = [float(t) for t in open(d + "/ticks")]
frozen = float(open(d + "/frozen-at").read())
pairs = list(zip(ticks, ticks[1:]))
held = [b - a for a, b in pairs if a <= frozen <= b]
assert held, "the application wrote nothing across the freeze"
assert h["tracker"] == "trace" and h["passes"][-1]["final"], h
print("pass 1: %d bytes read, %d on the wire" % (r["data_bytes"] - sum(p["data_bytes"] for p in h["passes"]),
                                                 r["wire_bytes"] - sum(p["wire_bytes"] for p in h["passes"])))
for p in h["passes"]:
    print("pass %d%s: %d bytes dirty, %d read, %d on the wire, %.1f s" % (
        p["pass"], " (final, frozen)" if p["final"] else "", p["dirty_bytes"],
        p["data_bytes"], p["wire_bytes"], p["seconds"]))
print("downtime inside the server: the application waited %.2f s for its write"
      " across the freeze (the agent held the filesystems %.2f s); %d writes in"
      " all, the longest wait %.2f s" % (held[0] - 0.1, h["downtime_seconds"],
      len(ticks), max(b - a for a, b in pairs) - 0.1))
PY

# The clone holds the files as they were frozen, exactly.
guestfish --ro -a "$out/$member/disk0.raw" -m /dev/sda1 -- \
  sh 'cd /srv && find app markers -type f | LC_ALL=C sort | xargs sha256sum' > "$tmpdir/clone.out" ||
  fail "the clone's files cannot be listed"
sed '/^$/d' "$tmpdir/clone.out" > "$tmpdir/clone.sha256"   # (guestfish adds a blank line)
diff "$tmpdir/res/frozen.sha256" "$tmpdir/clone.sha256" ||
  fail "the clone's files are not those of the frozen server"
echo "the clone holds the $(wc -l < "$tmpdir/clone.sha256") files of the frozen server, byte for byte"

# Boot the clone, fixed up, on its new MAC.
mac=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["domain"]["nics"][0]["new_mac"])' \
  "$out/$member/report.json")
[[ $mac != "$MAC" ]] || fail "the clone kept the server's MAC"
"$top_srcdir/tests/boot-check" --mac "$mac" --nic "$NIC" --ip "$IP" --md no \
  --root "$ROOT" --log "$tmpdir/clone.console" "$out/$member/disk0.raw" ||
  fail "the clone does not pass its boot check on $mac"
echo ok
