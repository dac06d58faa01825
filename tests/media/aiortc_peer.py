#!/usr/bin/python3
"""One real WebRTC peer (aiortc, Debian python3-aiortc 1.4.0) driven over line-JSON.

Run under /usr/bin/python3 (Debian's python3-aiortc / python3-numpy).

    aiortc_peer.py --name ep1 --freq 440 [--ssrc N] [--max-secs 120] [--amplitude 0.3]
                   [--pause-every-ms 500 [--pause-amplitude 0.0001]] [--datachannel]

stdin, one JSON object a line:
    {"cmd": "offer", "sdp": "..."}   -> {"event": "answer", "sdp": "...", "ssrc": N, "candidates": [...]}
    {"cmd": "report"}                -> {"event": "report", ...}   (see report() below)
    {"cmd": "voice", "amplitude": A, "pause_every_ms": N}
                                     -> {"event": "voice", ...}: the tone's amplitude and pause
                                        period from the next frame on (either key may be left out)
    {"cmd": "dc_send", "text": "..."} -> {"event": "dc_sent", "n": N} or an error event: one text
                                        (string PPID 51) on the bridge data channel (--datachannel)
    {"cmd": "analyze", "from_tw": T1, "to_tw": T2, "timeline_s": S}
                                     -> {"event": "analysis", "tw": now, "tracks": {mid: {...}}}:
                                        each receive track's decoded audio between the wall-clock
                                        times T1 and T2 (time.time(); either may be left out),
                                        analysed like the report's tracks (plus "timeline": the
                                        dominant candidate tone per S-second bucket when S > 0)
    {"cmd": "rtp"}                   -> {"event": "rtp", "tw": now, "ssrcs": {ssrc: {...}}}: per
                                        received SSRC the packet count, first/last seq, ts and
                                        wall-clock arrival, and the discontinuities (see below)
    {"cmd": "rr"}                    -> {"event": "rr", "tw": now, "blocks": {ssrc: [[tw, fraction_lost,
                                        cumulative_lost, highest_seq, jitter], ...]}}: the report
                                        blocks of every RTCP RR/SR received, per SSRC they are
                                        about (the last 500), with their wall-clock arrival
    {"cmd": "quit"}                  -> closes the peer connection, exits 0
    EOF                              -> same as quit
A second (third, ...) {"cmd": "offer"} is a renegotiation (lib-jitsi-meet re-offering with
m-lines added for new remote sources): setRemoteDescription, createAnswer, setLocalDescription
again, answered by another "answer" event ("n": the offer's number, 1 for the first); a
track event follows for each m-line that is new. ICE/DTLS/data channel are set up once.
stdout, one JSON object a line, unsolicited:
    {"event": "ready"}                                    once started
    {"event": "state", "what": "ice"|"dtls"|"pc", "state": "...", "t": seconds since start}
    {"event": "track", "mid": "1", "ssrc": [..]}         a receive track was created by the offer
    {"event": "first_rtp", "ssrc": N, "t": ..., "tw": ...}  first decrypted RTP packet of an SSRC
                                                          (tw: wall clock, time.time(), comparable
                                                          with the driver's clock)
    {"event": "first_frame", "mid": "1", "t": ...}        first decoded audio frame of a track
    {"event": "dc_state", "state": "open"|"closing"|"closed", "id": N, "t": ..., "tw": ...}  (--datachannel)
    {"event": "dc_message", "data": "...", "t": ..., "tw": ...}  a text on the data channel
                                                          (binary: {"binary_hex": "..."} instead)
    {"event": "error", "what": "..."}
Diagnostics go to stderr (the driver shows them on failure).

What it does: answers the offer (aiortc answers a=setup:active, so it is the DTLS
client; it is ICE-controlled unless the offer says a=ice-lite), gathers ONLY
127.0.0.1 host candidates (aioice skips loopback unless get_host_addresses is
patched) and uses no STUN server (aiortc's default configuration would ask
stun.l.google.com), sends a sine tone as Opus on the first (sendrecv) m-line with
the SSRC given by --ssrc (forced so that the focus can signal it before the
answer exists), and decodes every receive track. aiortc 1.4 sends the RFC 6464
ssrc-audio-level extension when the offer lists it (level = dBov of each 20 ms
frame, the V bit always 0), and sdes:mid when the offer lists it; it has no
transport-cc.

Speech-like level variation (--pause-every-ms): a perfectly steady tone becomes its own
noise floor in the bridge's dominant speaker identification and reads as silence, so a
talking peer replaces one 20 ms frame every N ms with a near-silent one (--pause-amplitude,
not zero: the floor ignores level 127 = digital silence).

Per-SSRC RTP log ({"cmd": "rtp"}): packets, first/last [seq, ts, audio level, tw] and up to
the last 300 "breaks": a packet whose seq is not the previous seq + 1, whose ts is not the
previous ts + 960 per seq step, or that arrived more than 0.25 s after the previous one, as
{"prev": [seq, ts, level, tw], "next": [...]} (level: the ssrc-audio-level dBov, 127 =
silence; None without the extension). A forwarded stream whose owner changes (an SFU
rewriting SSRCs) shows its change there.

--host-address A (default 127.0.0.1): the one address candidates are gathered on (a peer in a
network namespace of its own). --consent-interval S: aioice's RFC 7675 consent check period
(aioice.ice.CONSENT_INTERVAL, 5 s by default; randomised by 0.8..1.2).

--no-send: no local track; the first m-line is answered recvonly (a listener that sends no
RTP, so that the focus allocates it without sources).

--datachannel: when the offer has an m=application (UDP/DTLS/SCTP webrtc-datachannel)
section, opens the bridge channel as lib-jitsi-meet does (DCEP, label "JVB data channel",
protocol "http://jitsi.org/protocols/colibri", ordered, reliable) and reports what comes
on it. aiortc 1.4 takes its SCTP role from the ICE role (ICE-controlled: SCTP server,
waits for the bridge's INIT).

Everything is bounded: a watchdog thread ends the process with exit code 3 after
--max-secs whatever the event loop is doing.
"""
from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import logging
import math
import os
import sys
import threading
import time
from typing import Dict, List, Optional

