"""SDP for tests that put real WebRTC peers (aiortc) in front of the bridge.

Pure Python (no slixmpp, no aiortc): usable by the test driver and by the peers.

- build_offer(): from the bridge's Colibri2 transport (what Jicofo receives in the
  endpoint create reply), the SDP offer Jicofo/lib-jitsi-meet hands the client:
  session a=group:BUNDLE over every m-line, one audio m-line per stream, every
  m-line with a=ice-ufrag/pwd, the bridge's a=candidate lines, a=end-of-candidates,
  a=fingerprint, a=setup:actpass, a=rtcp-mux, Opus 111 (minptime=10;useinbandfec=1,
  rtcp-fb transport-cc), telephone-event 126/8000, extmap 1 ssrc-audio-level /
  10 sdes:mid / 5 transport-cc.
    m-line 0 (mid 0): a=sendrecv, the client's own audio; carries the bridge's
      feedback SSRC (jvb-a0, msid 'mixedmslabel mixedlabelaudio0') when given.
    m-line k (mid k): a=sendonly (the bridge sends, the client receives) with the
      a=ssrc (cname + msid) of the k-th other participant: the unified-plan layout
      lib-jitsi-meet builds, one receive transceiver per remote source.
  Why one m-line per remote SSRC: aiortc 1.4 (RtpRouter) routes RTP to a receiver
  by the SSRCs declared for its m-line (or by payload type when only one receiver
  has it) and feeds ONE jitter buffer/decoder per m-line, so two SSRCs on one
  m-line would be decoded as one interleaved stream.
  With datachannel=True, a last m-line (mid 'data', in BUNDLE) for the bridge channel over
  SCTP, as Jicofo/lib-jitsi-meet produce when the endpoint was allocated with <sctp/>:
  m=application <port> UDP/DTLS/SCTP webrtc-datachannel, a=sctp-port:5000 (the bridge's
  Colibri2 <sctp port>), the same ICE/DTLS attributes and candidates.
- add_remote_audio(): what lib-jitsi-meet does with an SSRC-rewriting bridge's
  AudioSourcesMap (SDP.updateRemoteSources): to a stored remote offer, append per new
  SSRC an m=audio cloned from the first audio m-line (codecs, extmaps, ICE/DTLS, candidates),
  a=sendonly, a=mid = the map entry's mid or else the next numeric m-line index, the
  a=ssrc (cname + msid 'remote-audio-N remote-audio-N'), the mid added to BUNDLE, and the
  o= version bumped: the re-offer the client renegotiates with.
- parse_answer(): the client's answer back into what Jicofo puts in the Colibri2
  transport update: ufrag, pwd, fingerprint (hash, value, setup), candidates, and
  the SSRC the client sends (from the sending m-line).

Candidate and Fingerprint are shared with colibri2_focus.py (which re-exports them).
"""
from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

ICE_NS = "urn:xmpp:jingle:transports:ice-udp:1"

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
TCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
DATA_MID = "data"  # the m=application section's mid (the Jingle content name Jicofo uses)


@dataclass
class Candidate:
    foundation: str
    component: int
    protocol: str
    priority: int
    ip: str
    port: int
    type: str
    generation: int = 0
    network: int = 0
    id: str = ""
    rel_addr: Optional[str] = None
    rel_port: Optional[int] = None

    @staticmethod
    def from_xml(el: ET.Element) -> "Candidate":
        return Candidate(el.get("foundation", ""), int(el.get("component", "1")),
                         el.get("protocol", "udp"), int(el.get("priority", "0")), el.get("ip", ""),
                         int(el.get("port", "0")), el.get("type", "host"),
                         int(el.get("generation", "0")), int(el.get("network", "0")), el.get("id", ""),
                         el.get("rel-addr"),
                         int(el.get("rel-port")) if el.get("rel-port") else None)

    def to_xml(self, parent: ET.Element) -> ET.Element:
        attrs = {"foundation": self.foundation, "component": str(self.component),
                 "protocol": self.protocol.lower(), "priority": str(self.priority), "ip": self.ip,
                 "port": str(self.port), "type": self.type, "generation": str(self.generation),
                 "network": str(self.network), "id": self.id or f"c{self.foundation}"}
        if self.rel_addr:
            attrs["rel-addr"] = self.rel_addr
            attrs["rel-port"] = str(self.rel_port or 0)
        return ET.SubElement(parent, f"{{{ICE_NS}}}candidate", attrs)

    def to_sdp(self) -> str:
        """The value of an a=candidate: attribute (without 'a=candidate:')."""
        s = (f"{self.foundation} {self.component} {self.protocol.lower()} {self.priority} {self.ip} "
             f"{self.port} typ {self.type}")
        if self.rel_addr:
            s += f" raddr {self.rel_addr} rport {self.rel_port or 0}"
        return s + f" generation {self.generation}"

    @staticmethod
    def from_sdp(value: str) -> "Candidate":
        """'candidate:...' or the bare attribute value."""
        if value.startswith("a="):
            value = value[2:]
        if value.startswith("candidate:"):
            value = value[len("candidate:"):]
        f = value.split()
        c = Candidate(f[0], int(f[1]), f[2].lower(), int(f[3]), f[4], int(f[5]), "host")
        i = 6
        while i + 1 < len(f):
            k, v = f[i], f[i + 1]
            if k == "typ":
                c.type = v
            elif k == "raddr":
                c.rel_addr = v
            elif k == "rport":
                c.rel_port = int(v)
            elif k == "generation":
                c.generation = int(v)
            elif k == "network-id":
                c.network = int(v)
            i += 2
        c.id = f"c{c.foundation}-{c.port}"
        return c


