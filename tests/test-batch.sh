#!/bin/bash
# Batch conversion: agents reach a forced command "p2v-receiver --batch
# SPOOL" through our own sshd on 127.0.0.1; the coordinator (p2v-batch
# run) recognises them from the manifest.
#  A: three servers at once on a storage with max-writers = 2: never
#     more than two writing (from the coordinator's log), all three
#     complete and verify, the report lists them; an unknown machine is
#     held, converted only after its entry is added and reloaded; one
#     server's manifest entry picks one of its two disks (SELECT).
#  B: a bandwidth cap measured on the data path (within 10 %), then the
#     coordinator killed mid-copy and restarted: the agent reconnects,
#     the job resumes, nothing is lost.
# run-tests: timeout 300
source "$(dirname "$0")/functions.sh"
requires ssh-keygen cmp python3
BATCH=$P2V_BUILD/p2v-batch

# Usage errors and broken manifests: clear messages, non-zero exits;
# every mistake of a manifest at once, each at its line.
for args in "" "frob" "run" "status --spool $tmpdir/none" "reload --spool $tmpdir"; do
  if "$BATCH" $args 2>"$tmpdir/err"; then fail "p2v-batch $args succeeded"; fi
  grep -q "p2v-batch: error: " "$tmpdir/err" || fail "p2v-batch $args: $(cat "$tmpdir/err")"
done
printf '[server a]\nmatch = name:a\nvcpus = many\n' > "$tmpdir/broken"
if "$BATCH" run --manifest "$tmpdir/broken" --spool "$tmpdir/s0" 2>"$tmpdir/err"; then
  fail "a broken manifest was run"
fi
grep -q "broken:3: vcpus" "$tmpdir/err" || fail "no line number: $(cat "$tmpdir/err")"
# check: the manifest alone (what the Ansible role validates with).
if "$BATCH" check --manifest "$tmpdir/broken" 2>"$tmpdir/err"; then
  fail "check passed a broken manifest"
fi
grep -q "broken:3: vcpus" "$tmpdir/err" || fail "check: no line number: $(cat "$tmpdir/err")"
# Every mistake at once, each at its own line (storage = at its key's).
printf '[storage x]\npath = /x\n[server a]\nmatch = name:a\nvcpus = many\nstorage = y\n[server b]\nmemory = lots\n' \
  > "$tmpdir/broken"
if "$BATCH" preflight --manifest "$tmpdir/broken" 2>"$tmpdir/err"; then
  fail "a broken manifest passed preflight"
fi
cat "$tmpdir/err"
for want in "broken:5: vcpus" "broken:8: memory"; do
  grep -q "$want" "$tmpdir/err" || fail "not every mistake is shown ($want)"
done
if "$BATCH" preflight --manifest <(printf '[storage x]\npath = /x\n[server a]\nmatch = name:a\nstorage = y\n') \
     2>"$tmpdir/err"; then
  fail "an unknown storage passed preflight"
fi
grep -q ":5: server 'a': no \[storage y\]" "$tmpdir/err" ||
  fail "the unknown storage is not reported at its key's line: $(cat "$tmpdir/err")"

start_sshd
spool=$tmpdir/spool out=$tmpdir/out images=$tmpdir/images
mkdir -p "$out" "$images"
key=$(cat "$tmpdir/sshd/user_key.pub")
echo "command=\"$RECEIVER --batch $spool --timeout 60\",restrict $key" \
  > "$tmpdir/sshd/authorized_keys"

coord_pid=
start_coordinator () {
  "$BATCH" run --manifest "$1" --spool "$spool" 2>>"$tmpdir/coordinator.err" &
  coord_pid=$!
  on_exit "kill $coord_pid 2>/dev/null; wait $coord_pid 2>/dev/null"
  wait_for 100 test -S "$spool/coordinator.sock" ||
    fail "the coordinator did not start: $(cat "$tmpdir/coordinator.err")"
}

# agent NAME IMAGE [OPTION...]: send in the background; sets agent_pid.
agent () {
  local name=$1 img=$2; shift 2
  "$AGENT" send $(ssh_opts) --name "$name" --retry-wait 1 \
    --stats "$tmpdir/$name.stats" "$@" "$img" > "$tmpdir/$name.out" 2>&1 &
  agent_pid=$!
  on_exit "kill $agent_pid 2>/dev/null"
}

job_field () { sed -n "s/^$2=//p" "$spool/jobs/$1"; }

# ---- A: three servers, two writers, one stranger ----
for s in alpha beta gamma; do
  head -c 12M /dev/urandom > "$tmpdir/$s.img"
done
head -c 4M /dev/urandom > "$tmpdir/stranger.img"
head -c 4M /dev/urandom > "$tmpdir/gamma-scratch.img"   # not to be copied
cat > "$tmpdir/manifest" <<M
[defaults]
output-dir = $out
hypervisor = qemu
fixup = no
verify = yes
agent-bandwidth = 3M

[storage pool]
path = $images
max-writers = 2

