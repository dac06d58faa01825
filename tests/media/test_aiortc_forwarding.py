#!/usr/bin/python3
"""Media end to end: three real WebRTC peers (aiortc) in one conference on jvb-audio.

    test_aiortc_forwarding.py <jvb-audio binary>     the bridge (needs root: Prosody)
    test_aiortc_forwarding.py --fake-sfu             harness self-test: an aiortc-made SFU
                                                     stands in for Prosody + bridge + focus

Scenario (as Jicofo + lib-jitsi-meet would drive it):
 1. setup: a tech Prosody, the bridge in its brewery, a Colibri2 focus (colibri2_focus.py);
    three aiortc peers (aiortc_peer.py subprocesses, 127.0.0.1 candidates only).
 2. allocation: one conference, three endpoint creates (the first creates the conference),
    each with the audio SSRC its peer will send with. The SSRCs are chosen by the test and
    FORCED into aiortc (RTCRtpSender._ssrc), because Jicofo signals a participant's sources to
    the bridge and to the others before media flows; the answer is checked to carry them.
 3. SDP: each peer gets the offer Jicofo would give it (webrtc_sdp.build_offer: BUNDLE,
    m-line 0 sendrecv for its own audio + the bridge's feedback SSRC, one sendonly m-line per
    other participant with that participant's SSRC) and answers; the focus sends each answer's
    ICE/DTLS parameters to the bridge (update_transport, setup from the answer).
 4. ICE: every peer's ICE transport completes (aiortc is ICE-controlled; the bridge is
    controlling and must nominate with USE-CANDIDATE).
 5. DTLS: every peer's DTLS transport connects (aiortc is the DTLS client: it sends the
    ClientHello once ICE completed; the bridge is the server).
 6. RTP: every peer receives SRTP packets with the two other peers' SSRCs.
 7. tone: peers send 440/660/880 Hz; after a few seconds each peer's receive track for each
    other participant carries that participant's tone (FFT), audibly (RMS), and nobody
    hears itself (no packet with its own SSRC, no own tone on any track).
 8. export (bridge only): the focus adds a transcriber <connect> as Jicofo does
    (Colibri2Session.setConnects); a mediajson WebSocket server written here (Debian's
    python3-websockets) gets info, start and media events with the Authorization header, decodes
    each tag's Opus payloads (aiortc's OpusDecoder) to that speaker's tone, answers pings; it is
    restarted and the bridge reconnects (a new serializer: start events again); the connect is
    moved to a dead URL (the media thread's copies keep flowing, the export queue drops nothing,
    the peers still hear each other) and removed (session-end before the close; no more copies).
 9. expiration (bridge only; times shortened in jvb.conf): an endpoint that never connects, a
    peer SIGKILLed mid-call and a conference left empty are expired by the bridge itself, from
    the registry, the media thread and speech activity; the two remaining peers still hear each other.
The first failing stage is reported with per-peer wire diagnostics (STUN requests and
responses, USE-CANDIDATE, DTLS datagrams both ways, RTP per SSRC, SRTP failures, RTCP).
Every wait is bounded; every process started here is stopped here.
"""
import asyncio
import dataclasses
import importlib.util
import json
import os
import random
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, HERE)

try:
    _HAVE_AIORTC = importlib.util.find_spec("aiortc") is not None
except (ImportError, ValueError):
    _HAVE_AIORTC = False
if not _HAVE_AIORTC:
    print("SKIP: python3-aiortc is not installed (scripts/install-deps.sh installs it)")
    sys.exit(77)

import rig  # noqa: E402
import webrtc_sdp  # noqa: E402

PEER = os.path.join(HERE, "aiortc_peer.py")
PY = "/usr/bin/python3"
FREQS = [440.0, 660.0, 880.0]

READY_TIMEOUT = 20.0
ANSWER_TIMEOUT = 15.0
ICE_TIMEOUT = float(os.environ.get("JVB_MEDIA_ICE_TIMEOUT", "15"))
DTLS_TIMEOUT = 10.0
RTP_TIMEOUT = 10.0
LISTEN_SECS = float(os.environ.get("JVB_MEDIA_LISTEN_SECS", "4"))
ICE_LITE_OFFER = os.environ.get("JVB_MEDIA_ICE_LITE") == "1"  # if the bridge turns out ice-lite
DUMP = os.environ.get("JVB_MEDIA_DUMP")  # a path: the peers' full reports and SDPs as JSON
# Fault injection, to see each stage fail with its diagnostics (not used by ctest):
#   dead-port      the offers point at a UDP port nobody serves        -> ICE
#   no-update      the answers' ICE/DTLS parameters never reach the bridge
#   bad-fingerprint the bridge is told a wrong client fingerprint       -> DTLS
#   wrong-ssrc     the bridge is told another SSRC for the first peer  -> RTP received
#   (comma-separated; e.g. "dead-port,no-update": the bridge, a full ICE agent, would otherwise
#   reach the peers from the transport update's candidates and ICE would still complete)
FAULT = set(filter(None, os.environ.get("JVB_MEDIA_FAULT", "").split(",")))