@dataclass
class Fingerprint:
    hash: str
    value: str
    setup: str


@dataclass
class RemoteSource:
    """Another participant's audio stream, as Jicofo signals it to a client."""
    owner: str  # endpoint id
    ssrc: int
    name: str = ""  # source name, default '<owner>-a0'

    def msid(self) -> str:
        return f"{self.owner}-audio-0 {self.name or self.owner + '-a0'}"


@dataclass
class ClientAnswer:
    ufrag: str
    pwd: str
    fingerprint: Fingerprint
    candidates: List[Candidate]
    ssrc: Optional[int]  # the SSRC of the sending m-line (what the client sends audio with)
    ice_lite: bool
    mids: List[str]
    directions: Dict[str, str]  # mid -> a=sendrecv|sendonly|recvonly|inactive
    ssrcs: Dict[str, List[int]]  # mid -> a=ssrc values
    extmaps: Dict[str, Dict[int, str]]  # mid -> {id: uri}
    codecs: Dict[str, Dict[int, str]]  # mid -> {pt: rtpmap}
    bundle: List[str] = field(default_factory=list)
    sdp: str = ""

    @property
    def setup(self) -> str:
        return self.fingerprint.setup


def build_offer(ufrag: str, pwd: str, fingerprint: Fingerprint, candidates: Sequence[Candidate],
                remote_sources: Sequence[RemoteSource] = (), feedback_ssrc: Optional[int] = None,
                ice_lite: bool = False, session_id: Optional[int] = None,
                end_of_candidates: bool = True, datachannel: bool = False,
                sctp_port: int = 5000, red_pt: Optional[int] = None) -> str:
    """The offer for one client; `fingerprint.setup` is ignored (an offer says actpass).
    red_pt: Opus RED (red/48000/2, fmtp 111/111) under that payload type, before Opus (Chromium
    then sends RED).
    ice_lite=True adds session a=ice-lite (then the client becomes ICE-controlling).
    datachannel=True appends the m=application section (mid 'data') with a=sctp-port."""
    sid = session_id if session_id is not None else random.randint(1, 2**62)
    udp = [c for c in candidates if c.protocol.lower() == "udp"]
    first = udp[0] if udp else None
    port = first.port if first else 9
    ip = first.ip if first else "0.0.0.0"
    n = 1 + len(remote_sources)
    mids = [str(i) for i in range(n)]
    bundle = mids + ([DATA_MID] if datachannel else [])
    lines = ["v=0", f"o=- {sid} 2 IN IP4 0.0.0.0", "s=-", "t=0 0",
             "a=group:BUNDLE " + " ".join(bundle), "a=msid-semantic: WMS *"]
    if ice_lite:
        lines.append("a=ice-lite")
    for i in range(n):
        pts = ([str(red_pt)] if red_pt is not None else []) + ["111", "126"]
        lines += [f"m=audio {port} UDP/TLS/RTP/SAVPF {' '.join(pts)}", f"c=IN IP4 {ip}",
                  "a=rtcp:9 IN IP4 0.0.0.0",
                  f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}",
                  f"a=fingerprint:{fingerprint.hash} {fingerprint.value}", "a=setup:actpass",
                  f"a=mid:{mids[i]}", "a=sendrecv" if i == 0 else "a=sendonly", "a=rtcp-mux",
                  "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
                  "a=rtcp-fb:111 transport-cc", "a=rtpmap:126 telephone-event/8000",
                  *([f"a=rtpmap:{red_pt} red/48000/2", f"a=fmtp:{red_pt} 111/111"] if red_pt is not None else []),
                  f"a=extmap:1 {AUDIO_LEVEL_URI}", f"a=extmap:10 {MID_URI}", f"a=extmap:5 {TCC_URI}",
                  "a=extmap-allow-mixed"]
        if i == 0:
            if feedback_ssrc is not None:
                lines += [f"a=ssrc:{feedback_ssrc} cname:mixed",
                          f"a=ssrc:{feedback_ssrc} msid:mixedmslabel mixedlabelaudio0"]
        else:
            src = remote_sources[i - 1]
            lines += [f"a=ssrc:{src.ssrc} cname:{src.owner}-cname",
                      f"a=ssrc:{src.ssrc} msid:{src.msid()}"]
        lines += [f"a=candidate:{c.to_sdp()}" for c in udp]
        if end_of_candidates:
            lines.append("a=end-of-candidates")
    if datachannel:
        lines += [f"m=application {port} UDP/DTLS/SCTP webrtc-datachannel", f"c=IN IP4 {ip}",
                  f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}",
                  f"a=fingerprint:{fingerprint.hash} {fingerprint.value}", "a=setup:actpass",
                  f"a=mid:{DATA_MID}", f"a=sctp-port:{sctp_port}"]
        lines += [f"a=candidate:{c.to_sdp()}" for c in udp]
        if end_of_candidates:
            lines.append("a=end-of-candidates")
    return "\r\n".join(lines) + "\r\n"


