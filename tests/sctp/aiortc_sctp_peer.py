#!/usr/bin/python3
"""aiortc's DTLS + SCTP + data channel stack over one UDP socket on 127.0.0.1,
the third-party peer of sctp_aiortc_interop (started by it, stopped by PID).

No ICE: a stand-in for RTCIceTransport carries datagrams to and from the
address given on the command line. aiortc derives its DTLS and SCTP roles
from the ICE role: "controlling" makes it the DTLS server and the SCTP
client (it sends the INIT and opens channels on odd stream ids).

  aiortc_sctp_peer.py opener  <our-port> <our-sha-256>   # aiortc opens the channel
  aiortc_sctp_peer.py echoer  <our-port> <our-sha-256>   # aiortc echoes our channel

Prints "READY <udp-port> <sha-256 fingerprint>" first, "RESULT OK" or
"RESULT FAIL <why>" last; exit status 0 only for OK. Gives up after 30 s.
"""
import asyncio
import sys

from aiortc import (RTCCertificate, RTCDataChannel, RTCDataChannelParameters, RTCDtlsParameters,
                    RTCDtlsTransport, RTCSctpCapabilities, RTCSctpTransport)
from aiortc.rtcdtlstransport import RTCDtlsFingerprint

LABEL = "JVB data channel"
PROTOCOL = "http://jitsi.org/protocols/colibri"


def messages():
    """What the opener sends; the other side echoes each text message."""
    out = ["hello", "", "x" * 16384, '{"colibriClass":"EndpointMessage","msg":"h\u00e9llo \u20ac"}']
    out += ["m%d" % i for i in range(100)]
    return out


class UdpIce:
    """The part of RTCIceTransport that RTCDtlsTransport uses."""

    def __init__(self, role, remote):
        self.role = role
        self.state = "completed"
        self._remote = remote
        self._queue = asyncio.Queue()
        self._udp = None

    async def bind(self):
        loop = asyncio.get_running_loop()
        ice = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                ice._queue.put_nowait(data)

        self._udp, _ = await loop.create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 0))
        return self._udp.get_extra_info("sockname")[1]

    async def _recv(self):
        data = await self._queue.get()
        if data is None:
            raise ConnectionError("closed")
        return data

    async def _send(self, data):
        self._udp.sendto(data, self._remote)

    def close(self):
        self._queue.put_nowait(None)
        if self._udp:
            self._udp.close()


def result(ok, why=""):
    print("RESULT OK" if ok else "RESULT FAIL " + why, flush=True)
    return 0 if ok else 1


async def run(mode, our_port, our_fingerprint):
    # opener: DTLS server + SCTP client; echoer: DTLS client + SCTP server.
    ice = UdpIce("controlling" if mode == "opener" else "controlled", ("127.0.0.1", our_port))
    port = await ice.bind()
    cert = RTCCertificate.generateCertificate()
    fp = [f for f in cert.getFingerprints() if f.algorithm == "sha-256"][0]
    print("READY %d %s" % (port, fp.value), flush=True)

    dtls = RTCDtlsTransport(ice, [cert])
    await dtls.start(RTCDtlsParameters(fingerprints=[RTCDtlsFingerprint("sha-256", our_fingerprint)]))
    if dtls.state != "connected":
        return result(False, "DTLS " + dtls.state)
    sctp = RTCSctpTransport(dtls)
    done = asyncio.get_running_loop().create_future()

    def finish(ok, why=""):
        if not done.done():
            done.set_result((ok, why))

    if mode == "opener":
        # Open the bridge channel, send everything, expect it echoed in order,
        # then close the channel (a stream reset both ways).
        channel = RTCDataChannel(sctp, RTCDataChannelParameters(label=LABEL, protocol=PROTOCOL))
        expected = messages()
        echoed = []

        @channel.on("open")
        def on_open():
            for m in expected:
                channel.send(m)
            channel.send(b"\x00\x01binary")  # the bridge ignores binary

        @channel.on("message")
        def on_message(m):
            echoed.append(m)
            if len(echoed) == len(expected):
                if echoed != expected:
                    bad = next(i for i, (a, b) in enumerate(zip(echoed, expected)) if a != b)
                    finish(False, "echo %d differs" % bad)
                else:
                    channel.close()

        @channel.on("close")
        def on_close():
            finish(len(echoed) == len(expected), "closed after %d echoes" % len(echoed))
    else:
        # Echo every text message of the channel the other side opens; done
        # when it closes the channel again.
        state = {"count": 0}

        @sctp.on("datachannel")
        def on_channel(channel):
            if channel.label != LABEL or channel.protocol != PROTOCOL or channel.id % 2 != 1:
                finish(False, "channel %r %r id %s" % (channel.label, channel.protocol, channel.id))

            @channel.on("message")
            def on_message(m):
                state["count"] += 1
                channel.send(m)

            @channel.on("close")
            def on_close():
                finish(state["count"] == len(messages()), "echoed %d" % state["count"])

    await sctp.start(RTCSctpCapabilities(maxMessageSize=65536), 5000)
    try:
        ok, why = await asyncio.wait_for(done, 30)
    except asyncio.TimeoutError:
        ok, why = False, "timeout"
    await asyncio.sleep(0.2)  # let the last SACKs / reset responses leave
    await sctp.stop()
    await dtls.stop()
    ice.close()
    return result(ok, why)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("opener", "echoer"):
        print(__doc__, file=sys.stderr)
        return 2
    return asyncio.run(run(sys.argv[1], int(sys.argv[2]), sys.argv[3]))


if __name__ == "__main__":
    sys.exit(main())