MIN_FRAMES = 100          # 2 s of 20 ms Opus frames decoded per remote track
EXPIRE_TIMEOUT_S = 3      # videobridge.entity-expiration.timeout for this test
NEVER_CONNECTED_S = 12    # jvb-audio.entity-expiration.never-connected-timeout (longer than set-up)
FREQ_TOLERANCE_HZ = 15.0
MIN_TONE_SHARE = 0.5      # the expected tone holds most of the track's power
MAX_OWN_SHARE = 0.05      # own tone on a track = the bridge echoes or mixes us back
MIN_RMS_DBFS = -30.0      # sent at amplitude 0.3 (about -13.5 dBFS)

check = rig.Checker()


class StageFailed(Exception):
    def __init__(self, stage: str, msg: str):
        super().__init__(f"{stage}: {msg}")
        self.stage, self.msg = stage, msg


# -- one aiortc peer subprocess -----------------------------------------------------------

class PeerProc:
    def __init__(self, name: str, freq: float, ssrc: int):
        self.name, self.freq, self.ssrc = name, freq, ssrc
        self.proc = None
        self.events = []
        self.stderr = []
        self._changed = asyncio.Event()
        self._tasks = []

    async def start(self, max_secs: float):
        others = [str(f) for f in FREQS if f != self.freq]
        self.proc = await asyncio.create_subprocess_exec(
            PY, PEER, "--name", self.name, "--freq", str(self.freq), "--ssrc", str(self.ssrc),
            "--max-secs", str(max_secs), "--listen-for", *others,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        self._tasks = [asyncio.ensure_future(self._read_stdout()), asyncio.ensure_future(self._read_stderr())]

    def _notify(self):
        self._changed.set()
        self._changed = asyncio.Event()

    async def _read_stdout(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            try:
                ev = json.loads(line)
            except ValueError:
                self.stderr.append(f"(stdout) {line.decode(errors='replace').rstrip()}")
                continue
            self.events.append(ev)
            if ev.get("event") in ("error",):
                print(f"  [{self.name}] {ev}", flush=True)
            self._notify()
        self._notify()

    async def _read_stderr(self):
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                break
            self.stderr.append(line.decode(errors="replace").rstrip())

    def send(self, obj):
        if self.proc and self.proc.returncode is None and not self.proc.stdin.is_closing():
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())

    def state(self, what):
        st = [e["state"] for e in self.events if e.get("event") == "state" and e.get("what") == what]
        return st[-1] if st else None

    async def wait_event(self, pred, what, timeout, stage, fail_pred=None, start=0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for e in self.events[start:]:
                if pred(e):
                    return e
                if fail_pred and fail_pred(e):
                    raise StageFailed(stage, f"{self.name}: {what}: got {e}")
            if self.proc.returncode is not None or (self._tasks and self._tasks[0].done()):
                raise StageFailed(stage, f"{self.name}: peer process exited ({self.proc.returncode}) "
                                         f"while waiting for {what}; stderr tail: {self.stderr[-5:]}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise StageFailed(stage, f"{self.name}: no {what} within {timeout:g} s")
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    async def report(self, timeout=10.0):
        mark = len(self.events)
        self.send({"cmd": "report"})
        try:
            return await self.wait_event(lambda e: e.get("event") == "report", "report", timeout, "report",
                                         start=mark)
        except StageFailed as e:
            print(f"  [{self.name}] {e}", flush=True)
            return None

    async def stop(self):
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.send({"cmd": "quit"})
            try:
                self.proc.stdin.close()
            except Exception:  # pylint: disable=broad-except
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), 8)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for t in self._tasks:
            try:
                await asyncio.wait_for(t, 3)
            except (asyncio.TimeoutError, Exception):  # pylint: disable=broad-except
                t.cancel()


async def wait_all(stage, peers, make_wait):
    """Runs make_wait(peer) for every peer at once; one StageFailed naming every peer that failed."""
    results = await asyncio.gather(*(make_wait(p) for p in peers), return_exceptions=True)
    errs = [r for r in results if isinstance(r, BaseException)]
    if errs:
        raise StageFailed(stage, "; ".join(e.msg if isinstance(e, StageFailed) else repr(e) for e in errs))
    return results


def state_is(what, state):
    return lambda e: e.get("event") == "state" and e.get("what") == what and e.get("state") == state


# -- backends: the bridge (Prosody + jvb-audio + Colibri2 focus) or the fake SFU -----------

class BridgeBackend:
    name = "jvb-audio"

    def __init__(self, binary, prosody, work):
        self.binary, self.prosody, self.work = binary, prosody, work
        self.bridge = None
        self.focus = None
        self.meeting_id = f"media-{random.getrandbits(48):012x}"

    async def start(self):
        from colibri2_focus import Colibri2Focus
        pw = self.prosody.secrets["JVB_PASSWORD"]
        # Entity expiration shortened from JVB's 1 min / 2 min / 20 s (expiration_stage below).
        conf = rig.xmpp_bridge_conf(
            self.prosody, "jvb1", pw,
            extra=f"entity-expiration {{ timeout = {EXPIRE_TIMEOUT_S} s, check-interval = 500 ms }}\n"
                  "  exporter { base-delay = 300 ms, max-delay = 600 ms }",
            top=f"jvb-audio.entity-expiration {{ never-connected-timeout = {NEVER_CONNECTED_S} s, "
                f"empty-conference-grace = 2 s }}")
        self.bridge = rig.BridgeProcess(self.binary, conf, self.work, "jvb1")
        await asyncio.to_thread(self.bridge.start)
        self.focus = Colibri2Focus(f"focus@{self.prosody.domain}", self.prosody.secrets["FOCUS_PASSWORD"],
                                   "127.0.0.1", self.prosody.port, self.prosody.brewery, bridge="jvb1")
        await self.focus.connect_and_join(wait_bridge=20)

    async def allocate(self, index, endpoint_id, ssrc, others):
        t = await self.focus.allocate(self.meeting_id, endpoint_id, ssrc, create_conference=(index == 0),
                                      room_name=f"{self.meeting_id}@conference.example.test")
        udp = [c for c in t.candidates if c.protocol == "udp"]
        if not any(c.ip == "127.0.0.1" and c.port == self.bridge.udp_port for c in udp):
            raise StageFailed("allocation", f"{endpoint_id}: no udp host candidate 127.0.0.1:{self.bridge.udp_port} "
                                            f"in {[(c.ip, c.port, c.protocol, c.type) for c in t.candidates]}")
        if not t.rtcp_mux:
            raise StageFailed("allocation", f"{endpoint_id}: no rtcp-mux in the bridge transport")
        fb = t.feedback_ssrc("audio")
        return dict(ufrag=t.ufrag, pwd=t.pwd, fingerprint=t.fingerprint, candidates=t.candidates,
                    feedback_ssrc=fb, describe=f"ufrag={t.ufrag} candidates={[(c.ip, c.port) for c in udp]} "
                                               f"fingerprint={t.fingerprint.hash}/{t.fingerprint.setup} feedback-ssrc={fb}")

    async def connect(self, endpoint_id, answer):
        await self.focus.update_transport(self.meeting_id, endpoint_id, answer.ufrag, answer.pwd,
                                          answer.fingerprint, answer.setup, answer.candidates)

    def diagnostics(self):
        if self.bridge is None:
            return ""
        return f"----- bridge log (exit code {self.bridge.proc.returncode if self.bridge.proc else None}) -----\n" \
               + self.bridge.log()[-6000:]

    async def close(self, endpoint_ids):
        if self.focus is not None:
            try:
                await self.focus.expire(self.meeting_id, endpoint_ids)
            except Exception as e:  # pylint: disable=broad-except
                print(f"  (expire: {e})")
            await self.focus.close()
        if self.bridge is not None:
            rc = await asyncio.to_thread(self.bridge.stop, signal.SIGTERM)
            print(f"  bridge stopped (exit code {rc})", flush=True)


class FakeBackend:
    name = "fake SFU (aiortc)"

    def __init__(self):
        from fake_sfu import FakeSfu
        self.sfu = FakeSfu()

    async def start(self):
        pass

    async def allocate(self, index, endpoint_id, ssrc, others):
        t = await self.sfu.allocate(endpoint_id, ssrc, others)
        return dict(ufrag=t.ufrag, pwd=t.pwd, fingerprint=t.fingerprint, candidates=t.candidates,
                    feedback_ssrc=None, describe=f"ufrag={t.ufrag} candidates={[(c.ip, c.port) for c in t.candidates]}")

    async def connect(self, endpoint_id, answer):
        await self.sfu.answer(endpoint_id, answer.sdp)

    def diagnostics(self):
        return ""

    async def close(self, endpoint_ids):
        await self.sfu.close()


# -- diagnostics ----------------------------------------------------------------------------

def ice_diag(r):
    if r is None:
        return "no report"
    i = r["ice"]
    tx = r["datagrams_tx"]["stun"]
    parts = [f"ICE state {i['state']} (role {i['role']})",
             f"STUN sent by us {tx}, responses to our checks {i['responses_in']}",
             f"binding requests from the bridge {i['requests_in']} (USE-CANDIDATE {i['requests_in_use_candidate']}, "
             f"ICE-CONTROLLING {i['requests_in_ice_controlling']}, rejected by us {i['requests_in_rejected']})"]
    if i["errors_in"]:
        parts.append(f"error responses {i['errors_in']}")
    if i["our_checks"]:
        parts.append(f"our checks: {i['our_checks'][-3:]}")
    if i["requests_in"] == 0 and i["responses_in"] == 0:
        parts.append("=> the bridge neither answered our binding requests nor sent any")
    elif i["responses_in"] > 0 and i["requests_in_use_candidate"] == 0:
        parts.append("=> the bridge answers checks but never nominated (aiortc is ICE-controlled and "
                     "completes only on a binding request with USE-CANDIDATE on a pair whose own check succeeded)")
    elif i["requests_in"] > 0 and i["responses_in"] == 0:
        parts.append("=> the bridge sends checks but does not answer ours (aiortc needs its own check on the "
                     "pair to succeed too)")
    if i["requests_in_rejected"]:
        parts.append("=> we rejected bridge requests: USERNAME must be '<our ufrag>:<bridge ufrag>' and "
                     "MESSAGE-INTEGRITY keyed with our ice-pwd (from the transport update)")
    return "; ".join(parts)


def dtls_diag(r):
    if r is None:
        return "no report"
    d = r["dtls"]
    return (f"DTLS state {d['state']} (aiortc role {d['role']}); DTLS datagrams sent {r['datagrams_tx']['dtls']} "
            f"(first at {d['first_tx_t']} s, handshake types {d['handshake_types_tx'][:6]}: 1=ClientHello), "
            f"received {r['datagrams_rx']['dtls']} (handshake types {d['handshake_types_rx'][:8]}: "
            f"2=ServerHello 11=Certificate 12=ServerKeyExchange 13=CertificateRequest 14=ServerHelloDone; "
            f"content types {d['content_types_rx']})")


def rtp_diag(r, expected):
    if r is None:
        return "no report"
    got = {int(k): v["packets"] for k, v in r["rtp_in"].items()}
    return (f"expected SSRCs {expected}; decrypted RTP per SSRC {got}; RTP/RTCP datagrams received "
            f"{r['datagrams_rx']['rtp_rtcp']}, SRTP unprotect failures {r['srtp_unprotect_failed']}, "
            f"SRTCP unprotect failures {r['srtcp_unprotect_failed']}; RTCP received {r['rtcp_in']}; "
            f"RTP/RTCP sent by us {r['datagrams_tx']['rtp_rtcp']}")


# -- the scenario -----------------------------------------------------------------------------

async def scenario(backend, work=None):
    n = len(FREQS)
    ssrcs = random.sample(range(0x10000, 0xFFFFFFFF), n)
    ep_ids = [f"{random.getrandbits(32):08x}" for _ in range(n)]
    peers = [PeerProc(f"ep{i + 1}-{int(f)}Hz", f, s) for i, (f, s) in enumerate(zip(FREQS, ssrcs))]
    for p, e in zip(peers, ep_ids):
        p.endpoint_id = e
        p.mids = {}  # other peer name -> mid of its receive track
    stage = "setup"
    reports = {}
    answers = {}
    started = time.monotonic()
    print(f"backend: {backend.name}; peers: " + ", ".join(f"{p.name} endpoint {p.endpoint_id} ssrc {p.ssrc}"
                                                          for p in peers), flush=True)
    if FAULT:
        print(f"FAULT INJECTION: {sorted(FAULT)}", flush=True)
    try:
        await backend.start()
        await asyncio.gather(*(p.start(max_secs=200) for p in peers))
        for p in peers:
            await p.wait_event(lambda e: e.get("event") == "ready", "ready line", READY_TIMEOUT, "setup")
        check(True, "setup: backend up, 3 aiortc peers started")

        stage = "allocation"
        offers_args = []
        for i, p in enumerate(peers):
            others = [q for q in peers if q is not p]
            signalled = p.ssrc + 1 if "wrong-ssrc" in FAULT and i == 0 else p.ssrc
            t = await backend.allocate(i, p.endpoint_id, signalled, [(q.endpoint_id, q.ssrc) for q in others])
            offers_args.append((p, others, t))
            check(True, f"allocation: {p.name}: {t['describe']}")

        stage = "SDP"
        for p, others, t in offers_args:
            if "dead-port" in FAULT:
                dead = rig.free_port(socket.SOCK_DGRAM)
                t["candidates"] = [dataclasses.replace(c, port=dead) for c in t["candidates"]]
            offer = webrtc_sdp.build_offer(t["ufrag"], t["pwd"], t["fingerprint"], t["candidates"],
                                           [webrtc_sdp.RemoteSource(q.endpoint_id, q.ssrc) for q in others],
                                           t["feedback_ssrc"], ice_lite=ICE_LITE_OFFER)
            for k, q in enumerate(others):
                p.mids[q.name] = str(k + 1)
            p.offer = offer
            p.send({"cmd": "offer", "sdp": offer})
        for p in peers:
            ev = await p.wait_event(lambda e: e.get("event") == "answer", "SDP answer", ANSWER_TIMEOUT, "SDP",
                                    fail_pred=lambda e: e.get("event") == "error" and "offer" in e.get("what", ""))
            a = webrtc_sdp.parse_answer(ev["sdp"])
            answers[p.name] = a
            ok = (a.ssrc == p.ssrc and a.setup in ("active", "passive") and a.candidates
                  and all(c.ip == "127.0.0.1" and c.protocol == "udp" for c in a.candidates)
                  and a.directions.get("0") == "sendrecv"
                  and all(a.directions.get(m) == "recvonly" for m in p.mids.values()))
            check(ok, f"SDP: {p.name} answered: ssrc {a.ssrc} (forced {p.ssrc}), setup {a.setup}, ICE "
                      f"{ev.get('ice_role')}, candidates {[(c.ip, c.port) for c in a.candidates]}, directions "
                      f"{a.directions}, audio hdrexts {a.extmaps.get('0')}")
            if not ok:
                raise StageFailed("SDP", f"{p.name}: unexpected answer:\n{ev['sdp']}")
        for p in peers:
            a = answers[p.name]
            if "bad-fingerprint" in FAULT:
                a.fingerprint = webrtc_sdp.Fingerprint(a.fingerprint.hash, ":".join(["AB"] * 32), a.setup)
            if "no-update" not in FAULT:
                await backend.connect(p.endpoint_id, a)
        check(True, "SDP: the answers' ICE/DTLS parameters sent to the bridge (update_transport results)"
              if "no-update" not in FAULT else "SDP: transport updates NOT sent (fault no-update)")

        stage = "ICE"
        try:
            await wait_all("ICE", peers, lambda p: p.wait_event(
                state_is("ice", "completed"), "ICE completion", ICE_TIMEOUT, "ICE", fail_pred=state_is("ice", "failed")))
        except StageFailed:
            for p in peers:
                reports[p.name] = await p.report()
                print(f"  [{p.name}] {ice_diag(reports[p.name])}", flush=True)
            raise
        check(True, f"ICE: completed on all peers ({time.monotonic() - started:.1f} s since start)")

        stage = "DTLS"
        try:
            await wait_all("DTLS", peers, lambda p: p.wait_event(
                state_is("dtls", "connected"), "DTLS connected", DTLS_TIMEOUT, "DTLS",
                fail_pred=state_is("dtls", "failed")))
        except StageFailed:
            for p in peers:
                reports[p.name] = await p.report()
                print(f"  [{p.name}] {dtls_diag(reports[p.name])}", flush=True)
            raise
        check(True, "DTLS: connected on all peers (aiortc client, SRTP_AES128_CM_SHA1_80)")

        stage = "RTP received"
        pairs = [(p, q) for p in peers for q in peers if q is not p]
        try:
            await wait_all("RTP received", pairs, lambda pq: pq[0].wait_event(
                lambda e, s=pq[1].ssrc: e.get("event") == "first_rtp" and e["ssrc"] == s,
                f"RTP with {pq[1].name}'s SSRC {pq[1].ssrc}", RTP_TIMEOUT, "RTP received"))
        except StageFailed:
            for p in peers:
                reports[p.name] = await p.report()
                print(f"  [{p.name}] {rtp_diag(reports[p.name], [q.ssrc for q in peers if q is not p])}", flush=True)
            raise
        check(True, "RTP received: every peer gets SRTP from both others' SSRCs")

        stage = "tone detected"
        await asyncio.sleep(LISTEN_SECS)
        for p in peers:
            reports[p.name] = await p.report()
        failed = []
        for p in peers:
            r = reports[p.name]
            if r is None:
                failed.append(f"{p.name}: no report")
                continue
            for q in peers:
                if q is p:
                    continue
                tr = r["tracks"].get(p.mids[q.name], {})
                shares = tr.get("shares", {})
                ok = (tr.get("frames", 0) >= MIN_FRAMES and tr.get("dominant_hz") is not None
                      and abs(tr["dominant_hz"] - q.freq) <= FREQ_TOLERANCE_HZ
                      and shares.get(str(int(q.freq)), 0) >= MIN_TONE_SHARE
                      and (tr.get("rms_dbfs") or -200) >= MIN_RMS_DBFS)
                check(ok, f"tone: {p.name} hears {q.name} on mid {p.mids[q.name]}: {tr.get('frames')} frames, "
                          f"dominant {tr.get('dominant_hz')} Hz (want {q.freq:g}), RMS {tr.get('rms_dbfs')} dBFS, "
                          f"shares {shares}")
                if not ok:
                    failed.append(f"{p.name} does not hear {q.name}")
                # Not a failure (aiortc 1.4 routes by SSRC only), but Chromium's BUNDLE demuxer routes by
                # the sdes:mid header extension first (RFC 8843 section 9.2): a forwarded packet must carry
                # no mid, or the mid of the receiver's m-line for that SSRC.
                mids = r["rtp_in"].get(str(q.ssrc), {}).get("mids", {})
                wrong = {m: n for m, n in mids.items() if m != p.mids[q.name]}
                if wrong:
                    print(f"WARN {p.name}: packets of {q.name} (SSRC {q.ssrc}) arrive with sdes:mid {wrong} "
                          f"(packets per mid) but are signalled on m-line mid {p.mids[q.name]}: a browser "
                          f"would demux them into the wrong transceiver", flush=True)
            own = r["rtp_in"].get(str(p.ssrc), {}).get("packets", 0)
            own_share = max((t.get("shares", {}).get(str(int(p.freq)), 0) for t in r["tracks"].values()), default=0)
            ok = own == 0 and own_share <= MAX_OWN_SHARE
            check(ok, f"tone: {p.name} does not hear itself (packets with its own SSRC {own}, own tone's "
                      f"largest share on a track {own_share})")
            if not ok:
                failed.append(f"{p.name} hears itself")
        if failed:
            raise StageFailed("tone detected", "; ".join(failed))
        print("PASS: media forwarded between all three peers", flush=True)
        if isinstance(backend, BridgeBackend):
            stage = "export"
            await export_stage(backend, peers)
            stage = "expiration"
            await expiration_stage(backend, peers, reports)
    except StageFailed as e:
        check(False, f"FAILED AT STAGE '{e.stage}': {e.msg}")
    except Exception as e:  # pylint: disable=broad-except
        check(False, f"FAILED AT STAGE '{stage}': {type(e).__name__}: {e}")
    finally:
        # wire facts, for whoever debugs the media side
        for p in peers:
            r = reports.get(p.name)
            if r is None and p.proc is not None and p.proc.returncode is None:
                r = reports[p.name] = await p.report(timeout=5)
            if r is not None:
                rtp = {k: {"packets": v["packets"], "audio_level_packets": v["audio_level_packets"],
                           "audio_level_median": v["audio_level_median"], "pts": v["pts"]}
                       for k, v in r["rtp_in"].items()}
                print(f"  [{p.name}] wire: ICE {r['ice']['state']}/{r['ice']['role']} nominated {r['ice']['nominated']}; "
                      f"DTLS {r['dtls']['state']}/{r['dtls']['role']}; datagrams in {r['datagrams_rx']} "
                      f"out {r['datagrams_tx']}; RTP in {rtp}; RTCP in {r['rtcp_in']}; "
                      f"frames encoded {r['sender']['rtp_frames_encoded']}", flush=True)
        if DUMP:
            with open(DUMP, "w", encoding="utf-8") as f:
                json.dump({"reports": reports, "answers": {k: v.sdp for k, v in answers.items()},
                           "offers": {p.name: p.offer for p in peers if hasattr(p, "offer")}}, f, indent=1)
        await asyncio.gather(*(p.stop() for p in peers), return_exceptions=True)
        if check.failures:
            for p in peers:
                if p.stderr:
                    print(f"----- {p.name} stderr (last 25 lines, exit code {p.proc.returncode if p.proc else None}) -----")
                    print("\n".join(p.stderr[-25:]))
            diag = backend.diagnostics()
            if diag:
                print(diag)
        await backend.close([p.endpoint_id for p in peers])
        print(f"total {time.monotonic() - started:.1f} s", flush=True)


class MediaJsonServer:
    """A transcriber's end of the export: a WebSocket server (python3-websockets) that keeps every
    message, answers pings with pongs, and decodes each tag's Opus payloads."""

    def __init__(self, port):
        self.port, self.server = port, None
        self.connections = []  # per connection: {"headers", "path", "messages", "closed"}

    async def start(self):
        import websockets
        self.server = await websockets.serve(self._handler, "127.0.0.1", self.port)

    async def stop(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _handler(self, ws, path=None):
        conn = {"headers": {k.lower(): v for k, v in ws.request_headers.raw_items()},
                "path": path or getattr(ws, "path", ""),
                "messages": [], "closed": None}
        self.connections.append(conn)
        try:
            async for text in ws:
                m = json.loads(text)
                conn["messages"].append(m)
                if m.get("event") == "ping":
                    await ws.send(json.dumps({"event": "pong", "id": m["id"]}))
        except Exception:  # pylint: disable=broad-except
            pass
        conn["closed"] = (ws.close_code, ws.close_reason)

    @staticmethod
    def events(conn, kind):
        return [m for m in conn["messages"] if m.get("event") == kind]


def dominant_hz(payloads):
    """Decodes a list of Opus frames (aiortc's OpusDecoder, 48 kHz stereo) and returns the
    strongest frequency of the mono mix and the RMS in dBFS."""
    import numpy as np
    from aiortc.codecs.opus import OpusDecoder
    from aiortc.jitterbuffer import JitterFrame
    dec = OpusDecoder()
    chunks = []
    for i, p in enumerate(payloads):
        for f in dec.decode(JitterFrame(data=p, timestamp=i * 960)):
            a = f.to_ndarray().reshape(-1)
            chunks.append(a[::len(f.layout.channels)].astype(np.float64))
    if not chunks:
        return None, -200.0
    x = np.concatenate(chunks)[9600:]  # skip the decoder's first 200 ms
    if x.size < 4800:
        return None, -200.0
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    hz = float(np.argmax(spec[1:]) + 1) * 48000.0 / x.size
    rms = float(np.sqrt(np.mean(x * x))) / 32768.0
    return hz, 20 * np.log10(max(rms, 1e-10))


async def export_stage(backend, peers):
    """The audio export of Colibri2 <connects> (JVB's Exporter, mediajson)."""
    import base64
    bridge, focus, meeting = backend.bridge, backend.focus, backend.meeting_id

    def exporter_stats():
        status, s = rig.http_get(bridge.http_port, "/colibri/stats")
        return (s.get("exporter") or {}) if status == 200 and isinstance(s, dict) else {}

    async def wait_for(pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            await asyncio.sleep(0.1)
        return pred()

    port = rig.free_port(socket.SOCK_STREAM)
    url = f"ws://127.0.0.1:{port}/transcriber/{meeting}?lang=en"
    server = MediaJsonServer(port)
    await server.start()
    tags = {f"{p.endpoint_id}-a0": p for p in peers}
    try:
        # Jicofo adds the transcriber connect to the running conference (setConnects: create).
        await focus.set_connects(meeting, [dict(connect_id="transcriber", url=url, create=True,
                                                headers={"Authorization": "Bearer s3cret"},
                                                ping=(400, 2000))])
        ok = await wait_for(lambda: server.connections and len(
            {m["media"]["tag"] for m in MediaJsonServer.events(server.connections[0], "media")}) == 3, 8)
        await asyncio.sleep(2.5)  # 2.5 s of each speaker
        conn = server.connections[0] if server.connections else {"messages": [], "headers": {}, "path": ""}
        check(ok, f"export: the transcriber got a connection with media of the 3 speakers "
                  f"({len(conn['messages'])} messages)")
        check(conn["headers"].get("authorization") == "Bearer s3cret" and conn["path"].startswith(
            f"/transcriber/{meeting}?lang=en"), f"export: upgrade request {conn['path']} with the <http-header>: "
                                                 f"{conn['headers'].get('authorization')}")
        msgs = conn["messages"]
        info = MediaJsonServer.events(conn, "info")
        check(bool(msgs) and msgs[0].get("event") == "info" and info[0].get("application") == "jvb-audio",
              f"export: info first: {msgs[0] if msgs else None}")
        starts = MediaJsonServer.events(conn, "start")
        check(sorted(s["start"]["tag"] for s in starts) == sorted(tags)
              and all(s["start"]["customParameters"]["endpointId"] == tags[s["start"]["tag"]].endpoint_id
                      and s["start"]["mediaFormat"] == {"encoding": "opus", "sampleRate": 48000, "channels": 2,
                                                        "parameters": {"minptime": "10", "useinbandfec": "1"}}
                      for s in starts),
              f"export: one start per speaker with its source name, endpoint and Opus format: {starts}")
        seqd = [m for m in msgs if "sequenceNumber" in m]
        check(all(isinstance(m["sequenceNumber"], str) for m in seqd)
              and [int(m["sequenceNumber"]) for m in seqd] == list(range(1, len(seqd) + 1)),
              f"export: sequenceNumber \"1\", \"2\", ... over all {len(seqd)} start and media events")
        pings = [m for m in msgs if m.get("event") == "ping"]
        check(len(pings) >= 3, f"export: pings every 400 ms, answered ({len(pings)} pings)")
        failed = []
        for tag, p in tags.items():
            media = [m["media"] for m in MediaJsonServer.events(conn, "media") if m["media"]["tag"] == tag]
            chunks = [int(m["chunk"]) for m in media]
            stamps = [int(m["timestamp"]) for m in media]
            steady = all(b > a for a, b in zip(chunks, chunks[1:])) and all(
                (b - a) == 960 * (c2 - c1) for a, b, c1, c2 in zip(stamps, stamps[1:], chunks, chunks[1:]))
            levels = all(isinstance(m.get("audioLevel"), int) and isinstance(m.get("vad"), bool) for m in media)
            hz, rms = dominant_hz([base64.b64decode(m["payload"]) for m in media])
            ok = (len(media) >= 75 and steady and levels and hz is not None
                  and abs(hz - p.freq) <= FREQ_TOLERANCE_HZ and rms >= MIN_RMS_DBFS)
            check(ok, f"export: {tag} ({p.name}): {len(media)} media events, chunk/timestamp steady {steady}, "
                      f"audioLevel/vad {levels}, decoded {hz and round(hz, 1)} Hz (want {p.freq:g}), "
                      f"RMS {rms:.1f} dBFS")
            if not ok:
                failed.append(tag)
        k = exporter_stats()
        check(k.get("connected") == 1 and k.get("queue_dropped") == 0 and k.get("packets_sent", 0) > 200,
              f"export: stats {k}")

        # The transcriber restarts: the bridge reconnects (JVB's backoff: at once, then base-delay
        # doubling) and starts a fresh stream (start events again, sequence from 1).
        await server.stop()
        down_at = time.monotonic()
        await asyncio.sleep(1.0)
        server2 = MediaJsonServer(port)
        await server2.start()
        try:
            ok = await wait_for(lambda: server2.connections and len(
                MediaJsonServer.events(server2.connections[0], "start")) == 3, 6)
            c2 = server2.connections[0] if server2.connections else {"messages": [], "closed": None}
            first = [m for m in c2["messages"] if "sequenceNumber" in m][:1]
            k2 = exporter_stats()
            check(ok and first and first[0]["sequenceNumber"] == "1" and k2.get("reconnects", 0) >= 1,
                  f"export: reconnected {time.monotonic() - down_at:.1f} s after the transcriber went "
                  f"down, new stream {first}, stats reconnects {k2.get('reconnects')} failures "
                  f"{k2.get('websocket_failures')}")

            # A dead URL: the connect is replaced (expire + create, as Jicofo's setConnects does
            # for another URL). The old one ends with session-end and close 1001.
            dead = f"ws://127.0.0.1:{rig.free_port(socket.SOCK_STREAM)}/dead"
            await focus.set_connects(meeting, [dict(connect_id="transcriber", url=url, expire=True),
                                               dict(connect_id="dead", url=dead, create=True)])
            await wait_for(lambda: c2["closed"] is not None, 3)
            last = c2["messages"][-1] if c2["messages"] else None
            check(last == {"event": "session-end"} and c2["closed"] and c2["closed"][0] == 1001,
                  f"export: the expired connect ended with {last} and close {c2['closed']}")
        finally:
            await server2.stop()
        # The bridge keeps retrying the dead URL; the media thread only copies, nothing queues up.
        before = {p.name: (await p.report() or {}) for p in peers}
        k0 = exporter_stats()
        await asyncio.sleep(2.0)
        k1 = exporter_stats()
        _, health = rig.http_get(bridge.http_port, "/about/health")
        check(k1.get("connected") == 0 and k1.get("queue_dropped") == 0
              and k1.get("queue_packets", 0) - k0.get("queue_packets", 0) >= 150
              and k1.get("websocket_failures", 0) > k0.get("websocket_failures", 0),
              f"export: dead URL: copies flow ({k1.get('queue_packets', 0) - k0.get('queue_packets', 0)} in 2 s), "
              f"queue drops {k1.get('queue_dropped')}, failed connects {k1.get('websocket_failures')}, "
              f"health {health}")
        for p in peers:
            q = peers[(peers.index(p) + 1) % len(peers)]
            r = await p.report() or {}
            old = before[p.name].get("tracks", {}).get(p.mids[q.name], {}).get("frames", 0)
            new = r.get("tracks", {}).get(p.mids[q.name], {}).get("frames", 0)
            check(new - old >= 75, f"export: dead URL: {p.name} still hears {q.name} ({new - old} new frames)")

        # Transcription stops: the connect goes; no more copies.
        await focus.set_connects(meeting, [dict(connect_id="dead", url=dead, expire=True)])
        await asyncio.sleep(0.3)
        k2 = exporter_stats()
        await asyncio.sleep(0.6)
        k3 = exporter_stats()
        check(k3.get("exporters") == 0 and k3.get("queue_packets") == k2.get("queue_packets"),
              f"export: removed: no exporter, no copies ({k2.get('queue_packets')} -> {k3.get('queue_packets')})")
        closed = server.connections[0]["closed"] if server.connections else None
        check(closed is not None, f"export: the first connection ended when the server stopped: {closed}")
    finally:
        await server.stop()


async def expiration_stage(backend, peers, before):
    """The bridge's own entity expiration (JVB's VideobridgeExpireThread rules, shortened):
    an endpoint that never connects, a peer that vanishes mid-call (SIGKILL: no expire from
    the focus, no DTLS close), and a conference left empty are gone after their times, from
    the registry and the media thread alike; the two peers left keep hearing each other."""
    bridge, focus, meeting = backend.bridge, backend.focus, backend.meeting_id

    def stats():
        status, s = rig.http_get(bridge.http_port, "/colibri/stats")
        return s if status == 200 and isinstance(s, dict) else {}

    idle = f"idle-{random.getrandbits(40):010x}"
    await focus.allocate(meeting, "ghost", 0x5EED0001, create_conference=False)
    await focus.allocate(idle, "ghost2", 0x5EED0002, create_conference=True,
                         room_name=f"{idle}@conference.example.test")
    # The media thread applies the new endpoints asynchronously: poll (bounded) for its counts.
    s = {}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        s = await asyncio.to_thread(stats)
        if s.get("media", {}).get("endpoints") == 5:
            break
        await asyncio.sleep(0.1)
    check(s.get("endpoints") == 5 and s.get("conferences") == 2 and s.get("media", {}).get("endpoints") == 5,
          f"expiration: 5 endpoints in 2 conferences before (got {s.get('endpoints')} / "
          f"{s.get('conferences')}, media {s.get('media')})")

    victim, kept = peers[2], peers[:2]
    victim.proc.kill()
    killed_at = time.monotonic()
    gone = await asyncio.to_thread(bridge.wait_log, f"{meeting}/{victim.endpoint_id}: expiring (no activity",
                                   EXPIRE_TIMEOUT_S + 4)
    after = time.monotonic() - killed_at
    check(gone and after >= EXPIRE_TIMEOUT_S - 1.0,
          f"expiration: the vanished peer {victim.endpoint_id} expired {after:.1f} s after it went "
          f"silent (timeout {EXPIRE_TIMEOUT_S} s)")
    check(await asyncio.to_thread(bridge.wait_log, f"{meeting}/ghost: expiring (neither failed nor connected",
                                  NEVER_CONNECTED_S + 4),
          f"expiration: the endpoint that never connected expired after {NEVER_CONNECTED_S} s")
    check(await asyncio.to_thread(bridge.wait_log, f"conference {idle}: no endpoints", 6),
          "expiration: the conference left without endpoints expired after its grace")

    s = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        s = await asyncio.to_thread(stats)
        if s.get("endpoints") == 2 and s.get("conferences") == 1 and s.get("media", {}).get("endpoints") == 2:
            break
        await asyncio.sleep(0.2)
    check(s.get("endpoints") == 2 and s.get("conferences") == 1,
          f"expiration: 2 endpoints in 1 conference left (got {s.get('endpoints')} / {s.get('conferences')})")
    check(s.get("media") == {"endpoints": 2, "conferences": 1, "speakers": 2},
          f"expiration: nothing of the expired left on the media thread or in speech activity: {s.get('media')}")
    check(s.get("total_conferences_completed", 0) >= 1, "expiration: the idle conference counts as completed")

    # The others were never disturbed: both still hear each other's tone, with fresh frames.
    for p in kept:
        r = await p.report()
        q = kept[1] if p is kept[0] else kept[0]
        old = ((before.get(p.name) or {}).get("tracks", {}).get(p.mids[q.name], {})).get("frames", 0)
        tr = (r or {}).get("tracks", {}).get(p.mids[q.name], {})
        ok = (tr.get("frames", 0) - old >= MIN_FRAMES and tr.get("dominant_hz") is not None
              and abs(tr["dominant_hz"] - q.freq) <= FREQ_TOLERANCE_HZ)
        check(ok, f"expiration: {p.name} still hears {q.name} ({tr.get('frames', 0) - old} new frames, "
                  f"dominant {tr.get('dominant_hz')} Hz)")


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--fake-sfu":
        asyncio.run(asyncio.wait_for(scenario(FakeBackend()), 240))
        check.exit()
        return
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    binary = sys.argv[1]

    async def with_bridge(prosody, work):
        await scenario(BridgeBackend(binary, prosody, work), work)
    rig.run_with_prosody(with_bridge, check, users=None)


if __name__ == "__main__":
    main()
