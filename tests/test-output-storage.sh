#!/bin/bash
# --storage DIR: the image files go to DIR (a libvirt storage pool, say)
# as NAME-diskN.raw or .qcow2, while the journal and reports stay in
# DIR/NAME.  verify and domain.xml find them there; a resume must use
# the same --storage; --force replaces the images there too.
source "$(dirname "$0")/functions.sh"
requires qemu-img

head -c 3000000 /dev/urandom > "$tmpdir/src.img"
truncate -s 8M "$tmpdir/src.img"
out=$tmpdir/out pool=$tmpdir/pool
mkdir -p "$pool"
send () {
  local name=$1; shift
  "$AGENT" send --local --name "$name" --retries 0 -q "$tmpdir/src.img" \
    --receiver-command "$RECEIVER --no-fixup --output-dir $out $*"
}
send r --storage "$pool" || fail "raw to --storage failed"
send q --storage "$pool" --format qcow2 || fail "qcow2 to --storage failed"
cmp "$tmpdir/src.img" "$pool/r-disk0.raw" || fail "raw image differs"
qemu-img compare -f raw -F qcow2 "$tmpdir/src.img" "$pool/q-disk0.qcow2" ||
  fail "qcow2 image differs"
for n in r q; do
  compgen -G "$out/$n/disk0.[rq]*" >/dev/null && fail "$n: an image in DIR/NAME"
  "$RECEIVER" verify "$out/$n" || fail "$n: verify"
  grep -q "<source file='$pool/$n-disk0." "$out/$n/domain.xml" ||
    fail "$n: domain.xml does not name the image in the pool"
  grep -q "\"file\": \"$pool/$n-disk0." "$out/$n/report.json" ||
    fail "$n: report.json does not name the image in the pool"
done

# --force replaces the conversion, images in the pool included.
# (A second link keeps the old inode allocated, so the new file cannot
# be given the same inode number.)
before=$(stat -c %i "$pool/r-disk0.raw")
ln "$pool/r-disk0.raw" "$tmpdir/old-r-disk0.raw"
send r --storage "$pool" --force || fail "--force with --storage failed"
[[ $(stat -c %i "$pool/r-disk0.raw") != "$before" ]] || fail "image not replaced"
cmp "$tmpdir/src.img" "$pool/r-disk0.raw" || fail "replaced image differs"

# An unfinished conversion resumes only with its own --storage.
mkdir -p "$tmpdir/other"
"$AGENT" send --local --name u -q "$tmpdir/src.img" \
  --receiver-command "tee $tmpdir/stream | $RECEIVER --no-fixup --output-dir $tmpdir/cap"
head -c 2000 "$tmpdir/stream" > "$tmpdir/head"   # HELLO, INVENTORY, a bit
"$RECEIVER" --no-fixup --output-dir "$out" --storage "$pool" < "$tmpdir/head" \
  >/dev/null 2>&1 || true
if send u --storage "$tmpdir/other" 2>"$tmpdir/err"; then
  fail "resumed with another --storage"
fi
grep -q "keeps its images in $pool; resume it with --storage $pool" "$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "no clear refusal"; }
send u --storage "$pool" || fail "resume with the same --storage failed"
cmp "$tmpdir/src.img" "$pool/u-disk0.raw" || fail "resumed image differs"
echo ok
