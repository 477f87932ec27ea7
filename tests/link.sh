# tests/link.sh: a rate-limited link to an sshd in a network namespace,
# for tests that need time to act during a transfer (test-resume) and for
# bench-send.sh (P2V_BENCH_LINK, see bench/README.md).  Source it after
# tests/functions.sh.
#
#   link_parse RATE     check RATE (100mbit, 1gbit, ...); sets LINK_RATE
#                       (as tc spells it), LINK_BPS (bits/s), TBF_BURST
#                       (bytes) and TBF_LATENCY
#   link_setup          network namespace + veth pair + tbf on the host
#                       side; sets LINK_NS, LINK_VETH, LINK_HOST_ADDR,
#                       LINK_NS_ADDR.  Calls link_skip (default: the test
#                       is skipped, exit 77) when the machine cannot do it
#                       (not root, no ip/tc, no netns); link_log reports.
#   start_sshd_link     our own sshd inside the namespace, like start_sshd
#                       of tests/functions.sh; sets the same variables
#   link_stats          "sent B bytes, dropped N, overlimits M" of the tbf
#
# Everything it creates carries this script's PID in its name and is
# removed by on_exit handlers: the sshd (killed by its PID), the veth pair
# and the namespace.  Addresses come from a /30 of 10.199.0.0/16 that
# exists only on the veth pair made here; nothing is routed anywhere else.

# How long a queue the tbf may hold before it drops: this bounds the
# extra delay, not the rate.  The sender is a local TCP socket, whose own
# limit on bytes in the qdisc (TCP small queues) keeps it far from full.
TBF_LATENCY=50ms

# Callers may redefine these two after sourcing.
link_skip () { echo "SKIP: $*" >&2; exit 77; }
link_log () { echo "$*" >&2; }

link_parse () {
  local n unit
  [[ ${1,,} =~ ^([0-9]+)(kbit|mbit|gbit)$ ]] ||
    fail "P2V_BENCH_LINK=$1: want a rate like 100mbit or 1gbit (kbit, mbit, gbit)"
  n=$((10#${BASH_REMATCH[1]})); unit=${BASH_REMATCH[2]}
  ((n > 0)) || fail "P2V_BENCH_LINK=$1: the rate must be above 0"
  case $unit in
    kbit) LINK_BPS=$((n * 1000)) ;;
    mbit) LINK_BPS=$((n * 1000000)) ;;
    gbit) LINK_BPS=$((n * 1000000000)) ;;
  esac
  ((LINK_BPS >= 1000000)) || fail "P2V_BENCH_LINK=$1: at least 1mbit, please"
  LINK_RATE=$n$unit
  # The bucket: 10 ms of traffic at the rate (one tick at HZ=100, the
  # coarsest timer a kernel may have), so timer granularity cannot hold
  # the link below its rate; at least 64 KiB, the largest GSO packet the
  # veth hands to tbf in one piece.  1gbit: 1250000 bytes (>= 1 MiB);
  # 100mbit: 125000.  Overshoot after an idle link is at most one bucket,
  # nothing against the hundreds of MiB each method sends.
  TBF_BURST=$((LINK_BPS / 8 / 100))
  ((TBF_BURST >= 65536)) || TBF_BURST=65536
}

# A /30 in 10.199.0.0/16 that no route of the host falls in (another run
# of this script may hold one); the third octet starts from our PID.
link_pick_subnet () {
  local i x
  for ((i = 0; i < 256; i++)); do
    x=$((($$ + i) % 256))
    if [[ -z $(ip -4 route show root "10.199.$x.0/30" 2>/dev/null) &&
          -z $(ip -4 -o addr show to "10.199.$x.0/30" 2>/dev/null) ]]; then
      LINK_HOST_ADDR=10.199.$x.1 LINK_NS_ADDR=10.199.$x.2
      return 0
    fi
  done
  link_skip "no free /30 in 10.199.0.0/16"
}

