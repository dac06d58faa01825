#!/usr/bin/python3
"""Bridge channel end to end: real aiortc peers, colibri-ws and the SCTP data channel.

    test_bridge_channel.py <jvb-audio binary>        (needs root: Prosody runs as user prosody)

Scenario (as Jicofo + lib-jitsi-meet would drive it; stages run in order, the first failing
one is reported with diagnostics, the later ones that do not depend on it still run):
 1. setup: a tech Prosody, the bridge (colibri-ws on its public HTTP port, route-loudest-only,
    REST stats), a Colibri2 focus; three aiortc peers (aiortc_peer.py subprocesses):
      A  talks: 440 Hz at 0.3 with a near-silent frame every 500 ms (speech-like levels)
      B  hums:  660 Hz at 0.003, steady (becomes its own noise floor: silence to the DSI)
      C  hums:  880 Hz at 0.003, steady; allocated with <sctp/>, so its offer has the
         m=application section and it opens the bridge channel over SCTP (--datachannel)
    A and B use colibri-ws (the web-socket URL of their Colibri2 transport), C the data channel.
 2. allocation + SDP + ICE + DTLS (as test_aiortc_forwarding.py); every endpoint's transport
    has a web-socket URL ws://127.0.0.1:<public port>/colibri-ws/default-id/<conf>/<ep>?pwd=...,
    C's also <sctp port='5000'/>.
 3. channels: A's and B's websockets open and get ServerHello; C's data channel opens (DCEP)
    with ServerHello, and answers ClientHello with ServerHello.
 4. dominant speaker: every channel (A, B over ws, C over SCTP) gets a
    DominantSpeakerEndpointChangeEvent naming A; then B talks and A goes quiet, and every
    channel gets one naming B with A in previousSpeakers.
 5. endpoint messages: A (ws) -> C (SCTP) unicast arrives with from=A and the payload intact;
    a broadcast from C (SCTP) reaches A and B (ws) with from=C, and not C itself; B's
    EndpointStats reaches A (ws) and C (SCTP) with from=B.
 6. bad input: a websocket with a wrong pwd gets HTTP 403, one to another server id 404;
    garbage text and {"colibriClass":"NoSuchThing"} on B's socket and garbage on C's data
    channel are ignored; a fourth endpoint D (no media) opens its socket, gets ServerHello and
    the current dominant speaker (B), then sends a frame over 64 KiB: the bridge closes D's
    socket with 1009. Afterwards B -> A still works (and A -> C over SCTP); a second socket
    for B replaces the first (closed) and carries B's messages; ClientHello gets ServerHello.
 7. connectivity (JVB's EndpointConnectionStatusMonitor, short ep-connection-status timeouts in
    the bridge's jvb.conf): B's aiortc process is SIGSTOPped (no media, no ICE: what JVB counts
    as activity is gone; its websocket lives in this process and stays open): every channel,
    B's own included (JVB broadcasts to the subject too) and C's over SCTP, gets
    EndpointConnectivityStatusChangeEvent {"endpoint": B, "active": "false"} (a string). A new
    endpoint E (no media) opens its websocket meanwhile and is told B is inactive. B is
    SIGCONTed: everyone, E included, gets active "true". E, which never sends anything, is
    reported inactive after first-transfer-timeout. /colibri/stats endpoints_disconnected and
    endpoints_reconnected grew by 1 (B), endpoint_connectivity.never_connected by at least 1 (E).
 8. stats (/colibri/stats): bridge_channel.malformed >= 1, unknown_class >= 1,
    websockets_refused >= 2, total_dominant_speaker_changes >= 2,
    total_colibri_web_socket_messages_received > 0, total_data_channel_messages_received > 0,
    endpoints_disconnected >= 1, endpoints_reconnected >= 1.
Exit 0 on success, 1 on failure, 77 when aiortc or websockets is missing (or not root).
Every wait is bounded; every process started here is stopped here (by PID).
"""
import asyncio
import base64
import importlib.util
import json
import os
import random
import signal
import string
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

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

import websockets  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatusCode  # noqa: E402

import rig  # noqa: E402
import webrtc_sdp  # noqa: E402
# The peer-process harness and the ICE/DTLS diagnostics of the forwarding test.
from test_aiortc_forwarding import (PeerProc, StageFailed, dtls_diag, ice_diag, state_is,  # noqa: E402
                                    wait_all)

PEER = os.path.join(HERE, "aiortc_peer.py")
PY = "/usr/bin/python3"

SERVER_ID = "default-id"
LOUD, QUIET, HUSH = 0.3, 0.003, 0.0001  # HUSH: the level of the pause frames (A's floor)
PAUSE_MS = 500

READY_TIMEOUT = 20.0
ANSWER_TIMEOUT = 15.0
ICE_TIMEOUT = 15.0
DTLS_TIMEOUT = 10.0
CHANNEL_TIMEOUT = 10.0
SPEAKER_TIMEOUT = float(os.environ.get("JVB_CHANNEL_SPEAKER_TIMEOUT", "15"))
MESSAGE_TIMEOUT = 5.0
STATS_TIMEOUT = 5.0
HUGE_BYTES = 100 * 1024  # > 64 KiB even after permessage-deflate (random letters)

DSE = "DominantSpeakerEndpointChangeEvent"
ECS = "EndpointConnectivityStatusChangeEvent"
# videobridge.ep-connection-status for this test (JVB: 15 s, 8 s, 500 ms). The inactivity
# limit stays well above any scheduling hiccup of a 20 ms audio stream on a busy machine.
FIRST_TRANSFER_S, INACTIVITY_S, CHECK_MS = 6, 3, 200
# the limit, plus the media thread's 1 s activity report, a check interval and slack
STATUS_TIMEOUT = INACTIVITY_S + 4.0

check = rig.Checker()


# -- the aiortc peers -------------------------------------------------------------------

