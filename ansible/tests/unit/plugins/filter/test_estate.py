# Unit tests of the p2v.estate filters (plugins/filter/estate.py):
#   python3 -m unittest discover -s ansible/tests/unit -t ansible
# (tests/test-estate-lint.sh runs them).
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "filter"))
import estate  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

G = 1 << 30


class Assign(unittest.TestCase):
    def hv(self, free, current=(), reserve=0):
        return {"p2v_free_bytes": free, "p2v_current_servers": list(current), "p2v_reserve": reserve}

    def test_pinned_sticky_then_capacity(self):
        hostvars = {
            "a": self.hv(100 * G),
            "b": self.hv(100 * G, reserve="20G"),
            "c": self.hv(100 * G, current=["old"]),
            "pinned": {"p2v_hypervisor": "c", "p2v_expect": "50G"},
            "old": {"p2v_expect": "90G"},
            "big": {"p2v_expect": "60G"},
            "mid": {"p2v_expect": "30G"},
            "small": {"p2v_expect": "10G"},
        }
        got = estate.assign(hostvars, ["pinned", "old", "big", "mid", "small"], ["a", "b", "c"])
        # pinned and old on c (50 left: pinned is new there); big to a
        # (100 left), mid to b (80), small to b (50, as c, but fewer
        # servers) rather than a (40).
        self.assertEqual(got, {"a": ["big"], "b": ["mid", "small"], "c": ["old", "pinned"]})

    def test_ties_go_to_fewer_servers_then_name(self):
        hostvars = {"a": self.hv(10 * G), "b": self.hv(10 * G), "x": {}, "y": {}, "z": {}}
        self.assertEqual(estate.assign(hostvars, ["x", "y", "z"], ["b", "a"]),
                         {"a": ["x", "z"], "b": ["y"]})

    def test_errors(self):
        with self.assertRaisesRegex(AnsibleFilterError, "not in the group 'hypervisors'"):
            estate.assign({"a": self.hv(G), "s": {"p2v_hypervisor": "nope"}}, ["s"], ["a"])
        with self.assertRaisesRegex(AnsibleFilterError, "needs 2147483648 bytes"):
            estate.assign({"a": self.hv(G), "s": {"p2v_expect": "2G"}}, ["s"], ["a"])
        with self.assertRaisesRegex(AnsibleFilterError, "'lots' is not a size"):
            estate.assign({"a": self.hv(G), "s": {"p2v_expect": "lots"}}, ["s"], ["a"])
        with self.assertRaisesRegex(AnsibleFilterError, "no hypervisors"):
            estate.assign({}, ["s"], [])

    def test_sizes(self):
        self.assertEqual(estate.to_bytes("1.5G"), 3 * G // 2)
        self.assertEqual(estate.to_bytes("512K"), 512 * 1024)
        self.assertEqual(estate.to_bytes(7), 7)
        self.assertEqual(estate.lvm_free("  1000\n"), 1000)
        self.assertEqual(estate.lvm_free("  1000 25.00\n"), 750)


class Unfinished(unittest.TestCase):
    def status(self, *jobs):
        return {"stdout": json.dumps({"jobs": [dict(name=n, state=s, message=m) for n, s, m in jobs]})}

    def test_summary(self):
        polls = {
            "a": self.status(("x", "complete", ""), ("y", "failed", "disk full")),
            "b": {"unreachable": True, "msg": "Failed to connect to the host via ssh: refused\nmore"},
            "c": self.status(("w", "running", "copying")),
            "d": {"skipped": True},
        }
        got = estate.unfinished(polls, {"a": ["x", "y"], "b": ["v"], "c": ["w", "u"], "d": ["t"], "e": []})
        self.assertEqual([i["server"] for i in got["complete"]], ["x"])
        self.assertEqual([i["server"] for i in got["failed"]], ["y"])
        self.assertEqual([i["server"] for i in got["unfinished"]], ["v", "w", "u", "t"])
        self.assertEqual(got["lines"][0], "6 server(s): 1 complete, 1 failed, 4 not finished")
        self.assertIn("y on a: failed: disk full", got["lines"])
        self.assertIn("v on b: unknown: hypervisor unreachable (Failed to connect to the host via ssh: refused)",
                      got["lines"])
        self.assertIn("u on c: pending: not seen yet", got["lines"])
        self.assertIn("t on d: unknown: hypervisor not polled (it failed earlier in the play)", got["lines"])


if __name__ == "__main__":
    unittest.main()
