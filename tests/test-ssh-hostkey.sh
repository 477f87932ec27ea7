#!/bin/bash
# Host keys: unknown is refused with its SHA256 fingerprint; --host-key
# pins one (right: works, wrong: refused); --accept-new-host-key records
# it; a changed key is always refused.  Nothing is written when refused.
source "$(dirname "$0")/functions.sh"
requires ssh-keygen

start_sshd
printf 'p2v data\n' > "$tmpdir/src.img"
truncate -s 1M "$tmpdir/src.img"
out=$tmpdir/out
fp=$(ssh-keygen -lf "$SSHD_HOST_PUB" | awk '{print $2}')
[[ $fp == SHA256:* ]] || fail "cannot read fingerprint: $fp"

send () {
  "$AGENT" send --to "$(id -un)@127.0.0.1" --port "$SSHD_PORT" \
    --identity "$SSH_KEY" --receiver-command "$RECEIVER --no-fixup --output-dir $out" \
    --quiet "$@" "$tmpdir/src.img"
}

# 1. Unknown key: refused, fingerprint shown, nothing written.
empty=$tmpdir/empty_known_hosts
: > "$empty"
if send --known-hosts "$empty" --name k1 2>"$tmpdir/err"; then
  fail "an unknown host key was accepted"
fi
cat "$tmpdir/err"
grep -q "unknown host key" "$tmpdir/err" || fail "no clear message"
grep -qF "$fp" "$tmpdir/err" || fail "message lacks the fingerprint $fp"
[[ ! -e $out/k1 ]] || fail "something was written after refusing"
[[ ! -s $empty ]] || fail "known_hosts changed without --accept-new-host-key"

# A missing known_hosts file is just as unknown.
if send --known-hosts "$tmpdir/nonexistent" --name k1 2>/dev/null; then
  fail "accepted with a missing known_hosts file"
fi

# 2. Pinned: the right fingerprint works, a wrong one is refused.
send --known-hosts "$empty" --host-key "$fp" --name k2 ||
  fail "the pinned right key was refused"
[[ -f $out/k2/disk0.raw ]] || fail "pinned send wrote nothing"
wrong=SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
if send --known-hosts "$SSH_KNOWN_HOSTS" --host-key "$wrong" --name k3 \
   2>"$tmpdir/err"; then
  fail "a wrong pinned key was accepted"
fi
grep -qF "$wrong" "$tmpdir/err" && grep -qF "$fp" "$tmpdir/err" ||
  fail "pin mismatch message lacks the fingerprints: $(cat "$tmpdir/err")"

# 3. --accept-new-host-key appends the key to a real-looking user file
# (comments, a CA line libssh2 cannot parse, a hashed entry, an old
# key type): everything else stays byte for byte, and the next send
# needs no flag.
new=$tmpdir/new_known_hosts
{
  echo "# my hosts"
  echo "@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDVRK0jqBn2dsVS5Nm3C0/QEZZbPnu2nZ3NMBOZ7Gt4u"
  echo "|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDD"
  echo "old.example.com sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIKL"
} > "$new"
cp "$new" "$tmpdir/before"
send --known-hosts "$new" --accept-new-host-key --name k4 ||
  fail "--accept-new-host-key failed"
grep -q "^\[127.0.0.1\]:$SSHD_PORT ssh-ed25519 " "$new" ||
  fail "key not recorded: $(cat "$new")"
head -n 4 "$new" | cmp - "$tmpdir/before" ||
  fail "the user's known_hosts lines were changed"
send --known-hosts "$new" --name k5 || fail "recorded key not accepted"

# 4. A changed key is refused, even with --accept-new-host-key.
ssh-keygen -q -t ed25519 -N '' -f "$tmpdir/other_key"
printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" \
  "$(cut -d' ' -f1,2 "$tmpdir/other_key.pub")" > "$tmpdir/changed"
if send --known-hosts "$tmpdir/changed" --accept-new-host-key --name k6 \
   2>"$tmpdir/err"; then
  fail "a changed host key was accepted"
fi
grep -q "HAS CHANGED" "$tmpdir/err" || fail "no changed-key message"
[[ ! -e $out/k6 ]] || fail "something was written after a changed key"
echo ok