T0 = time.monotonic()


def now() -> float:
    return round(time.monotonic() - T0, 3)


def out(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def diag(msg: str) -> None:
    sys.stderr.write(f"[{now():7.3f}] {msg}\n")
    sys.stderr.flush()


try:
    import aioice.ice
    import aioice.stun
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc import rtcdtlstransport as _dtls_mod
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
    from aiortc.rtp import RtcpPacket
    from av import AudioFrame
except ImportError as e:  # the driver maps this to a skip
    out({"event": "error", "what": f"import: {e}"})
    sys.exit(77)

try:
    import numpy as np
except ImportError:  # Goertzel fallback below
    np = None

SAMPLE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms

# -- loopback only (or --host-address) ---------------------------------------------------
# aioice.ice.get_host_addresses() drops 127.0.0.1 and ::1; the bridge under test listens
# on 127.0.0.1 and nothing here may use another interface.
HOST_ADDRESS = "127.0.0.1"
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [HOST_ADDRESS] if use_ipv4 else []

# -- wire instrumentation ----------------------------------------------------------------


class Wire:
    """Counters filled by the patches below; all reported in the final report."""

    def __init__(self) -> None:
        self.rx: Dict[str, int] = {"stun": 0, "dtls": 0, "rtp_rtcp": 0, "other": 0}
        self.tx: Dict[str, int] = {"stun": 0, "dtls": 0, "rtp_rtcp": 0, "other": 0}
        self.rx_from: Dict[str, int] = {}
        self.stun_requests_in = 0
        self.stun_requests_in_use_candidate = 0
        self.stun_requests_in_controlling = 0
        self.stun_requests_in_controlled = 0
        self.stun_requests_in_bad = 0  # answered 400/487 by us
        self.stun_responses_in = 0
        self.stun_errors_in: List[str] = []
        self.checks: List[str] = []  # outcome of our connectivity checks
        self.dtls_first_tx: Optional[float] = None
        self.dtls_first_rx: Optional[float] = None
        self.dtls_content_types_rx: Dict[int, int] = {}
        self.dtls_handshake_types_tx: List[int] = []
        self.dtls_handshake_types_rx: List[int] = []
        self.dtls_tx_records: List[List[str]] = []
        self.dtls_rx_records: List[List[str]] = []
        self.srtp_unprotect_failed = 0
        self.srtcp_unprotect_failed = 0
        self.rtp: Dict[int, dict] = {}  # ssrc -> {packets, pts, audio_levels, first_t, mids}
        self.rtcp: Dict[str, int] = {}  # packet type -> count
        self.rtcp_sender_ssrcs: Dict[int, int] = {}
        self.report_blocks: Dict[int, list] = {}  # ssrc -> [[tw, fraction, cumulative, seq, jitter]]
        self.rtcp_sr_ssrcs: Dict[int, int] = {}  # sender SSRCs of Sender Reports only

    @staticmethod
    def classify(data: bytes) -> str:
        if not data:
            return "other"
        b = data[0]
        if b < 4:
            return "stun"
        if 20 <= b <= 63:
            return "dtls"
        if 128 <= b <= 191:
            return "rtp_rtcp"
        return "other"


WIRE = Wire()


def _dtls_records(data: bytes) -> List[str]:
    """'ct/epoch/len[:hs type off+frag/msg len]' for every record of a DTLS datagram."""
    recs, i = [], 0
    while i + 13 <= len(data):
        ctype, length = data[i], int.from_bytes(data[i + 11:i + 13], "big")
        epoch = int.from_bytes(data[i + 3:i + 5], "big")
        r = f"{ctype}/e{epoch}/{length}"
        if ctype == 22 and epoch == 0 and i + 25 <= len(data):
            h = data[i + 13:i + 25]
            r += (f":hs{h[0]} {int.from_bytes(h[6:9], 'big')}+{int.from_bytes(h[9:12], 'big')}"
                  f"/{int.from_bytes(h[1:4], 'big')}")
        recs.append(r)
        i += 13 + length
    return recs


def _dtls_handshake_types(data: bytes) -> List[int]:
    """Handshake message types in a DTLS datagram (plaintext records only; a message
    fragmented over several records appears once per fragment)."""
    types, i = [], 0
    while i + 13 <= len(data):
        ctype, length = data[i], int.from_bytes(data[i + 11:i + 13], "big")
        epoch = int.from_bytes(data[i + 3:i + 5], "big")
        if ctype == 22 and epoch == 0 and i + 13 < len(data):
            types.append(data[i + 13])
        i += 13 + length
    return types


_orig_datagram_received = aioice.ice.StunProtocol.datagram_received


def _datagram_received(self, data, addr):
    kind = WIRE.classify(data)
    WIRE.rx[kind] += 1
    key = f"{addr[0]}:{addr[1]}"
    WIRE.rx_from[key] = WIRE.rx_from.get(key, 0) + 1
    if kind == "dtls":
        if WIRE.dtls_first_rx is None:
            WIRE.dtls_first_rx = now()
            diag(f"first DTLS datagram from {key}: {len(data)} bytes, records {_dtls_records(data)}")
        WIRE.dtls_content_types_rx[data[0]] = WIRE.dtls_content_types_rx.get(data[0], 0) + 1
        WIRE.dtls_handshake_types_rx += _dtls_handshake_types(data)
        if len(WIRE.dtls_rx_records) < 8:
            WIRE.dtls_rx_records.append(_dtls_records(data))
    elif kind == "stun":
        try:
            m = aioice.stun.parse_message(data)
            if m.message_class == aioice.stun.Class.RESPONSE:
                WIRE.stun_responses_in += 1
            elif m.message_class == aioice.stun.Class.ERROR:
                WIRE.stun_errors_in.append(str(m.attributes.get("ERROR-CODE")))
        except ValueError:
            pass
    return _orig_datagram_received(self, data, addr)


aioice.ice.StunProtocol.datagram_received = _datagram_received

_orig_sendto_data = aioice.ice.StunProtocol.send_data


async def _send_data(self, data, addr):
    kind = WIRE.classify(data)
    WIRE.tx[kind] += 1
    if kind == "dtls":
        if WIRE.dtls_first_tx is None:
            WIRE.dtls_first_tx = now()
            diag(f"first DTLS datagram sent to {addr[0]}:{addr[1]}: {len(data)} bytes, records "
                 f"{_dtls_records(data)} (content type/epoch/length:hs type fragment offset+length/message length)")
        if len(WIRE.dtls_tx_records) < 8:
            WIRE.dtls_tx_records.append(_dtls_records(data))
        WIRE.dtls_handshake_types_tx += _dtls_handshake_types(data)
    return await _orig_sendto_data(self, data, addr)


aioice.ice.StunProtocol.send_data = _send_data

_orig_send_stun = aioice.ice.StunProtocol.send_stun


def _send_stun(self, message, addr):
    WIRE.tx["stun"] += 1
    return _orig_send_stun(self, message, addr)


aioice.ice.StunProtocol.send_stun = _send_stun

_orig_request_received = aioice.ice.Connection.request_received


def _request_received(self, message, addr, protocol, raw_data):
    WIRE.stun_requests_in += 1
    a = message.attributes
    if "USE-CANDIDATE" in a:
        WIRE.stun_requests_in_use_candidate += 1
    if "ICE-CONTROLLING" in a:
        WIRE.stun_requests_in_controlling += 1
    if "ICE-CONTROLLED" in a:
        WIRE.stun_requests_in_controlled += 1
    if WIRE.stun_requests_in == 1:
        diag(f"first STUN binding request from {addr[0]}:{addr[1]}: USERNAME={a.get('USERNAME')} "
             f"attrs={sorted(a.keys())}")
    return _orig_request_received(self, message, addr, protocol, raw_data)


aioice.ice.Connection.request_received = _request_received

_orig_respond_error = aioice.ice.Connection.respond_error


def _respond_error(self, request, addr, protocol, error_code):
    WIRE.stun_requests_in_bad += 1
    diag(f"answered a STUN request from {addr[0]}:{addr[1]} with error {error_code} "
         f"(USERNAME={request.attributes.get('USERNAME')}, expected "
         f"{self.local_username}:{self.remote_username}; integrity key = our ice-pwd)")
    return _orig_respond_error(self, request, addr, protocol, error_code)


aioice.ice.Connection.respond_error = _respond_error

_orig_check_start = aioice.ice.Connection.check_start


async def _check_start(self, pair):
    await _orig_check_start(self, pair)
    entry = f"{pair.local_candidate.host}:{pair.local_candidate.port} -> {pair.remote_addr[0]}:{pair.remote_addr[1]} {pair.state.name}{' nominated' if pair.nominated else ''}"
    WIRE.checks.append(entry)
    diag(f"our check {entry}")


aioice.ice.Connection.check_start = _check_start

_orig_route_rtp = _dtls_mod.RtpRouter.route_rtp


MAX_BREAKS = 300
BREAK_GAP_S = 0.25


def _log_rtp(s: dict, packet, tw: float) -> None:
    """First/last packet and the discontinuities of one SSRC (see the module docstring)."""
    lvl = packet.extensions.audio_level
    cur = [packet.sequence_number, packet.timestamp, lvl[1] if lvl is not None else None, round(tw, 4)]
    prev = s.get("last")
    if prev is None:
        s["first"] = cur
    else:
        dseq = (cur[0] - prev[0]) & 0xFFFF
        dts = (cur[1] - prev[1]) & 0xFFFFFFFF
        if dseq != 1 or dts != (960 * dseq) & 0xFFFFFFFF or cur[3] - prev[3] > BREAK_GAP_S:
            s["breaks"].append({"prev": prev, "next": cur})
            if len(s["breaks"]) > MAX_BREAKS:
                del s["breaks"][0]
    s["last"] = cur


def _route_rtp(self, packet):
    s = WIRE.rtp.get(packet.ssrc)
    tw = time.time()
    if s is None:
        s = WIRE.rtp[packet.ssrc] = {"packets": 0, "pts": {}, "audio_levels": [], "first_t": now(),
                                     "mids": {}, "routed": 0, "first_tw": tw, "breaks": []}
        out({"event": "first_rtp", "ssrc": packet.ssrc, "t": s["first_t"], "pt": packet.payload_type,
             "tw": round(tw, 4)})
    _log_rtp(s, packet, tw)
    s["packets"] += 1
    s["pts"][packet.payload_type] = s["pts"].get(packet.payload_type, 0) + 1
    lvl = packet.extensions.audio_level
    if lvl is not None and len(s["audio_levels"]) < 2000:
        s["audio_levels"].append(lvl[1])
    mid = packet.extensions.mid
    if mid is not None:
        s["mids"][mid] = s["mids"].get(mid, 0) + 1
    receiver = _orig_route_rtp(self, packet)
    if receiver is not None:
        s["routed"] += 1
    return receiver


_dtls_mod.RtpRouter.route_rtp = _route_rtp

_orig_handle_rtcp = _dtls_mod.RTCDtlsTransport._handle_rtcp_data


async def _handle_rtcp_data(self, data):
    try:
        for p in RtcpPacket.parse(data):
            name = type(p).__name__.replace("Rtcp", "").replace("Packet", "")
            if hasattr(p, "fmt"):
                name += f"/fmt{p.fmt}"
            WIRE.rtcp[name] = WIRE.rtcp.get(name, 0) + 1
            for b in getattr(p, "reports", None) or []:
                log = WIRE.report_blocks.setdefault(b.ssrc, [])
                log.append([time.time(), b.fraction_lost, b.packets_lost, b.highest_sequence, b.jitter])
                del log[:-500]
            ssrc = getattr(p, "ssrc", None)
            if ssrc is not None:
                WIRE.rtcp_sender_ssrcs[ssrc] = WIRE.rtcp_sender_ssrcs.get(ssrc, 0) + 1
                if name.startswith("Sr"):
                    WIRE.rtcp_sr_ssrcs[ssrc] = WIRE.rtcp_sr_ssrcs.get(ssrc, 0) + 1
    except ValueError:
        WIRE.rtcp["unparsable"] = WIRE.rtcp.get("unparsable", 0) + 1
    return await _orig_handle_rtcp(self, data)


_dtls_mod.RTCDtlsTransport._handle_rtcp_data = _handle_rtcp_data


class _UnprotectCounter(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "SRTP unprotect failed" in msg:
            WIRE.srtp_unprotect_failed += 1
        elif "SRTCP unprotect failed" in msg:
            WIRE.srtcp_unprotect_failed += 1
        elif "DTLS handshake failed" in msg or "DTLS" in msg and "x " in msg:
            diag(f"aiortc: {msg}")


_dtls_logger = logging.getLogger("aiortc.rtcdtlstransport")
_dtls_logger.setLevel(logging.DEBUG)
_dtls_logger.addHandler(_UnprotectCounter())
_dtls_logger.propagate = False

# -- SCTP instrumentation (the bridge data channel) ---------------------------------------
from aiortc import rtcsctptransport as _sctp_mod  # noqa: E402


class SctpWire:
    def __init__(self) -> None:
        self.packets_in = 0
        self.packets_in_unparsable = 0
        self.chunks_in: Dict[str, int] = {}
        self.chunks_out: Dict[str, int] = {}
        self.states: List[List] = []  # association state transitions [state, t]
        self.first_in_t: Optional[float] = None


SCTP = SctpWire()


def _chunk_name(chunk) -> str:
    return type(chunk).__name__.replace("Chunk", "") or "?"


_orig_sctp_handle_data = _sctp_mod.RTCSctpTransport._handle_data


async def _sctp_handle_data(self, data):
    SCTP.packets_in += 1
    try:
        _, _, _, chunks = _sctp_mod.parse_packet(data)
        for c in chunks:
            n = _chunk_name(c)
            SCTP.chunks_in[n] = SCTP.chunks_in.get(n, 0) + 1
        if SCTP.first_in_t is None:
            SCTP.first_in_t = now()
            diag(f"first SCTP packet from the bridge: {len(data)} bytes, chunks {[_chunk_name(c) for c in chunks]}")
    except ValueError as e:
        SCTP.packets_in_unparsable += 1
        if SCTP.packets_in_unparsable <= 3:
            diag(f"unparsable SCTP packet ({e}): {len(data)} bytes {data[:16].hex()}")
    return await _orig_sctp_handle_data(self, data)


_sctp_mod.RTCSctpTransport._handle_data = _sctp_handle_data

_orig_sctp_send_chunk = _sctp_mod.RTCSctpTransport._send_chunk


async def _sctp_send_chunk(self, chunk):
    n = _chunk_name(chunk)
    SCTP.chunks_out[n] = SCTP.chunks_out.get(n, 0) + 1
    return await _orig_sctp_send_chunk(self, chunk)


_sctp_mod.RTCSctpTransport._send_chunk = _sctp_send_chunk

_orig_sctp_set_state = _sctp_mod.RTCSctpTransport._set_state


def _sctp_set_state(self, state) -> None:
    if state != self._association_state:
        SCTP.states.append([state.name, now()])
        diag(f"sctp association -> {state.name} ({'server' if self.is_server else 'client'})")
    return _orig_sctp_set_state(self, state)


_sctp_mod.RTCSctpTransport._set_state = _sctp_set_state


# -- media -------------------------------------------------------------------------------


class ToneTrack(MediaStreamTrack):
    """A live 48 kHz mono sine, 20 ms frames, paced in real time."""
    kind = "audio"

    def __init__(self, freq: float, amplitude: float, pause_every_ms: float = 0.0,
                 pause_amplitude: float = 0.0001) -> None:
        super().__init__()
        self.freq, self.amp = freq, amplitude
        # every pause_every_ms, one frame at pause_amplitude (0: never)
        self.pause_every_ms, self.pause_amp = pause_every_ms, pause_amplitude
        self._start: Optional[float] = None
        self._n = 0  # samples produced
        self.frames = 0
        self.pauses = 0

    def _frame_amplitude(self) -> float:
        period = int(round(self.pause_every_ms / 20.0)) if self.pause_every_ms > 0 else 0
        if period >= 2 and self.frames % period == period - 1:
            self.pauses += 1
            return self.pause_amp
        return self.amp

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            wait = self._start + self._n / SAMPLE_RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        amp = self._frame_amplitude()
        if np is not None:
            t = (np.arange(FRAME_SAMPLES) + self._n) / SAMPLE_RATE
            pcm = (amp * 32767 * np.sin(2 * math.pi * self.freq * t)).astype("<i2").tobytes()
        else:
            pcm = b"".join(int(amp * 32767 * math.sin(2 * math.pi * self.freq * (self._n + i) / SAMPLE_RATE))
                           .to_bytes(2, "little", signed=True) for i in range(FRAME_SAMPLES))
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.pts = self._n
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._n += FRAME_SAMPLES
        self.frames += 1
        return frame


class TrackSink:
    """Consumes one receive track; keeps channel 0 of every decoded frame."""

    def __init__(self, mid: str, ssrcs: List[int], track) -> None:
        self.mid, self.ssrcs, self.track = mid, ssrcs, track
        self.frames = 0
        self.first_t: Optional[float] = None
        self.chunks: List = []  # numpy arrays (int16) or lists of ints
        self.times: List[float] = []  # wall clock (time.time()) at which each chunk was decoded
        self.task = asyncio.ensure_future(self._run())

    def window(self, from_tw: Optional[float], to_tw: Optional[float]) -> List:
        """The chunks decoded between the wall-clock times from_tw and to_tw."""
        return [c for c, t in zip(self.chunks, self.times)
                if (from_tw is None or t >= from_tw) and (to_tw is None or t <= to_tw)]

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                if self.first_t is None:
                    self.first_t = now()
                    out({"event": "first_frame", "mid": self.mid, "t": self.first_t})
                self.frames += 1
                self.times.append(time.time())
                if np is not None:
                    a = frame.to_ndarray()  # packed s16: shape (1, samples * channels)
                    ch = len(frame.layout.channels)
                    self.chunks.append(a.reshape(-1)[::ch].copy())  # int16: analyze() widens it
                else:
                    raw = bytes(frame.planes[0])
                    ch = len(frame.layout.channels)
                    self.chunks.append([int.from_bytes(raw[i:i + 2], "little", signed=True)
                                        for i in range(0, len(raw), 2 * ch)])
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception as e:  # pylint: disable=broad-except
            diag(f"track mid {self.mid}: {e!r}")


def _goertzel_power(samples, freq: float) -> float:
    k = 2 * math.cos(2 * math.pi * freq / SAMPLE_RATE)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return s1 * s1 + s2 * s2 - k * s1 * s2


def analyze(chunks, skip_s: float, window_s: float, candidates: List[float]) -> dict:
    """RMS (dBFS), dominant frequency, and each candidate frequency's share of the power."""
    if np is not None:
        x = np.concatenate(chunks) if chunks else np.zeros(0)
    else:
        x = [v for c in chunks for v in c]
    skip = int(skip_s * SAMPLE_RATE)
    if len(x) > skip + SAMPLE_RATE // 2:
        x = x[skip:]
    n = min(len(x), int(window_s * SAMPLE_RATE))
    x = x[len(x) - n:]
    if np is not None:
        x = x.astype("float64")  # the chunks are int16
    res = {"samples": int(n), "rms_dbfs": None, "dominant_hz": None, "shares": {}}
    if n < 4800:  # < 100 ms
        return res
    if np is not None:
        rms = float(np.sqrt(np.mean(x * x)))
        w = np.hanning(n)
        spec = np.abs(np.fft.rfft(x * w)) ** 2
        freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
        band = (freqs >= 50) & (freqs <= 4000)
        res["dominant_hz"] = round(float(freqs[band][np.argmax(spec[band])]), 1)
        total = float(np.sum(spec[freqs >= 20])) or 1.0
        for f in candidates:  # power within +-15 Hz of f
            sel = (freqs >= f - 15) & (freqs <= f + 15)
            res["shares"][str(int(f))] = round(float(np.sum(spec[sel])) / total, 4)
    else:
        rms = math.sqrt(sum(v * v for v in x) / n)
        scan = list(candidates) + [f for f in range(100, 2000, 20)]
        powers = {f: _goertzel_power(x, f) for f in scan}
        res["dominant_hz"] = float(max(powers, key=powers.get))
        total = sum(v * v for v in x) * n / 2 or 1.0
        for f in candidates:
            res["shares"][str(int(f))] = round(powers[f] / total, 4)
    res["rms_dbfs"] = round(20 * math.log10(rms / 32768), 1) if rms > 0 else -200.0
    return res


def timeline(sink: "TrackSink", bucket_s: float, candidates: List[float],
             from_tw: Optional[float] = None, to_tw: Optional[float] = None) -> List[list]:
    """[bucket start (wall clock), the candidate tone with the largest share (None: none over
    0.3), that share, RMS dBFS] per bucket_s of decoded audio: which tone a track carried when."""
    buckets: Dict[int, List] = {}
    for c, t in zip(sink.chunks, sink.times):
        if (from_tw is None or t >= from_tw) and (to_tw is None or t <= to_tw):
            buckets.setdefault(int(t // bucket_s), []).append(c)
    rows = []
    for k in sorted(buckets):
        a = analyze(buckets[k], 0.0, bucket_s * 2, candidates)
        best = max(a["shares"].items(), key=lambda kv: kv[1], default=(None, 0.0))
        rows.append([round(k * bucket_s, 2), best[0] if best[1] > 0.3 else None, best[1], a["rms_dbfs"]])
    return rows


# -- the peer ----------------------------------------------------------------------------


class Peer:
    def __init__(self, args) -> None:
        self.args = args
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN: loopback only
        self.tone = ToneTrack(args.freq, args.amplitude, args.pause_every_ms, args.pause_amplitude)
        self.sender = None
        self.transceiver = None  # --no-send: the one the first offer creates (recvonly)
        self.offers = 0
        if not args.no_send:
            self.sender = self.pc.addTrack(self.tone)
            self.transceiver = self.pc.getTransceivers()[0]
        if args.ssrc and self.sender is not None:
            # aiortc draws the SSRC at random in RTCRtpSender(); force it so that the focus
            # can signal it to the bridge (and to the others) before the answer exists.
            self.sender._ssrc = args.ssrc
            self.transceiver.receiver._set_rtcp_ssrc(args.ssrc)
        self.sinks: Dict[str, TrackSink] = {}
        self.offer_ssrcs: Dict[str, List[int]] = {}
        self.states: Dict[str, List[List]] = {"ice": [], "dtls": [], "pc": []}
        self.pc.on("connectionstatechange", lambda: self._state("pc", self.pc.connectionState))
        self.pc.on("track", self._on_track)
        self.dc = None  # the bridge channel (--datachannel)
        self.dc_in = 0
        self.dc_out = 0
        self.dc_states: List[List] = []
        self.pc.on("datachannel", self._on_remote_datachannel)

    def _state(self, what: str, state: str) -> None:
        self.states[what].append([state, now()])
        out({"event": "state", "what": what, "state": state, "t": now()})
        diag(f"{what} -> {state}")

    def _on_track(self, track) -> None:
        t = next((t for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        mid = t.mid if t is not None else str(len(self.sinks))
        self.sinks[mid] = TrackSink(mid, self.offer_ssrcs.get(mid, []), track)
        out({"event": "track", "mid": mid, "ssrc": self.offer_ssrcs.get(mid, [])})

    def _on_remote_datachannel(self, channel) -> None:
        # lib-jitsi-meet never expects the bridge to open one; report it if it does
        out({"event": "dc_remote", "label": channel.label, "protocol": channel.protocol, "id": channel.id,
             "t": now()})
        diag(f"the remote opened a data channel: label {channel.label!r} protocol {channel.protocol!r}")

    def _open_datachannel(self) -> None:
        dc = self.pc.createDataChannel(self.args.dc_label, ordered=True, protocol=self.args.dc_protocol)
        self.dc = dc

        def state(st: str) -> None:
            self.dc_states.append([st, now()])
            out({"event": "dc_state", "state": st, "id": dc.id, "t": now(), "tw": round(time.time(), 4)})
            diag(f"data channel -> {st} (id {dc.id})")

        def message(m) -> None:
            self.dc_in += 1
            if isinstance(m, str):
                out({"event": "dc_message", "data": m, "t": now(), "tw": round(time.time(), 4)})
            else:
                out({"event": "dc_message", "binary_hex": bytes(m)[:256].hex(), "length": len(m), "t": now(),
                     "tw": round(time.time(), 4)})

        dc.on("open", lambda: state("open"))
        dc.on("closing", lambda: state("closing"))
        dc.on("close", lambda: state("closed"))
        dc.on("message", message)

    def dc_send(self, text: str) -> None:
        if self.dc is None:
            out({"event": "error", "what": "dc_send: no data channel (--datachannel, and an m=application in the offer)"})
        elif self.dc.readyState != "open":
            out({"event": "error", "what": f"dc_send: data channel is {self.dc.readyState}"})
        else:
            self.dc.send(text)
            self.dc_out += 1
            out({"event": "dc_sent", "n": self.dc_out, "t": now()})

    async def on_offer(self, sdp: str) -> None:
        # remote SSRCs per mid, to label the receive tracks (per m-section: a=mid may come
        # before or after the a=ssrc lines)
        sections: List[List[str]] = []
        for line in sdp.splitlines():
            if line.startswith("m="):
                sections.append([])
            elif sections:
                sections[-1].append(line.strip())
        for lines in sections:
            mid = next((l[6:].strip() for l in lines if l.startswith("a=mid:")), None)
            if mid is None:
                continue
            self.offer_ssrcs.setdefault(mid, [])
            for l in lines:
                if l.startswith("a=ssrc:"):
                    s = int(l[7:].split()[0])
                    if s not in self.offer_ssrcs[mid]:
                        self.offer_ssrcs[mid].append(s)
        self.offers += 1
        first = self.offers == 1
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if self.transceiver is None:  # --no-send
            self.transceiver = self.pc.getTransceivers()[0]
        if self.args.datachannel and first:
            if any(l.startswith("m=application") for l in sdp.splitlines()):
                self._open_datachannel()
            else:
                out({"event": "error", "what": "--datachannel but the offer has no m=application section"})
        if first:  # a renegotiation keeps the BUNDLE transport (first m-line) and its handlers
            dtls = self.transceiver.receiver.transport
            ice = dtls.transport
            ice.on("statechange", lambda: self._state("ice", ice.state))
            dtls.on("statechange", lambda: self._state("dtls", dtls.state))
            self._dtls, self._ice = dtls, ice
        ice = self._ice
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)  # gathers candidates (127.0.0.1 only)
        local = self.pc.localDescription.sdp
        cands = [l[12:] for l in local.splitlines() if l.startswith("a=candidate:")]
        if not any(f" {HOST_ADDRESS} " in c for c in cands):
            out({"event": "error", "what": f"no {HOST_ADDRESS} candidate in the answer: {cands}"})
        if any(f" {HOST_ADDRESS} " not in c for c in cands):
            out({"event": "error", "what": f"a candidate not on {HOST_ADDRESS} in the answer: {cands}"})
        out({"event": "answer", "sdp": local, "ssrc": self.sender._ssrc if self.sender else None,
             "candidates": cands, "n": self.offers,
             "ice_role": "controlling" if ice._connection.ice_controlling else "controlled"})

    def analysis(self, from_tw: Optional[float], to_tw: Optional[float], timeline_s: float) -> dict:
        cands = [float(self.args.freq)] + [float(f) for f in self.args.listen_for if float(f) != self.args.freq]
        tracks = {}
        for mid, sink in sorted(self.sinks.items()):
            chunks = sink.window(from_tw, to_tw)
            a = analyze(chunks, 0.0, 3600.0, cands)
            tracks[mid] = {"remote_ssrcs": sink.ssrcs, "frames": len(chunks), "frames_total": sink.frames, **a}
            if timeline_s > 0:
                tracks[mid]["timeline"] = timeline(sink, timeline_s, cands, from_tw, to_tw)
        return {"event": "analysis", "tw": round(time.time(), 4), "from_tw": from_tw, "to_tw": to_tw,
                "tracks": tracks}

    def rtp_log(self) -> dict:
        ssrcs = {}
        for ssrc, s in WIRE.rtp.items():
            ssrcs[str(ssrc)] = {"packets": s["packets"], "routed": s["routed"], "first_tw": s.get("first_tw"),
                                "first": s.get("first"), "last": s.get("last"), "breaks": s.get("breaks", []),
                                "mids": s["mids"], "audio_level_packets": len(s["audio_levels"])}
        return {"event": "rtp", "tw": round(time.time(), 4), "ssrcs": ssrcs,
                "rtcp_sr_ssrcs": {str(k): v for k, v in WIRE.rtcp_sr_ssrcs.items()},
                "rtcp_sender_ssrcs": {str(k): v for k, v in WIRE.rtcp_sender_ssrcs.items()}}

    def report(self) -> dict:
        cands = [float(self.args.freq)] + [float(f) for f in self.args.listen_for if float(f) != self.args.freq]
        tracks = {}
        for mid, sink in sorted(self.sinks.items()):
            a = analyze(sink.chunks, self.args.skip_secs, self.args.window_secs, cands)
            tracks[mid] = {"remote_ssrcs": sink.ssrcs, "frames": sink.frames, "first_frame_t": sink.first_t, **a}
        rtp = {}
        for ssrc, s in WIRE.rtp.items():
            lv = s["audio_levels"]
            rtp[str(ssrc)] = {"packets": s["packets"], "routed": s["routed"], "pts": s["pts"], "first_t": s["first_t"],
                              "mids": s["mids"], "audio_level_packets": len(lv),
                              "audio_level_median": sorted(lv)[len(lv) // 2] if lv else None}
        sender_stats = {"rtp_frames_encoded": self.tone.frames, "pause_frames": self.tone.pauses,
                        "amplitude": self.tone.amp, "pause_every_ms": self.tone.pause_every_ms}
        sctp = self.pc.sctp
        datachannel = {"requested": self.args.datachannel, "state": self.dc.readyState if self.dc else None,
                       "id": self.dc.id if self.dc else None, "states": self.dc_states,
                       "messages_in": self.dc_in, "messages_out": self.dc_out,
                       "sctp_state": sctp.state if sctp else None,
                       "sctp_role": ("server" if sctp.is_server else "client") if sctp and sctp.transport else None,
                       "association": SCTP.states, "packets_in": SCTP.packets_in,
                       "packets_in_unparsable": SCTP.packets_in_unparsable, "chunks_in": SCTP.chunks_in,
                       "chunks_out": SCTP.chunks_out, "first_in_t": SCTP.first_in_t}
        ice_conn = getattr(getattr(self, "_ice", None), "_connection", None)
        nominated = None
        if ice_conn is not None and ice_conn._nominated:
            p = next(iter(ice_conn._nominated.values()))
            nominated = f"{p.local_candidate.host}:{p.local_candidate.port} -> {p.remote_addr[0]}:{p.remote_addr[1]}"
        return {
            "event": "report", "name": self.args.name, "freq": self.args.freq,
            "ssrc": self.sender._ssrc if self.sender else None,
            "t": now(), "states": self.states,
            "ice": {"state": getattr(getattr(self, "_ice", None), "state", None),
                    "role": ("controlling" if ice_conn.ice_controlling else "controlled") if ice_conn else None,
                    "nominated": nominated,
                    "requests_in": WIRE.stun_requests_in,
                    "requests_in_use_candidate": WIRE.stun_requests_in_use_candidate,
                    "requests_in_ice_controlling": WIRE.stun_requests_in_controlling,
                    "requests_in_ice_controlled": WIRE.stun_requests_in_controlled,
                    "requests_in_rejected": WIRE.stun_requests_in_bad,
                    "responses_in": WIRE.stun_responses_in, "errors_in": WIRE.stun_errors_in[:10],
                    "our_checks": WIRE.checks[-10:]},
            "dtls": {"state": getattr(getattr(self, "_dtls", None), "state", None),
                     "role": getattr(getattr(self, "_dtls", None), "_role", None),
                     "first_tx_t": WIRE.dtls_first_tx, "first_rx_t": WIRE.dtls_first_rx,
                     "handshake_types_tx": WIRE.dtls_handshake_types_tx[:20],
                     "handshake_types_rx": WIRE.dtls_handshake_types_rx[:20],
                     "content_types_rx": WIRE.dtls_content_types_rx,
                     "tx_datagrams": WIRE.dtls_tx_records, "rx_datagrams": WIRE.dtls_rx_records},
            "datagrams_rx": WIRE.rx, "datagrams_tx": WIRE.tx, "rx_from": WIRE.rx_from,
            "srtp_unprotect_failed": WIRE.srtp_unprotect_failed,
            "srtcp_unprotect_failed": WIRE.srtcp_unprotect_failed,
            "rtp_in": rtp, "rtcp_in": WIRE.rtcp,
            "rtcp_in_sender_ssrcs": {str(k): v for k, v in WIRE.rtcp_sender_ssrcs.items()},
            "tracks": tracks, "sender": sender_stats, "datachannel": datachannel, "numpy": np is not None,
        }

    async def close(self) -> None:
        for s in self.sinks.values():
            s.task.cancel()
        try:
            await asyncio.wait_for(self.pc.close(), 5)
        except (asyncio.TimeoutError, Exception) as e:  # pylint: disable=broad-except
            diag(f"close: {e!r}")


async def amain(args) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    peer = Peer(args)
    out({"event": "ready", "name": args.name})
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                out({"event": "error", "what": f"bad command line {line[:100]!r}"})
                continue
            cmd = msg.get("cmd")
            if cmd == "offer":
                try:
                    await peer.on_offer(msg["sdp"])
                except Exception as e:  # pylint: disable=broad-except
                    out({"event": "error", "what": f"offer rejected by aiortc: {e!r}"})
            elif cmd == "report":
                out(peer.report())
            elif cmd == "voice":
                if "amplitude" in msg:
                    peer.tone.amp = float(msg["amplitude"])
                if "pause_every_ms" in msg:
                    peer.tone.pause_every_ms = float(msg["pause_every_ms"])
                out({"event": "voice", "amplitude": peer.tone.amp, "pause_every_ms": peer.tone.pause_every_ms,
                     "t": now()})
            elif cmd == "analyze":
                out(peer.analysis(msg.get("from_tw"), msg.get("to_tw"), float(msg.get("timeline_s") or 0)))
            elif cmd == "rtp":
                out(peer.rtp_log())
            elif cmd == "rr":
                out({"event": "rr", "tw": time.time(),
                     "blocks": {str(k): v for k, v in WIRE.report_blocks.items()}})
            elif cmd == "dc_send":
                peer.dc_send(str(msg.get("text", "")))
            elif cmd == "quit":
                break
            else:
                out({"event": "error", "what": f"unknown command {cmd!r}"})
    finally:
        await peer.close()
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="peer")
    ap.add_argument("--freq", type=float, default=440.0)
    ap.add_argument("--amplitude", type=float, default=0.3)
    ap.add_argument("--pause-every-ms", type=float, default=0.0,
                    help="one near-silent 20 ms frame every N ms (speech-like levels; 0: steady tone)")
    ap.add_argument("--pause-amplitude", type=float, default=0.0001,
                    help="amplitude of the pause frames (not 0: digital silence does not move the noise floor)")
    ap.add_argument("--datachannel", action="store_true",
                    help="open the bridge channel over SCTP when the offer has an m=application section")
    ap.add_argument("--dc-label", default="JVB data channel")
    ap.add_argument("--dc-protocol", default="http://jitsi.org/protocols/colibri")
    ap.add_argument("--ssrc", type=int, default=0)
    ap.add_argument("--no-send", action="store_true",
                    help="no local track: answer the first m-line recvonly (a listener)")
    ap.add_argument("--listen-for", nargs="*", default=[], help="other frequencies to measure shares of")
    ap.add_argument("--skip-secs", type=float, default=0.5, help="decoded audio ignored at a track's start")
    ap.add_argument("--window-secs", type=float, default=2.0, help="analysis window (the last N s)")
    ap.add_argument("--max-secs", type=float, default=120.0)
    ap.add_argument("--host-address", default="127.0.0.1",
                    help="the address to gather candidates on (default loopback)")
    ap.add_argument("--consent-interval", type=float, default=None,
                    help="aioice's consent check period in seconds (default 5)")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args()
    global HOST_ADDRESS  # pylint: disable=global-statement
    HOST_ADDRESS = args.host_address
    if args.consent_interval is not None:
        aioice.ice.CONSENT_INTERVAL = args.consent_interval
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

    def watchdog():
        time.sleep(args.max_secs)
        diag(f"watchdog: {args.max_secs:g} s elapsed, exiting")
        out({"event": "error", "what": "watchdog"})
        os._exit(3)
    threading.Thread(target=watchdog, daemon=True).start()
    sys.exit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
