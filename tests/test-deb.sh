#!/bin/bash
# The Debian package (make deb): scripts/make-deb packages $P2V_BUILD
# and leaves nothing behind; the package holds the four programs, their
# man pages, the coordinator's unit, init script and defaults (a
# conffile), neither enabled at install; its dependencies come from the
# programs' libraries; lintian reports nothing that is not overridden;
# the unit passes systemd-analyze verify; and the init script, run by
# dash from the unpacked package with a private defaults file, refuses
# a missing or broken manifest, then starts, reports, reloads, restarts
# and stops the coordinator.
# run-tests: timeout 300
source "$(dirname "$0")/functions.sh"
requires dpkg-deb dpkg-architecture dh_builddeb lintian start-stop-daemon \
  systemd-analyze dash

# Clear errors, before any work.
if "$top_srcdir/scripts/make-deb" "$tmpdir/none" "$tmpdir/out" 2>"$tmpdir/err"; then
  fail "make-deb packaged a missing build directory"
fi
grep -q "^make-deb: error: " "$tmpdir/err" || fail "make-deb: $(cat "$tmpdir/err")"

mkdir -p "$tmpdir/scratch"
deb=$(TMPDIR=$tmpdir/scratch "$top_srcdir/scripts/make-deb" "$P2V_BUILD" "$tmpdir/out") ||
  fail "make-deb failed"
[[ $deb == "$tmpdir/out/p2v_"*"_$(dpkg-architecture -qDEB_HOST_ARCH).deb" && -f $deb ]] ||
  fail "make-deb printed '$deb'"
[[ -z $(ls -A "$tmpdir/scratch") ]] || fail "make-deb left $(ls "$tmpdir/scratch")"
[[ $(ls "$tmpdir/out") == "${deb##*/}" ]] || fail "make-deb wrote $(ls "$tmpdir/out")"

# Contents.
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' > "$tmpdir/files"
for f in /usr/bin/p2v-{agent,receiver,fixup,batch} \
         /usr/share/man/man1/p2v-{agent,receiver,fixup,batch}.1.gz \
         /etc/init.d/p2v-batch /etc/default/p2v-batch \
         /usr/share/lintian/overrides/p2v /usr/share/doc/p2v/copyright; do
  grep -qx "$f" "$tmpdir/files" || fail "$f is not in the package"
done
grep -Eqx '(/usr)?/lib/systemd/system/p2v-batch.service' "$tmpdir/files" ||
  fail "the systemd unit is not in the package"
dpkg-deb -I "$deb" conffiles > "$tmpdir/conffiles"
grep -qx /etc/default/p2v-batch "$tmpdir/conffiles" ||
  fail "/etc/default/p2v-batch is not a conffile: $(cat "$tmpdir/conffiles")"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libssh2 libvirt0 libguestfs0; do
  [[ $depends == *"$lib"* ]] || fail "Depends does not name $lib: $depends"
done
# Installed disabled: no manifest yet (the start the postinst asks for
# is refused by invoke-rc.d and deb-systemd-invoke for a disabled one).
dpkg-deb -I "$deb" postinst > "$tmpdir/postinst"
grep -q "update-rc.d p2v-batch defaults-disabled" "$tmpdir/postinst" ||
  fail "the init script is enabled at install"
grep -q "deb-systemd-helper debian-installed 'p2v-batch.service'" "$tmpdir/postinst" ||
  fail "the unit is enabled at install"

# Lintian: every tag left is overridden (the overrides say why).
lintian -I "$deb" > "$tmpdir/lintian" 2>"$tmpdir/lintian.err" ||
  fail "lintian: $(cat "$tmpdir/lintian" "$tmpdir/lintian.err")"
[[ ! -s $tmpdir/lintian ]] || fail "lintian reports:
$(cat "$tmpdir/lintian")"

# The unit, pointing at the unpacked program.
root=$tmpdir/root
dpkg-deb -x "$deb" "$root"
mkdir "$tmpdir/unit"
unit=$(grep -E '/lib/systemd/system/p2v-batch.service$' "$tmpdir/files")
sed "s|/usr/bin/p2v-batch|$root/usr/bin/p2v-batch|g" "$root$unit" \
  > "$tmpdir/unit/p2v-batch.service"
systemd-analyze verify --man=no "$tmpdir/unit/p2v-batch.service" \
  > "$tmpdir/verify" 2>&1 || fail "systemd-analyze verify: $(cat "$tmpdir/verify")"
[[ ! -s $tmpdir/verify ]] || fail "systemd-analyze verify: $(cat "$tmpdir/verify")"

# The init script, by dash, its paths in $tmpdir.
initd=$root/etc/init.d/p2v-batch
sh -n "$initd" || fail "sh -n $initd"
spool=$tmpdir/spool manifest=$tmpdir/batch.manifest pidfile=$tmpdir/p2v-batch.pid
cat > "$tmpdir/defaults" <<EOF
P2V_BATCH_MANIFEST=$manifest
P2V_BATCH_SPOOL=$spool
P2V_BATCH_DAEMON=$root/usr/bin/p2v-batch
P2V_BATCH_PIDFILE=$pidfile
P2V_BATCH_OUTPUT=$tmpdir/p2v-batch.log
EOF
on_exit "P2V_BATCH_DEFAULTS='$tmpdir/defaults' dash '$initd' stop >/dev/null 2>&1"
initd () { P2V_BATCH_DEFAULTS=$tmpdir/defaults dash "$initd" "$@" >"$tmpdir/initd.out" 2>&1; }
expect () {   # expect STATUS ACTION: the init script's exit status
  local rc=0
  initd "$2" || rc=$?
  [[ $rc == "$1" ]] || fail "init script $2: exit $rc, not $1: $(cat "$tmpdir/initd.out")"
}

expect 1 start
grep -q "no manifest $manifest" "$tmpdir/initd.out" ||
  fail "a missing manifest: $(cat "$tmpdir/initd.out")"
expect 3 status
printf '[server a]\nmatch = name:a\nvcpus = many\n' > "$manifest"
expect 1 start
grep -q "vcpus" "$tmpdir/initd.out" ||
  fail "a broken manifest: the coordinator's error is not shown: $(cat "$tmpdir/initd.out")"
expect 3 status
[[ ! -e $pidfile ]] || fail "a pid file is left after a failed start"

printf '[server a]\nmatch = name:a\n' > "$manifest"
expect 0 start
[[ -S $spool/coordinator.sock ]] || fail "start returned before the coordinator's socket"
pid=$(cat "$pidfile")
expect 0 status
expect 0 start                     # already running
[[ $(cat "$pidfile") == "$pid" ]] || fail "a second start started another coordinator"
printf '[server a]\nmatch = name:a\n[server b]\nmatch = name:b\n' > "$manifest"
expect 0 reload
grep -q " reload .*servers=2" "$spool/coordinator.log" ||
  fail "reload did not reach the coordinator: $(tail -3 "$spool/coordinator.log")"
# (A stopped coordinator may stay a zombie until init reaps it.)
gone () { ! kill -0 "$1" 2>/dev/null; }
expect 0 restart
pid2=$(cat "$pidfile")
[[ $pid2 != "$pid" ]] && wait_for 50 gone "$pid" || fail "restart kept coordinator $pid"
expect 0 stop
wait_for 50 gone "$pid2" || fail "stop left coordinator $pid2 running"
[[ ! -e $pidfile && ! -e $spool/coordinator.sock ]] || fail "stop left the pid file or socket"
expect 3 status
expect 7 reload                    # LSB: not running
echo ok
