# tests/fleet/appliance.sh: the fixture builders' commands for the
# libguestfs appliance (guestfish).  Source it.
#
# guestfish's own commands take /dev/sda, /dev/sdb ... for the first,
# second ... drive added, whatever the appliance's kernel calls them.
# Commands run in the appliance (debug sh) or in the guest (sh) see the
# kernel's names, and under load those are not in that order: the
# appliance's own disk has been /dev/sda, and "/dev/sda1" then did not
# exist.  So the drives get labels, and such commands name them
# $pv<letter>[partition] (/dev/disk/guestfs/pva1: drive 1, partition 1).
#
#   add_drives FILE...  guestfish commands adding each raw FILE, labelled
#                       pva, pvb, ...
#   wait_nodes DEV...   shell text (for debug sh) that waits, at most
#                       30 s, until udev has made each device node
#   stop_arrays DEV...  guestfish commands that unmount everything,
#                       deactivate LVM, stop every md array and check
#                       that the superblocks of DEV... (every member)
#                       say clean: an array left active is resynced on
#                       every boot of the image, and the kernel's
#                       messages about it land on the serial console

pv=/dev/disk/guestfs/pv

add_drives () {
  local letters=abcdefghijklmnopqrstuvwxyz i=0 f
  for f; do
    echo "add $f format:raw label:pv${letters:i++:1}"
  done
}

wait_nodes () {
  printf '{ udevadm settle; for d in %s; do n=0; while [ ! -b $d ]; do n=$((n + 1)); if [ $n -gt 300 ]; then echo $d: no device node after 30 s >&2; exit 1; fi; sleep 0.1; done; done; }' "$*"
}

stop_arrays () {
  echo umount-all
  echo "vg-activate-all false"
  echo "debug sh \"mdadm --stop --scan && test \$(mdadm --examine $* | grep -c State.:.clean) -eq $#\""
}
