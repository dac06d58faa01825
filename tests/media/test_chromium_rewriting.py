#!/usr/bin/python3
"""SSRC rewriting + rtp-mid-demux end to end with headless Chromium as a lib-jitsi-meet receiver.

    test_chromium_rewriting.py <jvb-audio binary>
    test_chromium_rewriting.py --selftest        (the page's SDP munging against a loopback
                                                  pair inside Chromium; no bridge, no Prosody)

Skipped (exit 77) when not root, when /usr/bin/chromium, `ip` or python3-aiortc is missing.
Runs in a network namespace of its own, as test_chromium_forwarding.py does (whose netns
runner and DevTools-pipe Chromium driver it uses).

Scenario (inner), the receiver side as Jicofo in its default mode and lib-jitsi-meet drive it
(shared/docs/ssrc-rewriting.md sections 1, 3, 4 and 6):
 1. setup: Prosody + bridge (colibri-ws on its public HTTP port, REST /colibri/stats), a
    Colibri2 focus; two aiortc senders A (660 Hz) and B (880 Hz) with forced SSRCs; Chromium
    --headless --remote-debugging-pipe on tests/media/chromium_rewriting.html, its fake
    microphone reading a generated 440 Hz wav.
 2. allocation: A (creates the conference) plain (source-names); B and Chromium C with the
    capabilities source-names, ssrc-rewriting and rtp-mid-demux, B also with <sctp/> (its bridge
    channel is the data channel), C with no source (its SSRC is signalled with update_sources
    after the answer); C's transport has a <web-socket> URL.
 3. SDP: C gets NO remote sources: one audio m-line (mid 0, sendrecv) with only the bridge's
    feedback SSRC jvb-a0 (msid mixedmslabel mixedlabelaudio0), extmaps ssrc-audio-level 1 and
    sdes:mid 10 (webrtc_sdp.build_offer, no remote_sources). Its answer goes to the bridge
    (update_transport, update_sources). A gets a plain offer with B's and C's SSRCs on m-lines
    1 and 2; B, rewriting too, only m-line 0 and the data channel section. Never a source-add.
 4. bridge channel: the page opens C's colibri-ws itself (new WebSocket) and gets ServerHello.
 5. ICE/DTLS: both aiortc peers and Chromium connected.
 6. source map: C receives AudioSourcesMap entries for A and B: source '<ep>-a0', owner,
    ssrc a JSON number (not the sender's SSRC), mid 'a<n>'; distinct ssrcs and mids. The page
    appends one sendonly m-line per new SSRC (a=mid = entry.mid) and renegotiates; every
    renegotiation succeeds, and C's answer keeps its own SSRC on mid 0.
 7. media: for each announced SSRC an inbound-rtp on the announced mid with packetsReceived
    growing and totalAudioEnergy > 0, and the WebAudio analyser on that track hears the
    owner's tone; no inbound-rtp for an SSRC that was not announced. Aiortc peer A decodes
    Chromium's 440 Hz (plain forwarding of the rewriting endpoint's own audio).
 8. wire (B): aiortc records each RTP packet before routing: B's data channel got ServerHello
    and AudioSourcesMap entries for A and C; on each announced SSRC every packet carries the
    sdes:mid of its entry and an audio level; no RTP on an SSRC B's map does not announce.
 9. reconnect: the page closes its socket and opens a new one: the bridge sends the full map
    again after ServerHello, same ssrcs and mids, and the page does not renegotiate.
10. stats: /colibri/stats has "ssrc_rewriting" with endpoints 2, slots_created and slots_used 4
    (two senders for each of B and C), remappings 0 and maps_sent >= 3.
Every wait is bounded; every process started here is stopped here (by PID).
"""
import asyncio
import json
import os
import random
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, HERE)

import test_chromium_forwarding as tcf  # noqa: E402  (netns runner, DevTools-pipe Chromium)

PAGE = os.path.join(HERE, "chromium_rewriting.html")
CHROME_FREQ = 440.0
A_FREQ, B_FREQ = 660.0, 880.0
FREQ_TOLERANCE_HZ = 15.0
SELFTEST_FREQ = 700.0
INNER_LIMIT_S = 150
SERVER_ID = "default-id"
CAPABILITIES = ("source-names", "ssrc-rewriting", "rtp-mid-demux")

