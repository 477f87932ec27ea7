#!/bin/bash
# Every --long-option a tool prints in --help is documented in its man
# page, and the man pages format without errors.
source "$(dirname "$0")/functions.sh"
requires podchecker

check () {
  local pod=$1; shift
  podchecker "$pod" 2>&1 | grep -q "pod syntax OK" || {
    podchecker "$pod"; fail "$pod has POD errors"; }
  local opts
  opts=$("$@" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
  [[ -n $opts ]] || fail "$* --help lists no options"
  for o in $opts; do
    grep -q "B<$o>" "$pod" || fail "$o (from $* --help) missing in $pod"
  done
  echo "$pod documents: $(echo $opts)"
}
check "$top_srcdir/docs/p2v-agent.pod" "$AGENT" send
check "$top_srcdir/docs/p2v-agent.pod" "$AGENT" probe
check "$top_srcdir/docs/p2v-agent.pod" "$AGENT" hot-clone
check "$top_srcdir/docs/p2v-agent.pod" "$AGENT" track
check "$top_srcdir/docs/p2v-receiver.pod" "$RECEIVER"
check "$top_srcdir/docs/p2v-fixup.pod" "$P2V_BUILD/p2v-fixup"
check "$top_srcdir/docs/p2v-batch.pod" "$P2V_BUILD/p2v-batch"
echo ok
