"""A stand-in SFU made of aiortc peer connections, to prove the media test harness.

test_aiortc_forwarding.py --fake-sfu runs the same scenario as against jvb-audio,
with this object in place of Prosody + bridge + Colibri2 focus. It shows that the
offer layout, forced SSRCs, per-track tone analysis and pass criteria work with a
real ICE/DTLS/SRTP peer, so a failure against the bridge is the bridge's.

What it does per endpoint: one aiortc RTCPeerConnection (ICE-controlling like the
bridge, DTLS server once the client answers a=setup:active) with m-line 0 receiving
the client's audio and m-line k sending the k-th other endpoint's audio with that
endpoint's SSRC (forced), so the client's RtpRouter finds it by the a=ssrc of the
offer. Audio is DECODED and RE-ENCODED (aiortc has no packet forwarding): this is a
harness check, not a model of the bridge's forwarding.

Run in the driver's process (/usr/bin/python3 with python3-aiortc).
"""
from __future__ import annotations

import asyncio
from typing import Dict, List, Optional

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

import webrtc_sdp

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


class _Fanout:
    """The audio one endpoint sends, decoded, copied to one queue per subscriber."""

    def __init__(self) -> None:
        self.queues: List[asyncio.Queue] = []
        self.task: Optional[asyncio.Task] = None

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=50)
        self.queues.append(q)
        return q

    def start(self, track) -> None:
        async def run():
            try:
                while True:
                    frame = await track.recv()
                    for q in self.queues:
                        if q.full():
                            q.get_nowait()
                        q.put_nowait(frame)
            except (MediaStreamError, asyncio.CancelledError):
                pass
        self.task = asyncio.ensure_future(run())


class _QueueTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, q: asyncio.Queue) -> None:
        super().__init__()
        self.q = q

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        return await self.q.get()


class FakeSfu:
    """allocate() every endpoint first (with the SSRCs of all), then answer() each."""

    def __init__(self) -> None:
        self.pcs: Dict[str, RTCPeerConnection] = {}
        self.fanouts: Dict[str, _Fanout] = {}
        self.ssrcs: Dict[str, int] = {}

    async def allocate(self, endpoint_id: str, ssrc: int, others: List[tuple]) -> webrtc_sdp.ClientAnswer:
        """others: [(endpoint id, ssrc)] in the order of the client's m-lines 1..n.
        Returns the SFU side's transport (ufrag, pwd, fingerprint, candidates of m-line 0)."""
        self.ssrcs[endpoint_id] = ssrc
        self.fanouts.setdefault(endpoint_id, _Fanout())
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[endpoint_id] = pc
        pc.addTransceiver("audio", direction="recvonly")
        for other_id, other_ssrc in others:
            fan = self.fanouts.setdefault(other_id, _Fanout())
            t = pc.addTransceiver(_QueueTrack(fan.subscribe()), direction="sendonly")
            t.sender._ssrc = other_ssrc

        @pc.on("track")
        def on_track(track):
            self.fanouts[endpoint_id].start(track)

        await pc.setLocalDescription(await pc.createOffer())
        return webrtc_sdp.parse_answer(pc.localDescription.sdp)

    async def answer(self, endpoint_id: str, answer_sdp: str) -> None:
        await self.pcs[endpoint_id].setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def close(self) -> None:
        for f in self.fanouts.values():
            if f.task:
                f.task.cancel()
        for pc in self.pcs.values():
            try:
                await asyncio.wait_for(pc.close(), 5)
            except Exception:  # pylint: disable=broad-except
                pass
