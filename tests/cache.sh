#!/bin/bash
# tests/cache.sh: one entry of the test fixtures' cache, safe when
# several builders run at once, and verified before it is trusted.
#
#   tests/cache.sh [--prune GLOB] DIR NAME COMMAND [ARG]...
#
# Prints DIR/NAME, a directory of files.  When it is missing, or fails
# its check, COMMAND ARG... OUT is run to fill a new empty directory OUT
# (its output goes to stderr), which is then published as DIR/NAME.
#  - One lock per entry (flock on DIR/.NAME.lock): a second builder
#    waits for the first (at most P2V_CACHE_WAIT seconds, default 3600)
#    and then takes its result.
#  - OUT is unique to each builder (mktemp in DIR) and renamed into
#    place, then DIR/NAME.sha256 (the SHA-256 of each file, written the
#    same way) says the entry is complete.
#  - On every use, each file is checked against DIR/NAME.sha256.  An
#    entry that is unlisted, changed, truncated or unreadable is rebuilt,
#    with a line on stderr saying why.
#  - --prune GLOB: after a build, the other entries DIR/GLOB (older keys
#    of the same fixture) are removed, unless a builder holds them.
# NAME carries the key: a hash of everything the entry is made from.
# Exit status: 0, or 1 with a message (the build failed, the lock was
# not granted).
set -euo pipefail
prune=
if [[ ${1:-} == --prune ]]; then prune=$2; shift 2; fi
(($# >= 3)) || { echo "usage: cache.sh [--prune GLOB] DIR NAME COMMAND [ARG]..." >&2; exit 2; }
dir=$1 name=$2
shift 2
entry=$dir/$name
say () { echo "cache: $entry: $*" >&2; }

# hashes FILE...: "SHA256 *FILE" lines, sorted by name; SHA-NI makes
# OpenSSL's 3 to 4 times faster than sha256sum here (1 GB/s).  Files
# over 16 MiB (a machine's disks) get an OpenSSL each, side by side;
# the small ones (a sysroot's thousands) one OpenSSL in all: one per
# file spent 5 CPU-minutes of a cold CI run starting them.
hashes () {
  local big=() small=() size f
  while read -r size f; do
    if ((size > 16 << 20)); then big+=("$f"); else small+=("$f"); fi
  done < <(stat -c '%s %n' -- "$@" 2>/dev/null)
  { ((${#small[@]} == 0)) || openssl dgst -sha256 -r "${small[@]}"
    ((${#big[@]} == 0)) ||
      printf '%s\0' "${big[@]}" | xargs -0 -n 1 -P "$(nproc)" openssl dgst -sha256 -r
  } | sort -k 2
}

# why_bad: nothing when the entry matches its list, else the reason.
why_bad () {
  local want got line f
  [[ -d $entry ]] || { echo "not a directory"; return; }
  [[ -s $entry.sha256 ]] || { echo "no checksum list ($name.sha256): never completed"; return; }
  want=$(cat "$entry.sha256") || { echo "cannot read $name.sha256"; return; }
  mapfile -t files < <(sed 's/^[0-9a-f]\{64\} \*//' <<<"$want")
  got=$(cd "$entry" && hashes "${files[@]}" 2>/dev/null) || true
  [[ $got == "$want" ]] && return
  while read -r line; do
    f=${line#* \*}
    grep -qxF "$line" <<<"$got" && continue
    if [[ ! -e $entry/$f ]]; then echo "$f is missing"
    elif [[ ! -r $entry/$f ]] || ! head -c 1 "$entry/$f" >/dev/null 2>&1; then echo "$f cannot be read"
    else echo "$f does not match its checksum (changed or truncated, now $(stat -c %s "$entry/$f") bytes)"
    fi
    return
  done <<<"$want"
  echo "its checksum list does not match"
}

mkdir -p "$dir"
exec {lock}>>"$dir/.$name.lock"
if ! flock -n "$lock"; then
  say "another builder holds it; waiting"
  flock -w "${P2V_CACHE_WAIT:-3600}" "$lock" ||
    { say "still locked after ${P2V_CACHE_WAIT:-3600} s; giving up"; exit 1; }
fi

# What a builder killed before it could clean up left (only the holder
# of the lock builds, so no other is at work).
find "$dir" -maxdepth 1 -name ".$name.*" ! -name ".$name.lock" -exec rm -rf {} +

if [[ -e $entry || -e $entry.sha256 ]]; then
  why=$(why_bad)
  if [[ -z $why ]]; then
    echo "$entry"
    exit 0
  fi
  say "$why; rebuilding"
  rm -rf "$entry" "$entry.sha256"
fi

out=$(mktemp -d "$dir/.$name.XXXXXX")
sums=$(mktemp "$dir/.$name.sha256.XXXXXX")
trap 'rm -rf "$out" "$sums"' EXIT
start=$SECONDS
"$@" "$out" >&2 || { say "the build failed (exit $?): $*"; exit 1; }
mapfile -t files < <(cd "$out" && find . -type f -printf '%P\n' | sort)
((${#files[@]} > 0)) || { say "the build made no files: $*"; exit 1; }
for f in "${files[@]}"; do
  [[ $f != *[[:space:]\\]* ]] || { say "file name '$f' has blanks: not supported"; exit 1; }
done
(cd "$out" && hashes "${files[@]}") > "$sums"
chmod 755 "$out"
chmod 644 "$sums"
mv -T "$out" "$entry"
mv -T "$sums" "$entry.sha256"
trap - EXIT
say "built in $((SECONDS - start)) s"

if [[ -n $prune ]]; then
  for old in "$dir"/$prune; do
    [[ $old != "$entry" && $old != *.sha256 && -e $old ]] || continue
    (
      exec {l}>>"$dir/.${old##*/}.lock"
      flock -n "$l" || exit 0
      rm -rf "$old" "$old.sha256"
      echo "cache: removed the older $old" >&2
    )
  done
fi
echo "$entry"