CHANNEL_TIMEOUT = 10.0
MAP_TIMEOUT = 15.0    # from Chromium's DTLS connected to both slots mapped and renegotiated
MEDIA_TIMEOUT = 15.0  # from there to packets + energy + tone on both slots
MIN_PACKETS = 100


def js(fn, *args):
    return f"{fn}({', '.join(json.dumps(a) for a in args)})"


# -- --selftest: the page's LJM-style renegotiation against a loopback pair -----------------------

def selftest_inner():
    import tempfile
    with tempfile.TemporaryDirectory() as work:
        wav = os.path.join(work, "tone440.wav")
        tcf.write_tone_wav(wav, CHROME_FREQ, secs=3)
        # tcf.Chromium's `3<&r 4>&w r<&- w>&-` redirection loses the pipe when r is 3 itself (a
        # process with nothing else open): keep the low descriptors busy.
        hold = [os.open(os.devnull, os.O_RDONLY) for _ in range(4)]
        chrome = tcf.Chromium(wav, work)
        for fd in hold:
            os.close(fd)
        rc = 1
        try:
            chrome.open_page("file://" + PAGE)
            res = chrome.evaluate(js("loopbackSelfTest", SELFTEST_FREQ), 30)
            print(f"loopback: ssrc {res.get('ssrc')} inbound {res.get('inbound')} analyser {res.get('sample')} "
                  f"transceivers {res.get('transceivers')}", flush=True)
            if not res.get("ok"):
                print(f"FAIL {res.get('why', 'no packets/tone on mid a0')}\n"
                      f"----- offer -----\n{res.get('offer')}\n----- answer -----\n{res.get('answer')}\n"
                      f"----- page log -----\n" + "\n".join(res.get("log") or []), flush=True)
            else:
                print(f"ok   Chromium accepts the appended sendonly m-line a=mid:a0 and plays "
                      f"{SELFTEST_FREQ:g} Hz from it", flush=True)
                rc = 0
        except Exception as e:  # pylint: disable=broad-except
            print(f"FAIL {type(e).__name__}: {e}\n" + "\n".join(chrome.console()[-20:] + chrome.lines[-30:]), flush=True)
        finally:
            print(f"  chromium stopped (exit code {chrome.close()})", flush=True)
    sys.exit(rc)


# -- the scenario ---------------------------------------------------------------------------------

