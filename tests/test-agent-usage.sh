#!/bin/bash
# Wrong arguments and unreachable receivers give a clear message and a
# non-zero exit, and touch nothing.
source "$(dirname "$0")/functions.sh"
requires ssh-keygen

head -c 100000 /dev/urandom > "$tmpdir/src.img"
out=$tmpdir/out
rcv="$RECEIVER --no-fixup --output-dir $out"

# expect_fail MESSAGE-REGEX ARGS...
expect_fail () {
  local want=$1 rc=0; shift
  "$AGENT" "$@" >/dev/null 2>"$tmpdir/err" || rc=$?
  echo "[$*] -> exit $rc: $(head -c 300 "$tmpdir/err")"
  ((rc != 0)) || fail "succeeded: $*"
  grep -q -- "$want" "$tmpdir/err" || fail "message lacks '$want'"
}

expect_fail "no command given"
# With --machine-readable, a bad option is also an error event on stdout.
for args in "--frob" "--chunk-size 100K" "--local --to a@b"; do
  # shellcheck disable=SC2086
  "$AGENT" send --machine-readable $args "$tmpdir/src.img" > "$tmpdir/events" 2>/dev/null &&
    fail "send --machine-readable $args succeeded"
  python3 -c 'import json,sys; e = json.loads(open(sys.argv[1]).read()); assert e["event"] == "error" and e["message"], e' \
    "$tmpdir/events" || fail "send --machine-readable $args: no error event: $(cat "$tmpdir/events")"
done
expect_fail "unknown command" frobnicate
expect_fail "--to USER@HOST or --local" send "$tmpdir/src.img"
expect_fail "--to and --local exclude each other" send --local --to a@b "$tmpdir/src.img"
expect_fail "--to and --local exclude each other" send --dry-run --local --to a@b "$tmpdir/src.img"
expect_fail "give 1 to" send --local --receiver-command "$rcv"
# A bad --identity is named, with what is wrong with it, before any
# connection (not "the server did not accept the key").
ssh-keygen -q -t ed25519 -N secret -f "$tmpdir/locked"
ssh-keygen -q -t rsa -b 2048 -m PEM -N secret -f "$tmpdir/locked-pem"
expect_fail "--identity $tmpdir/locked.pub is a public key" \
  send --to u@127.0.0.1 --identity "$tmpdir/locked.pub" "$tmpdir/src.img"
expect_fail "--identity $tmpdir/src.img is not an SSH private key" \
  send --to u@127.0.0.1 --identity "$tmpdir/src.img" "$tmpdir/src.img"
for k in locked locked-pem; do
  expect_fail "--identity $tmpdir/$k is protected by a passphrase" \
    send --to u@127.0.0.1 --identity "$tmpdir/$k" "$tmpdir/src.img"
done
# Direct attach: this host's name is not the disks' machine's.
expect_fail "give --name" send --local --receiver-command "$rcv" "$tmpdir/src.img"
expect_fail "--host-facts goes with --local" send --to u@127.0.0.1 --host-facts "$tmpdir/src.img"
expect_fail "--streams applies to --to" send --local --streams 2 --name x "$tmpdir/src.img"
expect_fail "--streams: '17' is not a number between 1 and 16" send --to u@127.0.0.1 --streams 17 "$tmpdir/src.img"
expect_fail "No such file" send --local --name t --receiver-command "$rcv" "$tmpdir/nope"
expect_fail "not a block device or a disk image" send --local --name t \
  --receiver-command "$rcv" "$tmpdir"
: > "$tmpdir/empty.img"
expect_fail "is empty" send --local --name t --receiver-command "$rcv" "$tmpdir/empty.img"
expect_fail "not usable" send --local --name ../x --receiver-command "$rcv" \
  "$tmpdir/src.img"
expect_fail "power of two" send --local --chunk-size 100K "$tmpdir/src.img"
expect_fail "between" send --local --chunk-size 1G "$tmpdir/src.img"
expect_fail "between" send --local --level 99 "$tmpdir/src.img"
expect_fail "between" send --to x@127.0.0.1 --port 0 "$tmpdir/src.img"
expect_fail "SHA256:" send --to x@127.0.0.1 --host-key MD5:aa "$tmpdir/src.img"
expect_fail "unrecognized option" send --bogus "$tmpdir/src.img"

# A receiver that is not installed / not a receiver.
expect_fail "ended without answering" send --local --name a1 \
  --receiver-command "/nonexistent/p2v-receiver" "$tmpdir/src.img"
grep -q "not found" "$tmpdir/err" || fail "the shell's own message is not shown"
expect_fail "did not answer like a p2v receiver\|not p2v protocol" send \
  --local --name a2 --receiver-command "echo hello there" "$tmpdir/src.img"

# A receiver that never answers: --timeout ends it, and teardown stops
# the receiver's whole process group in bounded time.
start=$SECONDS
expect_fail "no progress talking to the receiver for 2 seconds" send \
  --local --timeout 2 --name a3 --receiver-command "sleep 60; true" \
  "$tmpdir/src.img"
((SECONDS - start < 20)) || fail "timeout took $((SECONDS - start)) s"

# Nobody listening on the port (connection refused, bounded time).
port=$((20000 + RANDOM % 40000))
expect_fail "cannot connect to 127.0.0.1 port $port" send --timeout 5 \
  --to "x@127.0.0.1" --port "$port" "$tmpdir/src.img"

[[ ! -e $out ]] || fail "something was written: $(ls -R "$out")"

# --help and --version work and exit 0.  (Each output is read whole:
# with pipefail, a grep -q that stops reading early would make a help
# longer than a pipe's first write die of SIGPIPE.)
# says WHAT PATTERN COMMAND...: COMMAND exits 0 and prints PATTERN.
says () {
  local what=$1 pattern=$2
  shift 2
  "$@" > "$tmpdir/says" || fail "$what exited $?"
  grep -q -- "$pattern" "$tmpdir/says" || fail "$what: no '$pattern' in: $(cat "$tmpdir/says")"
}
says "p2v-agent --help" "send" "$AGENT" --help
says "send --help" "--receiver-command" "$AGENT" send --help
says "--version" "p2v-agent [0-9]" "$AGENT" --version
says "receiver --help" "--output-dir" "$RECEIVER" --help
echo ok
