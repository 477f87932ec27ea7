#!/bin/bash
# p2v-agent/portable/build.sh ARCH OUT: the portable agent for ARCH
# (x86_64 or i686), statically linked with musl, as the file OUT.  See
# "The portable agent" in docs/architecture.md.
# build.sh --sysroot ARCH: only make sure the sysroot is built (the
# tests start that early, in the background: it takes minutes cold).
#
# Its sysroot (p2v-agent/portable/sysroot.sh: musl and the libraries,
# from Debian's source packages) is a cache entry under
# $P2V_CACHE (default /var/cache/p2v-tests), keyed by that script, ARCH,
# the compiler and the source packages' checksums; the agent itself is
# built by make in $(O)/portable-ARCH.
set -euo pipefail
only_sysroot=
[[ ${1:-} == --sysroot ]] && { only_sysroot=1; shift; }
arch=${1:?usage: build.sh ARCH OUT | build.sh --sysroot ARCH} out=${2:-}
[[ -n $only_sysroot || -n $out ]] || { echo "usage: build.sh ARCH OUT | build.sh --sysroot ARCH" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${P2V_CACHE:-/var/cache/p2v-tests}
case $arch in
  x86_64) m= ;;
  i686) m="-m32 -march=i686 -mtune=generic -Wl,-melf_i386" ;;
  *) echo "build.sh: ARCH is x86_64 or i686, not '$arch'" >&2; exit 2 ;;
esac

# The source packages that sysroot.sh builds, and their checksums
# (from apt's deb-src lists; scripts/install-deps sets them up).
mapfile -t packages < <(sed -n 's/^packages=(\(.*\))$/\1/p' "$here/sysroot.sh" | tr ' ' '\n')
sources=$(apt-get source --print-uris -qq "${packages[@]/%//bookworm}" 2>/dev/null |
            awk '$1 ~ /^\x27/ {print $2, $4}') || true
[[ $(grep -c '\.dsc ' <<<"$sources") == "${#packages[@]}" ]] || {
  echo "build.sh: apt cannot name the source packages ${packages[*]} (bookworm);" \
       "run scripts/install-deps, which adds Debian's deb-src lists" >&2
  exit 1
}
key=$({ cat "$here/sysroot.sh"; echo "$arch"; gcc --version | head -1; echo "$sources"; } |
        sha256sum | cut -c1-16)
sysroot=$("$top/tests/cache.sh" --prune "portable-$arch-*" "$cache" \
            "portable-$arch-$key" "$here/sysroot.sh" "$arch")
[[ -z $only_sysroot ]] || exit 0

musl=$(sed -n 's/^musl_\([^-]*\)-.*\.dsc .*/\1/p' <<<"$sources")
odir=$(cd "$(dirname "$out")" && pwd)/portable-$arch
# Objects built against another sysroot are not reused.
[[ $(cat "$odir/.sysroot" 2>/dev/null) == "$sysroot" ]] || rm -rf "$odir"
mkdir -p "$odir"
echo "$sysroot" > "$odir/.sysroot"
sed "s|@SYSROOT@|$sysroot|g" "$sysroot/lib/musl-gcc.specs" > "$odir/musl-gcc.specs"
PKG_CONFIG_LIBDIR=$sysroot/lib/pkgconfig PKG_CONFIG_PATH= \
  make -C "$top" --no-print-directory O="$odir" PORTABLE=1 NBD=0 SAN= \
  CC="gcc -specs=$odir/musl-gcc.specs $m" CFLAGS="-Os" \
  PORTABLE_BUILD="portable $arch, static, musl $musl" "$odir/p2v-agent"
cp "$odir/p2v-agent" "$out.tmp"
strip "$out.tmp"
mv "$out.tmp" "$out"
