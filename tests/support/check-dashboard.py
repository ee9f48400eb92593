#!/usr/bin/env python3
"""Runs every PromQL expression of a Grafana dashboard against Prometheus.

  check-dashboard.py DASHBOARD.json PROMETHEUS_URL

The panels' targets, the annotations' expressions and the host variable's
series are each sent to /api/v1/query (Grafana's variables filled in: $host
as .*, $__rate_interval as 1m). Each must be accepted; each panel target
and the variable's query must also answer data (annotations may be empty:
they mark moments). Prints one line per expression; exit 1 on any failure.
"""
import json
import re
import sys
import urllib.parse
import urllib.request


def fill(expr):
    return expr.replace("$__rate_interval", "1m").replace("$host", ".*")


def query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            d = json.load(r)
    except urllib.error.HTTPError as e:
        d = json.load(e)
    if d.get("status") != "success":
        return None, d.get("error", "no status")
    return len(d["data"]["result"]), ""


def main():
    dash = json.load(open(sys.argv[1]))
    base = sys.argv[2].rstrip("/")
    todo = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            todo.append((p["title"], t["expr"], True))
    for a in dash["annotations"]["list"]:
        todo.append(("annotation: " + a["name"], a["expr"], False))
    for v in dash["templating"]["list"]:
        m = re.match(r"label_values\((.*),\s*\w+\)$", v.get("definition", ""))
        if m:
            todo.append(("variable: " + v["name"], m.group(1), True))
    bad = 0
    for title, expr, need_data in todo:
        n, why = query(base, fill(expr))
        ok = n is not None and (n > 0 or not need_data)
        bad += not ok
        print("%s %-48s %s" % ("ok  " if ok else "FAIL", title[:48],
                               why or "%d series" % n))
    print("%d of %d dashboard expressions run%s" %
          (len(todo) - bad, len(todo), "" if bad == 0 else "; %d failed" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
