# -*- coding: utf-8 -*-
"""Filters of the p2v.estate collection: which hypervisor converts which
server (assign), and what is not finished yet (unfinished).

Both are pure functions of the inventory and of what the hypervisors
reported; tests/unit/test_estate.py covers them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: assign
short_description: Assign the estate's servers to hypervisors
description:
  - Each server goes to its C(p2v_hypervisor) host var if it has one;
    else to the hypervisor whose manifest already lists it (so that a
    re-run never moves a server); else to the hypervisor with the most
    free capacity left, the largest servers (C(p2v_expect)) first.
  - Returns a dict, hypervisor -> list of server names (sorted).
"""

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def to_bytes(value, what="size"):
    """A size as the manifest writes it: bytes, or K/M/G/T (1024s)."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", str(value), re.I)
    if not m:
        raise AnsibleFilterError("%s: '%s' is not a size (like 40G)" % (what, value))
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def lvm_free(output):
    """The free bytes in vgs -o vg_free, or lvs -o lv_size,data_percent
    (a thin pool) output: one line, --units b --nosuffix."""
    words = output.split()
    try:
        if len(words) == 1:
            return int(float(words[0]))
        if len(words) == 2:
            return int(float(words[0]) * (100 - float(words[1])) / 100)
    except ValueError:
        pass
    return 0


def _var(hostvars, host, key, default=None):
    try:
        v = hostvars[host].get(key, default)
    except KeyError:
        return default
    return default if v is None else v


def assign(hostvars, servers, hypervisors):
    """hostvars, groups['servers'], groups['hypervisors'] -> {hv: [names]}.

    A hypervisor's free capacity is its p2v_free_bytes (the receiver
    role measures it) less its p2v_reserve and the p2v_expect of the
    servers pinned to it that its manifest does not list yet; its
    current servers are p2v_current_servers (the names in the manifest
    it runs now), whose data is taken to be on its disks already.
    """
    hvs = sorted(hypervisors)
    if not hvs:
        raise AnsibleFilterError("the inventory has no hypervisors (group 'hypervisors')")
    out = dict((h, []) for h in hvs)
    left = {}
    current = {}
    for h in hvs:
        left[h] = to_bytes(_var(hostvars, h, "p2v_free_bytes", 0), h + ": p2v_free_bytes") - to_bytes(
            _var(hostvars, h, "p2v_reserve", 0), h + ": p2v_reserve"
        )
        for s in _var(hostvars, h, "p2v_current_servers", []) or []:
            current.setdefault(s, h)
    todo = []
    for s in sorted(servers):
        pin = _var(hostvars, s, "p2v_hypervisor")
        if pin:
            if pin not in out:
                raise AnsibleFilterError(
                    "server %s: p2v_hypervisor '%s' is not in the group 'hypervisors' (%s)"
                    % (s, pin, ", ".join(hvs))
                )
            out[pin].append(s)
            if current.get(s) != pin:   # not there yet: it will need room
                left[pin] -= to_bytes(_var(hostvars, s, "p2v_expect", 0), s + ": p2v_expect")
        elif s in current and current[s] in out:
            out[current[s]].append(s)
        else:
            todo.append((to_bytes(_var(hostvars, s, "p2v_expect", 0), s + ": p2v_expect"), s))
    # The rest: the largest first, each where the most capacity is left
    # (ties: fewer servers, then the name).
    for need, s in sorted(todo, key=lambda x: (-x[0], x[1])):
        h = min(hvs, key=lambda h: (-left[h], len(out[h]), h))
        if need > left[h]:
            raise AnsibleFilterError(
                "server %s needs %d bytes (p2v_expect) but the most any hypervisor has left is "
                "%d (%s): add capacity, or pin it with p2v_hypervisor" % (s, need, max(left[h], 0), h)
            )
        left[h] -= need
        out[h].append(s)
    return dict((h, sorted(v)) for h, v in out.items())


def unfinished(polls, assignment):
    """{hv: poll result}, {hv: [names]} -> one summary.

    A poll result is the registered result of `p2v-batch status --json`
    (or of an unreachable host, or nothing).  Returns a dict with
    'complete', 'failed' and 'unfinished' lists of
    {'server','hypervisor','state','message'} and 'lines' to print.
    """
    res = {"complete": [], "failed": [], "unfinished": [], "lines": []}
    for h in sorted(assignment):
        names = assignment[h]
        if not names:
            continue
        poll = polls.get(h) or {}
        jobs = {}
        why = None
        if poll.get("unreachable"):
            why = "hypervisor unreachable (%s)" % ((poll.get("msg") or "no answer").strip().splitlines() or ["?"])[0]
        elif "stdout" not in poll:
            why = "hypervisor not polled (%s)" % (poll.get("msg") or "it failed earlier in the play")
        else:
            try:
                for j in json.loads(poll["stdout"]).get("jobs", []):
                    jobs[j.get("name")] = j
            except ValueError as e:
                why = "p2v-batch status --json: %s" % e
        for s in names:
            j = jobs.get(s)
            state = j.get("state", "?") if j else "unknown" if why else "pending"
            item = {
                "server": s,
                "hypervisor": h,
                "state": state,
                "message": (why if why else (j or {}).get("message", "") or "not seen yet"),
            }
            if state == "complete":
                res["complete"].append(item)
            elif state == "failed":
                res["failed"].append(item)
            else:
                res["unfinished"].append(item)
    total = len(res["complete"]) + len(res["failed"]) + len(res["unfinished"])
    res["lines"].append(
        "%d server(s): %d complete, %d failed, %d not finished"
        % (total, len(res["complete"]), len(res["failed"]), len(res["unfinished"]))
    )
    for kind in ("failed", "unfinished"):
        for i in res[kind]:
            res["lines"].append(
                "%s on %s: %s%s"
                % (i["server"], i["hypervisor"], i["state"], ": " + i["message"] if i["message"] else "")
            )
    return res


class FilterModule(object):
    def filters(self):
        return {"assign": assign, "unfinished": unfinished, "to_bytes": to_bytes, "lvm_free": lvm_free}
