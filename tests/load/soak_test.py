#!/usr/bin/python3
"""The soak in CI: scripts/soak.sh for 55 s with 150 endpoints.

    soak_test.py <repository root> <build dir>

scripts/soak.sh (no build: the binaries of <build dir>) runs one conference of
150 endpoints with SSRC rewriting: 135 stable (3 speaking, the loudest
rotating), 15 churn slots of which 2 a second are replaced (Colibri2 expire, a
new endpoint with ICE, DTLS, SRTP and colibri-ws), a colibri-ws reconnect and
2 Colibri2 source updates a second. It fails by itself (exit 1) on RSS or heap
growth after the 15 s warm-up beyond 4 KiB per churned endpoint, on open fds
growing by more than 8, on any loss between stable endpoints, and when the
expired conference leaves conferences, endpoints or fds behind. Checked here
too, from its JSON: that the churn, reconnects and source updates happened at
their rates, that the samples cover the run, and the figures it judged.

Needs root (Prosody runs as user prosody), else exits 77 (skipped).
"""
import json
import os
import subprocess
import sys
import tempfile

if os.geteuid() != 0:
    print("SKIP: needs root (Prosody runs as user prosody)")
    sys.exit(77)

root, build = sys.argv[1], sys.argv[2]
failures = []
DURATION = 55
N = 150


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


with tempfile.TemporaryDirectory(prefix="jvb-soak.") as work:
    summary = os.path.join(work, "soak.json")
    csv = os.path.join(work, "soak.csv")
    env = dict(os.environ, JVB_BUILD_DIR=build, JVB_LOAD_NO_BUILD="1")
    cmd = [os.path.join(root, "scripts", "soak.sh"), "--duration", str(DURATION), "-n", str(N),
           "--churners", "15", "--warmup", "15", "--quiet", "--json", summary, "--soak-csv", csv]
    print("$ " + " ".join(cmd), flush=True)
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=DURATION + 60)
    except subprocess.TimeoutExpired:
        print(f"FAIL soak.sh did not finish within {DURATION + 60} s")
        sys.exit(1)
    print(r.stdout[-6000:])
    print(r.stderr[-4000:])
    check(r.returncode == 0, f"soak.sh exited 0 (got {r.returncode})")
    if not os.path.exists(summary):
        print("FAIL no JSON summary written")
        sys.exit(1)
    with open(summary, encoding="utf-8") as f:
        j = json.load(f)
    with open(csv, encoding="utf-8") as f:
        rows = f.read().splitlines()

check(j["completed"], f"run completed ({j['problems'][:1]})")
check(j["passed"], f"the soak's own verdict ({j['problems']})")
active = DURATION - 2
check(j["churned"] >= 2 * active * 0.8 and j["churn_joined"] >= j["churned"] - 3,
      f"churn at 2/s: {j['churned']} replaced, {j['churn_joined']} up again")
check(j["endpoints_expired"] >= j["churned"] - 3, f"{j['endpoints_expired']} expired")
check(j["ws_reconnects"] >= active * 0.8, f"colibri-ws reconnects ({j['ws_reconnects']})")
check(j["source_updates"] >= 2 * active * 0.8, f"source updates ({j['source_updates']})")
check(j["stable_deliveries"] > 3 * 50 * 130 * (DURATION - 5) and j["stable_lost"] == 0,
      f"stable endpoints: {j['stable_deliveries']} deliveries, {j['stable_lost']} lost")
samples = j["samples"]
check(len(samples) >= DURATION - 5 and len(rows) == len(samples) + 1,
      f"{len(samples)} samples, {len(rows) - 1} CSV rows")
judged = [s for s in samples if s["judged"]]
check(all(s["rss_kib"] > 0 and s["fds"] > 0 and s["heap_kib"] > 0 for s in samples),
      "RSS, fds and heap sampled every time")
check(all(N - 3 <= s["endpoints"] <= N for s in judged),
      f"the bridge's endpoint count stays at {N} (less those in transition): "
      f"{min(s['endpoints'] for s in judged)}..{max(s['endpoints'] for s in judged)}")
check(j["after"]["conferences"] == 0 and j["after"]["endpoints"] == 0
      and j["after"]["fds"] <= j["idle"]["fds"] + 2,
      f"after the expire: {j['after']} (idle {j['idle']})")
print(f"RSS slope {j['rss_slope_kib_s']:.2f} KiB/s, heap {j['heap_slope_kib_s']:.2f} KiB/s, "
      f"live allocations {j['live_allocs_slope_s']:.2f}/s, fds {j['fds_median_first']} -> "
      f"{j['fds_median_last']}")
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
