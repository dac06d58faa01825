#!/usr/bin/python3
"""Media end to end: headless Chromium (Debian `chromium`) and an aiortc peer in one conference
on jvb-audio, signalled by a Colibri2 focus through a real Prosody.

    test_chromium_forwarding.py <jvb-audio binary>

Skipped (exit 77) when not root, when /usr/bin/chromium, `ip` or python3-aiortc is missing.

Chromium gathers no candidates on loopback unless --allow-loopback-in-peer-connection, and then
only 127.0.0.1: so the whole scenario runs in a network namespace that this test creates (only
`lo`, up) and deletes in a finally block. The outer process re-runs this file under
`ip netns exec <ns> ... --inner`; after it, every process still in the namespace
(`ip netns pids`) is killed by PID before the namespace is deleted.

Scenario (inner):
 1. Prosody + bridge (rig), Colibri2 focus; the aiortc peer (aiortc_peer.py, 660 Hz, forced SSRC);
    Chromium --headless --remote-debugging-pipe on tests/media/chromium_peer.html (file://), its
    fake microphone reading a generated 440 Hz wav. The DevTools protocol is spoken over the
    pipe (fd 3/4, NUL-terminated JSON): no chromedriver, no node, no websocket.
 2. allocation: the aiortc endpoint with its SSRC (creates the conference), the Chromium endpoint
    without a source (Chromium picks its SSRC; it is signalled with update_sources after the answer).
 3. SDP: Chromium answers webrtc_sdp.build_offer (m-line 0 sendrecv + the aiortc peer's SSRC on
    m-line 1); its answer's ICE/DTLS parameters go to the bridge (update_transport) and its SSRC
    (update_sources); then the aiortc peer answers its offer (Chromium's SSRC on m-line 1).
    JVB_CHROMIUM_OFFER_NO_MID=1 removes the sdes:mid extmap from Chromium's offer (see KEEP_MID).
 4. ICE + DTLS: Chromium's transport stats say connected; the negotiated DTLS/SRTP parameters
    are printed; the aiortc peer's ICE completes and DTLS connects.
 5. media: Chromium receives the aiortc peer's SSRC (inbound-rtp packetsReceived, audio energy)
    and its WebAudio analyser finds ~660 Hz on that track; the aiortc peer decodes ~440 Hz from
    Chromium's SSRC.
 6. ICE restart mid-call, as Jicofo and lib-jitsi-meet run it: the focus sends Jicofo's
    <transport ice-restart='true'/> for the Chromium endpoint; the bridge answers with new
    ufrag/pwd tagged ice-generation='1' (same DTLS fingerprint, same candidates); the page applies
    them as JingleSessionPC.onBridgeIceRestartTransport does (patched offer, answer, candidates
    added) and Chromium restarts ICE with new credentials of its own, which the focus sends back
    tagged ice-generation='1'. Then: the bridge counts the restart as succeeded and no new DTLS
    handshake; Chromium's transport stays DTLS-connected with its new local ufrag on a selected
    pair that keeps getting answers; both tones keep flowing (Chromium's inbound packets and
    analyser, the aiortc peer's packets from Chromium's SSRC). aiortc (1.4) has no ICE restart.
 Opus RED (RFC 2198): Chromium's endpoint negotiates red/48000/2 (Jicofo's pt 112, before Opus),
 so Chromium sends RED; the aiortc peer did not, and hears it stripped to the primary Opus. A
 second page of the same browser (endpoint "RED receiver", also RED) has Chromium's SSRC on its
 m-line 1 and the aiortc peer's on m-line 2: it gets RED as sent and
 hears 440 Hz. Its own microphone SSRC is not signalled (the bridge drops it). /colibri/stats
 must show RED received, stripped (to aiortc) and forwarded (to the second page), none invalid.
"""
import asyncio
import importlib.util
import json
import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, HERE)

CHROMIUM = os.environ.get("JVB_CHROMIUM", "/usr/bin/chromium")
PAGE = os.path.join(HERE, "chromium_peer.html")
PY = "/usr/bin/python3"
CHROME_FREQ = 440.0
AIORTC_FREQ = 660.0
FREQ_TOLERANCE_HZ = 15.0
INNER_LIMIT_S = 200
OUTER_LIMIT_S = 260
# The bridge forwards the sender's sdes:mid extension unchanged (the aiortc peer sends mid '0' on
# every packet). Seen with Chromium 156: harmless here, the stream still lands on m-line 1, because
# the a=ssrc of that m-line binds the SSRC in Chromium's demuxer and a *known* MID ('0' exists in
# Chromium's BUNDLE too) does not override that binding. JVB_CHROMIUM_OFFER_NO_MID=1 removes the
# extmap from Chromium's offer (then Chromium can only demux by a=ssrc).
KEEP_MID = os.environ.get("JVB_CHROMIUM_OFFER_NO_MID") != "1"

CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
    "--allow-file-access-from-files", "--remote-debugging-pipe",
]


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(77)


# -- outer: the network namespace ------------------------------------------------------------

