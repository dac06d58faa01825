#!/usr/bin/python3
"""CTest deploy.grafana_dashboard: deploy/grafana/jvb-audio.json is an importable Grafana
dashboard over exactly the metrics listed in deploy/grafana/expected-metrics.txt.

Structure (as Grafana exports a dashboard for sharing): an __inputs entry DS_PROMETHEUS
(a Prometheus datasource) that every panel and target uses as ${DS_PROMETHEUS}, __requires
naming every panel type, a query variable `instance` on that datasource, unique panel ids,
grid positions inside 24 columns, every non-row panel with targets that have an expr and
unique refIds.
PromQL: balanced brackets; every metric selector filters instance=~"$instance"; every
metric family used is in expected-metrics.txt and every line there is used; a counter is
only read through a range (rate/increase), a gauge never is, a histogram only through
NAME_bucket/_sum/_count; every label in a `by (...)` or matcher is one the file lists for a
metric of that expression (or instance, job, le for histograms).
A negative control (an unlisted metric, a gauge under rate(), a missing instance filter)
must be refused.

usage: check_grafana_dashboard.py [DASHBOARD [EXPECTED_METRICS]]
"""

import copy
import json
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "jvb-audio.json")
EXPECTED = os.path.join(ROOT, "deploy", "grafana", "expected-metrics.txt")
DS_UID = "${DS_PROMETHEUS}"
TYPES = {"counter", "gauge", "histogram"}
NAME = re.compile(r"\b((?:jitsi_jvb|jvb_audio)_[a-z0-9_]+)\b")
# PromQL words that may look like labels inside by()/matchers are never metric-prefixed,
# so NAME only ever matches metric names.
COMMON_LABELS = {"instance", "job"}


def read_expected(path: str) -> dict:
    """name -> (type, labels); raises ValueError on a bad line."""
    out = {}
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (2, 3) or parts[1] not in TYPES or not NAME.fullmatch(parts[0]):
            raise ValueError(f"{path}:{n}: expected 'NAME counter|gauge|histogram [labels]', got {raw.strip()!r}")
        if parts[0] in out:
            raise ValueError(f"{path}:{n}: {parts[0]} listed twice")
        if parts[1] == "counter" and not parts[0].endswith("_total"):
            raise ValueError(f"{path}:{n}: a counter family is exposed as NAME_total")
        labels = set(parts[2].split(",")) if len(parts) == 3 else set()
        out[parts[0]] = (parts[1], labels)
    return out


def all_panels(panels: list):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def balanced(expr: str) -> bool:
    stack, pairs, quote = [], {")": "(", "]": "[", "}": "{"}, False
    for c in expr:
        if c == '"':
            quote = not quote
        elif quote:
            continue
        elif c in "([{":
            stack.append(c)
        elif c in ")]}":
            if not stack or stack.pop() != pairs[c]:
                return False
    return not stack and not quote


def family(name: str, expected: dict):
    """The family a series name belongs to (histogram suffixes stripped), or None."""
    if name in expected:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and expected.get(base, ("",))[0] == "histogram":
            return base
    return None


def check_expr(expr: str, where: str, expected: dict, used: set) -> list:
    failures = []
    if not expr.strip():
        return [f"{where}: empty expr"]
    if not balanced(expr):
        failures.append(f"{where}: unbalanced brackets or quotes in {expr!r}")
    labels_allowed = set(COMMON_LABELS)
    for m in NAME.finditer(expr):
        name = m.group(1)
        fam = family(name, expected)
        if fam is None:
            failures.append(f"{where}: {name} is not in expected-metrics.txt")
            continue
        used.add(fam)
        kind, labels = expected[fam]
        labels_allowed |= labels | ({"le"} if kind == "histogram" else set())
        rest = expr[m.end():]
        sel = re.match(r"\{([^}]*)\}", rest)
        if not sel or 'instance=~"$instance"' not in sel.group(1):
            failures.append(f"{where}: {name} without the instance=~\"$instance\" filter")
        after = rest[sel.end():] if sel else rest
        ranged = after.startswith("[")
        if kind == "counter" and not ranged:
            failures.append(f"{where}: counter {name} read without a range (use rate/increase)")
        if kind == "gauge" and ranged:
            failures.append(f"{where}: gauge {name} read through a range (rate of a gauge)")
        if kind == "histogram" and name == fam:
            failures.append(f"{where}: histogram {name} must be read as _bucket, _sum or _count")
        if kind == "histogram" and not ranged:
            failures.append(f"{where}: histogram series {name} read without a range")
        if sel:
            for lm in re.finditer(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)", sel.group(1)):
                labels_allowed_here = labels | COMMON_LABELS | ({"le"} if kind == "histogram" else set())
                if lm.group(1) not in labels_allowed_here:
                    failures.append(f"{where}: {name} has no label {lm.group(1)}")
    for by in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for label in (x.strip() for x in by.group(1).split(",") if x.strip()):
            if label not in labels_allowed:
                failures.append(f"{where}: grouping by {label}, which no metric of the expression has")
    if "histogram_quantile" in expr and not re.search(r"\bby\s*\([^)]*\ble\b", expr):
        failures.append(f"{where}: histogram_quantile without keeping le")
    return failures