class ChannelPeer(PeerProc):
    """An aiortc_peer.py subprocess with this test's options."""

    def __init__(self, label, freq, ssrc, amplitude, pause_ms, datachannel):
        super().__init__(f"{label}-{int(freq)}Hz", freq, ssrc)
        self.label, self.amplitude, self.pause_ms, self.datachannel = label, amplitude, pause_ms, datachannel
        self.endpoint_id = f"{label.lower()}{random.getrandbits(28):07x}"
        self.transport = None
        self.answer = None
        self.channel = None

    async def start(self, max_secs: float):
        args = [PY, PEER, "--name", self.name, "--freq", str(self.freq), "--ssrc", str(self.ssrc),
                "--max-secs", str(max_secs), "--amplitude", str(self.amplitude),
                "--pause-every-ms", str(self.pause_ms), "--pause-amplitude", str(HUSH)]
        if self.datachannel:
            args.append("--datachannel")
        self.proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        self._tasks = [asyncio.ensure_future(self._read_stdout()), asyncio.ensure_future(self._read_stderr())]

    async def voice(self, amplitude, pause_ms, stage):
        mark = len(self.events)
        self.send({"cmd": "voice", "amplitude": amplitude, "pause_every_ms": pause_ms})
        await self.wait_event(lambda e: e.get("event") == "voice", "voice ack", 5, stage, start=mark)


# -- bridge channels: colibri-ws (in this process) and SCTP (through the peer) -------------

def _parse(text):
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else {"_raw": text}
    except ValueError:
        return {"_raw": text}


class Channel:
    """Messages of one endpoint's bridge channel, parsed; wait_message() polls them."""
    kind = "?"

    def __init__(self, owner):
        self.owner = owner  # a label: A, B, C, D

    def messages(self):
        raise NotImplementedError

    def closed_info(self):
        return None

    def describe(self):
        ms = self.messages()
        classes = {}
        for m in ms:
            c = m.get("colibriClass", "(not JSON)" if "_raw" in m else "(no colibriClass)")
            classes[c] = classes.get(c, 0) + 1
        return f"{self.owner} ({self.kind}): {len(ms)} messages {classes}; last {ms[-3:]}" + \
               (f"; closed {self.closed_info()}" if self.closed_info() else "")

    async def wait_message(self, pred, what, timeout, stage, start=0):
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages()[start:]:
                if pred(m):
                    return m
            if self.closed_info() is not None:
                raise StageFailed(stage, f"{self.owner} ({self.kind}): channel closed {self.closed_info()} "
                                         f"while waiting for {what}; {self.describe()}")
            if time.monotonic() >= deadline:
                raise StageFailed(stage, f"{self.owner} ({self.kind}): no {what} within {timeout:g} s; "
                                         f"{self.describe()}")
            await asyncio.sleep(0.05)

    async def expect_none(self, pred, secs, start=0):
        await asyncio.sleep(secs)
        return [m for m in self.messages()[start:] if pred(m)]


class WsChannel(Channel):
    kind = "colibri-ws"

    def __init__(self, owner, url):
        super().__init__(owner)
        self.url = url
        self.ws = None
        self._msgs = []
        self._reader = None
        self.close_code = None
        self.close_reason = None
        self.closed = False

    async def open(self, timeout=CHANNEL_TIMEOUT):
        self.ws = await asyncio.wait_for(
            websockets.connect(self.url, open_timeout=timeout, close_timeout=3, max_size=4 * 1024 * 1024),
            timeout + 1)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self):
        try:
            async for text in self.ws:
                self._msgs.append(_parse(text) if isinstance(text, str) else {"_binary": len(text)})
        except ConnectionClosed:
            pass
        except Exception as e:  # pylint: disable=broad-except
            self._msgs.append({"_reader_error": repr(e)})
        self.close_code, self.close_reason = self.ws.close_code, self.ws.close_reason
        self.closed = True

    def messages(self):
        return self._msgs

    def closed_info(self):
        return (self.close_code, self.close_reason) if self.closed else None

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    async def wait_closed(self, timeout):
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        except asyncio.TimeoutError:
            pass
        return self.closed_info()

    async def close(self):
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 4)
            except Exception:  # pylint: disable=broad-except
                pass
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 3)
            except (asyncio.TimeoutError, Exception):  # pylint: disable=broad-except
                self._reader.cancel()


class DcChannel(Channel):
    kind = "SCTP data channel"

    def __init__(self, owner, peer):
        super().__init__(owner)
        self.peer = peer

    def messages(self):
        return [_parse(e["data"]) if "data" in e else {"_binary": e.get("length")}
                for e in self.peer.events if e.get("event") == "dc_message"]

    def closed_info(self):
        st = [e["state"] for e in self.peer.events if e.get("event") == "dc_state"]
        if st and st[-1] == "closed":
            return "data channel closed"
        if self.peer.proc is not None and self.peer.proc.returncode is not None:
            return f"peer exited ({self.peer.proc.returncode})"
        return None

    async def send(self, obj):
        mark = len(self.peer.events)
        self.peer.send({"cmd": "dc_send", "text": obj if isinstance(obj, str) else json.dumps(obj)})
        await self.peer.wait_event(lambda e: e.get("event") == "dc_sent", "dc_sent", 5, "dc_send",
                                   fail_pred=lambda e: e.get("event") == "error" and "dc_send" in e.get("what", ""),
                                   start=mark)


def ws_url_with(url, pwd=None, server_id=None):
    """The same colibri-ws URL with another pwd and/or server id."""
    u = urllib.parse.urlsplit(url)
    path = u.path
    if server_id is not None:
        parts = path.split("/")  # ['', 'colibri-ws', server-id, conf, ep]
        parts[2] = server_id
        path = "/".join(parts)
    query = u.query
    if pwd is not None:
        query = urllib.parse.urlencode({"pwd": pwd})
    return urllib.parse.urlunsplit((u.scheme, u.netloc, path, query, u.fragment))


async def ws_refused_status(url):
    """The HTTP status a refused websocket handshake gets (None: it was accepted)."""
    try:
        ws = await asyncio.wait_for(websockets.connect(url, open_timeout=5, close_timeout=2), 6)
    except InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return None


def is_dse(dominant, previous_has=None):
    def pred(m):
        return (m.get("colibriClass") == DSE and m.get("dominantSpeakerEndpoint") == dominant
                and (previous_has is None or previous_has in (m.get("previousSpeakers") or [])))
    return pred


