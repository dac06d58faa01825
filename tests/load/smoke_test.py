#!/usr/bin/python3
"""Smoke run of the load generator through its whole path:

    smoke_test.py <repository root> <build dir> [rewriting]

scripts/load.sh (no build: the binaries of <build dir>) starts a tech Prosody,
the bridge and jvb-audio-load with 6 endpoints, 2 speakers, 4 s of audio, and
writes the JSON summary. Checked: exit 0, every endpoint joined, packets
received, no SRTP failure, no packet with an unknown or own SSRC, health-check
round trips measured, the bridge sampled. Which speakers arrive is not checked
(loudest-only routing may leave some out).

With "rewriting": load.sh --rewriting (every endpoint a rewriting receiver on
colibri-ws, SSRCs learnt only from AudioSourcesMap; every packet reaches every
other endpoint, the bridge's default routing). Also checked: no loss, every
colibri-ws opened with ServerHello, each receiver got exactly one mapping per
speaker other than itself (2 x 6 - 2 = 10) and no remap, no packet on an
unannounced SSRC or from another owner than announced, no sequence number or
timestamp going back per SSRC, no bad mapping, and the bridge's
/colibri/stats ssrc_rewriting block present with 6 endpoints and 10 slots.

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
rewriting = len(sys.argv) > 3 and sys.argv[3] == "rewriting"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


with tempfile.TemporaryDirectory(prefix="jvb-load-smoke.") as work:
    summary = os.path.join(work, "load.json")
    env = dict(os.environ, JVB_BUILD_DIR=build, JVB_LOAD_NO_BUILD="1")
    cmd = [os.path.join(root, "scripts", "load.sh"), "-n", "6", "-k", "2", "--duration", "4",
           "--quiet", "--json", summary] + (["--rewriting"] if rewriting else [])
    print("$ " + " ".join(cmd), flush=True)
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=100)
    except subprocess.TimeoutExpired as e:
        print((e.stdout or b"")[-4000:] if isinstance(e.stdout, str) else "")
        print("FAIL load.sh did not finish within 100 s")
        sys.exit(1)
    print(r.stdout)
    print(r.stderr[-4000:])
    check(r.returncode == 0, f"load.sh exited 0 (got {r.returncode})")
    if not os.path.exists(summary):
        print("FAIL no JSON summary written")
        sys.exit(1)
    with open(summary, encoding="utf-8") as f:
        j = json.load(f)

check(j["completed"], f"run completed ({j['failure']})")
check(j["join"]["joined"] == 6, f"6 endpoints joined ({j['join']['joined']})")
check(j["join"]["per_endpoint"]["count"] == 6, "join times measured")
check(j["packets"]["sent"] > 0, f"speakers sent packets ({j['packets']['sent']})")
check(j["packets"]["received"] > 0, f"packets received ({j['packets']['received']})")
check(j["packets"]["deliveries"] > 0, f"audio delivered ({j['packets']['deliveries']})")
check(j["checks"]["decrypt_failures"] == 0,
      f"no SRTP/SRTCP failure ({j['checks']['decrypt_failures']})")
check(j["checks"]["own_audio"] == 0, "no endpoint received its own audio")
check(j["checks"]["unknown_ssrc"] == 0, "no packet with an unsignalled SSRC")
check(j["checks"]["corrupt"] == 0, "every payload matched its SSRC")
check(j["latency"]["count"] > 0 and j["latency"]["max_ms"] > 0, "forwarding latency measured")
check(j["health"]["run"]["count"] > 0, f"health-check RTTs measured ({j['health']['run']['count']})")
check(j["health"]["errors"] == 0, "no health-check error")
http = j["health"].get("http") or {}
check(http.get("run", {}).get("count", 0) > 0 and http.get("failures") == 0,
      f"GET /about/health sampled from its own thread ({http.get('run', {}).get('count')} while audio "
      f"flowed, {http.get('failures')} failed: {http.get('first_failure')})")
check(j["health"]["server_ping"]["run"]["count"] > 0, "server pings (Prosody's share) measured")
check(j["bridge"] is not None and j["bridge"]["rss_end_kib"] > 0, "bridge CPU/RSS sampled")
check(any(s["deliveries"] > 0 for s in j["per_sender"]), "at least one speaker was heard")
# scripts/load.sh preloads the allocation counter whenever the build has it (not sanitizer builds).
if os.path.exists(os.path.join(build, "bench", "load", "libjvb_alloc_preload.so")):
    ba = j.get("bridge_allocations") or {}
    check(ba.get("measured") is True and ba.get("allocs", 0) > 0
          and ba.get("per_forwarded_packet") is not None,
          f"bridge heap allocations measured ({ba.get('reason') or ba.get('per_forwarded_packet')})")
if rewriting:
    rw = j["rewriting"]
    check(rw is not None, "the run was a rewriting run")
    rw = rw or {}
    check(j["packets"]["lost"] == 0, f"no loss ({j['packets']['lost']} lost, "
          f"{rw.get('withheld')} withheld as new SSRCs')")
    check(j["packets"]["routed_to_nobody"] == 0,
          f"every packet reached someone ({j['packets']['routed_to_nobody']} did not)")
    check(rw.get("channels_open") == 6 and rw.get("server_hellos", 0) >= 6,
          f"6 colibri-ws open with ServerHello ({rw.get('channels_open')}, "
          f"{rw.get('server_hellos')})")
    check(rw.get("mappings") == 10, f"10 mappings, one per (receiver, other speaker) "
          f"({rw.get('mappings')})")
    check(rw.get("remaps") == 0, f"no remap ({rw.get('remaps')})")
    check(rw.get("bad_mappings") == 0, f"no bad mapping ({rw.get('first_bad_mapping')})")
    check(rw.get("malformed_messages") == 0, "no malformed colibri-ws message")
    check(rw.get("unannounced") == 0, f"no packet on an unannounced SSRC ({rw.get('unannounced')}, "
          f"{rw.get('not_rewritten')} on the sender's own)")
    check(rw.get("wrong_owner") == 0, f"no packet from another owner than announced "
          f"({rw.get('wrong_owner')})")
    check(rw.get("seq_backwards") == 0 and rw.get("ts_backwards") == 0,
          f"seq/ts never back per SSRC ({rw.get('seq_backwards')}, {rw.get('ts_backwards')})")
    check(rw.get("mid_extension") == 0, "no sdes:mid to rewriting receivers")
    check(rw.get("map_to_first_packet", {}).get("count") == 10,
          f"a first packet after each mapping ({rw.get('map_to_first_packet')})")
    b = j.get("bridge_ssrc_rewriting") or {}
    end = b.get("at_end") or {}
    check(end.get("endpoints") == 6 and end.get("slots_used") == 10,
          f"bridge ssrc_rewriting: 6 endpoints, 10 slots ({end or j.get('stats_error')})")
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
