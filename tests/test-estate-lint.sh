#!/bin/bash
# The Ansible collection (ansible/, p2v.estate), without hypervisors:
# ansible-lint finds nothing (its settings: ansible/.ansible-lint), the
# playbooks pass ansible-playbook's syntax check with the example
# inventory, and the filters' unit tests pass (assignment by pin,
# manifest and free capacity; the summary of what is not finished).
# test-estate runs the collection against real hypervisors.
# run-tests: no p2v programs
# run-tests: timeout 300
source "$(dirname "$0")/functions.sh"
requires ansible-lint ansible-playbook git
col=$top_srcdir/ansible
export HOME=$tmpdir XDG_CACHE_HOME=$tmpdir/cache ANSIBLE_HOME=$tmpdir/ansible-home
export PYTHONDONTWRITEBYTECODE=1   # nothing written into the source tree
mkdir -p "$tmpdir/collections/ansible_collections/p2v"
ln -s "$col" "$tmpdir/collections/ansible_collections/p2v/estate"
export ANSIBLE_COLLECTIONS_PATH=$tmpdir/collections ANSIBLE_NOCOLOR=1

# The Python that runs Ansible (Debian's), whatever python3 is first in PATH.
python=$(sed -n '1s/^#! *//p' "$(command -v ansible-playbook)" | cut -d' ' -f1)
[[ -x $python ]] || python=/usr/bin/python3
"$python" "$col/tests/unit/plugins/filter/test_estate.py" -v 2>&1 | tail -15
"$python" "$col/tests/unit/plugins/filter/test_estate.py" > /dev/null 2>&1 ||
  fail "the filters' unit tests failed"

for p in preflight convert report; do
  ansible-playbook -i "$col/examples/inventory.yml" --syntax-check "p2v.estate.$p" \
    > "$tmpdir/syntax.log" 2>&1 || fail "$p.yml: $(cat "$tmpdir/syntax.log")"
done

(cd "$col" && timeout 240 ansible-lint --offline --nocolor -p) > "$tmpdir/lint.log" 2>&1 ||
  fail "ansible-lint: $(cat "$tmpdir/lint.log")"
cat "$tmpdir/lint.log"
grep -q "^Passed" "$tmpdir/lint.log" || fail "ansible-lint did not pass"
echo ok