def check_no_secrets(log, xmpp_password, peers):
    """The secrets of this run, as text and as SASL PLAIN's base64, are nowhere in the trace log."""
    secrets = {"XMPP password": xmpp_password,
               "SASL PLAIN": base64.b64encode(f"\0jvb\0{xmpp_password}".encode()).decode()}
    for p in peers:
        t = getattr(p, "transport", None)
        if t is not None:
            secrets[f"{p.name} bridge ICE pwd"] = t.pwd
            for url in t.web_sockets:
                pwd = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("pwd", [""])[0]
                secrets[f"{p.name} colibri-ws pwd"] = pwd
        a = getattr(p, "answer", None)
        if a is not None:
            secrets[f"{p.name} ICE pwd"] = a.pwd
    # The check can fail: the log must hold the stanzas and the upgrade targets it masked.
    traced = ("pwd='***'" in log or 'pwd="***"' in log) and "?pwd=***" in log
    check(traced, "trace log holds Colibri2 stanzas and colibri-ws targets, passwords masked")
    leaked = [name for name, value in secrets.items() if value and value in log]
    check(not leaked and len(secrets) >= 8,
          f"no secret in the bridge's trace log ({len(log.splitlines())} lines, {len(secrets)} secrets"
          f" looked for){': leaked ' + ', '.join(leaked) if leaked else ''}")


# -- the scenario -----------------------------------------------------------------------------