def inner(binary):
    import rig
    import webrtc_sdp
    from test_aiortc_forwarding import PEER, PY, PeerProc, StageFailed, state_is
    import test_aiortc_forwarding as taf
    taf.FREQS[:] = [CHROME_FREQ, A_FREQ, B_FREQ]  # what PeerProc passes as --listen-for

    class DataChannelPeer(PeerProc):
        """An aiortc_peer.py that opens the bridge channel over SCTP (--datachannel)."""

        async def start(self, max_secs):
            self.proc = await asyncio.create_subprocess_exec(
                PY, PEER, "--name", self.name, "--freq", str(self.freq), "--ssrc", str(self.ssrc),
                "--max-secs", str(max_secs), "--datachannel",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            self._tasks = [asyncio.ensure_future(self._read_stdout()), asyncio.ensure_future(self._read_stderr())]

        def channel_messages(self):
            out = []
            for e in self.events:
                if e.get("event") == "dc_message" and "data" in e:
                    try:
                        out.append(json.loads(e["data"]))
                    except ValueError:
                        out.append({"_raw": e["data"][:200]})
            return out

    check = rig.Checker()

    async def scenario(prosody, work):
        from colibri2_focus import Colibri2Focus
        started = time.monotonic()
        stage = "setup"
        meeting = f"rewrite-{random.getrandbits(48):012x}"
        ep_a, ep_b, ep_c = (f"{random.getrandbits(32):08x}" for _ in range(3))
        ssrc_a, ssrc_b = random.sample(range(0x10000, 0xFFFFFFFF), 2)
        owners = {ep_a: ("A", A_FREQ, ssrc_a), ep_b: ("B", B_FREQ, ssrc_b)}
        public_port = rig.free_port()
        extra = f"""
  websockets {{ enabled = true, domain = "127.0.0.1:{public_port}", tls = false, server-id = "{SERVER_ID}" }}
  http-servers.public {{ host = "127.0.0.1", port = {public_port} }}
"""
        bridge = focus = chrome = None
        peer_a = PeerProc(f"A-aiortc-{int(A_FREQ)}Hz", A_FREQ, ssrc_a)
        peer_b = DataChannelPeer(f"B-aiortc-{int(B_FREQ)}Hz", B_FREQ, ssrc_b)
        peers = [peer_a, peer_b]

        async def ev(expr, timeout=10):
            return await asyncio.to_thread(chrome.evaluate, expr, timeout)

        try:
            wav = os.path.join(work, "tone440.wav")
            tcf.write_tone_wav(wav, CHROME_FREQ)
            bridge = rig.BridgeProcess(binary, rig.xmpp_bridge_conf(prosody, "jvb1", prosody.secrets["JVB_PASSWORD"],
                                                                    extra=extra), work, "jvb1")
            await asyncio.to_thread(bridge.start)
            focus = Colibri2Focus(f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"], "127.0.0.1",
                                  prosody.port, prosody.brewery, bridge="jvb1")
            await focus.connect_and_join(wait_bridge=20)
            for p in peers:
                await p.start(max_secs=INNER_LIMIT_S)
            for p in peers:
                await p.wait_event(lambda e: e.get("event") == "ready", "ready line", 20, "setup")
            chrome = tcf.Chromium(wav, work)
            await asyncio.to_thread(chrome.open_page, "file://" + PAGE)
            ver = await asyncio.to_thread(chrome.call, "Browser.getVersion")
            check(True, f"setup: Prosody, bridge (public port {public_port}), focus, aiortc A {ep_a} (ssrc {ssrc_a}, "
                        f"{A_FREQ:g} Hz), B {ep_b} (ssrc {ssrc_b}, {B_FREQ:g} Hz), {ver.get('product')} as C {ep_c}")

            stage = "allocation"
            room = f"{meeting}@conference.example.test"
            ta = await focus.allocate(meeting, ep_a, ssrc_a, create_conference=True, room_name=room)
            tb = await focus.allocate(meeting, ep_b, ssrc_b, create_conference=False, room_name=room,
                                      capabilities=CAPABILITIES, sctp=True)
            tc = await focus.allocate(meeting, ep_c, None, create_conference=False, room_name=room,
                                      capabilities=CAPABILITIES)
            for name, t in (("A", ta), ("B", tb), ("C", tc)):
                udp = [(c.ip, c.port) for c in t.candidates if c.protocol == "udp"]
                if ("127.0.0.1", bridge.udp_port) not in udp or not t.rtcp_mux:
                    raise StageFailed("allocation", f"{name}: no 127.0.0.1:{bridge.udp_port} udp candidate or no rtcp-mux")
            if tb.sctp is None:
                raise StageFailed("allocation", "B was allocated with <sctp/>, its transport has none")
            ws_url = tc.web_sockets[0] if tc.web_sockets else None
            fb = tc.feedback_ssrc("audio")
            ok = ws_url is not None and ws_url.startswith(f"ws://127.0.0.1:{public_port}/colibri-ws/") and fb is not None
            check(ok, f"allocation: C with capabilities {list(CAPABILITIES)}: web-socket {ws_url}, "
                      f"feedback ssrc (jvb-a0) {fb}")
            if not ok:
                raise StageFailed("allocation", "C's transport lacks a colibri-ws URL or the audio feedback source")

            stage = "SDP (chromium)"
            offer_c = webrtc_sdp.build_offer(tc.ufrag, tc.pwd, tc.fingerprint, tc.candidates, [], fb)
            m_lines = [l for l in offer_c.splitlines() if l.startswith("m=")]
            ssrc_lines = [l for l in offer_c.splitlines() if l.startswith("a=ssrc:")]
            ok = (len(m_lines) == 1 and m_lines[0].startswith("m=audio") and "a=mid:0" in offer_c
                  and "a=sendrecv" in offer_c and f"a=extmap:1 {webrtc_sdp.AUDIO_LEVEL_URI}" in offer_c
                  and f"a=extmap:10 {webrtc_sdp.MID_URI}" in offer_c
                  and sorted(ssrc_lines) == sorted([f"a=ssrc:{fb} cname:mixed",
                                                    f"a=ssrc:{fb} msid:mixedmslabel mixedlabelaudio0"]))
            check(ok, f"SDP: the offer to C: {m_lines}, mid 0 sendrecv, {ssrc_lines}")
            if not ok:
                raise StageFailed("SDP", f"unexpected offer layout:\n{offer_c}")
            res = await ev(js("answerOffer", offer_c), 20)
            ans_c = webrtc_sdp.parse_answer(res["sdp"])
            udp_c = [c for c in ans_c.candidates if c.protocol == "udp" and c.ip == "127.0.0.1"]
            ok = (ans_c.ssrc is not None and ans_c.setup in ("active", "passive") and udp_c
                  and ans_c.directions == {"0": "sendrecv"})
            check(ok, f"SDP: chromium answered: ssrc {ans_c.ssrc}, setup {ans_c.setup}, directions "
                      f"{ans_c.directions}, hdrexts {ans_c.extmaps.get('0')}, AudioContext {res['ctxState']}")
            if not ok:
                raise StageFailed("SDP", f"chromium: unexpected answer:\n{res['sdp']}")
            ssrc_c = ans_c.ssrc
            mid_ext = next((i for i, u in ans_c.extmaps.get("0", {}).items() if u == webrtc_sdp.MID_URI), None)
            await focus.update_transport(meeting, ep_c, ans_c.ufrag, ans_c.pwd, ans_c.fingerprint, ans_c.setup, udp_c)
            await focus.update_sources(meeting, ep_c, [ssrc_c])
            check(True, f"SDP: chromium's transport and source {ssrc_c} sent to the bridge (sdes:mid id {mid_ext})")

            stage = "SDP (aiortc)"
            # A: plain, the other two on m-lines 1 (B) and 2 (C); B: rewriting like C, so only m-line 0
            # (+ the data channel section)
            for p, t, others in ((peer_a, ta, [(ep_b, ssrc_b), (ep_c, ssrc_c)]), (peer_b, tb, [])):
                offer = webrtc_sdp.offer_from_bridge(t, [webrtc_sdp.RemoteSource(e, s) for e, s in others])
                mark = len(p.events)
                p.send({"cmd": "offer", "sdp": offer})
                e = await p.wait_event(lambda e: e.get("event") == "answer", "SDP answer", 15, "SDP",
                                       fail_pred=lambda e: e.get("event") == "error" and "offer" in e.get("what", ""),
                                       start=mark)
                a = webrtc_sdp.parse_answer(e["sdp"])
                if a.ssrc != p.ssrc:
                    raise StageFailed("SDP", f"{p.name}: answered ssrc {a.ssrc}, want {p.ssrc}")
                await focus.update_transport(meeting, t.endpoint_id, a.ufrag, a.pwd, a.fingerprint, a.setup,
                                             a.candidates)
            check(True, "SDP: A answered (m-line 1 B, m-line 2 chromium), B answered (m-line 0 and the data "
                        "channel only: a rewriting receiver like chromium)")

            stage = "bridge channel"
            r = await ev(js("openChannel", ws_url), 12)
            if not r.get("ok"):
                raise StageFailed("bridge channel", f"chromium's WebSocket to {ws_url}: {r}")
            hello = None
            deadline = time.monotonic() + CHANNEL_TIMEOUT
            while time.monotonic() < deadline and hello is None:
                msgs = await ev("window.bcMessages", 5)
                hello = next((m for m in msgs if m["msg"].get("colibriClass") == "ServerHello"), None)
                if hello is None:
                    await asyncio.sleep(0.2)
            check(hello is not None, f"bridge channel: the page's colibri-ws is open, ServerHello "
                                     f"{hello['msg'] if hello else 'missing'}; messages so far "
                                     f"{[m['msg'].get('colibriClass') for m in msgs]}")
            if hello is None:
                raise StageFailed("bridge channel", "no ServerHello")

            stage = "ICE/DTLS"
            for p in peers:
                await p.wait_event(state_is("dtls", "connected"), "DTLS connected", 20, "ICE/DTLS",
                                   fail_pred=state_is("dtls", "failed"))
            deadline = time.monotonic() + 20
            tr = {}
            while time.monotonic() < deadline:
                cstats = await ev("stats()", 10)
                tr = next((r for r in cstats["reports"] if r["type"] == "transport"), {})
                if tr.get("dtlsState") in ("connected", "failed", "closed"):
                    break
                await asyncio.sleep(0.3)
            ok = tr.get("dtlsState") == "connected"
            check(ok, f"ICE/DTLS: A and B connected; chromium transport ice {tr.get('iceState')}, dtls "
                      f"{tr.get('dtlsState')} {tr.get('tlsVersion')} {tr.get('dtlsCipher')}, SRTP {tr.get('srtpCipher')}")
            if not ok:
                raise StageFailed("ICE/DTLS", "chromium transport not connected")

            stage = "source map"
            deadline = time.monotonic() + MAP_TIMEOUT
            while True:
                await ev("settled()", 10)
                cstats = await ev("stats()", 10)
                known = cstats["known"]
                by_owner = {v["owner"]: (int(s), v) for s, v in known.items()}
                renegs = cstats["renegotiations"]
                done = all(o in by_owner for o in owners) and all(r["ok"] or r["error"] for r in renegs)
                if done or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.3)
            maps = [m for m in cstats["bcMessages"] if m["msg"].get("colibriClass") == "AudioSourcesMap"]
            print("  AudioSourcesMap messages: " + "; ".join(f"t={m['t']:.3f} {json.dumps(m['msg']['mappedSources'])}"
                                                          for m in maps), flush=True)
            print(f"  renegotiations: {renegs}", flush=True)
            check(not cstats["mapErrors"], f"source map: entries well-formed for LJM: {cstats['mapErrors'] or 'yes'}")
            announced = {}  # ssrc -> (owner, mid)
            for ep, (label, freq, orig) in owners.items():
                got = by_owner.get(ep)
                if got is None:
                    check(False, f"source map: no entry for {label} ({ep}) within {MAP_TIMEOUT:g} s; known {known}")
                    continue
                ssrc, v = got
                ok = (v["source"] == f"{ep}-a0" and isinstance(v.get("mid"), str)
                      and re.fullmatch(r"a\d+", v["mid"]) is not None and ssrc != orig)
                check(ok, f"source map: {label}: source {v['source']} owner {v['owner']} ssrc {ssrc} (sender's "
                          f"{orig}) mid {v.get('mid')!r}")
                announced[ssrc] = (ep, v.get("mid"))
            mids = [m for _, m in announced.values()]
            check(len(announced) == len(owners) and len(set(mids)) == len(mids),
                  f"source map: distinct ssrcs {sorted(announced)} and mids {mids}")
            ok = bool(renegs) and all(r["ok"] for r in renegs) and \
                sorted(s for r in renegs for s in r["ssrcs"]) == sorted(int(s) for s in known)
            check(ok, f"source map: {len(renegs)} renegotiation(s), each new SSRC once, all accepted: "
                      f"{[(r['ssrcs'], r['mids'], r['ok'], r['error'], r['ms']) for r in renegs]}")
            sdps = await ev("lastSdp()", 5)
            fin = webrtc_sdp.parse_answer(sdps["local"])
            want_dirs = {"0": "sendrecv", **{m: "recvonly" for m in mids}}
            ok = fin.ssrc == ssrc_c and fin.directions == want_dirs and set(fin.bundle) == set(want_dirs)
            check(ok, f"source map: chromium's answer: own ssrc {fin.ssrc} (was {ssrc_c}, unchanged: nothing for "
                      f"the focus), directions {fin.directions}, BUNDLE {fin.bundle}")
            if not announced:
                raise StageFailed("source map", "nothing announced")

            stage = "media"
            first_pkts = {}
            deadline = time.monotonic() + MEDIA_TIMEOUT
            n = 0
            while True:
                await asyncio.sleep(0.5)
                await ev("sampleTracks()", 5)
                n += 1
                if n % 2:
                    continue
                cstats = await ev("stats()", 10)
                inbound = {r.get("ssrc"): r for r in cstats["reports"] if r["type"] == "inbound-rtp"}
                for s in announced:
                    if s in inbound and s not in first_pkts:
                        first_pkts[s] = inbound[s].get("packetsReceived", 0)

                def tone_ok(mid, freq):
                    hz = [x["hz"] for x in cstats["samples"].get(mid, [])[-6:]
                          if x["hz"] is not None and (x["db"] or -200) > -80]
                    return len(hz) >= 4 and len([h for h in hz if abs(h - freq) <= FREQ_TOLERANCE_HZ]) >= len(hz) * 0.75

                good = all(s in inbound and inbound[s].get("packetsReceived", 0) > max(MIN_PACKETS, first_pkts[s])
                           and (inbound[s].get("totalAudioEnergy") or 0) > 0
                           and tone_ok(mid, owners[ep][1]) for s, (ep, mid) in announced.items())
                if good or time.monotonic() >= deadline:
                    break
            for r in inbound.values():
                print(f"  chromium inbound-rtp mid {r.get('mid')} ssrc {r.get('ssrc')}: packets "
                      f"{r.get('packetsReceived')} lost {r.get('packetsLost')} energy {r.get('totalAudioEnergy')} "
                      f"level {r.get('audioLevel')} samples {r.get('totalSamplesReceived')} "
                      f"concealed {r.get('concealedSamples')}", flush=True)
            for s, (ep, mid) in announced.items():
                label, freq, _ = owners[ep]
                rx = inbound.get(s)
                ok = (rx is not None and rx.get("mid") == mid and rx.get("packetsReceived", 0) > MIN_PACKETS
                      and rx["packetsReceived"] > first_pkts.get(s, 0) and (rx.get("totalAudioEnergy") or 0) > 0)
                check(ok, f"media: {label}'s slot ssrc {s} mid {mid}: inbound-rtp "
                          f"{json.dumps({k: rx.get(k) for k in ('mid', 'packetsReceived', 'totalAudioEnergy')}) if rx else 'none'}"
                          f" (first seen with {first_pkts.get(s)} packets)")
                samples = cstats["samples"].get(mid, [])[-6:]
                check(tone_ok(mid, freq), f"media: the analyser on mid {mid} hears {label}'s {freq:g} Hz: {samples}")
            stray = sorted(s for s in inbound if s not in announced)
            check(not stray, f"media: no inbound-rtp for an SSRC that was not announced "
                             f"(stray: {[(s, inbound[s].get('mid'), inbound[s].get('packetsReceived')) for s in stray]}; "
                             f"senders' own {ssrc_a}, {ssrc_b})")
            report = await peer_a.report()
            if report is None:
                raise StageFailed("media", "no report from A")
            tr_a = report["tracks"].get("2", {})
            got = report["rtp_in"].get(str(ssrc_c), {})
            ok = (got.get("packets", 0) > MIN_PACKETS and tr_a.get("frames", 0) >= 100
                  and tr_a.get("dominant_hz") is not None and abs(tr_a["dominant_hz"] - CHROME_FREQ) <= FREQ_TOLERANCE_HZ)
            check(ok, f"media: A hears chromium's SSRC {ssrc_c} on mid 2: packets {got.get('packets')}, "
                      f"{tr_a.get('frames')} frames, dominant {tr_a.get('dominant_hz')} Hz (want {CHROME_FREQ:g}), "
                      f"RMS {tr_a.get('rms_dbfs')} dBFS")

            stage = "wire (B)"
            # B is a rewriting receiver with mid demux too, its bridge channel the SCTP data channel:
            # aiortc records every RTP packet's SSRC, sdes:mid and audio level before routing (it
            # cannot demux by MID, so the decoded audio is of no interest here).
            want_b = {ep_a: "A", ep_c: "C"}
            deadline = time.monotonic() + MAP_TIMEOUT
            while True:
                map_b = {}  # ssrc -> (owner, source, mid), the latest entry per ssrc
                for m in peer_b.channel_messages():
                    if m.get("colibriClass") == "AudioSourcesMap":
                        for e in m.get("mappedSources") or []:
                            map_b[e.get("ssrc")] = (e.get("owner"), e.get("source"), e.get("mid"))
                rep_b = await peer_b.report()
                rtp_b = (rep_b or {}).get("rtp_in", {})
                owners_b = {o: s for s, (o, _, _) in map_b.items()}
                if (all(o in owners_b and rtp_b.get(str(owners_b[o]), {}).get("packets", 0) > MIN_PACKETS
                        for o in want_b) or time.monotonic() >= deadline):
                    break
                await asyncio.sleep(1)
            classes_b = [m.get("colibriClass") for m in peer_b.channel_messages()]
            dc = (rep_b or {}).get("datachannel", {})
            check("ServerHello" in classes_b and "AudioSourcesMap" in classes_b,
                  f"wire (B): data channel {dc.get('state')}: messages {classes_b[:8]}")
            for o, label in want_b.items():
                s_ = owners_b.get(o)
                got = rtp_b.get(str(s_), {}) if s_ is not None else {}
                mid_ = map_b[s_][2] if s_ is not None else None
                ok = (s_ is not None and isinstance(s_, int) and map_b[s_][1] == f"{o}-a0"
                      and isinstance(mid_, str) and re.fullmatch(r"a\d+", mid_) is not None
                      and got.get("packets", 0) > MIN_PACKETS and got.get("mids") == {mid_: got["packets"]}
                      and got.get("audio_level_packets", 0) >= min(got["packets"], 2000))
                check(ok, f"wire (B): {label}'s slot: map {map_b.get(s_)} ssrc {s_}; on the wire {got.get('packets')} "
                          f"packets, sdes:mid {got.get('mids')} (want every packet {mid_!r}), audio level on "
                          f"{got.get('audio_level_packets')}")
            stray_b = {k: {x: v.get(x) for x in ("packets", "mids")} for k, v in rtp_b.items()
                       if int(k) not in map_b}
            check(not stray_b, f"wire (B): no RTP on an SSRC that B's map does not announce (senders' own "
                               f"{ssrc_a}, {ssrc_c}): stray {stray_b}")

            stage = "reconnect"
            n_reneg = len(renegs)
            await ev("closeChannel()", 5)
            r = await ev(js("openChannel", ws_url), 12)
            if not r.get("ok"):
                raise StageFailed("reconnect", f"second WebSocket: {r}")
            sock = r["n"]
            full = None
            deadline = time.monotonic() + CHANNEL_TIMEOUT
            while time.monotonic() < deadline:
                msgs = [m for m in await ev("window.bcMessages", 5) if m["n"] == sock]
                classes = [m["msg"].get("colibriClass") for m in msgs]
                full = next((m for m in msgs if m["msg"].get("colibriClass") == "AudioSourcesMap"), None)
                if full is not None:
                    break
                await asyncio.sleep(0.2)
            entries = {e.get("ssrc"): (e.get("owner"), e.get("mid")) for e in (full["msg"]["mappedSources"] if full else [])}
            ok = (full is not None and classes and classes[0] == "ServerHello"
                  and all(entries.get(s) == v for s, v in announced.items()))
            check(ok, f"reconnect: the new socket got {classes[:4]}, the full map "
                      f"{json.dumps(full['msg']['mappedSources']) if full else None}; announced {announced}")
            await ev("settled()", 10)
            cstats = await ev("stats()", 10)
            check(len(cstats["renegotiations"]) == n_reneg,
                  f"reconnect: the full map is all known SSRCs: no renegotiation "
                  f"({len(cstats['renegotiations'])} in all, {n_reneg} before)")

            stage = "stats"
            status, body = await asyncio.to_thread(rig.http_get, bridge.http_port, "/colibri/stats", "GET", 5)
            sr = body.get("ssrc_rewriting") if isinstance(body, dict) else None
            print(f"  /colibri/stats ssrc_rewriting: {json.dumps(sr)}", flush=True)
            conf = ((body.get("conference_audio") or {}).get(meeting) or {}) if isinstance(body, dict) else {}
            for ep, e in (conf.get("endpoints") or {}).items():
                print(f"  /colibri/stats conference_audio endpoint {ep}: audio_ssrcs {e.get('audio_ssrcs')}, "
                      f"packets_forwarded {e.get('packets_forwarded')}", flush=True)
            ok = (status == 200 and isinstance(sr, dict) and sr.get("endpoints") == 2
                  and sr.get("slots_created") == 4 and sr.get("slots_used") == 4
                  and sr.get("remappings") == 0 and sr.get("maps_sent", 0) >= 3)
            check(ok, f"stats: HTTP {status}, ssrc_rewriting endpoints 2 (B, C), slots_created and slots_used "
                      f"4 (two senders each), remappings 0, maps_sent >= 3")
        except StageFailed as e:
            check(False, f"FAILED AT STAGE '{e.stage}': {e.msg}")
        except Exception as e:  # pylint: disable=broad-except
            check(False, f"FAILED AT STAGE '{stage}': {type(e).__name__}: {e}")
        finally:
            if check.failures:
                if chrome is not None:
                    try:
                        st = await ev("stats()", 5)
                        print("----- chromium page log -----\n" + "\n".join(st["log"]))
                        print("----- bridge channel -----\n" + "\n".join(
                            f"{m['t']:.3f} #{m['n']} {json.dumps(m['msg'])[:400]}" for m in st["bcMessages"]))
                        print(f"  socket events: {st['bcEvents']}")
                        print(f"  known: {st['known']}; transceivers {st['transceivers']}")
                        print("  inbound-rtp: " + json.dumps(
                            [{k: r.get(k) for k in ('ssrc', 'mid', 'packetsReceived', 'totalAudioEnergy')}
                             for r in st["reports"] if r["type"] == "inbound-rtp"]))
                        sd = await ev("lastSdp()", 5)
                        print(f"----- chromium remote description -----\n{sd['remote']}"
                              f"----- chromium local description -----\n{sd['local']}")
                    except Exception as e:  # pylint: disable=broad-except
                        print(f"(chromium state: {e})")
                    print("----- chromium console -----\n" + "\n".join(chrome.console()[-20:]))
                    print("----- chromium output (last 30 lines) -----\n" + "\n".join(chrome.lines[-30:]))
                for p in peers:
                    if p.stderr:
                        print(f"----- {p.name} stderr (last 15 lines) -----\n" + "\n".join(p.stderr[-15:]))
                if bridge is not None:
                    print("----- bridge log (tail) -----\n" + bridge.log()[-6000:])
            if chrome is not None:
                rc = await asyncio.to_thread(chrome.close)
                print(f"  chromium stopped (exit code {rc})", flush=True)
            for p in peers:
                await p.stop()
            if focus is not None:
                try:
                    await focus.expire(meeting, [ep_a, ep_b, ep_c])
                except Exception as e:  # pylint: disable=broad-except
                    print(f"  (expire: {e})")
                await focus.close()
            if bridge is not None:
                rc = await asyncio.to_thread(bridge.stop, signal.SIGTERM)
                print(f"  bridge stopped (exit code {rc})", flush=True)
            print(f"total {time.monotonic() - started:.1f} s", flush=True)

    rig.run_with_prosody(scenario, check, users=None, limit_s=INNER_LIMIT_S)


def main():
    if sys.argv[1:] == ["--inner", "--selftest"]:
        selftest_inner()
    elif len(sys.argv) == 3 and sys.argv[1] == "--inner":
        inner(sys.argv[2])
    elif sys.argv[1:] == ["--selftest"]:
        tcf.outer(None, script=__file__, inner_args=["--inner", "--selftest"])
    elif len(sys.argv) == 2 and not sys.argv[1].startswith("-"):
        tcf.outer(sys.argv[1], script=__file__)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