[server alpha]
match = name:src-alpha
[server beta]
match = name:src-beta
priority = 5
[server gamma]
match = name:src-gamma
memory = 512M
disks = gamma.img
M
"$BATCH" check --manifest "$tmpdir/manifest" 2>"$tmpdir/err" || fail "check: $(cat "$tmpdir/err")"
grep -q "manifest: 3 server(s), 1 storage(s)" "$tmpdir/err" || fail "check said: $(cat "$tmpdir/err")"
# Pre-flight: the sshd answers, the storage is there; a missing one fails.
"$BATCH" preflight --manifest "$tmpdir/manifest" --spool "$spool" \
  --ssh "127.0.0.1:$SSHD_PORT" > "$tmpdir/preflight" ||
  fail "preflight failed: $(cat "$tmpdir/preflight")"
grep -q "^OK .*ssh 127.0.0.1:$SSHD_PORT: .*SSH-2.0" "$tmpdir/preflight" ||
  fail "preflight did not reach the sshd: $(cat "$tmpdir/preflight")"
sed "s|^path = .*|path = $tmpdir/missing|" "$tmpdir/manifest" > "$tmpdir/bad"
if "$BATCH" preflight --manifest "$tmpdir/bad" > "$tmpdir/preflight"; then
  fail "preflight passed a missing storage directory"
fi
grep -q "^FAIL .*storage pool: .*$tmpdir/missing" "$tmpdir/preflight" ||
  fail "no FAIL for the missing storage: $(cat "$tmpdir/preflight")"
# LVM storage: vgs/lvs are asked (no VG exists on this machine).
for lvm in nosuchvg nosuchvg/pool; do
  sed "s|^path = .*|lvm = $lvm|" "$tmpdir/manifest" > "$tmpdir/bad"
  "$BATCH" preflight --manifest "$tmpdir/bad" > "$tmpdir/preflight" &&
    fail "preflight passed a missing volume group"
  grep -q "^FAIL .*storage pool: .* $lvm: [vl][gv]s: Volume group \"nosuchvg\" not found; create it" \
    "$tmpdir/preflight" || fail "no FAIL for lvm = $lvm: $(cat "$tmpdir/preflight")"
done

start_coordinator "$tmpdir/manifest"
"$BATCH" status --spool "$spool" | grep -q "^alpha *pending" ||
  fail "alpha not pending: $("$BATCH" status --spool "$spool")"

pids=()
for s in alpha beta; do
  agent "src-$s" "$tmpdir/$s.img"
  pids+=("$agent_pid")
done
agent src-gamma "$tmpdir/gamma.img" "$tmpdir/gamma-scratch.img"
pids+=("$agent_pid")
agent stranger "$tmpdir/stranger.img"
stranger_pid=$agent_pid

for i in 0 1 2; do
  wait "${pids[i]}" || fail "agent $i failed: $(cat "$tmpdir"/src-*.out)"
done
"$BATCH" status --spool "$spool"

# Never more than two writing; two at once did happen.
python3 - "$spool/coordinator.log" <<'PY' || fail "writers over the cap"
import sys, re
now = peak = 0
for line in open(sys.argv[1]):
    if re.search(r' begin name=\S+ storage=pool ', line): now += 1
    elif re.search(r' end name=(alpha|beta|gamma) ', line): now -= 1
    peak = max(peak, now)
    m = re.search(r' writers=(\d+)/2', line)
    if m and int(m.group(1)) > 2: sys.exit("writers=%s" % m.group(1))
print("most writers at once:", peak)
sys.exit(0 if peak == 2 else "peak %d, not 2" % peak)
PY
grep -q ' queued name=gamma ' "$spool/coordinator.log" || fail "gamma never queued"

for s in alpha beta gamma; do
  [[ $(job_field "$s" state) == complete ]] || fail "$s: $(cat "$spool/jobs/$s")"
  [[ $(job_field "$s" verification) == verified ]] || fail "$s not verified"
  [[ $(cat "$out/$s/status") == complete ]] || fail "$s: status"
  "$RECEIVER" verify "$out/$s" >/dev/null || fail "$s: verify failed"
  cmp "$tmpdir/$s.img" "$images/$s-disk0.raw" || fail "$s: image differs"
  grep -q "receiver: '$s' is in" "$tmpdir/src-$s.out" || fail "$s: no summary"
done
grep -q "waits for storage 'pool': 2 of 2 writer" "$tmpdir"/src-*.out ||
  fail "no agent was told it waits"
grep -q "<memory unit='KiB'>524288</memory>" "$out/gamma/domain.xml" ||
  fail "gamma's manifest memory not applied"
# gamma's manifest names one of its two disks: only that one came.
grep -q "the receiver wants 1 of the 2 disks: $tmpdir/gamma.img" "$tmpdir/src-gamma.out" ||
  fail "gamma's agent was not told its disks: $(cat "$tmpdir/src-gamma.out")"