async def scenario(binary, prosody, work):
    from colibri2_focus import Colibri2Focus
    started = time.monotonic()
    results = []  # (stage, "passed"/"FAILED"/"skipped", seconds)
    ssrcs = random.sample(range(0x10000, 0xFFFFFFFF), 3)
    A = ChannelPeer("A", 440.0, ssrcs[0], LOUD, PAUSE_MS, datachannel=False)
    B = ChannelPeer("B", 660.0, ssrcs[1], QUIET, 0, datachannel=False)
    C = ChannelPeer("C", 880.0, ssrcs[2], QUIET, 0, datachannel=True)
    peers = [A, B, C]
    d_id = f"d{random.getrandbits(28):07x}"
    meeting_id = f"chan-{random.getrandbits(48):012x}"
    public_port = rig.free_port()
    extra = f"""
  websockets {{ enabled = true, domain = "127.0.0.1:{public_port}", tls = false, server-id = "{SERVER_ID}" }}
  http-servers.public {{ host = "127.0.0.1", port = {public_port} }}
  loudest {{ route-loudest-only = true, num-loudest = 3 }}
  ep-connection-status {{ first-transfer-timeout = {FIRST_TRANSFER_S} s, max-inactivity-limit = {INACTIVITY_S} s, check-interval = {CHECK_MS} ms }}
"""
    pw = prosody.secrets["JVB_PASSWORD"]
    # At trace level the bridge logs every stanza (libstrophe's dump) and every HTTP target: the
    # end of the run checks that no password, ICE pwd or colibri-ws pwd reached the log.
    bridge = rig.BridgeProcess(binary, rig.xmpp_bridge_conf(prosody, "jvb1", pw, extra=extra), work, "jvb1",
                               extra_args=["--log-level", "trace"])
    focus = None
    sockets = []
    stats = {}
    opened = set()  # labels of the peers whose bridge channel is open
    state = {"stage": "setup", "t0": time.monotonic()}
    print(f"meeting {meeting_id}; peers: " + ", ".join(f"{p.name} endpoint {p.endpoint_id} ssrc {p.ssrc}"
                                                      for p in peers) + f"; D endpoint {d_id} (no media)",
          flush=True)

    def begin(stage):
        state["stage"], state["t0"] = stage, time.monotonic()

    def passed(stage, what):
        dt = time.monotonic() - state["t0"]
        results.append((stage, "passed", dt))
        check(True, f"{stage}: {what} ({dt:.1f} s)")

    def bridge_tail(n=60):
        lines = bridge.lines[-n:]
        return "\n".join(lines)

    async def get_stats():
        status, body = await asyncio.to_thread(rig.http_get, bridge.http_port, "/colibri/stats", "GET",
                                               STATS_TIMEOUT)
        if status != 200 or not isinstance(body, dict):
            raise StageFailed(state["stage"], f"/colibri/stats: HTTP {status}: {str(body)[:300]}")
        return body

    async def run_stage(stage, coro_fn, fatal):
        """Runs one stage; a failure is recorded (and ends the scenario when fatal)."""
        begin(stage)
        try:
            await coro_fn()
            return True
        except Exception as e:  # pylint: disable=broad-except
            dt = time.monotonic() - state["t0"]
            results.append((stage, "FAILED", dt))
            msg = e.msg if isinstance(e, StageFailed) else f"{type(e).__name__}: {e}"
            check(False, f"FAILED AT STAGE '{stage}' ({dt:.1f} s): {msg}")
            print(f"----- bridge log tail at the failure (last 40 lines) -----\n{bridge_tail(40)}", flush=True)
            if fatal:
                raise
            return False

    # --- stages ---------------------------------------------------------------------------

    async def setup():
        nonlocal focus
        await asyncio.to_thread(bridge.start)
        focus = Colibri2Focus(f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"], "127.0.0.1",
                              prosody.port, prosody.brewery, bridge="jvb1")
        await focus.connect_and_join(wait_bridge=20)
        await asyncio.gather(*(p.start(max_secs=200) for p in peers))
        for p in peers:
            await p.wait_event(lambda e: e.get("event") == "ready", "ready line", READY_TIMEOUT, "setup")
        passed("setup", f"Prosody on {prosody.port}, bridge (private HTTP {bridge.http_port}, public "
                        f"{public_port}, UDP {bridge.udp_port}), focus, 3 aiortc peers")

    async def allocation():
        for i, p in enumerate(peers):
            t = await focus.allocate(meeting_id, p.endpoint_id, p.ssrc, create_conference=(i == 0),
                                     room_name=f"{meeting_id}@conference.example.test", sctp=p.datachannel)
            p.transport = t
            if not t.web_sockets:
                raise StageFailed("allocation", f"{p.name}: no <web-socket> in the transport: "
                                                f"{ET.tostring(t.xml, encoding='unicode')[:1500] if t.xml is not None else ''}")
            url = t.web_sockets[0]
            u = urllib.parse.urlsplit(url)
            parts = u.path.split("/")
            pwd = urllib.parse.parse_qs(u.query).get("pwd", [""])[0]
            ok = (u.scheme == "ws" and u.netloc == f"127.0.0.1:{public_port}" and len(parts) == 5
                  and parts[1] == "colibri-ws" and parts[2] == SERVER_ID and parts[4] == p.endpoint_id
                  and len(pwd) == 24 and pwd.isalnum())
            if not ok:
                raise StageFailed("allocation", f"{p.name}: unexpected web-socket URL {url}")
            if p.datachannel and (t.sctp is None or t.sctp.get("port") != "5000"):
                raise StageFailed("allocation", f"{p.name}: allocated with <sctp/>, transport has sctp={t.sctp}")
            if not p.datachannel and t.sctp is not None:
                raise StageFailed("allocation", f"{p.name}: allocated without <sctp/>, transport has sctp={t.sctp}")
            print(f"  {p.name}: ws {url}; sctp {t.sctp}", flush=True)
        passed("allocation", "3 endpoints, web-socket URLs ws://127.0.0.1:<public>/colibri-ws/default-id/<conf>/<ep>"
                             "?pwd=<24>, <sctp port='5000'> for C only")

    async def sdp():
        for p in peers:
            others = [q for q in peers if q is not p]
            t = p.transport
            offer = webrtc_sdp.build_offer(t.ufrag, t.pwd, t.fingerprint, t.candidates,
                                           [webrtc_sdp.RemoteSource(q.endpoint_id, q.ssrc) for q in others],
                                           t.feedback_ssrc("audio"), datachannel=p.datachannel,
                                           sctp_port=int((t.sctp or {}).get("port", 5000)))
            p.offer = offer
            p.send({"cmd": "offer", "sdp": offer})
        for p in peers:
            ev = await p.wait_event(lambda e: e.get("event") == "answer", "SDP answer", ANSWER_TIMEOUT, "SDP",
                                    fail_pred=lambda e: e.get("event") == "error")
            a = webrtc_sdp.parse_answer(ev["sdp"])
            p.answer = a
            has_app = any(l.startswith("m=application") for l in ev["sdp"].splitlines())
            if a.ssrc != p.ssrc or has_app != p.datachannel or (p.datachannel and "data" not in a.bundle):
                raise StageFailed("SDP", f"{p.name}: unexpected answer (ssrc {a.ssrc}, application m-line "
                                         f"{has_app}, bundle {a.bundle}):\n{ev['sdp']}")
        for p in peers:
            a = p.answer
            await focus.update_transport(meeting_id, p.endpoint_id, a.ufrag, a.pwd, a.fingerprint, a.setup,
                                         a.candidates)
        passed("SDP", "answers (C's with m=application UDP/DTLS/SCTP in BUNDLE) sent to the bridge")

    async def ice_dtls():
        try:
            await wait_all("ICE", peers, lambda p: p.wait_event(
                state_is("ice", "completed"), "ICE completion", ICE_TIMEOUT, "ICE", fail_pred=state_is("ice", "failed")))
        except StageFailed:
            for p in peers:
                print(f"  [{p.name}] {ice_diag(await p.report())}", flush=True)
            raise
        try:
            await wait_all("DTLS", peers, lambda p: p.wait_event(
                state_is("dtls", "connected"), "DTLS connected", DTLS_TIMEOUT, "DTLS",
                fail_pred=state_is("dtls", "failed")))
        except StageFailed:
            for p in peers:
                print(f"  [{p.name}] {dtls_diag(await p.report())}", flush=True)
            raise
        passed("ICE+DTLS", "connected on all peers")

    async def ws_open():
        for p in (A, B):
            p.channel = WsChannel(p.label, p.transport.web_sockets[0])
            sockets.append(p.channel)
            try:
                await p.channel.open()
            except InvalidStatusCode as e:
                raise StageFailed("colibri-ws", f"{p.name}: handshake refused with HTTP {e.status_code} "
                                                f"({p.channel.url})") from None
            except (OSError, asyncio.TimeoutError) as e:
                raise StageFailed("colibri-ws", f"{p.name}: cannot connect to {p.channel.url}: "
                                                f"{type(e).__name__}: {e}") from None
        for p in (A, B):
            await p.channel.wait_message(lambda m: m.get("colibriClass") == "ServerHello", "ServerHello",
                                         CHANNEL_TIMEOUT, "colibri-ws")
        opened.update(("A", "B"))
        passed("colibri-ws", "A and B connected; ServerHello on each")

    async def dc_open():
        C.channel = DcChannel(C.label, C)
        try:
            await C.wait_event(lambda e: e.get("event") == "dc_state" and e.get("state") == "open",
                               "data channel open", CHANNEL_TIMEOUT, "data channel",
                               fail_pred=lambda e: e.get("event") == "dc_state" and e.get("state") == "closed")
            # ServerHello as the channel opens (lib-jitsi-meet sends no ClientHello), and again
            # in answer to a ClientHello.
            await C.channel.wait_message(lambda m: m.get("colibriClass") == "ServerHello",
                                         "ServerHello on open", CHANNEL_TIMEOUT, "data channel")
            unsolicited = True
            mark = len(C.channel.messages())
            await C.channel.send({"colibriClass": "ClientHello"})
            await C.channel.wait_message(lambda m: m.get("colibriClass") == "ServerHello",
                                         "ServerHello answering ClientHello", CHANNEL_TIMEOUT, "data channel",
                                         start=mark)
            r = await C.report()
            if r is not None:
                d = r["datachannel"]
                print(f"  C: SCTP {d['sctp_state']} as {d['sctp_role']} (stream id {d['id']}), association "
                      f"{d['association']}; chunks from the bridge {d['chunks_in']}, to it {d['chunks_out']}",
                      flush=True)
            print(f"  C: data channel open; before ClientHello it got "
                  f"{[m.get('colibriClass') for m in C.channel.messages()[:mark]]} "
                  f"({'with' if unsolicited else 'no'} unsolicited ServerHello)", flush=True)
        except StageFailed:
            r = await C.report()
            if r is not None:
                d = r["datachannel"]
                print(f"  [{C.name}] data channel {d['state']} (id {d['id']}), SCTP {d['sctp_state']} as "
                      f"{d['sctp_role']}, association {d['association']}; SCTP packets from the bridge "
                      f"{d['packets_in']} (unparsable {d['packets_in_unparsable']}) chunks {d['chunks_in']}; "
                      f"chunks sent {d['chunks_out']}; DTLS content types received "
                      f"{r['dtls']['content_types_rx']} (23 = application data: SCTP)", flush=True)
            raise
        opened.add("C")
        passed("data channel", "C's DCEP channel 'JVB data channel' open; ClientHello -> ServerHello on it")

    async def wait_stats(pred, what, timeout):
        deadline = time.monotonic() + timeout
        last = {}
        while time.monotonic() < deadline:
            last = await get_stats()
            if pred(last):
                return last
            await asyncio.sleep(0.3)
        raise StageFailed(state["stage"], f"/colibri/stats: no {what} within {timeout:g} s: "
                                          f"total_dominant_speaker_changes {last.get('total_dominant_speaker_changes')}, "
                                          f"conference_audio {json.dumps(last.get('conference_audio'))[:600]}")

    def stats_dominant(s):
        conf = (s.get("conference_audio") or {}).get(meeting_id)
        return conf.get("dominant_speaker") if isinstance(conf, dict) else None

    async def dominant_speaker_stats_only():
        """No channel open: the DSI seen through /colibri/stats, so that its part is still checked."""
        changes = lambda s: s.get("total_dominant_speaker_changes") or 0  # noqa: E731
        s = await wait_stats(lambda s: changes(s) >= 1 and stats_dominant(s) in (None, A.endpoint_id),
                             "first dominant speaker", SPEAKER_TIMEOUT)
        t_a = time.monotonic() - state["t0"]
        n0 = changes(s)
        await B.voice(LOUD, PAUSE_MS, "dominant speaker")
        await A.voice(HUSH, 0, "dominant speaker")
        s = await wait_stats(lambda s: changes(s) > n0 and stats_dominant(s) in (None, B.endpoint_id),
                             "second dominant speaker change", SPEAKER_TIMEOUT)
        raise StageFailed("dominant speaker", f"no bridge channel open, checked through /colibri/stats only: a first "
                                              f"change after {t_a:.1f} s, a second {time.monotonic() - state['t0'] - t_a:.1f} s "
                                              f"after the switch (total_dominant_speaker_changes "
                                              f"{changes(s)}, conference_audio dominant {stats_dominant(s)})")

    async def dominant_speaker():
        chans = [p.channel for p in peers if p.label in opened]
        if not chans:
            await dominant_speaker_stats_only()
        got = await wait_all("dominant speaker", chans, lambda ch: ch.wait_message(
            is_dse(A.endpoint_id), f"{DSE} naming A ({A.endpoint_id})", SPEAKER_TIMEOUT, "dominant speaker"))
        for ch, m in zip(chans, got):
            ok = m.get("silence") is False and isinstance(m.get("previousSpeakers"), list) \
                and A.endpoint_id not in m["previousSpeakers"]
            check(ok, f"dominant speaker: {ch.owner} ({ch.kind}) got {m}")
            if not ok:
                raise StageFailed("dominant speaker", f"{ch.owner}: malformed event {m}")
        t_a = time.monotonic() - state["t0"]
        marks = [len(ch.messages()) for ch in chans]
        await B.voice(LOUD, PAUSE_MS, "dominant speaker")
        await A.voice(HUSH, 0, "dominant speaker")
        got = await wait_all("dominant speaker", list(zip(chans, marks)), lambda cm: cm[0].wait_message(
            is_dse(B.endpoint_id, A.endpoint_id), f"{DSE} naming B ({B.endpoint_id}) with A in previousSpeakers",
            SPEAKER_TIMEOUT, "dominant speaker", start=cm[1]))
        for ch, m in zip(chans, got):
            check(m.get("silence") is False and m["previousSpeakers"][:1] == [A.endpoint_id],
                  f"dominant speaker: {ch.owner} ({ch.kind}) got {m}")
        t_b = time.monotonic() - state["t0"] - t_a
        missing = [p.label for p in peers if p.label not in opened]
        if missing:
            raise StageFailed("dominant speaker", f"events checked only on {[c.owner for c in chans]} (A named "
                                                  f"after {t_a:.1f} s, B {t_b:.1f} s after the switch): the "
                                                  f"channels of {missing} did not open")
        passed("dominant speaker", f"A named on every channel ({t_a:.1f} s), then B after the switch ({t_b:.1f} s)")

    async def endpoint_messages():
        payload = {"type": "e2e-test", "n": 1, "text": "héllo ✓", "nested": {"list": [1, 2.5, None, True]}}
        mark_c = len(C.channel.messages())
        await A.channel.send({"colibriClass": "EndpointMessage", "to": C.endpoint_id, "msgPayload": payload})
        m = await C.channel.wait_message(
            lambda m: m.get("colibriClass") == "EndpointMessage" and m.get("msgPayload", {}).get("n") == 1,
            "EndpointMessage from A", MESSAGE_TIMEOUT, "endpoint messages", start=mark_c)
        if m.get("from") != A.endpoint_id or m.get("msgPayload") != payload or m.get("to") != C.endpoint_id:
            raise StageFailed("endpoint messages", f"C got {m}; expected from={A.endpoint_id}, to={C.endpoint_id}, "
                                                   f"msgPayload={payload}")
        check(True, f"endpoint messages: A (ws) -> C (SCTP): {m}")
        payload2 = {"type": "e2e-test", "n": 2, "big": "x" * 2000}
        marks = {ch.owner: len(ch.messages()) for ch in (A.channel, B.channel, C.channel)}
        await C.channel.send({"colibriClass": "EndpointMessage", "to": "", "msgPayload": payload2})
        got = await wait_all("endpoint messages", [A.channel, B.channel], lambda ch: ch.wait_message(
            lambda m: m.get("colibriClass") == "EndpointMessage" and m.get("msgPayload", {}).get("n") == 2,
            "broadcast EndpointMessage from C", MESSAGE_TIMEOUT, "endpoint messages", start=marks[ch.owner]))
        for ch, m in zip((A.channel, B.channel), got):
            if m.get("from") != C.endpoint_id or m.get("msgPayload") != payload2:
                raise StageFailed("endpoint messages", f"{ch.owner} got {str(m)[:300]}; expected from={C.endpoint_id} "
                                                       f"and the payload intact")
        echoed = await C.channel.expect_none(
            lambda m: m.get("colibriClass") == "EndpointMessage" and m.get("msgPayload", {}).get("n") == 2,
            0.5, start=marks["C"])
        if echoed:
            raise StageFailed("endpoint messages", f"the broadcast came back to its sender C: {str(echoed[0])[:200]}")
        # EndpointStats: relayed to the others with from (a conference under the stats filter threshold)
        marks = {ch.owner: len(ch.messages()) for ch in (A.channel, B.channel, C.channel)}
        est = {"colibriClass": "EndpointStats", "bitrate": {"upload": 32000}, "connectionQuality": 100,
               "jvbRTT": 3, "n": 5}
        await B.channel.send(est)
        got = await wait_all("endpoint messages", [A.channel, C.channel], lambda ch: ch.wait_message(
            lambda m: m.get("colibriClass") == "EndpointStats" and m.get("n") == 5,
            "EndpointStats from B", MESSAGE_TIMEOUT, "endpoint messages", start=marks[ch.owner]))
        for ch, m in zip((A.channel, C.channel), got):
            if m.get("from") != B.endpoint_id or any(m.get(k) != v for k, v in est.items()):
                raise StageFailed("endpoint messages", f"{ch.owner} got {m}; expected {est} with from={B.endpoint_id}")
        check(True, f"endpoint messages: EndpointStats from B (ws) reached A (ws) and C (SCTP): {got[1]}")
        passed("endpoint messages", "A -> C unicast (ws -> SCTP), C's broadcast (SCTP -> ws) to A and B, "
                                    "B's EndpointStats to A and C; from set, payload intact, no echo")

    async def connectivity():
        def is_ecs(endpoint, active):
            return lambda m: (m.get("colibriClass") == ECS and m.get("endpoint") == endpoint
                              and m.get("active") == active)
        chans = [p.channel for p in peers if p.label in opened]
        s0 = await get_stats()
        e_id = f"e{random.getrandbits(28):07x}"
        e_chan = None
        stopped = False
        try:
            marks = {ch.owner: len(ch.messages()) for ch in chans}
            os.kill(B.proc.pid, signal.SIGSTOP)
            stopped = True
            t_stop = time.monotonic()
            got = await wait_all("connectivity", chans, lambda ch: ch.wait_message(
                is_ecs(B.endpoint_id, "false"), f"{ECS} B active false", STATUS_TIMEOUT, "connectivity",
                start=marks[ch.owner]))
            dt = time.monotonic() - t_stop
            want = {"colibriClass": ECS, "endpoint": B.endpoint_id, "active": "false"}
            for ch, m in zip(chans, got):
                if m != want:
                    raise StageFailed("connectivity", f"{ch.owner} got {m}; want exactly {want}")
            if dt < INACTIVITY_S - 0.5:
                raise StageFailed("connectivity", f"B reported inactive {dt:.1f} s after it stopped, "
                                                  f"before max-inactivity-limit ({INACTIVITY_S} s)")
            check(True, f"connectivity: B stopped -> {', '.join(ch.owner + ' (' + ch.kind + ')' for ch in chans)} "
                        f"got {want} after {dt:.1f} s")
            # a newcomer is told who is inactive when its channel opens
            t = await focus.allocate(meeting_id, e_id, None, create_conference=False)
            e_created = time.monotonic()
            e_chan = WsChannel("E", t.web_sockets[0])
            sockets.append(e_chan)
            await e_chan.open()
            await e_chan.wait_message(is_ecs(B.endpoint_id, "false"), f"{ECS} B active false on connect",
                                      CHANNEL_TIMEOUT, "connectivity")
            check(True, "connectivity: E's socket opened and was told B is inactive")
            marks = {ch.owner: len(ch.messages()) for ch in chans + [e_chan]}
            os.kill(B.proc.pid, signal.SIGCONT)
            stopped = False
            await wait_all("connectivity", chans + [e_chan], lambda ch: ch.wait_message(
                is_ecs(B.endpoint_id, "true"), f"{ECS} B active true", STATUS_TIMEOUT, "connectivity",
                start=marks[ch.owner]))
            check(True, "connectivity: B resumed -> every channel, E's included, got active \"true\"")
            # E never sends anything: inactive once first-transfer-timeout has passed
            m = await A.channel.wait_message(is_ecs(e_id, "false"), f"{ECS} E active false (never connected)",
                                             FIRST_TRANSFER_S + 4.0, "connectivity", start=marks["A"])
            dt = time.monotonic() - e_created
            if dt < FIRST_TRANSFER_S - 0.5:
                raise StageFailed("connectivity", f"E reported inactive {dt:.1f} s after creation, before "
                                                  f"first-transfer-timeout ({FIRST_TRANSFER_S} s)")
            check(True, f"connectivity: E (no media) reported inactive {dt:.1f} s after creation: {m}")
            s1 = await get_stats()
            d_disc = s1.get("endpoints_disconnected", 0) - s0.get("endpoints_disconnected", 0)
            d_reco = s1.get("endpoints_reconnected", 0) - s0.get("endpoints_reconnected", 0)
            ec0, ec1 = s0.get("endpoint_connectivity") or {}, s1.get("endpoint_connectivity") or {}
            d_never = ec1.get("never_connected", 0) - ec0.get("never_connected", 0)
            ok = d_disc == 1 and d_reco == 1 and d_never >= 1 and ec1.get("inactive", 0) >= 1
            check(ok, f"connectivity: stats endpoints_disconnected +{d_disc}, endpoints_reconnected +{d_reco} "
                      f"(want +1 each), endpoint_connectivity {ec1} (never_connected +{d_never})")
            if not ok:
                raise StageFailed("connectivity", f"/colibri/stats: disconnected +{d_disc}, reconnected +{d_reco}, "
                                                  f"endpoint_connectivity {ec0} -> {ec1}")
        finally:
            if stopped:
                os.kill(B.proc.pid, signal.SIGCONT)
            if e_chan is not None:
                try:
                    await focus.expire(meeting_id, [e_id])
                except Exception as e:  # pylint: disable=broad-except
                    print(f"  (expire {e_id}: {e})", flush=True)
                await e_chan.close()
        passed("connectivity", "B's stop and resume reported to everyone (SCTP and ws, B itself), the "
                               "inactive list to a newcomer, a never-connected endpoint after "
                               "first-transfer-timeout, counters")

    async def bad_input():
        fails = []

        def bcheck(cond, what):
            if not check(cond, f"bad input: {what}"):
                fails.append(what)
        url_b = B.transport.web_sockets[0]
        st403 = await ws_refused_status(ws_url_with(url_b, pwd="x" * 24))
        st404 = await ws_refused_status(ws_url_with(url_b, server_id="other-id"))
        bcheck(st403 == 403, f"wrong pwd -> HTTP {st403} (want 403)")
        bcheck(st404 == 404, f"server id 'other-id' -> HTTP {st404} (want 404)")
        # the refused handshakes must not have disturbed B's socket
        if B.channel.closed_info() is not None:
            raise StageFailed("bad input", f"B's socket was closed by a refused handshake: {B.channel.closed_info()}")
        await B.channel.send("this is not JSON {")
        await B.channel.send(json.dumps({"colibriClass": "NoSuchThing", "x": 1}))
        await B.channel.send("")
        if "C" in opened:
            await C.channel.send("{not json either")
        # D: an endpoint without media; its socket gets the current dominant speaker, then a huge frame
        t = await focus.allocate(meeting_id, d_id, None, create_conference=False)
        d = WsChannel("D", t.web_sockets[0])
        sockets.append(d)
        await d.open()
        await d.wait_message(lambda m: m.get("colibriClass") == "ServerHello", "ServerHello", CHANNEL_TIMEOUT,
                             "bad input")
        m = await d.wait_message(lambda m: m.get("colibriClass") == DSE, f"{DSE} on connect", CHANNEL_TIMEOUT,
                                 "bad input")
        bcheck(m.get("dominantSpeakerEndpoint") == B.endpoint_id,
               f"D got the current dominant speaker when its socket opened: {m}")
        huge = "".join(random.choices(string.ascii_letters + string.digits, k=HUGE_BYTES))
        try:
            await d.send(json.dumps({"colibriClass": "EndpointMessage", "to": "", "msgPayload": {"h": huge}}))
        except ConnectionClosed:
            pass
        info = await d.wait_closed(5)
        bcheck(info is not None and info[0] == 1009, f"D's socket after a {HUGE_BYTES // 1024} KiB "
                                                     f"frame: closed {info} (want 1009)")
        # the huge message must not have been relayed
        for ch in [p.channel for p in peers if p.label in opened]:
            leaked = [x for x in ch.messages() if isinstance(x.get("msgPayload"), dict) and "h" in x["msgPayload"]]
            bcheck(not leaked, f"the oversized message did not reach {ch.owner}")
        # everything else still works
        for ch in (B.channel,):
            if ch.closed_info() is not None:
                raise StageFailed("bad input", f"{ch.owner}'s socket closed after garbage: {ch.closed_info()}")
        mark = len(A.channel.messages())
        await B.channel.send({"colibriClass": "EndpointMessage", "to": A.endpoint_id, "msgPayload": {"n": 3}})
        m = await A.channel.wait_message(
            lambda m: m.get("colibriClass") == "EndpointMessage" and m.get("msgPayload") == {"n": 3},
            "EndpointMessage from B after the bad input", MESSAGE_TIMEOUT, "bad input", start=mark)
        bcheck(m.get("from") == B.endpoint_id, f"B -> A still works: {m}")
        if "C" in opened:
            mark = len(C.channel.messages())
            await A.channel.send({"colibriClass": "EndpointMessage", "to": C.endpoint_id, "msgPayload": {"n": 4}})
            m = await C.channel.wait_message(
                lambda m: m.get("colibriClass") == "EndpointMessage" and m.get("msgPayload") == {"n": 4},
                "EndpointMessage from A after the bad input", MESSAGE_TIMEOUT, "bad input", start=mark)
            bcheck(m.get("from") == A.endpoint_id, f"A -> C (SCTP) still works: {m}")
        # a newer socket of an endpoint replaces the older one (JVB closes the old one, "replaced")
        old_b = B.channel
        new_b = WsChannel("B", url_b)
        sockets.append(new_b)
        await new_b.open()
        await new_b.wait_message(lambda m: m.get("colibriClass") == "ServerHello", "ServerHello on B's second "
                                 "socket", CHANNEL_TIMEOUT, "bad input")
        info = await old_b.wait_closed(5)
        bcheck(info is not None, f"B's first socket closed when its second one opened: {info}")
        B.channel = new_b
        mark = len(A.channel.messages())
        await B.channel.send({"colibriClass": "EndpointMessage", "to": "", "msgPayload": {"n": 6}})
        m = await A.channel.wait_message(
            lambda m: m.get("colibriClass") == "EndpointMessage" and m.get("msgPayload") == {"n": 6},
            "EndpointMessage from B's second socket", MESSAGE_TIMEOUT, "bad input", start=mark)
        bcheck(m.get("from") == B.endpoint_id, f"B's second socket works: {m}")
        mark = len(A.channel.messages())
        await A.channel.send({"colibriClass": "ClientHello"})
        await A.channel.wait_message(lambda m: m.get("colibriClass") == "ServerHello", "ServerHello for ClientHello",
                                     MESSAGE_TIMEOUT, "bad input", start=mark)
        # the counters (the stats stage re-checks them; here, to name this stage on failure)
        s = await get_stats()
        bc = s.get("bridge_channel", {})
        ok = bc.get("malformed", 0) >= 1 and bc.get("unknown_class", 0) >= 1 and bc.get("websockets_refused", 0) >= 2
        bcheck(ok, f"bridge_channel counters malformed {bc.get('malformed')}, unknown_class "
                  f"{bc.get('unknown_class')}, websockets_refused {bc.get('websockets_refused')}")
        if fails:
            raise StageFailed("bad input", "; ".join(fails))
        passed("bad input", "403/404 refusals, garbage and unknown class ignored, 1009 on a huge frame, "
                            "socket replacement, ClientHello answered, channels unaffected")

    async def final_stats():
        # conference_audio is the media thread's report, up to 1 s old: wait for B to show there
        try:
            s = await wait_stats(lambda s: stats_dominant(s) == B.endpoint_id, "conference_audio naming B", 3)
        except StageFailed:
            s = await get_stats()
        stats.update(s)
        bc = s.get("bridge_channel", {})
        want = [("total_dominant_speaker_changes", s.get("total_dominant_speaker_changes"), 2),
                ("total_colibri_web_socket_messages_received", s.get("total_colibri_web_socket_messages_received"), 1),
                ("total_colibri_web_socket_messages_sent", s.get("total_colibri_web_socket_messages_sent"), 1),
                ("total_data_channel_messages_received", s.get("total_data_channel_messages_received"), 1),
                ("total_data_channel_messages_sent", s.get("total_data_channel_messages_sent"), 1),
                ("bridge_channel.malformed", bc.get("malformed"), 1),
                ("bridge_channel.unknown_class", bc.get("unknown_class"), 1),
                ("bridge_channel.websockets_refused", bc.get("websockets_refused"), 2),
                ("bridge_channel.endpoint_messages_relayed", bc.get("endpoint_messages_relayed"), 4),
                ("endpoints_disconnected", s.get("endpoints_disconnected"), 1),
                ("endpoints_reconnected", s.get("endpoints_reconnected"), 1)]
        bad = []
        for name, v, lo in want:
            ok = isinstance(v, int) and v >= lo
            check(ok, f"stats: {name} = {v} (want >= {lo})")
            if not ok:
                bad.append(name)
        conf = (s.get("conference_audio") or {}).get(meeting_id)
        ok = isinstance(conf, dict) and conf.get("dominant_speaker") == B.endpoint_id
        check(ok, f"stats: conference_audio[{meeting_id}]: dominant_speaker {conf and conf.get('dominant_speaker')}, "
                  f"speaker_changes {conf and conf.get('speaker_changes')}")
        if not ok:
            bad.append("conference_audio")
        print(f"  stats: bridge_channel {json.dumps(bc)}; audio_packets_dropped_not_loudest "
              f"{s.get('audio_packets_dropped_not_loudest')}; conference_audio {json.dumps(conf)}", flush=True)
        if bad:
            raise StageFailed("stats", f"unexpected: {bad}")
        passed("stats", "/colibri/stats counters as expected")

    stages = [("setup", setup, True), ("allocation", allocation, True), ("SDP", sdp, True),
              ("ICE+DTLS", ice_dtls, True), ("colibri-ws", ws_open, False), ("data channel", dc_open, False),
              ("dominant speaker", dominant_speaker, False), ("endpoint messages", endpoint_messages, False),
              ("bad input", bad_input, False), ("connectivity", connectivity, False), ("stats", final_stats, False)]
    # what a stage cannot do without: all of these stages passed / any of these
    needs_all = {"endpoint messages": ("colibri-ws", "data channel"), "bad input": ("colibri-ws",),
                 "connectivity": ("colibri-ws",)}
    needs_any = {}
    try:
        for name, fn, fatal in stages:
            ok_stages = {r[0] for r in results if r[1] == "passed"}
            missing = [n for n in needs_all.get(name, ()) if n not in ok_stages]
            if needs_any.get(name) and not any(n in ok_stages for n in needs_any[name]):
                missing = list(needs_any[name])
            if missing:
                results.append((name, "skipped", 0.0))
                print(f"SKIP stage '{name}': needs {missing}", flush=True)
                continue
            await run_stage(name, fn, fatal)
    except Exception as e:  # pylint: disable=broad-except
        if not isinstance(e, StageFailed) and not any(r[1] == "FAILED" for r in results):
            check(False, f"FAILED AT STAGE '{state['stage']}': {type(e).__name__}: {e}")
    finally:
        for p in peers:
            if p.proc is not None and p.proc.returncode is None and check.failures:
                r = await p.report(timeout=5)
                if r is not None:
                    d = r["datachannel"]
                    print(f"  [{p.name}] ICE {r['ice']['state']} DTLS {r['dtls']['state']}; RTP in "
                          f"{ {k: v['packets'] for k, v in r['rtp_in'].items()} }; frames encoded "
                          f"{r['sender']['rtp_frames_encoded']} (pauses {r['sender']['pause_frames']}); "
                          f"data channel {d['state']} in {d['messages_in']} out {d['messages_out']} "
                          f"SCTP {d['sctp_state']} chunks in {d['chunks_in']} out {d['chunks_out']}", flush=True)
        for ch in [A.channel, B.channel, C.channel]:
            if ch is not None and check.failures:
                print(f"  channel {ch.describe()[:600]}", flush=True)
        for s in sockets:
            await s.close()
        await asyncio.gather(*(p.stop() for p in peers), return_exceptions=True)
        if check.failures:
            for p in peers:
                if p.stderr:
                    print(f"----- {p.name} stderr (last 15 lines, exit code {p.proc.returncode if p.proc else None}) -----")
                    print("\n".join(p.stderr[-15:]))
        if focus is not None:
            try:
                await focus.expire(meeting_id, [p.endpoint_id for p in peers] + [d_id])
            except Exception as e:  # pylint: disable=broad-except
                print(f"  (expire: {e})")
            await focus.close()
        rc = await asyncio.to_thread(bridge.stop, signal.SIGTERM)
        check_no_secrets(bridge.log(), pw, peers)
        if check.failures:
            print(f"----- bridge log (exit code {rc}), last 120 lines -----\n{bridge_tail(120)}")
        print("stages: " + "; ".join(f"{n} {r} {dt:.1f} s" if r != "skipped" else f"{n} skipped"
                                     for n, r, dt in results), flush=True)
        print(f"bridge stopped (exit code {rc}); total {time.monotonic() - started:.1f} s", flush=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    binary = sys.argv[1]

    async def with_bridge(prosody, work):
        await scenario(binary, prosody, work)
    rig.run_with_prosody(with_bridge, check, users=None, limit_s=240)


if __name__ == "__main__":
    main()
