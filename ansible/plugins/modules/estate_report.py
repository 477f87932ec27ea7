#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The estate report: every hypervisor's p2v-batch status merged into
one Markdown and one HTML page (playbooks/report.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: estate_report
short_description: Merge the hypervisors' p2v batch status into one estate report
description:
  - Writes C(estate.md) and C(estate.html) in I(dest) from the output of
    C(p2v-batch status --json) of every hypervisor - per hypervisor and
    in total the servers, their states, the bytes of their disks and on
    the wire, the copying times, the failures and the held machines.
  - The pages are written only when their content changes.
options:
  statuses:
    description: Hypervisor name to its C(p2v-batch status --json) output (a string or a dict).
    type: dict
    required: true
  dest:
    description: The directory for estate.md and estate.html; each hypervisor's own report is linked as HV/report.html.
    type: path
    required: true
  title:
    description: The report's title.
    type: str
    default: p2v estate report
author: p2v developers
"""

EXAMPLES = r"""
- name: Merge the reports
  p2v.estate.estate_report:
    statuses: "{{ {'hv1': hv1_status.stdout} }}"
    dest: /srv/p2v-reports
"""

RETURN = r"""
summary:
  description: The summary lines, as at the top of the report.
  type: list
  elements: str
  returned: always
markdown:
  description: The path of the Markdown report.
  type: str
  returned: always
"""

import html
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

def size(n):
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024
    return "%d B" % n


def duration(s):
    s = int(round(s or 0))
    if s < 60:
        return "%d s" % s
    if s < 3600:
        return "%d min %02d s" % (s // 60, s % 60)
    return "%d h %02d min" % (s // 3600, s % 3600 // 60)


def when(t):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t and t > 0 else "-"


def gather(statuses):
    """-> (hypervisor rows, server rows, held rows, totals)."""
    hvs, servers, held = [], [], []
    for h in sorted(statuses):
        st = statuses[h]
        if isinstance(st, str):
            st = json.loads(st) if st.strip() else {}
        jobs = st.get("jobs", [])
        row = {"hypervisor": h, "servers": len(jobs), "coordinator": st.get("coordinator")}
        for k in ("complete", "failed"):
            row[k] = sum(1 for j in jobs if j.get("state") == k)
        row["unfinished"] = row["servers"] - row["complete"] - row["failed"]
        for k in ("size", "wire", "running_seconds"):
            row[k] = sum(j.get(k) or 0 for j in jobs)
        starts = [j["started"] for j in jobs if (j.get("started") or 0) > 0]
        ends = [j["finished"] for j in jobs if (j.get("finished") or 0) > 0]
        row["first"] = min(starts) if starts else 0
        row["last"] = max(ends) if ends else 0
        row["held"] = len(st.get("held", []))
        hvs.append(row)
        for j in sorted(jobs, key=lambda j: j.get("name", "")):
            servers.append(dict(j, hypervisor=h))
        for x in st.get("held", []):
            held.append(dict(x, hypervisor=h))
    tot = {"hypervisor": "total", "coordinator": None}
    for k in ("servers", "complete", "failed", "unfinished", "size", "wire", "running_seconds", "held"):
        tot[k] = sum(r[k] for r in hvs)
    firsts = [r["first"] for r in hvs if r["first"]]
    tot["first"] = min(firsts) if firsts else 0
    tot["last"] = max([r["last"] for r in hvs] or [0])
    return hvs, servers, held, tot


def summary_lines(hvs, tot):
    lines = [
        "%d servers on %d hypervisors: %d complete, %d failed, %d not finished"
        % (tot["servers"], len(hvs), tot["complete"], tot["failed"], tot["unfinished"]),
        "%s of disks, %s on the wire (%.2f), copying time %s in all, from %s to %s"
        % (
            size(tot["size"]),
            size(tot["wire"]),
            tot["wire"] / tot["size"] if tot["size"] else 0,
            duration(tot["running_seconds"]),
            when(tot["first"]),
            when(tot["last"]),
        ),
    ]
    if tot["held"]:
        lines.append("%d machine(s) held: no manifest entry matches them" % tot["held"])
    return lines


HV_COLS = ("hypervisor", "servers", "complete", "failed", "not finished", "disks", "wire",
           "copying time", "first start", "last end")
SRV_COLS = ("server", "hypervisor", "state", "disks", "wire", "copying time", "sessions",
            "verification", "finished", "message")


def hv_cells(r):
    return (r["hypervisor"], r["servers"], r["complete"], r["failed"], r["unfinished"], size(r["size"]),
            size(r["wire"]), duration(r["running_seconds"]), when(r["first"]), when(r["last"]))


def srv_cells(j):
    return (j.get("name", ""), j["hypervisor"], j.get("state", ""), size(j.get("size")), size(j.get("wire")),
            duration(j.get("running_seconds")), j.get("sessions", 0), j.get("verification") or "-",
            when(j.get("finished")), j.get("message") or "")


def markdown(title, hvs, servers, held, tot):
    def table(cols, rows):
        out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
        return out

    out = ["# " + title, ""] + summary_lines(hvs, tot) + ["", "## Hypervisors", ""]
    out += table(HV_COLS, [hv_cells(r) for r in hvs + [tot]])
    out += ["", "## Servers", ""] + table(SRV_COLS, [srv_cells(j) for j in servers])
    bad = [j for j in servers if j.get("state") != "complete"]
    if bad:
        out += ["", "## Not complete", ""]
        out += ["- %s on %s: %s: %s" % (j.get("name"), j["hypervisor"], j.get("state"), j.get("message") or "-")
                for j in bad]
    if held:
        out += ["", "## Held machines", ""]
        out += ["- %s on %s: serial %s, MACs %s: %s" % (x.get("agent"), x["hypervisor"], x.get("serial") or "-",
                                                       x.get("macs") or "-", x.get("reason")) for x in held]
    out += ["", "Each hypervisor's own report: HYPERVISOR/report.md and report.html beside this file.", ""]
    return "\n".join(out)


def page(title, hvs, servers, held, tot):
    e = html.escape

    def table(cols, rows, link=False):
        out = ["<table>", "<tr>" + "".join("<th>%s</th>" % e(c) for c in cols) + "</tr>"]
        for r in rows:
            cells = [e(str(c)) for c in r]
            if link and r[0] != "total":
                cells[0] = '<a href="%s/report.html">%s</a>' % (e(r[0]), cells[0])
            out.append("<tr>" + "".join("<td>%s</td>" % c for c in cells) + "</tr>")
        return out + ["</table>"]

    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>%s</title>' % e(title),
           "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
           "td,th{border:1px solid #999;padding:2px 6px;text-align:left}</style></head><body>",
           "<h1>%s</h1>" % e(title)]
    out += ["<p>%s</p>" % e(line) for line in summary_lines(hvs, tot)]
    out += ["<h2>Hypervisors</h2>"] + table(HV_COLS, [hv_cells(r) for r in hvs + [tot]], link=True)
    out += ["<h2>Servers</h2>"] + table(SRV_COLS, [srv_cells(j) for j in servers])
    if held:
        out += ["<h2>Held machines</h2>", "<ul>"]
        out += ["<li>%s on %s: %s</li>" % (e(x.get("agent", "")), e(x["hypervisor"]), e(x.get("reason", "")))
                for x in held]
        out += ["</ul>"]
    out += ["</body></html>", ""]
    return "\n".join(out)


def write(path, text, check):
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except IOError:
        pass
    if not check:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            statuses=dict(type="dict", required=True),
            dest=dict(type="path", required=True),
            title=dict(type="str", default="p2v estate report"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        hvs, servers, held, tot = gather(p["statuses"])
    except ValueError as err:
        module.fail_json(msg="a hypervisor's p2v-batch status --json is not JSON: %s" % err)
    if not os.path.isdir(p["dest"]):
        module.fail_json(msg="%s: no such directory" % p["dest"])
    md = os.path.join(p["dest"], "estate.md")
    changed = write(md, markdown(p["title"], hvs, servers, held, tot), module.check_mode)
    changed |= write(os.path.join(p["dest"], "estate.html"), page(p["title"], hvs, servers, held, tot),
                     module.check_mode)
    module.exit_json(changed=changed, summary=summary_lines(hvs, tot), markdown=md)


if __name__ == "__main__":
    main()
