#!/usr/bin/python3
"""Faults of the parts around the bridge, in one established call: a real tech Prosody
(scripts/prosody.sh), the real jvb-audio, a Colibri2 focus in a process of its own
(tests/tools/focus_process.py) and two aiortc peers (tests/media/aiortc_peer.py) sending
440 Hz and 660 Hz to each other through the bridge. Stages:

 1. Prosody SIGSTOPped for 20 s, then SIGCONT. With the XEP-0199 ping shortened (every 4 s,
    3 s to answer) the bridge's ping times out while Prosody is stopped, it drops the stream and
    reconnects to a server that accepts TCP (the kernel's backlog) but says nothing. Checked: no
    RTP lost and no gap in either peer's reception over the whole stage, /about/health answered
    200 (and fast: the control loop never blocked) every 250 ms throughout; after SIGCONT the
    bridge's presence reaches the focus again and it answers a health-check IQ and a Colibri2
    sources update.
 2. Prosody SIGKILLed mid-call and restarted; the focus reconnects, and as soon as the bridge is
    back in the brewery sends, at once, a conference-modify creating a new endpoint and one
    updating an existing endpoint's sources: both answered; media uninterrupted.
 3. The focus process SIGKILLed: media keeps flowing; the bridge expires only what JVB would
    expire (JVB ties nothing to the focus: Conference.shouldExpire() is "no endpoints for 20 s",
    Endpoint.shouldExpire() is ICE failed / never connected / no incoming activity for the
    timeout; jvb/src/main/java/org/jitsi/videobridge/Conference.java, Endpoint.kt,
    VideobridgeExpireThread.java): the endpoint of stage 2 that never connected expires, the
    two talking ones and their conference stay past the inactivity timeout.
 4. A new focus joins; the bridge is SIGKILLed and restarted (same ports, same jvb.conf) while
    the focus keeps re-allocating the conference every 100 ms: the restarted bridge joins the
    brewery and its first successful conference-modify reply comes within seconds of its start
    (the time is printed).

Labels prosody;process (root: Prosody runs as user prosody). Usage: test_faults.py <jvb-audio>
"""
import asyncio
import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "media"))

import test_aiortc_forwarding as fwd  # noqa: E402  (exits 77 without python3-aiortc)
import rig  # noqa: E402
import webrtc_sdp  # noqa: E402
from focus_process import FocusCallError, FocusProcess  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else ""
check = rig.Checker()

STOP_S = 20.0
EXPIRE_TIMEOUT_S = 4
NEVER_CONNECTED_S = 10
PING_INTERVAL = "4 s"
PING_TIMEOUT = "3 s"
MAX_GAP_S = 1.0          # longest silence tolerated at a peer (CPU jitter of a shared host)
MAX_LOST = 5             # RTP packets missing per stream and stage (sequence numbers)
FIRST_REPLY_LIMIT_S = 5.0
FREQS = (440.0, 660.0)


class Fault(Exception):
    pass


async def ask_rtp(p):
    mark = len(p.events)
    p.send({"cmd": "rtp"})
    ev = await p.wait_event(lambda e: e.get("event") == "rtp", "rtp log", 10, "rtp", start=mark)
    return ev


async def snapshot(peers):
    return {p.name: await ask_rtp(p) for p in peers}


def continuity(p, q, before, after):
    """What p received of q's stream between two rtp logs: packets, lost, the longest gap."""
    a = before[p.name]["ssrcs"].get(str(q.ssrc)) or {}
    b = after[p.name]["ssrcs"].get(str(q.ssrc)) or {}
    if not a or not b or not a.get("last") or not b.get("last"):
        return {"packets": 0, "lost": None, "max_gap": None}
    t0, t1 = before[p.name]["tw"], after[p.name]["tw"]
    received = b["packets"] - a["packets"]
    span = (b["last"][0] - a["last"][0]) & 0xFFFF
    lost = max(0, span - received)
    gaps = [br["next"][3] - br["prev"][3] for br in b["breaks"] if t0 <= br["next"][3] <= t1]
    gaps.append(t1 - b["last"][3])  # still flowing at the end
    gaps.append(b["last"][3] - t0 if b["last"][3] == a["last"][3] else 0.0)
    return {"packets": received, "lost": lost, "max_gap": round(max(gaps + [0.0]), 3),
            "seconds": round(t1 - t0, 1)}


