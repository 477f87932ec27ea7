#!/bin/bash
# Run every unit test ($BUILD/test-*) and feature test (tests/test-*.sh).
# Usage: tests/run-tests.sh [BUILD_DIR] [TEST...]
# Exit status 77 from a test means skipped (a documented missing
# capability).  Each test's line gives its time; the summary gives the
# total and the five slowest tests, and the last line is "N passed, N
# failed, N skipped".
# With P2V_SANITIZED=1 (make check-asan), tests that say "# run-tests:
# no p2v programs" are left out: they check fixtures only, and make
# check has run them.  The tests P2V_TESTS_ELSEWHERE names (make check
# and make check-asan share some out) are left out too: the other pass
# runs them.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
shift || true
export P2V_BUILD=$build
logs=$build/test-logs
mkdir -p "$logs"

tests=("$@")
if [[ ${#tests[@]} -eq 0 ]]; then
  tests=("$build"/test-* "$build"/agent-test-* "$build"/receiver-test-* "$build"/fixup-test-* "$build"/batch-test-* "$top"/tests/test-*.sh)
fi

# As root, each test runs in a mount namespace of its own.  A namespace
# that another test creates (libvirtd's, ip netns exec, a chroot), in
# this pass or in one running beside it, copies every mount that exists
# at that moment and keeps it alive: a loop-mounted filesystem a test
# then unmounts would stay mounted there, its log never closed.
own_mounts=()
(($(id -u) == 0)) && command -v unshare >/dev/null && own_mounts=(unshare -m)

pass=0 fail=0 skip=0 failed=() times=()
begin=$(date +%s)
for t in "${tests[@]}"; do
  [[ -x $t && ! -d $t ]] || continue
  name=$(basename "$t")
  if [[ ${P2V_SANITIZED:-} == 1 && $t == *.sh ]] &&
     grep -qx '# run-tests: no p2v programs' "$t"; then
    echo "(not under sanitizers: $name runs none of p2v's programs)"
    continue
  fi
  if [[ " ${P2V_TESTS_ELSEWHERE:-} " == *" $name "* ]]; then
    echo "(in the other pass: $name)"
    continue
  fi
  start=$(date +%s)
  # 15 minutes each, unless the test says "# run-tests: timeout SECONDS".
  limit=
  [[ $t == *.sh ]] && limit=$(sed -n 's/^# run-tests: timeout \([0-9]\+\)$/\1/p' "$t" | head -1)
  timeout -k 10 "${limit:-900}" "${own_mounts[@]}" "$t" >"$logs/$name.log" 2>&1 </dev/null
  rc=$?
  secs=$(($(date +%s) - start))
  times+=("$secs $name")
  case $rc in
    0) pass=$((pass + 1)); echo "PASS: $name (${secs}s)" ;;
    77) skip=$((skip + 1))
        echo "SKIP: $name (${secs}s): $(grep -m1 '^SKIP' "$logs/$name.log" || true)" ;;
    *) fail=$((fail + 1)); failed+=("$name")
       echo "FAIL: $name (exit $rc, ${secs}s); last lines of $logs/$name.log:"
       tail -n 25 "$logs/$name.log" | sed 's/^/    /' ;;
  esac
done
[[ $fail -eq 0 ]] || echo "failed: ${failed[*]}"
total=$(($(date +%s) - begin))
echo "time: $((total / 60)) min $((total % 60)) s in all; slowest:" \
  "$(printf '%s\n' "${times[@]}" | sort -rn | head -5 | awk '{printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1}')"
echo "$pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 ]]
