#!/usr/bin/python3
"""SSRC rewriting for audio end to end: real aiortc peers behaving as lib-jitsi-meet does.

    test_ssrc_rewriting.py <jvb-audio binary>        (needs root: Prosody runs as user prosody)

The focus allocates "rewriting receivers" as Jicofo does by default (Colibri2 endpoint create
with the capabilities source-names + ssrc-rewriting) and signals them NO remote sources: their
offer has one audio m-line (mid 0, sendrecv, carrying only the bridge's feedback source jvb-a0,
msid 'mixedmslabel mixedlabelaudio0') plus the data m-line when SCTP, and never a source-add.
The driver plays lib-jitsi-meet for them (LjmClient): it learns remote SSRCs only from the
AudioSourcesMap messages of the bridge channel (colibri-ws in this process, or the SCTP data
channel through the peer); for the new SSRCs of one message it appends one m=audio each to the
stored offer (webrtc_sdp.add_remote_audio: a clone of the first, a=sendonly, the next numeric
mid, a=ssrc with msid remote-audio-N) and re-offers once; a known SSRC only updates its
ssrc -> (owner, source) entry. The peers (aiortc_peer.py) log every received SSRC (seq/ts
discontinuities, wall-clock arrival) and the tone of every receive track over time.

Phase 1, bridge jvb1 (default pool of 50 slots):
    A 440 Hz, B 660 Hz: rewriting, colibri-ws (opened right after allocation)
    C 880 Hz: rewriting, SCTP data channel (connected first: its channel is open before any
              other media flows)
    N 1100 Hz: NOT rewriting (source-names only), offered the senders' real SSRCs as today's
              tests do; its colibri-ws must see no AudioSourcesMap
    L 1320 Hz: rewriting, colibri-ws opened only after media has flowed for seconds
  1. allocation, SDP (the rewriting offers' shape), ICE+DTLS.
  2. rewriting: A, B and C each get maps for the four others; every slot's track carries its
     map owner's tone; no RTP on an SSRC before its map (jvb-a0 carries none, no sender's real
     SSRC, no sdes:mid without mid demux, Sender Reports only from slot SSRCs); ssrc is a JSON
     number, no "mid" key.
  3. mixed: N hears A, B, C, L on their own SSRCs and nothing else.
  4. late channel: L's websocket opens; ServerHello, then one map with every current slot; L
     renegotiates and hears A, B, C and N.
  5. websocket replaced: a second socket of A closes the first and gets the full map again
     (ssrc -> owner exactly A's table; no renegotiation follows).
  6. stats: /colibri/stats ssrc_rewriting and each receiver's audio_ssrcs.
Phase 2, bridge jvb2 (videobridge.ssrc-limit.audio = 2, route-loudest-only, num-loudest 2):
    S1 440, S2 660, S3 880 (S3 silent at first), R a listener (--no-send); all rewriting, ws.
  7. small pool: R's two slots carry S1 and S2. Then S1 goes silent and S3 talks: S1's slot
     gets owner S3 (same ssrc), S3's tone plays on it, and its sequence numbers carry on
     (first packet of S3 = last seq + 1, ts + 960, when S3 was never sent to R; else a forward
     jump); the slot was idle >= remap-min-idle before. Then S2 goes silent and S1 talks again:
     S2's slot gets owner S1, whose seq/ts jump forward. R never sees more than 2 SSRCs.
  8. stats: remappings >= 2, R's audio_ssrcs used 2 of max 2.
The first failure of a stage is reported with diagnostics (maps, RTP logs, tone timelines,
bridge log); later stages that do not depend on it still run.
Exit 0 on success, 1 on failure, 77 when aiortc or websockets is missing (or not root).
Every wait is bounded; every process started here is stopped here (by PID).
"""
import asyncio
import importlib.util
import json
import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, HERE)


def _have(mod):
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


_MISSING = [m for m in ("aiortc", "websockets") if not _have(m)]
if _MISSING:
    print(f"SKIP: {', '.join(_MISSING)} not importable (python3-aiortc, python3-websockets; "
          f"scripts/install-deps.sh installs them)")
    sys.exit(77)

from websockets.exceptions import ConnectionClosed, InvalidStatusCode  # noqa: E402

import rig  # noqa: E402
import webrtc_sdp  # noqa: E402
from test_aiortc_forwarding import (PeerProc, StageFailed, dtls_diag, ice_diag, state_is,  # noqa: E402
                                    wait_all)
from colibri2_focus import SSRC_REWRITING_CAPABILITIES  # noqa: E402
from test_bridge_channel import DcChannel, WsChannel, _parse  # noqa: E402

PEER = os.path.join(HERE, "aiortc_peer.py")
PY = "/usr/bin/python3"

SERVER_ID = "default-id"
REWRITING = SSRC_REWRITING_CAPABILITIES
LOUD, HUSH = 0.3, 0.0001
PAUSE_MS = 500  # speech-like levels: one near-silent frame every 500 ms (see test_bridge_channel.py)
SMALL_POOL = 2

READY_TIMEOUT = 20.0
ANSWER_TIMEOUT = 15.0
ICE_TIMEOUT = 15.0
DTLS_TIMEOUT = 10.0
CHANNEL_TIMEOUT = 10.0
MAP_TIMEOUT = 15.0       # every expected owner mapped (and renegotiated) at a receiver
REMAP_TIMEOUT = 12.0     # a turn's remap
LISTEN_SECS = 2.5        # decoded audio analysed per check
STATS_TIMEOUT = 5.0
# A map is timestamped when this process (ws) or the peer (SCTP) reads it, RTP when the peer
# decrypts it: the bridge delays a new SSRC's media by new-ssrc-delay (200 ms) after its map,
# so RTP "before" its map by more than this is the bridge's doing, not scheduling.
MAP_RTP_SLACK_S = 0.1
MIN_NEW_SSRC_DELAY_S = 0.1  # new-ssrc-delay is 200 ms (median of the measured delays)
MIN_REMAP_IDLE_S = 0.35  # remap-min-idle is 500 ms; arrival-time jitter on a busy host
MIN_TONE_SHARE = 0.5
MIN_RMS_DBFS = -30.0
FREQ_TOLERANCE_HZ = 15.0

# Fault injection by configuration, to see the checks fail (not used by ctest): jvb.conf text
# appended at top level to both bridges, e.g.
#   JVB_RW_EXTRA_CONF='jvb-audio.ssrc-rewriting.new-ssrc-delay = 0 ms'   -> rewriting (delay)
#   JVB_RW_EXTRA_CONF='jvb-audio.ssrc-rewriting.remap-min-idle = 0 ms'   -> small pool (idle gap)
EXTRA_CONF = os.environ.get("JVB_RW_EXTRA_CONF", "")