[[ ! -e $images/gamma-disk1.raw ]] || fail "gamma's second disk was copied"
grep -c "<disk type=" "$out/gamma/domain.xml" | grep -qx 1 || fail "gamma has more than one disk"

# The stranger is held, with its identity, and nothing was written.
"$BATCH" status --spool "$spool" --json > "$tmpdir/status.json"
python3 - "$tmpdir/status.json" <<'PY' || fail "stranger not held: $(cat "$tmpdir/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
h = [x for x in s["held"] if x["agent"] == "stranger"]
assert s["coordinator"] and h and h[0]["connected"], s
assert "no server" in h[0]["reason"], h
assert sorted(j["state"] for j in s["jobs"]) == ["complete"] * 3, s["jobs"]
PY
[[ ! -e $out/stranger ]] || fail "the unknown machine was converted"
kill -0 "$stranger_pid" || fail "the held agent gave up: $(cat "$tmpdir/stranger.out")"
grep -q "no server in .* matches it" "$tmpdir/stranger.out" ||
  fail "the held agent was not told why: $(cat "$tmpdir/stranger.out")"

# Its entry added and reloaded: converted.
printf '[server newcomer]\nmatch = name:stranger\n' >> "$tmpdir/manifest"
"$BATCH" reload --spool "$spool"
wait "$stranger_pid" || fail "the stranger failed: $(cat "$tmpdir/stranger.out")"
cmp "$tmpdir/stranger.img" "$images/newcomer-disk0.raw" ||
  fail "newcomer's image differs"

"$BATCH" preflight --manifest "$tmpdir/manifest" > "$tmpdir/preflight" || true
grep -q "^WARN .*server alpha: .*already converted" "$tmpdir/preflight" ||
  fail "preflight missed a converted name: $(cat "$tmpdir/preflight")"

"$BATCH" report --spool "$spool" --manifest "$tmpdir/manifest"
for s in alpha beta gamma newcomer; do
  grep -q "| $s " "$spool/report.md" || fail "report.md lacks $s"
  grep -q ">$s<" "$spool/report.html" || fail "report.html lacks $s"
done
grep -q "<svg" "$spool/report.html" || fail "no chart in report.html"
kill "$coord_pid"; wait "$coord_pid" || fail "coordinator exit status $?"
grep -q ' stop$' "$spool/coordinator.log" || fail "no stop in the log"

# ---- B: a bandwidth cap, then a coordinator killed and restarted ----
rm -rf "$spool"
# 48 MiB at 2 MiB/s: 24 s, so that the agent is still sending when the
# coordinator is killed, even on a loaded machine.
head -c 48M /dev/urandom > "$tmpdir/big.img"
cat > "$tmpdir/manifest-b" <<M
[defaults]
output-dir = $out
bandwidth = 2M
fixup = no

[server big]
match = name:src-big
M
start_coordinator "$tmpdir/manifest-b"
agent src-big "$tmpdir/big.img"
big_pid=$agent_pid
samples=$spool/jobs/big.samples
wait_for 200 test -e "$samples" || fail "no samples: $(cat "$tmpdir/src-big.out")"
wait_for 100 bash -c "(( \$(wc -l < '$samples') >= 4 ))" || fail "too few samples"
# Never above the cap; below it only as far as a loaded machine's agent
# may fall behind.
python3 - "$samples" <<'PY' || fail "rate off the 2 MiB/s cap"
import sys
s = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
(t0, w0, _), (t1, w1, _) = s[0], s[-1]
rate = (w1 - w0) / (t1 - t0)
cap = 2 * 2**20
print("measured %.2f MiB/s over %.1f s, cap 2 MiB/s: %+.1f %%"
      % (rate / 2**20, t1 - t0, 100 * (rate - cap) / cap))
sys.exit(0 if 0.5 * cap <= rate <= 1.1 * cap else 1)
PY

kill -9 "$coord_pid"; wait "$coord_pid" 2>/dev/null || true
sleep 2
kill -0 "$big_pid" || fail "the agent gave up: $(cat "$tmpdir/src-big.out")"
start_coordinator "$tmpdir/manifest-b"
wait "$big_pid" || fail "the agent failed: $(cat "$tmpdir/src-big.out")"
grep -q "batch coordinator" "$tmpdir/src-big.out" ||
  fail "the agent was not told: $(cat "$tmpdir/src-big.out")"
cmp "$tmpdir/big.img" "$out/big/disk0.raw" || fail "big: image differs"
"$RECEIVER" verify "$out/big" >/dev/null || fail "big: verify failed"
[[ $(job_field big state) == complete ]] || fail "big: $(cat "$spool/jobs/big")"
(( $(job_field big sessions) >= 2 )) || fail "big did not resume"
sessions=$(json_field "$tmpdir/src-big.stats" sessions)
((sessions >= 2)) || fail "the agent used $sessions session(s)"
grep -q ' begin name=big .*session=2' "$spool/coordinator.log" ||
  fail "no second session in the log"
echo ok