def offer_from_bridge(transport, remote_sources: Sequence[RemoteSource] = (),
                      use_feedback_source: bool = True, **kw) -> str:
    """build_offer() from a colibri2_focus.BridgeTransport. When the bridge answered <sctp/>,
    the offer gets the data channel section on that port (unless datachannel= is given)."""
    sctp = getattr(transport, "sctp", None)
    if sctp is not None and "datachannel" not in kw:
        kw["datachannel"] = True
        kw.setdefault("sctp_port", int(sctp.get("port", 5000)))
    return build_offer(transport.ufrag, transport.pwd, transport.fingerprint, transport.candidates,
                       remote_sources,
                       transport.feedback_ssrc("audio") if use_feedback_source else None, **kw)


def parse_answer(sdp: str) -> ClientAnswer:
    """ICE/DTLS parameters and SSRCs of a (BUNDLEd) answer. Session-level attributes apply to
    every m-line; ICE/DTLS parameters are taken from the first m-line (the BUNDLE transport)."""
    session: Dict[str, List[str]] = {}
    media: List[Dict[str, List[str]]] = []
    for raw in sdp.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("m="):
            media.append({"m": [line[2:]]})
            continue
        if not line.startswith("a="):
            continue
        attr, _, value = line[2:].partition(":")
        (media[-1] if media else session).setdefault(attr, []).append(value)

    def get(m, attr):
        vals = m.get(attr) or session.get(attr) or []
        return vals[0] if vals else None

    if not media:
        raise ValueError("answer has no m-line")
    bundle = next((g.split()[1:] for g in session.get("group", []) if g.startswith("BUNDLE")), [])
    first = media[0]
    fp_value = get(first, "fingerprint")
    if not fp_value:
        raise ValueError("answer has no a=fingerprint")
    fp_hash, fp_hex = fp_value.split(None, 1)
    setup = get(first, "setup") or ""
    ufrag, pwd = get(first, "ice-ufrag"), get(first, "ice-pwd")
    if not ufrag or not pwd:
        raise ValueError("answer has no a=ice-ufrag / a=ice-pwd")
    cands: List[Candidate] = []
    # BUNDLE: the first m-line's transport carries everything (aiortc as OFFERER still gathers
    # one transport per m-line; those are dropped once the answer accepts the BUNDLE group).
    for m in ([first] if first.get("candidate") else media):
        for v in m.get("candidate", []):
            c = Candidate.from_sdp(v)
            if not any((x.ip, x.port, x.protocol) == (c.ip, c.port, c.protocol) for x in cands):
                cands.append(c)
    mids, directions, ssrcs, extmaps, codecs = [], {}, {}, {}, {}
    send_ssrc = None
    for i, m in enumerate(media):
        mid = get(m, "mid") or str(i)
        mids.append(mid)
        d = next((a for a in ("sendrecv", "sendonly", "recvonly", "inactive") if a in m), "sendrecv")
        directions[mid] = d
        ss: List[int] = []
        for v in m.get("ssrc", []):
            s = int(v.split()[0])
            if s not in ss:
                ss.append(s)
        ssrcs[mid] = ss
        extmaps[mid] = {int(v.split()[0].split("/")[0]): v.split()[1] for v in m.get("extmap", [])}
        codecs[mid] = {int(v.split()[0]): v.split()[1] for v in m.get("rtpmap", [])}
        if send_ssrc is None and d in ("sendrecv", "sendonly") and ss:
            send_ssrc = ss[0]
    return ClientAnswer(ufrag=ufrag, pwd=pwd,
                        fingerprint=Fingerprint(fp_hash.lower(), fp_hex.strip(), setup),
                        candidates=cands, ssrc=send_ssrc, ice_lite="ice-lite" in session,
                        mids=mids, directions=directions, ssrcs=ssrcs, extmaps=extmaps, codecs=codecs,
                        bundle=bundle, sdp=sdp)