check = rig.Checker()


# -- peers ---------------------------------------------------------------------------------

class RwPeer(PeerProc):
    """An aiortc_peer.py subprocess: a sender (tone) and/or a receiver, rewriting or not."""

    def __init__(self, label, freq, amplitude, rewriting=True, channel="ws", send=True):
        super().__init__(f"{label}-{int(freq)}Hz" if send else f"{label}-listener", freq,
                         random.randrange(0x10000, 0xFFFFFFFF) if send else 0)
        self.label, self.amplitude, self.rewriting, self.channel_kind, self.send_audio = \
            label, amplitude, rewriting, channel, send
        self.endpoint_id = f"{label.lower()}{random.getrandbits(28):07x}"
        self.transport = None
        self.offer = None
        self.answer = None
        self.channel = None
        self.channel_open_tw = None  # when this receiver's bridge channel (first) opened
        self.client = None  # LjmClient (rewriting receivers)
        self.map_rtp_delays = []  # seconds from each new slot's map to its first RTP (last rtp check)

    @property
    def source(self):
        return f"{self.endpoint_id}-a0"  # colibri2_focus.audio_sources names it so

    async def start(self, max_secs, tones):
        args = [PY, PEER, "--name", self.name, "--freq", str(self.freq), "--max-secs", str(max_secs),
                "--amplitude", str(self.amplitude), "--pause-every-ms", str(PAUSE_MS),
                "--pause-amplitude", str(HUSH), "--listen-for", *[str(f) for f in tones if f != self.freq]]
        if self.send_audio:
            args += ["--ssrc", str(self.ssrc)]
        else:
            args.append("--no-send")
        if self.channel_kind == "sctp":
            args.append("--datachannel")
        self.proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        self._tasks = [asyncio.ensure_future(self._read_stdout()), asyncio.ensure_future(self._read_stderr())]

    async def ask(self, cmd, event, stage, timeout=10.0):
        mark = len(self.events)
        self.send(cmd)
        return await self.wait_event(lambda e: e.get("event") == event, event, timeout, stage, start=mark)

    async def voice(self, amplitude, stage):
        await self.ask({"cmd": "voice", "amplitude": amplitude, "pause_every_ms": PAUSE_MS}, "voice", stage, 5)


class TwWsChannel(WsChannel):
    """colibri-ws whose parsed messages carry "_tw": the wall clock when this process read them."""

    async def _read(self):
        try:
            async for text in self.ws:
                m = _parse(text) if isinstance(text, str) else {"_binary": len(text)}
                m["_tw"] = time.time()
                self._msgs.append(m)
        except ConnectionClosed:
            pass
        except Exception as e:  # pylint: disable=broad-except
            self._msgs.append({"_reader_error": repr(e), "_tw": time.time()})
        self.close_code, self.close_reason = self.ws.close_code, self.ws.close_reason
        self.closed = True


class TwDcChannel(DcChannel):
    """The SCTP bridge channel; "_tw" is the peer's wall clock at reception."""

    def __init__(self, owner, peer):
        super().__init__(owner, peer)
        self._cache = []
        self._seen = 0

    def messages(self):
        evs = self.peer.events
        for e in evs[self._seen:]:
            if e.get("event") == "dc_message":
                m = _parse(e["data"]) if "data" in e else {"_binary": e.get("length")}
                m["_tw"] = e.get("tw")
                self._cache.append(m)
        self._seen = len(evs)
        return self._cache


def is_map(m):
    return m.get("colibriClass") == "AudioSourcesMap"


# -- lib-jitsi-meet's side of SSRC rewriting ------------------------------------------------

class LjmClient:
    """JingleSessionPC.processSourceMap for one rewriting receiver (see the module docstring).
    Messages are taken from `channel` in order; attach() switches to another channel."""

    def __init__(self, peer, mid_demux=False):
        self.peer = peer
        self.mid_demux = mid_demux
        self.offer = None  # the stored remote offer
        self.ready = asyncio.Event()  # set once the first remote description is in place
        self.table = {}  # ssrc -> {"owner", "source"}
        self.mline = {}  # ssrc -> mid of its receive m-line
        self.announced = {}  # ssrc -> wall clock of its first map entry
        self.history = []  # [tw, ssrc, owner, source] for every entry of every map, in order
        self.maps = []  # [tw, channel kind, message] for every AudioSourcesMap
        self.renegotiations = 0
        self.errors = []
        self.channel = None
        self._idx = 0
        self._task = None
        self._msid = 0

    def attach(self, channel):
        self.channel, self._idx = channel, 0
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def set_offer(self, offer):
        self.offer = offer
        self.ready.set()

    def owners(self):
        """Current owner -> ssrc (the slots that have a receive m-line)."""
        return {v["owner"]: s for s, v in self.table.items() if s in self.mline and v["owner"]}

    def ever_owned(self, owner, before_index):
        return any(h[2] == owner for h in self.history[:before_index])

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # pylint: disable=broad-except
                pass

    async def _run(self):
        await self.ready.wait()
        while True:
            msgs = self.channel.messages() if self.channel is not None else []
            if self._idx < len(msgs):
                m = msgs[self._idx]
                self._idx += 1
                if is_map(m):
                    try:
                        await self._on_map(m)
                    except StageFailed as e:
                        self.errors.append(f"renegotiation: {e.msg}")
                continue
            await asyncio.sleep(0.02)

    async def _on_map(self, m):
        tw = m.get("_tw") or time.time()
        self.maps.append([tw, self.channel.kind, {k: v for k, v in m.items() if k != "_tw"}])
        entries = m.get("mappedSources")
        if not isinstance(entries, list):
            self.errors.append(f"AudioSourcesMap without a mappedSources list: {m}")
            return
        new = []
        for e in entries:
            ssrc = e.get("ssrc") if isinstance(e, dict) else None
            if not isinstance(ssrc, int) or isinstance(ssrc, bool) or not 0 < ssrc < 2 ** 32:
                self.errors.append(f"entry whose ssrc is not a JSON number in 1..2^32-1: {e}")
                continue
            if not isinstance(e.get("owner"), str) or not isinstance(e.get("source"), str):
                self.errors.append(f"entry without owner/source strings: {e}")
                continue
            if not self.mid_demux and "mid" in e:
                self.errors.append(f"entry with a mid although rtp-mid-demux was not negotiated: {e}")
            extra = set(e) - {"source", "owner", "ssrc", "mid"}
            if extra:
                self.errors.append(f"entry with unexpected keys {sorted(extra)}: {e}")
            self.history.append([tw, ssrc, e["owner"], e["source"]])
            if ssrc not in self.table and all(n["ssrc"] != ssrc for n in new):
                self.announced[ssrc] = tw
                new.append(e)
            # the same source on another SSRC before: that track loses its owner (LJM)
            for s, v in self.table.items():
                if s != ssrc and v["source"] == e["source"]:
                    v["owner"] = v["source"] = None
            self.table[ssrc] = {"owner": e["owner"], "source": e["source"]}
        if new:
            await self._renegotiate(new)

    async def _renegotiate(self, new):
        offer, mids = webrtc_sdp.add_remote_audio(
            self.offer, [{"ssrc": e["ssrc"], "owner": e["owner"], "mid": e.get("mid") if self.mid_demux else None}
                         for e in new], msid_start=self._msid)
        self._msid += len(new)
        n = self.peer.offers_sent + 1
        mark = len(self.peer.events)
        self.peer.send({"cmd": "offer", "sdp": offer})
        self.peer.offers_sent = n
        await self.peer.wait_event(lambda e: e.get("event") == "answer" and e.get("n") == n,
                                   f"answer to re-offer {n}", ANSWER_TIMEOUT, "renegotiation",
                                   fail_pred=lambda e: e.get("event") == "error" and "offer" in e.get("what", ""),
                                   start=mark)
        self.offer = offer
        self.renegotiations += 1
        for e, mid in zip(new, mids):
            self.mline[e["ssrc"]] = mid

    def describe(self):
        cur = {s: (v["owner"], self.mline.get(s)) for s, v in self.table.items()}
        return (f"{self.peer.label}: {len(self.maps)} maps, {self.renegotiations} renegotiations, table "
                f"{cur}; history {self.history[-12:]}; errors {self.errors[:5]}")


