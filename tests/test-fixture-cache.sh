#!/bin/bash
# test-fixture-cache: the test fixtures' cache (tests/cache.sh) with a
# small stand-in build step instead of a debootstrap:
#  - two builders of one entry at once: one builds, the other waits and
#    takes its result; one good entry, no temporary left;
#  - an entry changed, truncated, unreadable (a file gone) or never
#    completed (no checksum list) is rebuilt, saying why;
#  - a build that fails publishes nothing and says so; what a killed
#    builder left is removed;
#  - --prune removes the older keys' entries once a new one is built,
#    but not one that a builder holds.
# run-tests: no p2v programs
source "$(dirname "$0")/functions.sh"
requires flock openssl
cache=$top_srcdir/tests/cache.sh
c=$tmpdir/cache builds=$tmpdir/builds

# The stand-in: slow enough for the builders to overlap, random so that
# two builds differ; each build leaves a line in $builds.
cat > "$tmpdir/make-entry" <<'EOF'
#!/bin/bash
set -e
echo "build $$" >> "$1"
sleep "$2"
head -c 300000 /dev/urandom > "$3/data.bin"
mkdir "$3/sub"
echo "made by $$" > "$3/sub/info"
EOF
chmod +x "$tmpdir/make-entry"
get () { "$cache" "$c" "$@"; }
nbuilds () { wc -l < "$builds"; }
verify () { (cd "$c/$1" && sha256sum --quiet --strict -c "../$1.sha256") || fail "$1 does not verify"; }

# 1. Two builders at once.
: > "$builds"
get one-k1 "$tmpdir/make-entry" "$builds" 2 > "$tmpdir/a.out" 2> "$tmpdir/a.err" & a=$!
sleep 0.5
get one-k1 "$tmpdir/make-entry" "$builds" 2 > "$tmpdir/b.out" 2> "$tmpdir/b.err" & b=$!
wait "$a" || fail "the first builder failed: $(cat "$tmpdir/a.err")"
wait "$b" || fail "the second builder failed: $(cat "$tmpdir/b.err")"
cat "$tmpdir/a.err" "$tmpdir/b.err"
[[ $(cat "$tmpdir/a.out") == "$c/one-k1" && $(cat "$tmpdir/b.out") == "$c/one-k1" ]] ||
  fail "the builders printed '$(cat "$tmpdir/a.out")' and '$(cat "$tmpdir/b.out")'"
(($(nbuilds) == 1)) || fail "$(nbuilds) builds of one entry, want 1"
grep -q "another builder holds it; waiting" "$tmpdir/b.err" || fail "the second builder did not say it waits"
verify one-k1
leftover=$(find "$c" -mindepth 1 -maxdepth 1 ! -name one-k1 ! -name one-k1.sha256 ! -name '.*.lock')
[[ -z $leftover ]] || fail "left in the cache: $leftover"
echo "1: two builders, one build, one good entry"

# 2. Damaged entries are rebuilt, each with its reason.
# damaged HOW EXPECTED-MESSAGE
damaged () {
  local before after
  before=$(nbuilds)
  get one-k1 "$tmpdir/make-entry" "$builds" 0 > /dev/null 2> "$tmpdir/d.err" ||
    fail "$1: $(cat "$tmpdir/d.err")"
  cat "$tmpdir/d.err"
  after=$(nbuilds)
  ((after == before + 1)) || fail "$1: not rebuilt"
  grep -q "cache: $c/one-k1: $2; rebuilding" "$tmpdir/d.err" || fail "$1: no message saying '$2'"
  verify one-k1
}
printf 'X' | dd of="$c/one-k1/data.bin" bs=1 seek=1000 conv=notrunc status=none
damaged changed "data.bin does not match its checksum (changed or truncated, now 300000 bytes)"
truncate -s 4096 "$c/one-k1/data.bin"
damaged truncated "data.bin does not match its checksum (changed or truncated, now 4096 bytes)"
rm "$c/one-k1/sub/info"
damaged "a file gone" "sub/info is missing"
rm "$c/one-k1.sha256"
damaged "never completed" "no checksum list (one-k1.sha256): never completed"
# A good entry is used as it is; what a killed builder left is removed.
mkdir "$c/.one-k1.Zz9Zz9"; : > "$c/.one-k1.sha256.Zz9Zz9"
n=$(nbuilds)
get one-k1 "$tmpdir/make-entry" "$builds" 0 > /dev/null
(($(nbuilds) == n)) || fail "a good entry was rebuilt"
[[ ! -e $c/.one-k1.Zz9Zz9 && ! -e $c/.one-k1.sha256.Zz9Zz9 ]] ||
  fail "a killed builder's temporaries were left"
echo "2: changed, truncated, incomplete and unlisted entries rebuilt; leftovers removed"

# 3. A failing build publishes nothing.
rc=0
get bad-k1 false > /dev/null 2> "$tmpdir/f.err" || rc=$?
((rc == 1)) || fail "a failed build exited $rc"
grep -q "cache: $c/bad-k1: the build failed (exit 1): false" "$tmpdir/f.err" ||
  fail "no message for the failed build: $(cat "$tmpdir/f.err")"
[[ ! -e $c/bad-k1 && ! -e $c/bad-k1.sha256 ]] || fail "a failed build left an entry"
[[ -z $(find "$c" -name '.bad-k1.*' ! -name '*.lock') ]] || fail "a failed build left its temporaries"
echo "3: a failed build publishes nothing"

# 4. --prune: a new key replaces the old, except while it is held.
get fam-k1 "$tmpdir/make-entry" "$builds" 0 > /dev/null
get fam-k2 "$tmpdir/make-entry" "$builds" 0 > /dev/null
flock "$c/.fam-k2.lock" sleep 3 & holder=$!
sleep 0.5
"$cache" --prune 'fam-*' "$c" fam-k3 "$tmpdir/make-entry" "$builds" 0 > /dev/null 2> "$tmpdir/p.err" ||
  fail "prune: $(cat "$tmpdir/p.err")"
wait "$holder"
[[ ! -e $c/fam-k1 && ! -e $c/fam-k1.sha256 ]] || fail "the older fam-k1 was not removed"
[[ -e $c/fam-k2 ]] || fail "fam-k2, held by a builder, was removed"
verify fam-k3
echo "4: older keys pruned, held ones kept"
echo ok
