#!/bin/bash
# tests/fleet/in-root.sh ROOT COMMAND [ARG]...: run COMMAND chrooted in
# the Debian tree ROOT with /proc, /sys and /dev mounted, inside a
# private mount namespace so the mounts end with it, and with
# policy-rc.d keeping every daemon from starting there.
set -euo pipefail
root=${1:?usage: in-root.sh ROOT COMMAND [ARG]...}
shift
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
trap 'rm -f "$root/usr/sbin/policy-rc.d"' EXIT
unshare -m sh -ec '
  r=$1; shift
  mount -t proc proc "$r/proc"; mount -t sysfs sys "$r/sys"; mount --rbind /dev "$r/dev"
  exec chroot "$r" "$@"
' sh "$root" "$@"