# -- checks on what a receiver got -----------------------------------------------------------

def rtp_problems(peer, rtp, feedback_ssrc, real_ssrcs, pool=None):
    """What a rewriting receiver's RTP log says against its maps (a list of problems) and a
    summary line. real_ssrcs: the senders' own SSRCs (never seen by a rewriting receiver)."""
    c = peer.client
    bad = []
    pre_channel = []
    delays = []
    for key, s in rtp["ssrcs"].items():
        ssrc = int(key)
        first = s.get("first_tw") or 0
        if ssrc == feedback_ssrc:
            bad.append(f"RTP on the feedback SSRC jvb-a0 {ssrc} ({s['packets']} packets)")
            continue
        if ssrc in real_ssrcs:
            bad.append(f"RTP with a sender's own SSRC {ssrc} ({s['packets']} packets)")
        if peer.channel_open_tw is not None and first < peer.channel_open_tw:
            pre_channel.append(ssrc)  # before the bridge channel existed: no map could precede it
            if ssrc not in c.announced:
                bad.append(f"RTP on SSRC {ssrc} before the channel opened, and that SSRC never announced")
            continue
        if ssrc not in c.announced:
            bad.append(f"RTP on SSRC {ssrc} never announced ({s['packets']} packets, first at {first:.3f})")
            continue
        d = first - c.announced[ssrc]
        delays.append(round(d, 3))
        if d < -MAP_RTP_SLACK_S:
            bad.append(f"RTP on SSRC {ssrc} {-d:.3f} s before its map")
        if s.get("mids"):
            bad.append(f"sdes:mid on the packets of SSRC {ssrc} {s['mids']} without rtp-mid-demux")
        if not s.get("audio_level_packets"):
            bad.append(f"no ssrc-audio-level on SSRC {ssrc}")
    if pool is not None and len(rtp["ssrcs"]) > pool:
        bad.append(f"{len(rtp['ssrcs'])} SSRCs carried RTP, more than the pool of {pool}: {sorted(rtp['ssrcs'])}")
    allowed = set(c.announced) | ({feedback_ssrc} if feedback_ssrc else set())
    sr = {int(k): v for k, v in rtp.get("rtcp_sr_ssrcs", {}).items()}
    stray_sr = {k: v for k, v in sr.items() if k not in allowed}
    if stray_sr:
        bad.append(f"Sender Reports from SSRCs that are not slots: {stray_sr} (real SSRCs {sorted(real_ssrcs)})")
    peer.map_rtp_delays = delays
    summary = (f"{peer.label}: RTP on {len(rtp['ssrcs'])} SSRCs, map->first RTP delays {sorted(delays)} s"
               f"{f', {len(pre_channel)} before its channel opened' if pre_channel else ''}; SR from "
               f"{sorted(sr)}")
    return bad, summary


def tone_problem(track, freq, what):
    if track is None:
        return f"{what}: no such track"
    shares = track.get("shares", {})
    ok = (track.get("frames", 0) >= 50 and track.get("dominant_hz") is not None
          and abs(track["dominant_hz"] - freq) <= FREQ_TOLERANCE_HZ
          and shares.get(str(int(freq)), 0) >= MIN_TONE_SHARE and (track.get("rms_dbfs") or -200) >= MIN_RMS_DBFS)
    if ok:
        return None
    return (f"{what}: {track.get('frames')} frames, dominant {track.get('dominant_hz')} Hz (want {freq:g}), "
            f"RMS {track.get('rms_dbfs')} dBFS, shares {shares}")


def boundary(rtp, ssrc, t_map, not_before):
    """The packet pair on `ssrc` where a new owner took over: the discontinuity (arrival gap or
    seq/ts jump) whose second packet arrived closest to the map (at t_map), and not before
    not_before."""
    s = rtp["ssrcs"].get(str(ssrc))
    if s is None:
        return None
    cands = [b for b in s["breaks"] if not_before <= b["next"][3] <= t_map + 1.5]
    if not cands:
        return None
    return min(cands, key=lambda b: abs(b["next"][3] - t_map))


# -- the scenario -------------------------------------------------------------------------------

