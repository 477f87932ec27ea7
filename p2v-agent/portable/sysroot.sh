#!/bin/bash
# p2v-agent/portable/sysroot.sh ARCH OUT: a static sysroot for the
# portable agent, built into the empty directory OUT from Debian's
# source packages (apt-get source, the bookworm suite): musl, with its
# musl-gcc wrapper, and static libraries of everything the agent links
# but libnbd.  ARCH is x86_64 or i686 (the i686 baseline: no SSE2).
#
# Called through tests/cache.sh by p2v-agent/portable/build.sh, which
# keys the entry by this script, ARCH and the source packages' hashes.
# The builds' output goes to a log, shown on failure.
set -euo pipefail
arch=$1 out=$2
# Run by make (the tests' background start), whose command-line
# variables (make check-asan's CFLAGS=, O=) reach every sub-make through
# MAKEFLAGS and would override the builds' own: musl for i686 then lost
# its -m32.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
# The source packages, in build order.
packages=(musl libzstd xxhash openssl libssh2 util-linux e2fsprogs parted ntfs-3g)

case $arch in
  x86_64) m=(-O2) target=x86_64 host=x86_64-linux-musl ;;
  # gcc -m32 makes i686 code (Debian's i386 baseline), no SSE2; musl's
  # specs replace gcc's link line, so ld is told the format itself.
  i686) m=(-O2 -m32 -march=i686 -mtune=generic -Wl,-melf_i386) target=i386 host=i686-linux-musl ;;
  *) echo "sysroot.sh: ARCH is x86_64 or i686, not '$arch'" >&2; exit 2 ;;
esac
[[ -d $out ]] || { echo "sysroot.sh: $out is not a directory" >&2; exit 2; }
out=$(cd "$out" && pwd)
work=$(mktemp -d /var/tmp/p2v-sysroot.XXXXXX)
trap 'rm -rf "$work"' EXIT
log=/var/tmp/p2v-sysroot-$arch.log
: > "$log"
jobs=$(nproc)

# step WHAT COMMAND...: run, its output in the log; on failure show it.
step () {
  local what=$1 t0=$SECONDS; shift
  if ! "$@" >>"$log" 2>&1; then
    tail -n 30 "$log" | cut -c 1-300 >&2
    echo "sysroot.sh: $arch: $what failed (log: $log)" >&2
    exit 1
  fi
  echo "sysroot $arch: $what ($((SECONDS - t0)) s)" >&2
}

# unpack PKG: its source, Debian's patches applied; cd into it.
unpack () {
  cd "$work"
  step "fetch $1" apt-get source -qq "$1/bookworm"
  cd "$work/$(cd "$work" && ls -d "$1"-*/ | head -1)"
}

cc="$out/bin/musl-gcc ${m[*]}"
export PKG_CONFIG_LIBDIR=$out/lib/pkgconfig PKG_CONFIG_PATH=
autoconf_static=(--host="$host" --prefix="$out" --disable-shared --enable-static --disable-nls)

# --- musl, and the musl-gcc wrapper that builds everything else -------
unpack musl
step "configure musl" env CC=gcc CFLAGS="${m[*]}" AR=ar RANLIB=ranlib ./configure --prefix="$out" --target="$target" \
  --disable-shared --enable-wrapper=gcc --syslibdir="$out/lib"
step "build musl" make -j"$jobs"
step "install musl" make install
# The kernel's UAPI headers (linux/fs.h and the like), which musl-gcc
# keeps out with the rest of /usr/include.  The x86 asm headers serve
# both i686 and x86_64 (they test __i386__).
cp -r /usr/include/linux /usr/include/asm-generic "$out/include/"
cp -r "/usr/include/$(gcc -print-multiarch)/asm" "$out/include/asm"

# Everything links statically (configure's test programs too: musl's
# i386 libc.a is not position-independent).
export CC=$cc AR=ar RANLIB=ranlib CFLAGS="${m[*]}" LDFLAGS=-static

# --- zstd, xxhash --------------------------------------------------------
unpack libzstd
step "build zstd" make -C lib -j"$jobs" libzstd.a-mt CC="$cc"
step "install zstd" make -C lib install-static install-includes install-pc PREFIX="$out" CC="$cc"

unpack xxhash
step "build xxhash" make -j"$jobs" libxxhash.a CC="$cc"
install -m 644 libxxhash.a "$out/lib/"
install -m 644 xxhash.h xxh3.h "$out/include/"
printf 'prefix=%s\nName: libxxhash\nDescription: xxHash\nVersion: 0\nLibs: -L${prefix}/lib -lxxhash\nCflags: -I${prefix}/include\n' \
  "$out" > "$out/lib/pkgconfig/libxxhash.pc"