def check(dash: dict, expected: dict) -> list:
    failures = []
    inputs = {i.get("name"): i for i in dash.get("__inputs", [])}
    ds = inputs.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("pluginId") != "prometheus":
        failures.append("__inputs lacks DS_PROMETHEUS (type datasource, pluginId prometheus)")
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        failures.append(f"schemaVersion {dash.get('schemaVersion')!r}: expected a current export (>= 36)")
    for key in ("title", "uid"):
        if not isinstance(dash.get(key), str) or not dash[key]:
            failures.append(f"dashboard {key} missing")
    requires = {(r.get("type"), r.get("id")) for r in dash.get("__requires", [])}
    if ("datasource", "prometheus") not in requires or ("grafana", "grafana") not in requires:
        failures.append("__requires must name grafana and the prometheus datasource")

    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    inst = variables.get("instance")
    used = set()
    if not inst or inst.get("type") != "query" or inst.get("datasource", {}).get("uid") != DS_UID:
        failures.append("no query variable 'instance' on ${DS_PROMETHEUS}")
    else:
        q = inst.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.fullmatch(r"label_values\((\w+),\s*instance\)", q.strip())
        if not m or family(m.group(1), expected) is None:
            failures.append(f"instance variable query {q!r}: expected label_values(<listed metric>, instance)")
        else:
            used.add(family(m.group(1), expected))
        if not inst.get("multi") or not inst.get("includeAll"):
            failures.append("the instance variable should allow several bridges and All")

    ids = []
    panel_types = set()
    panels = list(all_panels(dash.get("panels", [])))
    if not panels:
        failures.append("no panels")
    for p in panels:
        pid = p.get("id")
        where = f"panel {pid} ({p.get('title')!r})"
        ids.append(pid)
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")) or g["x"] + g["w"] > 24 or g["w"] <= 0:
            failures.append(f"{where}: bad gridPos {g}")
        if p.get("type") == "row":
            continue
        panel_types.add(p.get("type"))
        if not p.get("title"):
            failures.append(f"{where}: no title")
        if p.get("datasource", {}).get("uid") != DS_UID:
            failures.append(f"{where}: datasource is not ${{DS_PROMETHEUS}}")
        targets = p.get("targets") or []
        if not targets:
            failures.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            failures.append(f"{where}: refIds missing or not unique: {refs}")
        for t in targets:
            if t.get("datasource", {}).get("uid") != DS_UID:
                failures.append(f"{where} target {t.get('refId')}: datasource is not ${{DS_PROMETHEUS}}")
            failures += check_expr(t.get("expr", ""), f"{where} target {t.get('refId')}", expected, used)
    if len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
        failures.append(f"panel ids not unique integers: {ids}")
    for t in sorted(x for x in panel_types if x):
        if ("panel", t) not in requires:
            failures.append(f"__requires does not name panel type {t}")
    for name in sorted(set(expected) - used):
        failures.append(f"expected-metrics.txt lists {name}, the dashboard never uses it")
    return failures


def main() -> int:
    dash_path = sys.argv[1] if len(sys.argv) > 1 else DASHBOARD
    exp_path = sys.argv[2] if len(sys.argv) > 2 else EXPECTED
    try:
        dash = json.load(open(dash_path, encoding="utf-8"))
        expected = read_expected(exp_path)
    except (ValueError, OSError) as e:
        print(f"FAIL: {e}")
        return 1
    failures = check(dash, expected)
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        return 1
    n = sum(1 for p in all_panels(dash["panels"]) if p.get("type") != "row")
    exprs = sum(len(p.get("targets", [])) for p in all_panels(dash["panels"]))
    print(f"ok: {n} panels, {exprs} queries, {len(expected)} metric families, all listed and all used")

    # Negative controls.
    def first_target(d):
        return next(t for p in all_panels(d["panels"]) for t in p.get("targets", []))

    controls = []
    d = copy.deepcopy(dash)
    first_target(d)["expr"] += ' + jitsi_jvb_not_a_metric{instance=~"$instance"}'
    controls.append(("an unlisted metric", d))
    d = copy.deepcopy(dash)
    first_target(d)["expr"] = 'rate(jitsi_jvb_conferences{instance=~"$instance"}[5m])'
    controls.append(("a gauge under rate()", d))
    d = copy.deepcopy(dash)
    first_target(d)["expr"] = first_target(d)["expr"].replace('instance=~"$instance"', 'job="x"')
    controls.append(("a missing instance filter", d))
    d = copy.deepcopy(dash)
    d["panels"][1]["id"] = d["panels"][2]["id"]
    controls.append(("a duplicate panel id", d))
    for name, bad in controls:
        if not check(bad, expected):
            print(f"FAIL: negative control not caught: {name}")
            return 1
    print("ok: an unlisted metric, a gauge under rate(), a missing instance filter and a duplicate id are refused")
    print("PASS: deploy.grafana_dashboard")
    return 0


if __name__ == "__main__":
    sys.exit(main())