def check_media(stage, peers, before, after):
    for p in peers:
        for q in peers:
            if q is p:
                continue
            c = continuity(p, q, before, after)
            ok = (c["lost"] is not None and c["lost"] <= MAX_LOST and c["max_gap"] < MAX_GAP_S
                  and c["packets"] >= 0.8 * c["seconds"] / 0.02)
            check(ok, f"{stage}: {p.name} heard {q.name} throughout: {c['packets']} packets in "
                      f"{c.get('seconds')} s, {c['lost']} lost, longest gap {c['max_gap']} s")


async def start_peers_and_call(focus, bridge, meeting, peers):
    for i, p in enumerate(peers):
        t = await focus.call("allocate", meeting, p.endpoint_id, p.ssrc, create_conference=(i == 0),
                             room_name=f"{meeting}@conference.example.test")
        others = [q for q in peers if q is not p]
        offer = webrtc_sdp.build_offer(t.ufrag, t.pwd, t.fingerprint, t.candidates,
                                       [webrtc_sdp.RemoteSource(q.endpoint_id, q.ssrc) for q in others],
                                       t.feedback_ssrc("audio"))
        p.mids = {q.name: str(k + 1) for k, q in enumerate(others)}
        p.send({"cmd": "offer", "sdp": offer})
    for p in peers:
        ev = await p.wait_event(lambda e: e.get("event") == "answer", "SDP answer", 15, "SDP")
        a = webrtc_sdp.parse_answer(ev["sdp"])
        await focus.call("update_transport", meeting, p.endpoint_id, a.ufrag, a.pwd, a.fingerprint,
                         a.setup, a.candidates)
    await fwd.wait_all("ICE", peers, lambda p: p.wait_event(
        fwd.state_is("ice", "completed"), "ICE completion", 20, "ICE", fail_pred=fwd.state_is("ice", "failed")))
    await fwd.wait_all("DTLS", peers, lambda p: p.wait_event(
        fwd.state_is("dtls", "connected"), "DTLS connected", 15, "DTLS", fail_pred=fwd.state_is("dtls", "failed")))
    pairs = [(p, q) for p in peers for q in peers if q is not p]
    await fwd.wait_all("RTP", pairs, lambda pq: pq[0].wait_event(
        lambda e, s=pq[1].ssrc: e.get("event") == "first_rtp" and e["ssrc"] == s, "first RTP", 10, "RTP"))


class HealthPoller:
    """/about/health every 250 ms in a thread of its own: status and latency of each answer."""

    def __init__(self, port):
        self.port, self.samples, self._stop = port, [], False

    async def run(self):
        while not self._stop:
            t = time.monotonic()
            try:
                status, body = await asyncio.to_thread(rig.http_get, self.port, "/about/health", "GET", 3.0)
            except OSError as e:
                status, body = f"error {e}", None
            self.samples.append((t, status, time.monotonic() - t, body))
            await asyncio.sleep(0.25)

    def stop(self):
        self._stop = True

    def summary(self):
        bad = [s for s in self.samples if s[1] != 200]
        worst = max((s[2] for s in self.samples), default=None)
        return bad, worst