# Remove what link_setup made.  Only our sshd and what it started (SSH
# sessions, the receiving commands) ever run in the namespace; after an
# interrupted run some sessions may be left, so end them (by PID, up to
# 2 s).  Deleting one end of a veth deletes both; doing it before "ip
# netns del" (which tears the namespace down in the background) makes
# sure it is gone when we exit.
link_teardown () {
  local pids i sig=TERM
  for ((i = 0; i < 20; i++)); do
    pids=$(ip netns pids "$LINK_NS" 2>/dev/null) || break
    [[ -n $pids ]] || break
    ((i < 10)) || sig=KILL
    # shellcheck disable=SC2086
    kill -s "$sig" $pids 2>/dev/null || true
    sleep 0.1
  done
  ip link del "$LINK_VETH" 2>/dev/null || true
  ip netns del "$LINK_NS" 2>/dev/null || true
}

link_setup () {
  local err=$tmpdir/link.err peer
  (($(id -u) == 0)) || link_skip "needs root (network namespace, veth, tc)"
  command -v ip >/dev/null && command -v tc >/dev/null ||
    link_skip "needs ip and tc (Debian package iproute2)"
  LINK_NS=p2v-link-$$
  # Interface names: at most 15 characters; a PID has at most 7 digits.
  LINK_VETH=p2vb$$h peer=p2vb$$n
  link_pick_subnet

  # A signal would otherwise end bash without running the EXIT handlers,
  # and leave the namespace behind.
  trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM

  ip netns add "$LINK_NS" 2>"$err" ||
    link_skip "cannot create a network namespace: $(cat "$err")"
  on_exit link_teardown
  ip link add "$LINK_VETH" type veth peer name "$peer" netns "$LINK_NS" \
    2>"$err" || link_skip "cannot create a veth pair: $(cat "$err")"
  ip addr add "$LINK_HOST_ADDR/30" dev "$LINK_VETH"
  ip link set "$LINK_VETH" up
  ip -n "$LINK_NS" addr add "$LINK_NS_ADDR/30" dev "$peer"
  ip -n "$LINK_NS" link set lo up
  ip -n "$LINK_NS" link set "$peer" up
  # Shape the sending direction: root namespace -> namespace.  The
  # replies (TCP ACKs, the receiver's acknowledgements) are not shaped.
  tc qdisc add dev "$LINK_VETH" root tbf rate "$LINK_RATE" \
    burst "$TBF_BURST" latency "$TBF_LATENCY" 2>"$err" ||
    link_skip "cannot add a tbf qdisc: $(cat "$err")"
  link_log "link: $LINK_VETH $LINK_HOST_ADDR -> $LINK_NS_ADDR (netns $LINK_NS)," \
    "tbf rate $LINK_RATE burst $TBF_BURST latency $TBF_LATENCY"
}

# stop_pid PID: TERM, wait up to 5 s, then KILL.  Only for our children.
stop_pid () {
  local i
  kill "$1" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Like start_sshd of tests/functions.sh, but inside the namespace and
# listening on its address only.  The port is free: the namespace is new.
start_sshd_link () {
  local d=$tmpdir/sshd-link
  sshd_setup "$d" p2v-bench
  SSHD_PORT=2222
  sshd_config "$d" "$LINK_NS_ADDR" "$SSHD_PORT"
  # ip netns exec execs sshd, so $! is the sshd itself.
  ip netns exec "$LINK_NS" /usr/sbin/sshd -D -e -f "$d/sshd_config" \
    2>"$d/sshd.log" &
  SSHD_PID=$!
  on_exit "stop_pid $SSHD_PID"
  wait_for 100 grep -q "Server listening" "$d/sshd.log" || {
    cat "$d/sshd.log" >&2
    fail "could not start sshd in namespace $LINK_NS"
  }
  sshd_known_hosts "$d" "$LINK_NS_ADDR" "$SSHD_PORT"
}

# What the tbf has seen so far: "sent B bytes, dropped N, overlimits M".
link_stats () {
  tc -s qdisc show dev "$LINK_VETH" |
    sed -n 's/^ *Sent \([0-9]*\) bytes [0-9]* pkt (dropped \([0-9]*\), overlimits \([0-9]*\).*/sent \1 bytes, dropped \2, overlimits \3/p' |
    head -1
}
