#!/bin/bash
# test-agent-starved: on a starved source (one CPU under a cgroup CPU
# quota, as bench-send's P2V_BENCH_CPU makes it), the agent sees the
# quota (agent_cpus_available, here 10% of one CPU) and its adaptive level goes down from 3,
# because it uses all the CPU it may have; the copy is still exact.
# The receiver runs outside the cgroup.
source "$(dirname "$0")/functions.sh"
requires taskset base64 cmp

(($(id -u) == 0)) || { echo "SKIP: needs root (a cgroup with a CPU quota)" >&2; exit 77; }
if [[ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
  cg=/sys/fs/cgroup/cpu/p2v-test-$$ procs=tasks root_procs=/sys/fs/cgroup/cpu/tasks
  mkdir "$cg" || fail "cannot make $cg"
  echo 100000 > "$cg/cpu.cfs_period_us"
  echo 10000 > "$cg/cpu.cfs_quota_us"
elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
  cg=/sys/fs/cgroup/p2v-test-$$ procs=cgroup.procs root_procs=/sys/fs/cgroup/cgroup.procs
  mkdir "$cg" || fail "cannot make $cg"
  echo "10000 100000" > "$cg/cpu.max"
else
  echo "SKIP: no cgroup CPU controller (v1 cpu, or v2 with cpu enabled)" >&2
  exit 77
fi
on_exit "rmdir $cg"

# Data that costs CPU to compress, and compresses (base64 of random).
head -c $((72 << 20)) /dev/urandom | base64 -w 0 | head -c $((96 << 20)) > "$tmpdir/disk.img"
out=$tmpdir/out
rc=0
sh -c "echo \$\$ > $cg/$procs && exec taskset -c 0 \"\$@\"" starve \
  "$AGENT" send --local -v --name starved --stats "$tmpdir/stats.json" \
  --receiver-command "sh -c 'echo \$\$ > $root_procs && exec $RECEIVER --no-fixup --output-dir $out'" \
  "$tmpdir/disk.img" 2> "$tmpdir/agent.err" || rc=$?
((rc == 0)) || { tail -20 "$tmpdir/agent.err"; fail "the starved send failed ($rc)"; }
grep -q "of 0.10 CPUs busy" "$tmpdir/agent.err" || {
  grep "CPUs busy" "$tmpdir/agent.err" | head -3
  fail "the agent did not see its 10% quota"
}
mean=$(sed -n 's/.*"level_mean":\([0-9.]*\).*/\1/p' "$tmpdir/stats.json")
echo "mean level $mean; $(grep -c 'CPUs busy' "$tmpdir/agent.err") windows"
awk -v m="$mean" 'BEGIN { exit !(m < 2.5) }' ||
  fail "the level did not go down under the quota (mean $mean, from 3)"
cmp "$tmpdir/disk.img" "$out/starved/disk0.raw" || fail "the image differs"
echo ok