# -- lib-jitsi-meet with SSRC rewriting: m-lines appended for mapped sources ----------------

def _sections(sdp: str):
    """(session lines, [m-section lines]) of an SDP."""
    session: List[str] = []
    media: List[List[str]] = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
        else:
            session.append(line)
    return session, media


def sdp_mids(sdp: str) -> List[str]:
    """The a=mid of every m-section, in order (the index where one has none)."""
    _, media = _sections(sdp)
    return [next((l[6:].strip() for l in m if l.startswith("a=mid:")), str(i)) for i, m in enumerate(media)]


def add_remote_audio(offer: str, sources: Sequence[dict], msid_start: int = 0):
    """Appends one receive m=audio per entry of `sources` ({"ssrc": N, "owner": id, "mid":
    optional}) to `offer` as lib-jitsi-meet's SDP.updateRemoteSources does. Returns (the new
    offer, the mids given to the entries, in order). The new m-lines are clones of the first
    audio m-line with a=sendonly, their own a=mid and a=ssrc (cname '<owner>-cname', msid
    'remote-audio-N remote-audio-N' with N counting from msid_start) and no other a=ssrc /
    a=ssrc-group / a=msid; BUNDLE gets the mids; the o= session version goes up by one."""
    session, media = _sections(offer)
    template = next((m for m in media if m[0].startswith("m=audio")), None)
    if template is None:
        raise ValueError("the offer has no m=audio to clone")
    used = set(sdp_mids(offer))
    mids: List[str] = []
    for k, src in enumerate(sources):
        mid = src.get("mid")
        if not mid:
            n = len(media)
            while str(n) in used:
                n += 1
            mid = str(n)
        if mid in used:
            raise ValueError(f"mid {mid!r} is already in the offer")
        used.add(mid)
        ssrc = int(src["ssrc"])
        label = f"remote-audio-{msid_start + k}"
        clone = []
        for line in template:
            if (line.startswith("a=ssrc:") or line.startswith("a=ssrc-group:") or line.startswith("a=msid:")
                    or line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")
                    or line.startswith("a=mid:")):
                continue
            clone.append(line)
        # direction and mid where the template had them (after a=setup, as build_offer puts them)
        at = next((i + 1 for i, l in enumerate(clone) if l.startswith("a=setup:")), len(clone))
        clone[at:at] = [f"a=mid:{mid}", "a=sendonly"]
        at = next((i for i, l in enumerate(clone) if l.startswith("a=candidate:") or l == "a=end-of-candidates"),
                  len(clone))
        clone[at:at] = [f"a=ssrc:{ssrc} cname:{src.get('owner') or 'remote'}-cname",
                        f"a=ssrc:{ssrc} msid:{label} {label}"]
        media.append(clone)
        mids.append(mid)
    out_session = []
    for line in session:
        if line.startswith("a=group:BUNDLE"):
            line = " ".join([line] + mids)
        elif line.startswith("o="):
            f = line.split()
            if len(f) >= 3 and f[2].isdigit():
                f[2] = str(int(f[2]) + 1)
            line = " ".join(f)
        out_session.append(line)
    lines = out_session + [l for m in media for l in m]
    return "\r\n".join(lines) + "\r\n", mids