# --- libssh2 on OpenSSL's libcrypto, as Debian's own libssh2 ----------------
# (mbed TLS 2.28 would be smaller, but libssh2 1.10 has neither ed25519
# nor curve25519 with it: an OpenSSH 9 server with ed25519 keys is
# unreachable.)  OpenSSL picks its x86 assembler paths (SSE2, AES-NI)
# by CPUID at run time.
unpack openssl
case $arch in x86_64) ossl=linux-x86_64 ;; i686) ossl=linux-elf ;; esac
# What libssh2 does not use is left out (half the build time); libssh2
# tests OPENSSL_NO_* for the ciphers it could offer.
step "configure openssl" ./Configure "$ossl" --prefix="$out" --libdir=lib no-shared \
  no-tests no-dso no-module no-engine no-afalgeng no-async no-legacy no-ssl3 no-dtls \
  no-aria no-bf no-camellia no-cast no-cmp no-cms no-comp no-ct no-gost no-idea no-mdc2 \
  no-ocsp no-rc2 no-rc4 no-rc5 no-rfc3779 no-scrypt no-seed no-siphash no-sm2 no-sm3 \
  no-sm4 no-srp no-srtp no-ts no-whirlpool
step "build openssl" make -j"$jobs" build_libs
install -m 644 libcrypto.a libssl.a "$out/lib/"
cp -r include/openssl "$out/include/"
install -m 644 libcrypto.pc libssl.pc openssl.pc "$out/lib/pkgconfig/"

# (No autoreconf for it or util-linux: Debian's patches of these two
# leave configure.ac and Makefile.am alone, so the release's own
# configure serves.  parted's and ntfs-3g's need it.)
unpack libssh2
step "configure libssh2" ./configure "${autoconf_static[@]}" --with-crypto=openssl \
  --with-libssl-prefix="$out" --without-libz --disable-examples-build
step "build libssh2" make -C src -j"$jobs"
step "install libssh2" make -C src install
install -m 644 include/*.h "$out/include/"
# Debian's patch names libgcrypt's -lgpg-error for static links.
sed 's/ -lgpg-error//' libssh2.pc > "$out/lib/pkgconfig/libssh2.pc"

# --- libblkid, libuuid (util-linux) ------------------------------------------
unpack util-linux
step "configure util-linux" ./configure "${autoconf_static[@]}" --disable-all-programs \
  --enable-libblkid --enable-libuuid --without-udev --without-systemd --without-python \
  --without-tinfo --without-ncurses --without-readline --without-cap-ng --without-libz \
  --without-user --without-btrfs --without-econf --disable-bash-completion --disable-asciidoc
step "build util-linux" make -j"$jobs"
step "install util-linux" make install-usrlib_execLTLIBRARIES install-pkgconfigDATA \
  install-uuidincHEADERS install-nodist_blkidincHEADERS

# --- libext2fs, libcom_err (e2fsprogs) --------------------------------------
unpack e2fsprogs
step "configure e2fsprogs" ./configure "${autoconf_static[@]}" --disable-elf-shlibs \
  --disable-libuuid --disable-libblkid --disable-uuidd --disable-fuse2fs --disable-defrag \
  --disable-imager --disable-resizer --disable-debugfs --disable-e2initrd-helper \
  --without-libarchive
step "build e2fsprogs" make -j"$jobs" libs
step "install e2fsprogs" make -C lib/et install
step "install e2fsprogs" make -C lib/ext2fs install

# --- libparted ----------------------------------------------------------------
unpack parted
# Debian's gptsync patch runs "dmidecode" through popen when libparted
# loads (to write Intel Macs a synced MBR), and calls getline on its
# NULL where there is no /bin/sh.  The agent writes tables for virtual
# machines, which want the protective MBR: that code is left out.
grep -qx '# define USE_DMI' libparted/labels/gpt.c
sed -i 's/^# define USE_DMI$//' libparted/labels/gpt.c
step "autoreconf parted" autoreconf -fi
step "configure parted" ./configure "${autoconf_static[@]}" --disable-device-mapper \
  --without-readline --disable-debug --disable-pc98 --disable-dynamic-loading
step "build parted" make -j"$jobs" -C lib
step "build parted" make -j"$jobs" -C libparted
step "install parted" make -C libparted install
step "install parted" make -C include install
install -m 644 libparted.pc "$out/lib/pkgconfig/" 2>/dev/null ||
  install -m 644 libparted/libparted.pc "$out/lib/pkgconfig/"

# --- libntfs-3g -------------------------------------------------------------------
unpack ntfs-3g
step "autoreconf ntfs-3g" autoreconf -fi
step "configure ntfs-3g" ./configure "${autoconf_static[@]}" --disable-ntfs-3g \
  --disable-ntfsprogs --disable-crypto --disable-plugins --disable-ldconfig \
  --with-fuse=internal --without-uuid --without-hd
step "build ntfs-3g" make -j"$jobs" -C libntfs-3g
# (by hand: its install hook moves shared libraries, and there are none)
install -m 644 libntfs-3g/.libs/libntfs-3g.a "$out/lib/"
install -m 644 libntfs-3g/libntfs-3g.pc "$out/lib/pkgconfig/"
step "install ntfs-3g" make -C include/ntfs-3g install

# Relocatable, since the cache renames OUT into place: OUT in the
# pkg-config files becomes ${prefix} (build.sh runs pkg-config with
# --define-prefix), and @SYSROOT@ in the specs that build.sh fills in.
sed -i "s|$out|@SYSROOT@|g" "$out/lib/musl-gcc.specs"
sed -i "/^prefix=/!s|$out|\${prefix}|g" "$out"/lib/pkgconfig/*.pc
rm -f "$out/bin/musl-gcc" "$out"/lib/*.la
rm -f "$log"
echo "${packages[*]}" > "$out/packages"
