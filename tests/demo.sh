#!/bin/bash
# make demo: generate a small disk (MBR, ext4 with files, swap), convert
# it through our own sshd on 127.0.0.1, and show where the result is.
# Usage: tests/demo.sh [BUILD_DIR]
P2V_BUILD=${1:-build}
source "$(dirname "$0")/functions.sh"

out=${P2V_DEMO_DIR:-/tmp/p2v-demo}
echo "== generating a 64 MiB test disk (MBR, ext4 with files, swap)"
make_test_disk "$tmpdir/server-disk.img" 64
echo "== starting a private sshd on 127.0.0.1 (temporary keys)"
start_sshd
echo "   port $SSHD_PORT, host key $(ssh-keygen -lf "$SSHD_HOST_PUB" | awk '{print $2}')"
echo "== p2v-agent send --to $(id -un)@127.0.0.1 --port $SSHD_PORT --name demo ..."
"$AGENT" send $(ssh_opts) --name demo \
  --receiver-command "$RECEIVER --no-fixup --output-dir $out --force" \
  --stats "$tmpdir/stats.json" "$tmpdir/server-disk.img"

img=$out/demo/disk0.raw
[[ $(sha256sum < "$tmpdir/server-disk.img") == "$(sha256sum < "$img")" ]] ||
  fail "the image differs from the source disk"
echo
echo "== result"
echo "   image:     $img (byte-identical to the source, sha256 checked)"
echo "   allocated: $(du -h "$img" | cut -f1) of $(du -h --apparent-size "$img" | cut -f1) (sparse)"
echo "   status:    $out/demo/status ($(cat "$out/demo/status"))"
echo "   report:    $out/demo/report.json"
echo "   inventory: $out/demo/inventory.json"
echo "   stats:     $(cat "$tmpdir/stats.json")"
echo "   domain:    $out/demo/domain.xml (UUID $(sed -n 's|.*<uuid>\(.*\)</uuid>.*|\1|p' "$out/demo/domain.xml"))"
echo "   MAC map:   $out/demo/nics"
if command -v virt-xml-validate >/dev/null; then
  virt-xml-validate "$out/demo/domain.xml" domain >/dev/null 2>&1 ||
    fail "domain.xml does not pass virt-xml-validate"
  echo "              (passes virt-xml-validate; define it with: virsh define $out/demo/domain.xml)"
fi