def outer(binary, script=None, inner_args=None):
    """Re-runs `script` (default: this file) as `script --inner <binary>` (or `script *inner_args`)
    inside a fresh network namespace; exits with its exit code."""
    script = os.path.abspath(script or __file__)
    inner_args = list(inner_args) if inner_args is not None else ["--inner", os.path.abspath(binary)]
    if os.geteuid() != 0:
        skip("needs root (network namespace, Prosody runs as user prosody)")
    if not os.access(CHROMIUM, os.X_OK):
        skip(f"{CHROMIUM} missing (Debian package chromium; scripts/install-deps.sh installs it)")
    if shutil.which("ip") is None:
        skip("`ip` missing (iproute2)")
    try:
        have_aiortc = importlib.util.find_spec("aiortc") is not None
    except (ImportError, ValueError):
        have_aiortc = False
    if not have_aiortc:
        skip("python3-aiortc is not installed")
    ns = f"jvbchr-{os.getpid()}-{random.getrandbits(16):04x}"
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        skip(f"cannot create a network namespace: {r.stderr.strip()}")
    rc = 1
    proc = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=20)
        print(f"network namespace {ns} (lo only)", flush=True)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, PY, script] + inner_args)
        try:
            rc = proc.wait(timeout=OUTER_LIMIT_S)
        except subprocess.TimeoutExpired:
            print(f"FAIL inner run exceeded {OUTER_LIMIT_S} s, killing it", flush=True)
            proc.kill()
            proc.wait(timeout=10)
            rc = 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        # whatever is left in the namespace (a crashed inner run): stopped by PID
        for attempt in range(2):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                  timeout=20).stdout.split()
            if not pids:
                break
            print(f"{'killing' if attempt else 'terminating'} leftover processes in {ns}: {pids}", flush=True)
            for p in pids:
                try:
                    os.kill(int(p), signal.SIGKILL if attempt else signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass
            time.sleep(2)
        subprocess.run(["ip", "netns", "del", ns], timeout=20)
        print(f"network namespace {ns} deleted", flush=True)
    sys.exit(rc)


# -- the DevTools protocol over --remote-debugging-pipe -------------------------------------

class Chromium:
    """Chromium with --remote-debugging-pipe: it reads commands on fd 3 and writes on fd 4,
    each message one JSON object terminated by NUL."""

    def __init__(self, wav, work):
        self.profile = tempfile.mkdtemp(prefix="chromium-profile.", dir=work)
        to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, from_chrome_w = os.pipe()
        args = CHROME_FLAGS + [f"--user-data-dir={self.profile}", f"--use-file-for-fake-audio-capture={wav}",
                               "about:blank"]
        # the wrapper script /usr/bin/chromium passes fds through; bash (dash takes no fd > 9) puts them on 3 and 4
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-',
             CHROMIUM] + args,
            pass_fds=(to_chrome_r, from_chrome_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.lines = []
        self._next_id = 0
        self._lock = threading.Lock()
        self._pending = {}  # id -> [event, result]
        self.events = []
        threading.Thread(target=self._read_log, daemon=True).start()
        threading.Thread(target=self._read_pipe, daemon=True).start()
        self.session = None

    def _read_log(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _read_pipe(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome_r, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if "id" in msg:
                    with self._lock:
                        slot = self._pending.get(msg["id"])
                    if slot is not None:
                        slot[1] = msg
                        slot[0].set()
                elif len(self.events) < 500:
                    self.events.append(msg)
        with self._lock:
            for slot in self._pending.values():
                slot[0].set()

    def call(self, method, params=None, session=None, timeout=15.0):
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            slot = self._pending[mid] = [threading.Event(), None]
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome_w, json.dumps(msg).encode() + b"\0")
        ok = slot[0].wait(timeout)
        with self._lock:
            self._pending.pop(mid, None)
        if not ok or slot[1] is None:
            raise RuntimeError(f"DevTools {method}: no answer within {timeout:g} s "
                               f"(chromium {'exited ' + str(self.proc.poll()) if self.proc.poll() is not None else 'running'})")
        if "error" in slot[1]:
            raise RuntimeError(f"DevTools {method}: {slot[1]['error']}")
        return slot[1].get("result", {})

    def open_page(self, url, timeout=60.0):
        deadline = time.monotonic() + timeout
        target = None
        while time.monotonic() < deadline and target is None:
            # The first answer waits for the browser's start-up, slow on a busy host.
            infos = self.call("Target.getTargets",
                              timeout=max(5.0, deadline - time.monotonic()))["targetInfos"]
            target = next((t["targetId"] for t in infos if t["type"] == "page"), None)
            if target is None:
                time.sleep(0.2)
        if target is None:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=self.session)
        self.call("Runtime.enable", session=self.session)
        self.call("Page.navigate", {"url": url}, session=self.session)
        while time.monotonic() < deadline:
            if self.evaluate("typeof window.answerOffer === 'function' && document.readyState === 'complete'",
                             timeout=5):
                return
            time.sleep(0.2)
        raise RuntimeError(f"page {url} did not load within {timeout:g} s")

    def open_extra_page(self, url, timeout=60.0):
        """Another tab with `url`; returns its DevTools session (for evaluate(session=))."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=session)
        self.call("Runtime.enable", session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate("typeof window.answerOffer === 'function' && document.readyState === 'complete'",
                             timeout=5, session=session):
                return session
            time.sleep(0.2)
        raise RuntimeError(f"extra page {url} did not load within {timeout:g} s")

    def evaluate(self, expr, timeout=20.0, session=None):
        r = self.call("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True,
                                           "timeout": int(timeout * 1000)}, session=session or self.session,
                      timeout=timeout + 2)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(f"page: {d.get('exception', {}).get('description') or d.get('text')}")
        return r.get("result", {}).get("value")

    def console(self):
        out = []
        for e in self.events:
            if e.get("method") == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"]))
            elif e.get("method") == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(e["params"]["exceptionDetails"])[:300])
        return out

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", timeout=5)
            except Exception:  # pylint: disable=broad-except
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        for fd in (self._to_chrome_w, self._from_chrome_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
        return self.proc.returncode


def write_tone_wav(path, freq, secs=10.0, rate=48000, amplitude=0.3):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(secs * rate)
        w.writeframes(b"".join(struct.pack("<h", int(amplitude * 32767 * math.sin(2 * math.pi * freq * i / rate)))
                               for i in range(n)))


# -- stage 6: in-place ICE restart -------------------------------------------------------------

async def ice_restart_stage(check, bridge, focus, chrome, peer, meeting, ep_c, tc, ans_c, ssrc_a, ssrc_c,
                            aiortc_packets_before, rx_before):
    import rig
    import webrtc_sdp
    from test_aiortc_forwarding import StageFailed

    def stats():
        status, body = rig.http_get(bridge.http_port, "/colibri/stats")
        return body if status == 200 and isinstance(body, dict) else {}

    def chrome_transport(cs):
        tr = next((r for r in cs["reports"] if r["type"] == "transport"), {})
        pair = next((r for r in cs["reports"] if r.get("id") == tr.get("selectedCandidatePairId")), {})
        return tr, pair

    before = await asyncio.to_thread(stats)
    dtls_before = before.get("dtls_handshakes_succeeded")
    cs0 = await asyncio.to_thread(chrome.evaluate, "stats()", 10)
    tr0, pair0 = chrome_transport(cs0)

    # Jicofo's Colibri2Session.restartIce, and the bridge's answer.
    t1 = await focus.restart_ice(meeting, ep_c)
    ok = (t1 is not None and t1.ice_generation == 1 and t1.ufrag != tc.ufrag and t1.pwd != tc.pwd
          and (t1.fingerprint.hash, t1.fingerprint.value) == (tc.fingerprint.hash, tc.fingerprint.value)
          and ("127.0.0.1", bridge.udp_port) in [(c.ip, c.port) for c in t1.candidates if c.protocol == "udp"]
          and t1.rtcp_mux and t1.sctp is None)
    check(ok, f"ICE restart: the bridge answers Jicofo's ice-restart with ice-generation "
              f"{t1.ice_generation if t1 else None}, ufrag {tc.ufrag} -> {t1.ufrag if t1 else None}, the same "
              f"DTLS fingerprint, candidates {[(c.ip, c.port) for c in t1.candidates] if t1 else None}")
    if not ok:
        raise StageFailed("ICE restart", "no usable restart transport from the bridge")

    # lib-jitsi-meet's onBridgeIceRestartTransport in the page; its answer back, tagged.
    cands = [c.to_sdp() for c in t1.candidates if c.protocol == "udp"]
    res = await asyncio.to_thread(
        chrome.evaluate, f"restartIce({json.dumps(t1.ufrag)}, {json.dumps(t1.pwd)}, {json.dumps(cands)})", 20)
    ans1 = webrtc_sdp.parse_answer(res["sdp"])
    ok = ans1.ufrag and ans1.ufrag != ans_c.ufrag and ans1.pwd != ans_c.pwd and \
        ans1.fingerprint.value == ans_c.fingerprint.value
    check(ok, f"ICE restart: chromium answered with new credentials (ufrag {ans_c.ufrag} -> {ans1.ufrag}), "
              f"the same fingerprint, {len(ans1.candidates)} candidate(s) so far")
    if not ok:
        raise StageFailed("ICE restart", f"chromium did not restart ICE:\n{res['sdp']}")
    await focus.update_transport(meeting, ep_c, ans1.ufrag, ans1.pwd, ans1.fingerprint, ans1.setup,
                                 [c for c in ans1.candidates if c.protocol == "udp"], ice_generation=1)

    # The bridge's new agent connects and it cuts over; no new DTLS handshake.
    deadline = time.monotonic() + 15
    st = {}
    while time.monotonic() < deadline:
        st = await asyncio.to_thread(stats)
        if st.get("ice_restarts", {}).get("succeeded", 0) >= 1 or st.get("ice_restarts", {}).get("failed", 0):
            break
        await asyncio.sleep(0.3)
    restarts = st.get("ice_restarts", {})
    check(restarts.get("succeeded") == 1 and restarts.get("started") == 1 and not restarts.get("failed"),
          f"ICE restart: the bridge cut over to the new pair: /colibri/stats ice_restarts {restarts}")
    check(dtls_before is not None and st.get("dtls_handshakes_succeeded") == dtls_before
          and st.get("dtls_failed_endpoints") == 0,
          f"ICE restart: no DTLS handshake since: dtls_handshakes_succeeded {dtls_before} -> "
          f"{st.get('dtls_handshakes_succeeded')}, dtls_failed_endpoints {st.get('dtls_failed_endpoints')}")
    await asyncio.to_thread(bridge.wait_log, "ICE restart generation 1 connected", 5)
    cut = next((l for l in bridge.lines if "ICE restart generation 1 connected to" in l), "")
    cut_port = cut.split(" connected to ")[1].split(":")[1] if " connected to " in cut else None

    # Chromium: still DTLS-connected, its new local ufrag, a selected pair that gets answers.
    await asyncio.sleep(3)
    for _ in range(6):
        await asyncio.to_thread(chrome.evaluate, "sampleTracks()", 5)
        await asyncio.sleep(0.5)
    cs = await asyncio.to_thread(chrome.evaluate, "stats()", 10)
    tr1, pair1 = chrome_transport(cs)
    local_ufrag = tr1.get("iceLocalUsernameFragment")
    ok = (tr1.get("dtlsState") == "connected" and pair1.get("state") == "succeeded"
          and (pair1.get("responsesReceived") or 0) > 0
          and (local_ufrag is None or local_ufrag == ans1.ufrag))
    local = next((r for r in cs["reports"] if r.get("id") == pair1.get("localCandidateId")), {})
    check(cut_port is not None and cut_port == str(local.get("port")),
          f"ICE restart: the bridge cut over to chromium's new selected candidate 127.0.0.1:{local.get('port')} "
          f"(before: {next((r.get('port') for r in cs0['reports'] if r.get('id') == pair0.get('localCandidateId')), '?')}"
          f"): {cut.strip()[-160:]}")
    check(ok, f"ICE restart: chromium transport dtls {tr1.get('dtlsState')} ice {tr1.get('iceState')}, local "
              f"ufrag {local_ufrag} (want {ans1.ufrag}), selected pair {pair0.get('id')} -> {pair1.get('id')} "
              f"{pair1.get('state')}, requests/responses received {pair1.get('requestsReceived')}/"
              f"{pair1.get('responsesReceived')}; log {cs['log'][-4:]}")

    # The tones go on both ways.
    rx1 = next((r for r in cs["reports"] if r["type"] == "inbound-rtp" and r.get("ssrc") == ssrc_a), None)
    grown = (rx1 or {}).get("packetsReceived", 0) - (rx_before or {}).get("packetsReceived", 0)
    tone_mid = (rx1 or {}).get("mid") or "1"
    hz = [x["hz"] for x in cs["samples"].get(tone_mid, [])[-6:] if x["hz"] is not None and (x["db"] or -200) > -80]
    good = [h for h in hz if abs(h - AIORTC_FREQ) <= FREQ_TOLERANCE_HZ]
    check(grown > 150 and len(hz) >= 4 and len(good) >= len(hz) * 0.75,
          f"ICE restart: chromium still hears {AIORTC_FREQ:g} Hz from SSRC {ssrc_a}: +{grown} packets, "
          f"last analyser samples {cs['samples'].get(tone_mid, [])[-6:]}")
    report = await peer.report()
    got = (report or {}).get("rtp_in", {}).get(str(ssrc_c), {})
    grown_a = got.get("packets", 0) - aiortc_packets_before
    tr_a = (report or {}).get("tracks", {}).get("1", {})
    check(grown_a > 150 and tr_a.get("dominant_hz") is not None
          and abs(tr_a["dominant_hz"] - CHROME_FREQ) <= FREQ_TOLERANCE_HZ,
          f"ICE restart: the aiortc peer still hears chromium's SSRC {ssrc_c}: +{grown_a} packets, dominant "
          f"{tr_a.get('dominant_hz')} Hz")


# -- inner: the scenario, inside the namespace ------------------------------------------------

def inner(binary):
    import rig
    import webrtc_sdp
    from test_aiortc_forwarding import PeerProc, StageFailed, state_is
    import test_aiortc_forwarding as taf
    from colibri2_focus import RED_PT
    taf.FREQS[:] = [CHROME_FREQ, AIORTC_FREQ]  # what PeerProc passes as --listen-for

    check = rig.Checker()

    async def scenario(prosody, work):
        from colibri2_focus import Colibri2Focus
        started = time.monotonic()
        stage = "setup"
        meeting = f"chromium-{random.getrandbits(48):012x}"
        ep_a, ep_c = f"{random.getrandbits(32):08x}", f"{random.getrandbits(32):08x}"
        ep_r = f"{random.getrandbits(32):08x}"  # the second page: the RED receiver
        red_page = None
        ssrc_a = random.randrange(0x10000, 0xFFFFFFFF)
        bridge = focus = chrome = None
        peer = PeerProc(f"aiortc-{int(AIORTC_FREQ)}Hz", AIORTC_FREQ, ssrc_a)
        report = None
        cstats = None
        try:
            wav = os.path.join(work, "tone440.wav")
            write_tone_wav(wav, CHROME_FREQ)
            bridge = rig.BridgeProcess(binary, rig.xmpp_bridge_conf(prosody, "jvb1", prosody.secrets["JVB_PASSWORD"]),
                                       work, "jvb1")
            await asyncio.to_thread(bridge.start)
            focus = Colibri2Focus(f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"], "127.0.0.1",
                                  prosody.port, prosody.brewery, bridge="jvb1")
            await focus.connect_and_join(wait_bridge=20)
            await peer.start(max_secs=INNER_LIMIT_S)
            await peer.wait_event(lambda e: e.get("event") == "ready", "ready line", 20, "setup")
            chrome = Chromium(wav, work)
            await asyncio.to_thread(chrome.open_page, "file://" + PAGE)
            red_page = await asyncio.to_thread(chrome.open_extra_page, "file://" + PAGE)
            ver = await asyncio.to_thread(chrome.call, "Browser.getVersion")
            check(True, f"setup: Prosody, bridge, focus, aiortc peer {ep_a} (ssrc {ssrc_a}), "
                        f"{ver.get('product')} on the page")

            stage = "allocation"
            room = f"{meeting}@conference.example.test"
            ta = await focus.allocate(meeting, ep_a, ssrc_a, create_conference=True, room_name=room)
            tc = await focus.allocate(meeting, ep_c, None, create_conference=False, room_name=room, red=True)
            tr_ = await focus.allocate(meeting, ep_r, None, create_conference=False, room_name=room, red=True)
            for name, t in (("aiortc", ta), ("chromium", tc), ("RED receiver", tr_)):
                udp = [(c.ip, c.port) for c in t.candidates if c.protocol == "udp"]
                ok = ("127.0.0.1", bridge.udp_port) in udp and t.rtcp_mux
                check(ok, f"allocation: {name}: ufrag {t.ufrag} candidates {udp} fingerprint "
                          f"{t.fingerprint.hash}/{t.fingerprint.setup} feedback-ssrc {t.feedback_ssrc('audio')}")
                if not ok:
                    raise StageFailed("allocation", f"{name}: no 127.0.0.1:{bridge.udp_port} udp candidate or no rtcp-mux")

            stage = "SDP (chromium)"
            offer_c = webrtc_sdp.build_offer(tc.ufrag, tc.pwd, tc.fingerprint, tc.candidates,
                                             [webrtc_sdp.RemoteSource(ep_a, ssrc_a)], tc.feedback_ssrc("audio"),
                                             red_pt=RED_PT)
            if not KEEP_MID:
                offer_c = "".join(l for l in offer_c.splitlines(True) if webrtc_sdp.MID_URI not in l)
            res = await asyncio.to_thread(chrome.evaluate, f"answerOffer({json.dumps(offer_c)})", 20)
            ans_c = webrtc_sdp.parse_answer(res["sdp"])
            udp_c = [c for c in ans_c.candidates if c.protocol == "udp" and c.ip == "127.0.0.1"]
            ok = (ans_c.ssrc is not None and ans_c.setup in ("active", "passive") and udp_c
                  and ans_c.directions.get("0") == "sendrecv" and ans_c.directions.get("1") == "recvonly")
            check(ok, f"SDP: chromium answered: ssrc {ans_c.ssrc}, setup {ans_c.setup}, candidates "
                      f"{[(c.ip, c.port, c.protocol) for c in ans_c.candidates]}, directions {ans_c.directions}, "
                      f"hdrexts {ans_c.extmaps.get('0')}, codecs m0 {ans_c.codecs.get('0')}, "
                      f"offer sdes:mid extmap {'kept' if KEEP_MID else 'removed'}, AudioContext {res['ctxState']} "
                      f"{res['sampleRate']} Hz")
            if not ok:
                raise StageFailed("SDP", f"chromium: unexpected answer:\n{res['sdp']}")
            ssrc_c = ans_c.ssrc
            ans_c.candidates = udp_c
            await focus.update_transport(meeting, ep_c, ans_c.ufrag, ans_c.pwd, ans_c.fingerprint, ans_c.setup,
                                         ans_c.candidates)
            await focus.update_sources(meeting, ep_c, [ssrc_c])
            formats = next((l.split()[3:] for l in res["sdp"].splitlines() if l.startswith("m=audio")), [])
            check(formats[:1] == [str(RED_PT)],
                  f"SDP: chromium's transport and source {ssrc_c} sent to the bridge; its answer's first "
                  f"format is RED ({formats}), so it sends RED")

            stage = "SDP (RED receiver)"
            offer_r = webrtc_sdp.build_offer(tr_.ufrag, tr_.pwd, tr_.fingerprint, tr_.candidates,
                                             [webrtc_sdp.RemoteSource(ep_c, ssrc_c),
                                              webrtc_sdp.RemoteSource(ep_a, ssrc_a)],
                                             tr_.feedback_ssrc("audio"), red_pt=RED_PT)
            if not KEEP_MID:
                offer_r = "".join(l for l in offer_r.splitlines(True) if webrtc_sdp.MID_URI not in l)
            res_r = await asyncio.to_thread(chrome.evaluate, f"answerOffer({json.dumps(offer_r)})", 20,
                                            red_page)
            ans_r = webrtc_sdp.parse_answer(res_r["sdp"])
            udp_r = [c for c in ans_r.candidates if c.protocol == "udp" and c.ip == "127.0.0.1"]
            ok = bool(udp_r) and ans_r.setup in ("active", "passive") and ans_r.directions.get("1") == "recvonly"
            check(ok, f"SDP: the RED receiver answered: setup {ans_r.setup}, directions {ans_r.directions}, "
                      f"codecs m1 {ans_r.codecs.get('1')}")
            if not ok:
                raise StageFailed("SDP", f"RED receiver: unexpected answer:\n{res_r['sdp']}")
            await focus.update_transport(meeting, ep_r, ans_r.ufrag, ans_r.pwd, ans_r.fingerprint, ans_r.setup,
                                         udp_r)

            stage = "SDP (aiortc)"
            offer_a = webrtc_sdp.build_offer(ta.ufrag, ta.pwd, ta.fingerprint, ta.candidates,
                                             [webrtc_sdp.RemoteSource(ep_c, ssrc_c)], ta.feedback_ssrc("audio"))
            peer.send({"cmd": "offer", "sdp": offer_a})
            ev = await peer.wait_event(lambda e: e.get("event") == "answer", "SDP answer", 15, "SDP",
                                       fail_pred=lambda e: e.get("event") == "error" and "offer" in e.get("what", ""))
            ans_a = webrtc_sdp.parse_answer(ev["sdp"])
            ok = ans_a.ssrc == ssrc_a and ans_a.directions.get("1") == "recvonly"
            check(ok, f"SDP: aiortc answered: ssrc {ans_a.ssrc}, setup {ans_a.setup}, directions {ans_a.directions}, "
                      f"hdrexts {ans_a.extmaps.get('0')} (with sdes:mid aiortc puts mid '0' on every packet)")
            if not ok:
                raise StageFailed("SDP", f"aiortc: unexpected answer:\n{ev['sdp']}")
            await focus.update_transport(meeting, ep_a, ans_a.ufrag, ans_a.pwd, ans_a.fingerprint, ans_a.setup,
                                         ans_a.candidates)

            stage = "ICE/DTLS"
            await peer.wait_event(state_is("dtls", "connected"), "DTLS connected", 20, "ICE/DTLS",
                                  fail_pred=state_is("dtls", "failed"))
            check(True, "ICE/DTLS: aiortc peer connected")
            deadline = time.monotonic() + 20
            tr = {}
            while time.monotonic() < deadline:
                cstats = await asyncio.to_thread(chrome.evaluate, "stats()", 10)
                tr = next((r for r in cstats["reports"] if r["type"] == "transport"), {})
                if tr.get("dtlsState") in ("connected", "failed", "closed"):
                    break
                await asyncio.sleep(0.3)
            pair = next((r for r in cstats["reports"] if r.get("id") == tr.get("selectedCandidatePairId")), {})
            ok = tr.get("dtlsState") == "connected" and tr.get("iceState") == "connected" or \
                (tr.get("dtlsState") == "connected" and pair.get("state") == "succeeded")
            check(ok, f"ICE/DTLS: chromium transport: ice {tr.get('iceState')} role {tr.get('iceRole')}, "
                      f"dtls {tr.get('dtlsState')} role {tr.get('dtlsRole')} {tr.get('tlsVersion')} "
                      f"{tr.get('dtlsCipher')}, SRTP {tr.get('srtpCipher')}, selected pair state {pair.get('state')} "
                      f"nominated {pair.get('nominated')} requests sent/received {pair.get('requestsSent')}/"
                      f"{pair.get('requestsReceived')}; log {cstats['log']}")
            if not ok:
                raise StageFailed("ICE/DTLS", "chromium transport not connected")
            deadline = time.monotonic() + 20
            tr_r = {}
            while time.monotonic() < deadline:
                rstats = await asyncio.to_thread(chrome.evaluate, "stats()", 10, red_page)
                tr_r = next((r for r in rstats["reports"] if r["type"] == "transport"), {})
                if tr_r.get("dtlsState") in ("connected", "failed", "closed"):
                    break
                await asyncio.sleep(0.3)
            check(tr_r.get("dtlsState") == "connected",
                  f"ICE/DTLS: the RED receiver's transport: dtls {tr_r.get('dtlsState')}, SRTP {tr_r.get('srtpCipher')}")
            if tr_r.get("dtlsState") != "connected":
                raise StageFailed("ICE/DTLS", "the RED receiver's transport not connected")

            stage = "media"
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                await asyncio.to_thread(chrome.evaluate, "sampleTracks()", 5)
                await asyncio.to_thread(chrome.evaluate, "sampleTracks()", 5, red_page)
            report = await peer.report()
            cstats = await asyncio.to_thread(chrome.evaluate, "stats()", 10)
            reps = cstats["reports"]
            inbound = [r for r in reps if r["type"] == "inbound-rtp"]
            for r in inbound:
                print(f"  chromium inbound-rtp mid {r.get('mid')} ssrc {r.get('ssrc')}: packets "
                      f"{r.get('packetsReceived')} lost {r.get('packetsLost')} energy {r.get('totalAudioEnergy')} "
                      f"level {r.get('audioLevel')} samples {r.get('totalSamplesReceived')} "
                      f"concealed {r.get('concealedSamples')} codec {r.get('codecId')}", flush=True)
            for r in reps:
                if r["type"] in ("outbound-rtp", "remote-inbound-rtp", "remote-outbound-rtp"):
                    keep = {k: r.get(k) for k in ("ssrc", "mid", "packetsSent", "bytesSent", "packetsReceived",
                                                  "packetsLost", "fractionLost", "roundTripTime",
                                                  "roundTripTimeMeasurements", "reportsSent", "remoteTimestamp",
                                                  "nackCount", "retransmittedPacketsSent") if k in r}
                    print(f"  chromium {r['type']}: {keep}", flush=True)
            samples = cstats["samples"]
            rx = next((r for r in inbound if r.get("ssrc") == ssrc_a), None)
            ok = rx is not None and rx.get("packetsReceived", 0) > 100 and (rx.get("totalAudioEnergy") or 0) > 0
            check(ok, f"media: chromium receives the aiortc peer's SSRC {ssrc_a}: "
                      f"{json.dumps({k: rx.get(k) for k in ('mid', 'packetsReceived', 'totalAudioEnergy', 'audioLevel')}) if rx else 'no inbound-rtp'}")
            tone_mid = rx.get("mid") if rx else "1"
            hz = [s["hz"] for s in samples.get(tone_mid, [])[-8:] if s["hz"] is not None and (s["db"] or -200) > -80]
            good = [h for h in hz if abs(h - AIORTC_FREQ) <= FREQ_TOLERANCE_HZ]
            ok = len(hz) >= 4 and len(good) >= len(hz) * 0.75
            check(ok, f"media: chromium's analyser on mid {tone_mid} hears {AIORTC_FREQ:g} Hz: last samples "
                      f"{samples.get(tone_mid, [])[-8:]}; all tracks {list(samples)}")
            if report is None:
                raise StageFailed("media", "no report from the aiortc peer")
            tr_a = report["tracks"].get("1", {})
            got = report["rtp_in"].get(str(ssrc_c), {})
            ok = (got.get("packets", 0) > 100 and tr_a.get("frames", 0) >= 100 and tr_a.get("dominant_hz") is not None
                  and abs(tr_a["dominant_hz"] - CHROME_FREQ) <= FREQ_TOLERANCE_HZ
                  and tr_a.get("shares", {}).get(str(int(CHROME_FREQ)), 0) >= 0.5)
            check(ok, f"media: aiortc hears chromium's SSRC {ssrc_c}: packets {got.get('packets')}, mids "
                      f"{got.get('mids')}, audio-level packets {got.get('audio_level_packets')} (median "
                      f"{got.get('audio_level_median')}), track mid 1: {tr_a.get('frames')} frames, dominant "
                      f"{tr_a.get('dominant_hz')} Hz (want {CHROME_FREQ:g}), RMS {tr_a.get('rms_dbfs')} dBFS, "
                      f"shares {tr_a.get('shares')}")
            own = report["rtp_in"].get(str(ssrc_a), {}).get("packets", 0)
            check(own == 0, f"media: the aiortc peer does not hear itself ({own} packets with its own SSRC)")
            # The RED receiver: Chromium's SSRC as RED (its inbound codec), 440 Hz on mid 1.
            rstats = await asyncio.to_thread(chrome.evaluate, "stats()", 10, red_page)
            rin = next((r for r in rstats["reports"] if r["type"] == "inbound-rtp" and r.get("ssrc") == ssrc_c), None)
            codec = next((r for r in rstats["reports"] if rin and r.get("id") == rin.get("codecId")), {})
            # (Chromium's NetEq splits RED before decoding: the inbound codec it reports is the
            # primary's, Opus; that it came as RED is in the bridge's counters below.)
            ok = rin is not None and rin.get("packetsReceived", 0) > 100
            check(ok, f"media: the RED receiver gets chromium's SSRC {ssrc_c}: packets "
                      f"{rin.get('packetsReceived') if rin else None}, mid {rin.get('mid') if rin else None}, "
                      f"codec {codec.get('mimeType')} {codec.get('sdpFmtpLine')}")
            red_mid = rin.get("mid") if rin else "1"
            rs = rstats["samples"].get(red_mid, [])[-8:]
            hz = [x["hz"] for x in rs if x["hz"] is not None and (x["db"] or -200) > -80]
            good = [h for h in hz if abs(h - CHROME_FREQ) <= FREQ_TOLERANCE_HZ]
            check(len(hz) >= 4 and len(good) >= len(hz) * 0.75,
                  f"media: the RED receiver's analyser on mid {red_mid} hears {CHROME_FREQ:g} Hz: last samples {rs}")
            status, st = rig.http_get(bridge.http_port, "/colibri/stats")
            red = st.get("red", {}) if status == 200 and isinstance(st, dict) else {}
            # Chromium's bandwidth probes (padding only, under the RED pt) are not RED.
            ok = (red.get("packets_received", 0) > 100 and red.get("red_packets_decapsulated", 0) > 100
                  and red.get("red_packets_forwarded", 0) > 100 and red.get("invalid_red_packets_dropped") == 0
                  and red.get("packets_malformed") == 0)
            check(ok, f"media: /colibri/stats red: {red} (chromium sent RED; stripped for aiortc, as sent "
                      f"to the RED receiver; padding-only probes apart)")
            # The same figures on /metrics, through prometheus_client's own text parser.
            from prometheus_client.parser import text_string_to_metric_families
            status, text = rig.http_get(bridge.http_port, "/metrics")
            prom = {}
            if status == 200 and isinstance(text, str):
                for fam in text_string_to_metric_families(text):
                    for sample in fam.samples:
                        prom[sample.name] = sample.value
            want = {"jvb_audio_red_packets_received_total": red.get("packets_received"),
                    "jvb_audio_red_packets_decapsulated_total": red.get("red_packets_decapsulated"),
                    "jvb_audio_red_packets_forwarded_total": red.get("red_packets_forwarded"),
                    "jvb_audio_red_packets_invalid_dropped_total": 0,
                    "jvb_audio_red_packets_malformed_total": 0}
            # Counters read a moment after /colibri/stats: never below it.
            ok = status == 200 and all(k in prom and prom[k] >= (v or 0) and (v != 0 or prom[k] == 0)
                                       for k, v in want.items())
            check(ok, f"media: /metrics RED counters {({k: prom.get(k) for k in want})} against "
                      f"/colibri/stats {red}")
            rtp_counts = {k: v["packets"] for k, v in report["rtp_in"].items()}
            print(f"  aiortc wire: RTCP in {report['rtcp_in']} from SSRCs {report.get('rtcp_in_sender_ssrcs')}; "
                  f"RTP packets in per SSRC {rtp_counts}", flush=True)

            stage = "ICE restart"
            await ice_restart_stage(check, bridge, focus, chrome, peer, meeting, ep_c, tc, ans_c, ssrc_a, ssrc_c,
                                    got.get("packets", 0), rx)
        except StageFailed as e:
            check(False, f"FAILED AT STAGE '{e.stage}': {e.msg}")
        except Exception as e:  # pylint: disable=broad-except
            check(False, f"FAILED AT STAGE '{stage}': {type(e).__name__}: {e}")
        finally:
            if check.failures:
                if chrome is not None:
                    try:
                        st = await asyncio.to_thread(chrome.evaluate, "stats()", 5)
                        print("----- chromium page log -----\n" + "\n".join(st["log"]))
                    except Exception as e:  # pylint: disable=broad-except
                        print(f"(chromium stats: {e})")
                    print("----- chromium console -----\n" + "\n".join(chrome.console()[-20:]))
                    print("----- chromium output (last 30 lines) -----\n" + "\n".join(chrome.lines[-30:]))
                if peer.stderr:
                    print("----- aiortc peer stderr (last 20 lines) -----\n" + "\n".join(peer.stderr[-20:]))
                if bridge is not None:
                    print("----- bridge log (tail) -----\n" + bridge.log()[-5000:])
            if chrome is not None:
                rc = await asyncio.to_thread(chrome.close)
                print(f"  chromium stopped (exit code {rc})", flush=True)
            await peer.stop()
            if focus is not None:
                try:
                    await focus.expire(meeting, [ep_a, ep_c, ep_r])
                except Exception as e:  # pylint: disable=broad-except
                    print(f"  (expire: {e})")
                await focus.close()
            if bridge is not None:
                rc = await asyncio.to_thread(bridge.stop, signal.SIGTERM)
                print(f"  bridge stopped (exit code {rc})", flush=True)
            print(f"total {time.monotonic() - started:.1f} s", flush=True)

    rig.run_with_prosody(scenario, check, users=None, limit_s=INNER_LIMIT_S)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--inner":
        inner(sys.argv[2])
        return
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    outer(sys.argv[1])


if __name__ == "__main__":
    main()