async def retry_healthcheck(focus, to, limit_s):
    """The first health-check IQ result (its monotonic time), one try every 250 ms; None."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            await focus.call("healthcheck", to, 2.0, timeout=5)
            return time.monotonic()
        except FocusCallError:
            await asyncio.sleep(0.25)
    return None


def count_log(bridge, needle):
    return sum(1 for line in bridge.lines if needle in line)


async def scenario(prosody, work):
    pw = prosody.secrets["JVB_PASSWORD"]
    conf = rig.xmpp_bridge_conf(
        prosody, "jvb1", pw,
        extra=f"entity-expiration {{ timeout = {EXPIRE_TIMEOUT_S} s, check-interval = 500 ms }}",
        top=f"jvb-audio.xmpp {{ presence-keepalive = 2 s, ping-interval = {PING_INTERVAL}, "
            f"ping-timeout = {PING_TIMEOUT} }}\n"
            f"jvb-audio.entity-expiration {{ never-connected-timeout = {NEVER_CONNECTED_S} s, "
            f"empty-conference-grace = 2 s }}")
    bridge = rig.BridgeProcess(BIN, conf, work, "jvb1")
    focus_args = (f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"], "127.0.0.1", prosody.port,
                  prosody.brewery, "jvb1")
    occupant = f"{prosody.brewery}/jvb1"
    focus = FocusProcess("focus")
    focus2 = FocusProcess("focus2")
    meeting = f"faults-{random.getrandbits(40):010x}"
    peers = [fwd.PeerProc(f"ep{i + 1}-{int(f)}Hz", f, s)
             for i, (f, s) in enumerate(zip(FREQS, random.sample(range(0x10000, 0xFFFFFFFF), 2)))]
    for p in peers:
        p.endpoint_id = f"{random.getrandbits(32):08x}"
    a, b = peers
    started = time.monotonic()
    stage = "setup"
    restarted = None

    def prosody_pid():
        with open(os.path.join(prosody.dir, "prosody.pid"), encoding="utf-8") as f:
            return int(f.read().strip())

    try:
        await asyncio.to_thread(bridge.start)
        focus.start()
        await focus.call("connect", *focus_args)
        await asyncio.gather(*(p.start(max_secs=240) for p in peers))
        for p in peers:
            await p.wait_event(lambda e: e.get("event") == "ready", "ready line", 20, "setup")
        await start_peers_and_call(focus, bridge, meeting, peers)
        await asyncio.sleep(1.0)
        check(True, f"setup: {a.name} and {b.name} hear each other through the bridge "
                    f"({time.monotonic() - started:.1f} s)")

        # 1. Prosody SIGSTOPped for 20 s.
        stage = "SIGSTOP"
        pid = prosody_pid()
        connects0 = count_log(bridge, "] connected as ")
        timeouts0 = count_log(bridge, "no answer to XEP-0199 ping")
        before = await snapshot(peers)
        log_mark = len(bridge.lines)
        poller = HealthPoller(bridge.http_port)
        poll_task = asyncio.ensure_future(poller.run())
        os.kill(pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            await asyncio.sleep(STOP_S)
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        await asyncio.sleep(0.5)
        poller.stop()
        await poll_task
        bad, worst = poller.summary()
        check(not bad and len(poller.samples) >= STOP_S / 0.5,
              f"SIGSTOP: /about/health answered 200 {len(poller.samples)} times over the stop, worst "
              f"{worst and round(worst * 1000)} ms ({len(bad)} not 200: {[s[1] for s in bad][:3]})")
        check(worst is not None and worst < 1.0, "SIGSTOP: the control loop never blocked (health < 1 s)")
        timeouts = count_log(bridge, "no answer to XEP-0199 ping") - timeouts0
        slow = sorted(poller.samples, key=lambda x: -x[2])[:3]
        print(f"  during the stop: {timeouts} ping timeout(s); slowest /about/health at "
              f"{[(round(x[0] - stopped_at, 1), round(x[2] * 1000)) for x in slow]} (s into the stop, ms)",
              flush=True)
        for line in bridge.lines[log_mark:]:
            if "[xmpp]" in line or "[strophe]" in line:
                print(f"  | {line}", flush=True)
        # Presence that Prosody had buffered from the old stream arrives at once and proves
        # nothing: the bridge is back when the occupant answers IQs and its last presence is
        # an available one with stats.
        ok_at = await retry_healthcheck(focus, occupant, 15)
        check(ok_at is not None, f"SIGSTOP: health-check IQ answered "
                                 f"{ok_at - resumed_at if ok_at else -1:.1f} s after SIGCONT")
        last = await focus.call("last_presence", "jvb1")
        check(last is not None and last[1] == "available" and last[2],
              f"SIGSTOP: the bridge is in the brewery again (its last presence: {last and last[1]}, "
              f"{last and round(last[0] - resumed_at, 1)} s after SIGCONT)")
        connects = count_log(bridge, "] connected as ") - connects0
        check(timeouts >= 1 and connects >= 1,
              f"SIGSTOP: the bridge saw its ping go unanswered ({timeouts}) and logged in again ({connects})")
        try:
            await focus.call("update_sources", meeting, a.endpoint_id, [a.ssrc], timeout=15)
            check(True, "SIGSTOP: Colibri2 sources update answered after SIGCONT")
        except FocusCallError as e:
            check(False, f"SIGSTOP: Colibri2 after SIGCONT: {e}")
        after = await snapshot(peers)
        check_media("SIGSTOP", peers, before, after)
        print(f"  stage took {time.monotonic() - stopped_at:.1f} s", flush=True)

        # 2. Prosody SIGKILLed and restarted; Colibri2 right after its return.
        stage = "Prosody SIGKILL"
        before = after
        os.kill(prosody_pid(), signal.SIGKILL)
        killed_at = time.monotonic()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(prosody.start)
        up_at = time.monotonic()
        await focus.call("connect", *focus_args, wait_bridge=0, timeout=40)
        try:
            at = await focus.call("wait_bridge_after", up_at, 15, timeout=20)
            check(True, f"Prosody SIGKILL: the bridge back in the brewery {at - up_at:.1f} s after Prosody "
                        f"was up again ({up_at - killed_at:.1f} s after the kill)")
        except FocusCallError as e:
            check(False, f"Prosody SIGKILL: bridge not back in the brewery: {e}")
        t = time.monotonic()
        results = await asyncio.gather(
            focus.call("allocate", meeting, "late", 0x5EED0001, create_conference=False, timeout=15),
            focus.call("update_sources", meeting, b.endpoint_id, [b.ssrc], timeout=15),
            return_exceptions=True)
        took = time.monotonic() - t
        late_at = time.monotonic()
        new_ok = not isinstance(results[0], BaseException) and results[0].ufrag
        check(bool(new_ok), f"Prosody SIGKILL: endpoint create right after the return answered: "
                            f"{results[0] if isinstance(results[0], BaseException) else 'transport ' + results[0].ufrag}")
        check(not isinstance(results[1], BaseException),
              f"Prosody SIGKILL: sources update of an existing endpoint answered: "
              f"{results[1] if isinstance(results[1], BaseException) else 'result'} (both in {took:.2f} s)")
        status, s = await asyncio.to_thread(rig.http_get, bridge.http_port, "/colibri/stats")
        check(s.get("endpoints") == 3 and s.get("conferences") == 1,
              f"Prosody SIGKILL: 3 endpoints in 1 conference (got {s.get('endpoints')} / {s.get('conferences')})")
        after = await snapshot(peers)
        check_media("Prosody SIGKILL", peers, before, after)

        # 3. The focus vanishes.
        stage = "focus SIGKILL"
        before = after
        focus.kill()
        gone_at = time.monotonic()
        expired = await asyncio.to_thread(bridge.wait_log, f"{meeting}/late: expiring (neither failed nor connected",
                                          NEVER_CONNECTED_S + 8)
        check(expired, f"focus SIGKILL: the endpoint that never connected expired by itself "
                       f"{time.monotonic() - late_at:.1f} s after its create")
        rest = EXPIRE_TIMEOUT_S + 2 - (time.monotonic() - gone_at)
        if rest > 0:
            await asyncio.sleep(rest)
        status, s = await asyncio.to_thread(rig.http_get, bridge.http_port, "/colibri/stats")
        check(s.get("endpoints") == 2 and s.get("conferences") == 1 and s.get("media", {}).get("endpoints") == 2,
              f"focus SIGKILL: {time.monotonic() - gone_at:.1f} s later the two talking endpoints and their "
              f"conference are kept (got {s.get('endpoints')} / {s.get('conferences')}, media {s.get('media')})")
        check(bridge.proc.poll() is None and
              not any("expiring" in l and (a.endpoint_id in l or b.endpoint_id in l) for l in bridge.lines),
              "focus SIGKILL: nothing of the live call expired, the bridge runs on")
        after = await snapshot(peers)
        check_media("focus SIGKILL", peers, before, after)

        # 4. The bridge SIGKILLed and restarted while a (new) focus re-allocates.
        stage = "bridge SIGKILL"
        focus2.start()
        await focus2.call("connect", *focus_args, iq_timeout=2.0, timeout=40)
        bridge.proc.kill()
        bridge.proc.wait(timeout=10)
        died_at = time.monotonic()
        realloc = asyncio.ensure_future(focus2.call(
            "retry_allocate", 30, 0.1, meeting, a.endpoint_id, a.ssrc, create_conference=True,
            room_name=f"{meeting}@conference.example.test", timeout=40))
        await asyncio.sleep(1.0)
        restarted = rig.BridgeProcess(BIN, open(bridge.conf_path, encoding="utf-8").read(), work, "jvb1-restarted")
        restarted.http_port, restarted.udp_port = bridge.http_port, bridge.udp_port
        start_at = time.monotonic()
        await asyncio.to_thread(restarted.start)
        http_at = time.monotonic()
        try:
            ok_at, attempts, errors = await realloc
            took = ok_at - start_at
            check(took <= FIRST_REPLY_LIMIT_S,
                  f"bridge SIGKILL: first conference-modify result {took:.2f} s after the restarted bridge "
                  f"was started (HTTP up after {http_at - start_at:.2f} s; {attempts} attempts since the kill "
                  f"{ok_at - died_at:.1f} s before, errors {errors})")
        except FocusCallError as e:
            check(False, f"bridge SIGKILL: no allocation on the restarted bridge: {e}")
        status, s = await asyncio.to_thread(rig.http_get, restarted.http_port, "/colibri/stats")
        check(s.get("conferences") == 1 and s.get("endpoints") == 1,
              f"bridge SIGKILL: the restarted bridge holds the re-allocated conference "
              f"({s.get('conferences')} / {s.get('endpoints')})")
        rc = await asyncio.to_thread(restarted.stop)
        check(rc == 0, f"the restarted bridge exits 0 on SIGTERM (got {rc})")
    except fwd.StageFailed as e:
        check(False, f"FAILED AT STAGE '{e.stage}': {e.msg}")
    except Exception as e:  # pylint: disable=broad-except
        check(False, f"FAILED AT STAGE '{stage}': {type(e).__name__}: {e}")
    finally:
        for f in (focus, focus2):
            await asyncio.to_thread(f.stop)
        await asyncio.gather(*(p.stop() for p in peers), return_exceptions=True)
        for br in (bridge, restarted):
            if br is not None:
                await asyncio.to_thread(br.stop, signal.SIGKILL if br.proc and br.proc.poll() is None
                                        and check.failures else signal.SIGTERM)
        if check.failures:
            for f in (focus, focus2):
                if f.stderr:
                    print(f"----- {f.name} stderr (last 20 lines) -----\n" + "\n".join(f.stderr[-20:]))
            for p in peers:
                print(f"----- {p.name} stderr (last 10 lines) -----\n" + "\n".join(p.stderr[-10:]))
            for br in (bridge, restarted):
                if br is not None:
                    print(f"----- {br.name} log -----\n{br.log()[-8000:]}")
        print(f"total {time.monotonic() - started:.1f} s", flush=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    rig.run_with_prosody(scenario, check, users=None, limit_s=200)


if __name__ == "__main__":
    main()