async def scenario(binary, prosody, work):
    from colibri2_focus import Colibri2Focus
    started = time.monotonic()
    results = []
    state = {"stage": "setup", "t0": time.monotonic()}
    focus = None
    bridges = {}
    sockets = []
    all_peers = []

    def begin(stage):
        state["stage"], state["t0"] = stage, time.monotonic()

    def passed(stage, what):
        dt = time.monotonic() - state["t0"]
        results.append((stage, "passed", dt))
        check(True, f"{stage}: {what} ({dt:.1f} s)")

    def current_bridge():
        return bridges.get(state.get("bridge"))

    async def get_stats(bridge):
        status, body = await asyncio.to_thread(rig.http_get, bridge.http_port, "/colibri/stats", "GET",
                                               STATS_TIMEOUT)
        if status != 200 or not isinstance(body, dict):
            raise StageFailed(state["stage"], f"/colibri/stats: HTTP {status}: {str(body)[:300]}")
        return body

    async def diagnostics(peers):
        for p in peers:
            if p.proc is None or p.proc.returncode is not None:
                continue
            if p.client is not None:
                print(f"  [{p.name}] client {p.client.describe()}", flush=True)
                print(f"  [{p.name}] maps: {json.dumps(p.client.maps[-6:])[:1500]}", flush=True)
            try:
                r = await p.ask({"cmd": "rtp"}, "rtp", "diagnostics", 5)
                a = await p.ask({"cmd": "analyze", "from_tw": time.time() - 20, "timeline_s": 1.0},
                                "analysis", "diagnostics", 10)
            except StageFailed:
                continue
            for k, s in r["ssrcs"].items():
                print(f"  [{p.name}] SSRC {k}: {s['packets']} packets (routed {s['routed']}), first {s['first']} "
                      f"last {s['last']}, {len(s['breaks'])} breaks, last ones {s['breaks'][-3:]}", flush=True)
            for mid, t in a["tracks"].items():
                print(f"  [{p.name}] track mid {mid} ssrcs {t['remote_ssrcs']}: {t['frames_total']} frames; "
                      f"tone per second {[(row[0] % 1000, row[1]) for row in t.get('timeline', [])]}", flush=True)

    async def run_stage(stage, fn, fatal, peers):
        begin(stage)
        try:
            await fn()
            return True
        except Exception as e:  # pylint: disable=broad-except
            dt = time.monotonic() - state["t0"]
            results.append((stage, "FAILED", dt))
            msg = e.msg if isinstance(e, StageFailed) else f"{type(e).__name__}: {e}"
            check(False, f"FAILED AT STAGE '{stage}' ({dt:.1f} s): {msg}")
            await diagnostics(peers)
            b = current_bridge()
            if b is not None:
                print("----- bridge log tail at the failure (last 40 lines) -----\n" + "\n".join(b.lines[-40:]),
                      flush=True)
            if fatal:
                raise
            return False

    def bridge_conf(nick, public_port, extra=""):
        return rig.xmpp_bridge_conf(prosody, nick, prosody.secrets["JVB_PASSWORD"], extra=f"""
  websockets {{ enabled = true, domain = "127.0.0.1:{public_port}", tls = false, server-id = "{SERVER_ID}" }}
  http-servers.public {{ host = "127.0.0.1", port = {public_port} }}
  {extra}
""") + EXTRA_CONF + "\n"

    # --- shared steps ---------------------------------------------------------------------

    async def start_peers(peers, tones, stage):
        await asyncio.gather(*(p.start(max_secs=200, tones=tones) for p in peers))
        for p in peers:
            p.offers_sent = 0
            await p.wait_event(lambda e: e.get("event") == "ready", "ready line", READY_TIMEOUT, stage)

    async def allocate(meeting, peers, stage):
        for i, p in enumerate(peers):
            t = await focus.allocate(meeting, p.endpoint_id, p.ssrc if p.send_audio else None,
                                     create_conference=(i == 0), room_name=f"{meeting}@conference.example.test",
                                     capabilities=REWRITING if p.rewriting else ("source-names",),
                                     sctp=p.channel_kind == "sctp")
            p.transport = t
            if p.channel_kind in ("ws", "late-ws") and not t.web_sockets:
                raise StageFailed(stage, f"{p.name}: no <web-socket> in the transport")
            if p.rewriting and t.feedback_ssrc("audio") is None:
                raise StageFailed(stage, f"{p.name}: the bridge returned no audio feedback source (jvb-a0)")
            if p.rewriting:
                p.client = LjmClient(p)

    async def open_ws(p, stage):
        ch = TwWsChannel(p.label, p.transport.web_sockets[0])
        sockets.append(ch)
        try:
            await ch.open()
        except InvalidStatusCode as e:
            raise StageFailed(stage, f"{p.name}: websocket refused with HTTP {e.status_code}") from None
        except (OSError, asyncio.TimeoutError) as e:
            raise StageFailed(stage, f"{p.name}: cannot connect to {ch.url}: {type(e).__name__}: {e}") from None
        await ch.wait_message(lambda m: m.get("colibriClass") == "ServerHello", "ServerHello", CHANNEL_TIMEOUT, stage)
        return ch

    async def offers(peers, everyone, stage):
        for p in peers:
            t = p.transport
            if p.rewriting:
                offer = webrtc_sdp.offer_from_bridge(t, [])
                fb = t.feedback_ssrc("audio")
                mids = webrtc_sdp.sdp_mids(offer)
                audio = [l for l in offer.splitlines() if l.startswith("m=audio")]
                ok = (len(audio) == 1 and mids[0] == "0" and f"a=ssrc:{fb} msid:mixedmslabel mixedlabelaudio0"
                      in offer and (("data" in mids) == (p.channel_kind == "sctp"))
                      and sum(1 for l in offer.splitlines() if l.startswith("a=ssrc:") and "msid:" in l) == 1)
                if not ok:
                    raise StageFailed(stage, f"{p.name}: the rewriting offer is not one audio m-line with jvb-a0 "
                                             f"only:\n{offer}")
                p.client.set_offer(offer)
            else:
                others = [q for q in everyone if q is not p and q.send_audio]
                offer = webrtc_sdp.build_offer(t.ufrag, t.pwd, t.fingerprint, t.candidates,
                                               [webrtc_sdp.RemoteSource(q.endpoint_id, q.ssrc) for q in others],
                                               t.feedback_ssrc("audio"))
                p.mids = {q.label: str(k + 1) for k, q in enumerate(others)}
            p.offer = offer
            p.offers_sent = 1
            p.send({"cmd": "offer", "sdp": offer})
        for p in peers:
            ev = await p.wait_event(lambda e: e.get("event") == "answer", "SDP answer", ANSWER_TIMEOUT, stage,
                                    fail_pred=lambda e: e.get("event") == "error" and "offer" in e.get("what", ""))
            a = webrtc_sdp.parse_answer(ev["sdp"])
            p.answer = a
            if p.send_audio and a.ssrc != p.ssrc:
                raise StageFailed(stage, f"{p.name}: answer sends SSRC {a.ssrc}, forced {p.ssrc}:\n{ev['sdp']}")

    async def connect(meeting, peers, stage):
        for p in peers:
            a = p.answer
            await focus.update_transport(meeting, p.endpoint_id, a.ufrag, a.pwd, a.fingerprint, a.setup, a.candidates)
        try:
            await wait_all(stage, peers, lambda p: p.wait_event(
                state_is("ice", "completed"), "ICE completion", ICE_TIMEOUT, stage, fail_pred=state_is("ice", "failed")))
        except StageFailed:
            for p in peers:
                print(f"  [{p.name}] {ice_diag(await p.report())}", flush=True)
            raise
        try:
            await wait_all(stage, peers, lambda p: p.wait_event(
                state_is("dtls", "connected"), "DTLS connected", DTLS_TIMEOUT, stage,
                fail_pred=state_is("dtls", "failed")))
        except StageFailed:
            for p in peers:
                print(f"  [{p.name}] {dtls_diag(await p.report())}", flush=True)
            raise

    async def wait_owners(p, owners, stage, timeout=MAP_TIMEOUT, exact=False):
        """Until p's client has a slot with a receive m-line (renegotiated) for every owner."""
        want = {q.endpoint_id for q in owners}
        deadline = time.monotonic() + timeout
        while True:
            if p.client.errors:
                raise StageFailed(stage, f"{p.label}: {p.client.errors[:3]}")
            have = set(p.client.owners())
            if (have == want) if exact else want <= have:
                return p.client.owners()
            if time.monotonic() >= deadline:
                names = {q.endpoint_id: q.label for q in all_peers}
                raise StageFailed(stage, f"{p.label}: within {timeout:g} s the maps gave owners "
                                         f"{sorted(names.get(o, o) for o in have)}, want "
                                         f"{'exactly ' if exact else ''}{sorted(q.label for q in owners)}; "
                                         f"{p.client.describe()}; channel {p.channel.describe()[:400]}")
            await asyncio.sleep(0.05)

    async def hear_slots(p, expect, stage, from_tw=None):
        """expect: {sender peer: ssrc}; each slot's track carries that sender's tone."""
        a = await p.ask({"cmd": "analyze", "from_tw": from_tw or time.time() - LISTEN_SECS}, "analysis", stage)
        bad = []
        for q, ssrc in expect.items():
            mid = p.client.mline.get(ssrc)
            prob = tone_problem(a["tracks"].get(mid), q.freq, f"{p.label} hears {q.label} on slot {ssrc} (mid {mid})")
            if prob:
                bad.append(prob)
            else:
                tr = a["tracks"][mid]
                print(f"  {p.label}: slot {ssrc} (mid {mid}) carries {q.label}'s {q.freq:g} Hz "
                      f"(share {tr['shares'].get(str(int(q.freq)))}, RMS {tr['rms_dbfs']} dBFS)", flush=True)
        own = max((t.get("shares", {}).get(str(int(p.freq)), 0) for m, t in a["tracks"].items() if m != "0"),
                  default=0)
        if p.send_audio and own > 0.05:
            bad.append(f"{p.label} hears its own tone on a slot (share {own})")
        return bad

    async def check_rtp(p, feedback, real, stage, pool=None):
        r = await p.ask({"cmd": "rtp"}, "rtp", stage)
        bad, summary = rtp_problems(p, r, feedback, real, pool)
        print(f"  {summary}", flush=True)
        return bad, r

    # --- phase 1 ----------------------------------------------------------------------------

    A = RwPeer("A", 440.0, LOUD)
    B = RwPeer("B", 660.0, LOUD)
    C = RwPeer("C", 880.0, LOUD, channel="sctp")
    N = RwPeer("N", 1100.0, LOUD, rewriting=False)
    L = RwPeer("L", 1320.0, LOUD, channel="late-ws")
    p1 = [A, B, C, N, L]
    tones1 = [p.freq for p in p1]
    meeting1 = f"rw1-{random.getrandbits(48):012x}"
    port1 = rig.free_port()
    bridges["jvb1"] = rig.BridgeProcess(binary, bridge_conf("jvb1", port1), work, "jvb1")

    def senders_for(p, peers):
        return [q for q in peers if q is not p and q.send_audio]

    async def p1_setup():
        nonlocal focus
        state["bridge"] = "jvb1"
        await asyncio.to_thread(bridges["jvb1"].start)
        focus = Colibri2Focus(f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"], "127.0.0.1",
                              prosody.port, prosody.brewery, bridge="jvb1")
        await focus.connect_and_join(wait_bridge=20)
        all_peers.extend(p1)
        await start_peers(p1, tones1, "setup")
        print(f"meeting {meeting1}: " + ", ".join(f"{p.name} {p.endpoint_id} ssrc {p.ssrc}"
                                                  f"{'' if p.rewriting else ' (not rewriting)'} {p.channel_kind}"
                                                  for p in p1), flush=True)
        passed("setup", f"Prosody, bridge jvb1 (private {bridges['jvb1'].http_port}, public {port1}), focus, 5 peers")

    async def p1_connect():
        await allocate(meeting1, p1, "allocation")
        for p in (A, B, N):  # before any media: no map can be missed
            p.channel = await open_ws(p, "allocation")
            p.channel_open_tw = time.time()
            if p.client:
                p.client.attach(p.channel)
        await offers(p1, p1, "SDP")
        # C first, up to its data channel: then no media reaches it before its channel is open
        await connect(meeting1, [C], "ICE+DTLS")
        C.channel = TwDcChannel("C", C)
        ev = await C.wait_event(lambda e: e.get("event") == "dc_state" and e.get("state") == "open",
                                "data channel open", CHANNEL_TIMEOUT, "ICE+DTLS",
                                fail_pred=lambda e: e.get("event") == "dc_state" and e.get("state") == "closed")
        C.channel_open_tw = ev.get("tw") or time.time()
        await C.channel.wait_message(lambda m: m.get("colibriClass") == "ServerHello", "ServerHello",
                                     CHANNEL_TIMEOUT, "ICE+DTLS")
        C.client.attach(C.channel)
        await connect(meeting1, [A, B, N, L], "ICE+DTLS")
        state["media_tw"] = time.time()
        passed("connect", "allocation (A, B, C, L rewriting; N source-names only), rewriting offers with jvb-a0 "
                          "only, C's data channel open, then ICE+DTLS for the others")

    async def p1_rewriting():
        fb = {p.label: p.transport.feedback_ssrc("audio") for p in p1}
        real = {p.ssrc for p in p1 if p.send_audio}
        bad = []
        for p in (A, B, C):
            await wait_owners(p, senders_for(p, p1), "rewriting")
        t_ready = time.time()
        await asyncio.sleep(LISTEN_SECS + 0.5)
        for p in (A, B, C):
            owners = p.client.owners()
            expect = {q: owners[q.endpoint_id] for q in senders_for(p, p1)}
            for q, ssrc in expect.items():
                if p.client.table[ssrc]["source"] != q.source:
                    bad.append(f"{p.label}: slot {ssrc} source {p.client.table[ssrc]['source']!r}, want {q.source!r}")
            if p.endpoint_id in p.client.owners():
                bad.append(f"{p.label} was mapped its own source")
            bad += await hear_slots(p, expect, "rewriting", from_tw=max(t_ready, time.time() - LISTEN_SECS))
            b, _ = await check_rtp(p, fb[p.label], real, "rewriting")
            bad += b
            bad += [f"{p.label}: {e}" for e in p.client.errors]
        # new-ssrc-delay (200 ms): a brand-new slot's media starts that long after its map. The
        # median over every slot, as either timestamp may lag on a busy host.
        delays = sorted(d for p in (A, B, C) for d in p.map_rtp_delays)
        median = delays[len(delays) // 2] if delays else None
        check(median is not None and median >= MIN_NEW_SSRC_DELAY_S,
              f"rewriting: median map -> first RTP delay of the {len(delays)} new slots {median} s "
              f"(want >= {MIN_NEW_SSRC_DELAY_S} s: new-ssrc-delay is 200 ms)")
        if median is None or median < MIN_NEW_SSRC_DELAY_S:
            bad.append(f"new slots' media started {median} s (median) after their maps: {delays}")
        if bad:
            raise StageFailed("rewriting", "; ".join(bad))
        passed("rewriting", "A, B (ws) and C (SCTP) hear the four others on announced slots, map owner = tone, "
                            "no RTP before a map, none on jvb-a0")

    async def p1_mixed():
        bad = []
        a = await N.ask({"cmd": "analyze", "from_tw": time.time() - LISTEN_SECS}, "analysis", "mixed")
        for q in senders_for(N, p1):
            prob = tone_problem(a["tracks"].get(N.mids[q.label]), q.freq,
                                f"N hears {q.label} on its own SSRC {q.ssrc} (mid {N.mids[q.label]})")
            if prob:
                bad.append(prob)
        r = await N.ask({"cmd": "rtp"}, "rtp", "mixed")
        real = {q.ssrc for q in senders_for(N, p1)}
        stray = {k: v["packets"] for k, v in r["ssrcs"].items() if int(k) not in real}
        if stray:
            bad.append(f"N (not rewriting) got RTP on SSRCs that are no sender's: {stray}")
        missing = [q.label for q in senders_for(N, p1) if str(q.ssrc) not in r["ssrcs"]]
        if missing:
            bad.append(f"N got no RTP from {missing} on their own SSRCs")
        maps = [m for m in N.channel.messages() if is_map(m)]
        if maps:
            bad.append(f"N (not rewriting) got AudioSourcesMap on its websocket: {maps[0]}")
        if bad:
            raise StageFailed("mixed", "; ".join(bad))
        passed("mixed", "N (no ssrc-rewriting) hears A, B, C, L on their own SSRCs, gets no AudioSourcesMap")

    async def p1_late():
        flowed = time.time() - state["media_tw"]
        if flowed < 3:
            await asyncio.sleep(3 - flowed)
        r0 = await L.ask({"cmd": "rtp"}, "rtp", "late channel")
        L.channel = await open_ws(L, "late channel")
        L.channel_open_tw = time.time()
        L.client.attach(L.channel)
        msgs = L.channel.messages()
        hello = next(i for i, m in enumerate(msgs) if m.get("colibriClass") == "ServerHello")
        m = await L.channel.wait_message(is_map, "AudioSourcesMap after ServerHello", CHANNEL_TIMEOUT, "late channel")
        idx = L.channel.messages().index(m)
        bad = []
        if idx < hello:
            bad.append("the map came before ServerHello")
        got = {e.get("owner") for e in m.get("mappedSources", []) if isinstance(e, dict)}
        want = {q.endpoint_id for q in senders_for(L, p1)}
        if got != want:
            names = {q.endpoint_id: q.label for q in p1}
            bad.append(f"the first map on L's socket names {sorted(names.get(o, o) for o in got)}, want every "
                       f"current slot: {sorted(names[o] for o in want)} ({m})")
        print(f"  L: {time.time() - state['media_tw']:.1f} s of media before its socket; RTP on "
              f"{len(r0['ssrcs'])} SSRCs meanwhile; full map {m.get('mappedSources')}", flush=True)
        await wait_owners(L, senders_for(L, p1), "late channel")
        t_ready = time.time()
        await asyncio.sleep(LISTEN_SECS + 0.5)
        owners = L.client.owners()
        bad += await hear_slots(L, {q: owners[q.endpoint_id] for q in senders_for(L, p1)}, "late channel",
                                from_tw=max(t_ready, time.time() - LISTEN_SECS))
        b, _ = await check_rtp(L, L.transport.feedback_ssrc("audio"), {p.ssrc for p in p1}, "late channel")
        bad += b + [f"L: {e}" for e in L.client.errors]
        if bad:
            raise StageFailed("late channel", "; ".join(bad))
        passed("late channel", "L's socket, opened after media flowed, got ServerHello then the full map; L hears "
                               "A, B, C, N")

    async def p1_replaced():
        old = A.channel
        table = {s: v["owner"] for s, v in A.client.table.items()}
        reneg = A.client.renegotiations
        new = await open_ws(A, "websocket replaced")
        A.channel = new
        A.client.attach(new)
        bad = []
        info = await old.wait_closed(5)
        if info is None:
            bad.append("A's first socket still open after the second one connected")
        m = await new.wait_message(is_map, "AudioSourcesMap on the second socket", CHANNEL_TIMEOUT,
                                   "websocket replaced")
        got = {e.get("ssrc"): e.get("owner") for e in m.get("mappedSources", []) if isinstance(e, dict)}
        if got != table:
            bad.append(f"the map on A's new socket {got} is not A's current table {table}")
        await asyncio.sleep(0.5)
        if A.client.renegotiations != reneg:
            bad.append(f"the full map for known SSRCs made A renegotiate ({A.client.renegotiations - reneg} times)")
        if bad:
            raise StageFailed("websocket replaced", "; ".join(bad))
        passed("websocket replaced", f"A's second socket replaced the first and got the full map ({len(got)} slots) "
                                     f"again, no renegotiation")

    async def wait_stats(bridge, pred, what, timeout=4.0):
        deadline = time.monotonic() + timeout
        while True:
            s = await get_stats(bridge)
            if pred(s) or time.monotonic() >= deadline:
                return s
            await asyncio.sleep(0.3)

    def endpoint_stats(s, meeting, p):
        return (((s.get("conference_audio") or {}).get(meeting) or {}).get("endpoints") or {}).get(p.endpoint_id) or {}

    async def stats_check(bridge, meeting, peers, stage, extra_checks):
        receivers = [p for p in peers if p.rewriting]
        used = sum(len(p.client.table) for p in receivers)

        def settled(s):
            return all((endpoint_stats(s, meeting, p).get("audio_ssrcs") or {}).get("used") == len(p.client.table)
                       for p in receivers)
        s = await wait_stats(bridge, settled, "per-endpoint audio_ssrcs")
        rw = s.get("ssrc_rewriting")
        print(f"  stats: ssrc_rewriting {json.dumps(rw)}; " + "; ".join(
            f"{p.label} {json.dumps(endpoint_stats(s, meeting, p).get('audio_ssrcs'))}" for p in peers), flush=True)
        if not isinstance(rw, dict):
            raise StageFailed(stage, f"/colibri/stats has no ssrc_rewriting object: {sorted(s)}")
        received = sum(len(p.client.maps) for p in receivers)
        want = [("endpoints", rw.get("endpoints") == len(receivers), f"== {len(receivers)}"),
                ("maps_sent", isinstance(rw.get("maps_sent"), int) and rw["maps_sent"] >= max(1, received),
                 f">= the {received} maps the receivers got"),
                ("slots_used", rw.get("slots_used") == used, f"== {used} (the slots announced)"),
                ("slots_created", isinstance(rw.get("slots_created"), int) and rw["slots_created"] >= used,
                 f">= {used}"),
                ("new_ssrc_delayed_packets", isinstance(rw.get("new_ssrc_delayed_packets"), int)
                 and rw["new_ssrc_delayed_packets"] > 0, "> 0")]
        want += extra_checks(rw, s)
        bad = []
        for item in want:
            name, ok, what = item[:3]
            value = item[3] if len(item) > 3 else rw.get(name)
            check(ok, f"stats: {'' if len(item) > 3 else 'ssrc_rewriting.'}{name} = {value} (want {what})")
            if not ok:
                bad.append(f"{name} = {value}, want {what}")
        for p in peers:
            es = endpoint_stats(s, meeting, p)
            if p.rewriting:
                a = es.get("audio_ssrcs") or {}
                if a.get("used") != len(p.client.table):
                    bad.append(f"{p.label}: audio_ssrcs.used {a.get('used')}, {len(p.client.table)} slots announced")
            elif "audio_ssrcs" in es:
                bad.append(f"{p.label} (not rewriting) has audio_ssrcs {es['audio_ssrcs']}")
        if bad:
            raise StageFailed(stage, "; ".join(bad))

    async def p1_stats():
        await stats_check(bridges["jvb1"], meeting1, p1, "stats (pool 50)", lambda rw, s: [
            ("remappings", rw.get("remappings") == 0, "== 0 (no pool pressure)"),
            ("no_slot_dropped", rw.get("no_slot_dropped") == 0, "== 0")])
        passed("stats (pool 50)", "/colibri/stats ssrc_rewriting and per-receiver audio_ssrcs consistent")

    async def teardown(peers, meeting, bridge_name):
        for p in peers:
            if p.client is not None:
                await p.client.stop()
        for s in list(sockets):
            await s.close()
            sockets.remove(s)
        await asyncio.gather(*(p.stop() for p in peers), return_exceptions=True)
        b = bridges.get(bridge_name)
        running = b is not None and b.proc is not None and b.proc.returncode is None
        if focus is not None and running and focus.bridge_nick == bridge_name:
            try:
                await focus.expire(meeting, [p.endpoint_id for p in peers])
            except Exception as e:  # pylint: disable=broad-except
                print(f"  (expire: {e})", flush=True)
        if running:
            rc = await asyncio.to_thread(b.stop, signal.SIGTERM)
            print(f"  bridge {bridge_name} stopped (exit code {rc})", flush=True)

    # --- phase 2 ----------------------------------------------------------------------------

    S1 = RwPeer("S1", 440.0, LOUD)
    S2 = RwPeer("S2", 660.0, LOUD)
    S3 = RwPeer("S3", 880.0, 0.0)
    R = RwPeer("R", 0.0, 0.0, send=False)
    R.freq = 1.0  # a listener: no tone of its own
    p2 = [S1, S2, S3, R]
    tones2 = [S1.freq, S2.freq, S3.freq]
    meeting2 = f"rw2-{random.getrandbits(48):012x}"
    port2 = rig.free_port()
    bridges["jvb2"] = rig.BridgeProcess(binary, bridge_conf("jvb2", port2, f"""
  ssrc-limit.audio = {SMALL_POOL}
  loudest {{ route-loudest-only = true, num-loudest = 2 }}
"""), work, "jvb2")
    turns = []  # [label, t_start, ssrc, t_map, history index, ...]

    async def p2_setup():
        state["bridge"] = "jvb2"
        await asyncio.to_thread(bridges["jvb2"].start)
        await focus.wait_bridge("jvb2", timeout=20)
        focus.bridge_nick = "jvb2"
        all_peers.extend(p2)
        await start_peers(p2, tones2, "small pool setup")
        await allocate(meeting2, p2, "small pool setup")
        for p in p2:
            p.channel = await open_ws(p, "small pool setup")
            p.channel_open_tw = time.time()
            p.client.attach(p.channel)
        await offers(p2, p2, "small pool setup")
        await connect(meeting2, p2, "small pool setup")
        print(f"meeting {meeting2} on jvb2 (ssrc-limit.audio {SMALL_POOL}, route-loudest-only, num-loudest 2): " +
              ", ".join(f"{p.name} {p.endpoint_id} ssrc {p.ssrc}" for p in p2), flush=True)
        passed("small pool setup", "bridge jvb2, 4 rewriting endpoints on colibri-ws, connected")

    async def turn(stage, goes_quiet, talks, keeps):
        """goes_quiet stops, talks starts: goes_quiet's slot at R must change owner to talks."""
        owners = R.client.owners()
        slot = owners[goes_quiet.endpoint_id]
        kept = owners[keeps.endpoint_id]
        hist0 = len(R.client.history)
        t_start = time.time()
        await goes_quiet.voice(0.0, stage)
        await talks.voice(LOUD, stage)
        deadline = time.monotonic() + REMAP_TIMEOUT
        while True:
            hit = next(((i, h) for i, h in enumerate(R.client.history) if i >= hist0 and h[2] == talks.endpoint_id),
                       None)
            if hit is not None and hit[1][1] in R.client.mline:
                break
            if R.client.errors:
                raise StageFailed(stage, f"R: {R.client.errors[:3]}")
            if time.monotonic() >= deadline:
                raise StageFailed(stage, f"no map giving {talks.label} a slot at R within {REMAP_TIMEOUT:g} s of "
                                         f"{goes_quiet.label} going quiet and {talks.label} talking; "
                                         f"{R.client.describe()}")
            await asyncio.sleep(0.05)
        i, (t_map, ssrc, owner, source) = hit
        bad = []
        if ssrc != slot:
            bad.append(f"{talks.label} got SSRC {ssrc}, not {goes_quiet.label}'s slot {slot} (the least recently "
                       f"used); R's table {R.client.table}")
        if source != talks.source:
            bad.append(f"the remap entry names source {source!r}, want {talks.source!r}")
        if ssrc in R.client.announced and R.client.announced[ssrc] >= t_start:
            bad.append(f"SSRC {ssrc} is new: a remap must reuse a slot of the full pool")
        sent_before = R.client.ever_owned(talks.endpoint_id, i)
        await asyncio.sleep(LISTEN_SECS + 1.0)
        bad += await hear_slots(R, {talks: ssrc, keeps: kept}, stage, from_tw=t_map + 1.0)
        rb, r = await check_rtp(R, R.transport.feedback_ssrc("audio"), {p.ssrc for p in p2 if p.send_audio}, stage,
                                pool=SMALL_POOL)
        bad += rb
        b = boundary(r, ssrc, t_map, t_start)
        if b is None:
            bad.append(f"no discontinuity on SSRC {ssrc} around the remap at {t_map:.3f} (breaks "
                       f"{r['ssrcs'].get(str(ssrc), {}).get('breaks', [])[-4:]})")
        else:
            prev, nxt = b["prev"], b["next"]
            dseq = (nxt[0] - prev[0]) & 0xFFFF
            dts = (nxt[1] - prev[1]) & 0xFFFFFFFF
            gap = nxt[3] - prev[3]
            print(f"  {stage}: SSRC {ssrc} {goes_quiet.label} -> {talks.label} ({'sent to R before' if sent_before else 'new to R'}): "
                  f"last packet of {goes_quiet.label} seq {prev[0]} ts {prev[1]} level {prev[2]}, first of "
                  f"{talks.label} seq {nxt[0]} ts {nxt[1]} level {nxt[2]}: +{dseq} seq, +{dts} ts, {gap:.3f} s "
                  f"apart; map at {t_map - t_start:.3f} s into the turn, that packet at {nxt[3] - t_start:.3f} s", flush=True)
            if sent_before:
                if not (1 <= dseq < 0x8000 and 0 < dts < 0x80000000):
                    bad.append(f"{talks.label}, sent to R before, returned on SSRC {ssrc} with seq +{dseq} ts +{dts} "
                               f"(must jump forward)")
                elif dts != (960 * dseq) & 0xFFFFFFFF:
                    print(f"WARN {stage}: forward jump seq +{dseq} but ts +{dts} (not 960 per packet)", flush=True)
            elif dseq != 1 or dts != 960:
                bad.append(f"{talks.label}'s first packet on SSRC {ssrc} is seq +{dseq} ts +{dts} after "
                           f"{goes_quiet.label}'s last (want +1 and +960: {talks.label} was never sent to R)")
            if gap < MIN_REMAP_IDLE_S:
                bad.append(f"SSRC {ssrc} changed owner {gap:.3f} s after {goes_quiet.label}'s last packet on it "
                           f"(remap-min-idle 500 ms)")
        turns.append([stage, ssrc, goes_quiet.label, talks.label, sent_before])
        bad += [f"R: {e}" for e in R.client.errors]
        if bad:
            raise StageFailed(stage, "; ".join(bad))

    async def p2_turns():
        await wait_owners(R, [S1, S2], "small pool", exact=True)
        await asyncio.sleep(LISTEN_SECS)
        o = R.client.owners()
        bad = await hear_slots(R, {S1: o[S1.endpoint_id], S2: o[S2.endpoint_id]}, "small pool")
        if bad:
            raise StageFailed("small pool", "; ".join(bad))
        await turn("small pool: S1 quiet, S3 talks", S1, S3, S2)
        await turn("small pool: S2 quiet, S1 talks", S2, S1, S3)
        bad = []
        real = {p.ssrc for p in p2 if p.send_audio}
        for p in (S1, S2, S3):
            b, _ = await check_rtp(p, p.transport.feedback_ssrc("audio"), real, "small pool", pool=SMALL_POOL)
            bad += b + [f"{p.label}: {e}" for e in p.client.errors]
        if bad:
            raise StageFailed("small pool", "; ".join(bad))
        passed("small pool", f"R's 2 slots changed owner twice ({[t[1:] for t in turns]}), the new owner's tone on "
                             f"the same SSRC, seq/ts carried on, never more than 2 SSRCs")

    async def p2_stats():
        def extra(rw, s):
            a = endpoint_stats(s, meeting2, R).get("audio_ssrcs") or {}
            return [("remappings", isinstance(rw.get("remappings"), int) and rw["remappings"] >= 2, ">= 2"),
                    ("R's audio_ssrcs", a.get("max") == SMALL_POOL and a.get("used") == SMALL_POOL
                     and (a.get("remappings") or 0) >= 2, f"max {SMALL_POOL}, used {SMALL_POOL}, remappings >= 2",
                     json.dumps(a))]
        await stats_check(bridges["jvb2"], meeting2, p2, "stats (pool 2)", extra)
        passed("stats (pool 2)", "remappings counted, R uses 2 of 2 slots")

    # --- run ----------------------------------------------------------------------------------

    plan1 = [("setup", p1_setup, True), ("connect", p1_connect, True), ("rewriting", p1_rewriting, False),
             ("mixed", p1_mixed, False), ("late channel", p1_late, False),
             ("websocket replaced", p1_replaced, False), ("stats (pool 50)", p1_stats, False)]
    plan2 = [("small pool setup", p2_setup, True), ("small pool", p2_turns, False),
             ("stats (pool 2)", p2_stats, False)]
    try:
        try:
            for name, fn, fatal in plan1:
                await run_stage(name, fn, fatal, p1)
        except Exception:  # pylint: disable=broad-except
            pass  # a fatal stage failed (reported); phase 2 still runs
        finally:
            await teardown(p1, meeting1, "jvb1")
        if focus is not None:
            try:
                for name, fn, fatal in plan2:
                    await run_stage(name, fn, fatal, p2)
            except Exception:  # pylint: disable=broad-except
                pass
    finally:
        await teardown(p2, meeting2, "jvb2")
        if check.failures:
            for p in all_peers:
                if p.stderr:
                    print(f"----- {p.name} stderr (last 10 lines, exit code {p.proc.returncode if p.proc else None}) -----")
                    print("\n".join(p.stderr[-10:]))
            for n, b in bridges.items():
                if b.proc is not None:
                    print(f"----- bridge {n} log (exit code {b.proc.returncode}), last 80 lines -----\n" +
                          "\n".join(b.lines[-80:]))
        if focus is not None:
            await focus.close()
        for b in bridges.values():
            if b.proc is not None and b.proc.returncode is None:
                await asyncio.to_thread(b.stop, signal.SIGTERM)
        print("stages: " + "; ".join(f"{n} {r} {dt:.1f} s" for n, r, dt in results), flush=True)
        print(f"total {time.monotonic() - started:.1f} s", flush=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    binary = sys.argv[1]

    async def with_bridge(prosody, work):
        await scenario(binary, prosody, work)
    rig.run_with_prosody(with_bridge, check, users=None, limit_s=270)


if __name__ == "__main__":
    main()
