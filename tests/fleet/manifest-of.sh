#!/bin/bash
# tests/fleet/manifest-of.sh IMAGE...: run manifest.sh in a libguestfs
# appliance that has IMAGE... attached read-only (md arrays assembled,
# LVM active there), and print its manifest: "== UUID TYPE fsck:..."
# sections, each followed by its files' MD5s.
#
#   manifest-of.sh --cached ENTRY IMAGE...
#       the same for images of the fleet's cache entry ENTRY (build.sh's
#       directory), made once and cached beside it (tests/cache.sh) as
#       manifest-ENTRY-KEY/manifest; prints that file's path
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}

case ${1:-} in
--cached)
  entry=${2:?usage: manifest-of.sh --cached ENTRY IMAGE...}
  shift 2
  name=${entry##*/}
  key=$(cat "$0" "$here/manifest.sh" | sha256sum | cut -c1-16)
  dir=$("$here/../cache.sh" --prune "manifest-${name%-*}-*" "$(dirname "$entry")" \
    "manifest-$name-$key" "$0" --into "$@")
  echo "$dir/manifest"
  exit 0 ;;
--into)     # IMAGE... OUT (from tests/cache.sh)
  shift
  out=${!#}
  "$0" "${@:1:$#-1}" > "$out/manifest"
  grep -q '^== ' "$out/manifest"
  exit 0 ;;
esac

scratch=$(mktemp /tmp/manifest-scratch.XXXXXX)
trap 'rm -f "$scratch"' EXIT
truncate -s 8M "$scratch"
adds=()
for img in "$@"; do adds+=(--format=raw --ro -a "$img"); done
# The scratch disk comes first (/dev/sda): manifest.sh is uploaded to it.
out=$(guestfish -a "$scratch" "${adds[@]}" <<G
run
mkfs ext2 /dev/sda
mount /dev/sda /
upload $here/manifest.sh /manifest.sh
debug sh "sh /sysroot/manifest.sh"
G
)
# Everything from the first section on (not the commands' chatter).
printf '%s\n' "$out" | sed -n '/^== /,$p'
