"""A Jicofo-like Colibri2 focus for tests, on top of xmpp_peer.Focus (slixmpp).

Run under /usr/bin/python3 (Debian's python3-slixmpp).

Colibri2Focus joins the brewery like Jicofo and talks to one bridge occupant:

- allocate(meeting_id, endpoint_id, ssrc, create_conference): the endpoint create
  Jicofo sends after a participant joined (conference create + name on the first
  one): audio media (Opus PT 111 minptime/useinbandfec + rtcp-fb transport-cc,
  telephone-event 126/8000, hdrexts ssrc-audio-level 1 / sdes:mid 10 /
  transport-cc 5, extmap-allow-mixed), a video media block as Jicofo sends even
  in audio-only rooms, <transport ice-controlling='true'/>, the audio source with
  the SSRC, the source-names capability. Returns the parsed BridgeTransport.
  capabilities=SSRC_REWRITING_CAPABILITIES makes the endpoint an SSRC-rewriting receiver
  as Jicofo's default does (source-names + ssrc-rewriting; RTP_MID_DEMUX_CAPABILITIES adds
  rtp-mid-demux); the offer for such a client then carries only the bridge's feedback source
  (webrtc_sdp.offer_from_bridge(transport, [])) and the bridge announces the rest in
  AudioSourcesMap messages.
- update_transport(...): the client's ICE/DTLS parameters as Jicofo forwards them
  after session-accept (ufrag/pwd, candidates, rtcp-mux, fingerprint + setup).
- restart_ice(meeting_id, endpoint_id): Jicofo's in-place ICE restart (Colibri2Session.restartIce
  in jicofo-selector/src/main/kotlin/org/jitsi/jicofo/bridge/colibri/Colibri2Session.kt):
  <endpoint id stats-id><transport ice-restart='true'/></endpoint>. Returns the bridge's new
  transport (ice_generation set: relay it to the client), its current one (ice_generation None:
  nothing to do) or None (no <transport>: Jicofo falls back to a re-invite).
  update_transport(..., ice_generation=N) then carries the client's answer as lib-jitsi-meet
  tags it (JingleSessionPC._sendIceRestartTransportInfo) and Jicofo forwards it unmodified.
- update_sources(...), expire(...), expire_conference(...).

Errors come back as Colibri2Error (condition, colibri2 reason, text); no reply
within the timeout raises Colibri2Error('timeout'). Namespaces and shapes follow
shared/docs/jvb-interfaces.md section 3.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

from slixmpp.exceptions import IqError, IqTimeout

from xmpp_peer import Focus
from webrtc_sdp import Candidate, Fingerprint  # noqa: F401  (re-exported for callers)

C2 = "jitsi:colibri2"
RTP = "urn:xmpp:jingle:apps:rtp:1"
FB = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
HDR = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
ICE = "urn:xmpp:jingle:transports:ice-udp:1"
DTLS = "urn:xmpp:jingle:apps:dtls:0"
SSMA = "urn:xmpp:jingle:apps:rtp:ssma:0"
COLIBRI = "http://jitsi.org/protocol/colibri"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
TCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

# Jicofo's default audio configuration (jicofo.codec in its reference.conf).
OPUS_PT = 111
TELEPHONE_EVENT_PT = 126
AUDIO_HDREXTS = ((1, AUDIO_LEVEL_URI), (10, MID_URI), (5, TCC_URI))

# Colibri2 endpoint capabilities (sent on create only) of a Jicofo participant whose client
# does SSRC rewriting, without and with rtp-mid-demux.
SSRC_REWRITING_CAPABILITIES = ("source-names", "ssrc-rewriting")
RTP_MID_DEMUX_CAPABILITIES = ("source-names", "ssrc-rewriting", "rtp-mid-demux")


def q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


class Colibri2Error(Exception):
    """The bridge answered with an IQ error, or did not answer."""

    def __init__(self, condition: str, reason: Optional[str] = None, text: str = "",
                 what: str = ""):
        self.condition, self.reason, self.text = condition, reason, text
        super().__init__(f"{what}: {condition}"
                         f"{'/' + reason if reason else ''}{' ' + repr(text) if text else ''}")


@dataclass
class BridgeTransport:
    """What the bridge answered for one endpoint create."""
    endpoint_id: str
    ufrag: str
    pwd: str
    candidates: List[Candidate]
    fingerprints: List[Fingerprint]
    rtcp_mux: bool
    web_sockets: List[str]
    sctp: Optional[Dict[str, str]]
    feedback_sources: Dict[str, Dict[str, object]] = field(default_factory=dict)  # id -> {type, ssrc}
    ice_generation: Optional[int] = None  # the ICE-UDP transport's ice-generation (an ICE restart)
    xml: Optional[ET.Element] = field(default=None, repr=False)

    @property
    def fingerprint(self) -> Fingerprint:
        return self.fingerprints[0]

    def feedback_ssrc(self, media_type: str = "audio") -> Optional[int]:
        for src in self.feedback_sources.values():
            if src["type"] == media_type and src["ssrc"] is not None:
                return int(src["ssrc"])  # type: ignore[arg-type]
        return None


def parse_feedback_sources(cmod: ET.Element) -> Dict[str, Dict[str, object]]:
    out: Dict[str, Dict[str, object]] = {}
    srcs = cmod.find(q(C2, "sources"))
    if srcs is None:
        return out
    for ms in srcs.findall(q(C2, "media-source")):
        s = ms.find(q(SSMA, "source"))
        ssrc = s.get("ssrc") if s is not None else None
        out[ms.get("id", "")] = {"type": ms.get("type"),
                                 "ssrc": int(ssrc) if ssrc and ssrc.isdigit() else None}
    return out


def parse_endpoint_transport(cmod: ET.Element, endpoint_id: str) -> BridgeTransport:
    """The <endpoint id><transport><transport xmlns=ice-udp> of a conference-modified."""
    ep = next((e for e in cmod.findall(q(C2, "endpoint")) if e.get("id") == endpoint_id), None)
    if ep is None:
        raise Colibri2Error("bad-reply", text=ET.tostring(cmod, encoding="unicode")[:800],
                            what=f"no <endpoint id='{endpoint_id}'> in conference-modified")
    wrapper = ep.find(q(C2, "transport"))
    ice = wrapper.find(q(ICE, "transport")) if wrapper is not None else None
    if ice is None:
        raise Colibri2Error("bad-reply", text=ET.tostring(ep, encoding="unicode")[:800],
                            what=f"no ICE-UDP transport for endpoint {endpoint_id}")
    fps = [Fingerprint((f.get("hash") or "").lower(), (f.text or "").strip(), f.get("setup") or "actpass")
           for f in ice.findall(q(DTLS, "fingerprint"))]
    if not fps:
        raise Colibri2Error("bad-reply", what=f"no DTLS fingerprint for endpoint {endpoint_id}")
    sctp = wrapper.find(q(C2, "sctp")) if wrapper is not None else None
    return BridgeTransport(
        endpoint_id=endpoint_id, ufrag=ice.get("ufrag", ""), pwd=ice.get("pwd", ""),
        candidates=[Candidate.from_xml(c) for c in ice.findall(q(ICE, "candidate"))],
        fingerprints=fps, rtcp_mux=ice.find(q(ICE, "rtcp-mux")) is not None,
        web_sockets=[w.get("url", "") for w in ice.findall(q(COLIBRI, "web-socket"))],
        sctp=dict(sctp.attrib) if sctp is not None else None,
        feedback_sources=parse_feedback_sources(cmod), xml=cmod,
        ice_generation=int(ice.get("ice-generation")) if ice.get("ice-generation") is not None else None)


# -- request builders (usable on their own, e.g. for negative tests) -------------------

def conference_modify(meeting_id: str, name: Optional[str] = None, create: bool = False,
                      expire: bool = False) -> ET.Element:
    attrs = {"meeting-id": meeting_id}
    if name:
        attrs["name"] = name
    if create:
        attrs["create"] = "true"
    if expire:
        attrs["expire"] = "true"
    return ET.Element(q(C2, "conference-modify"), attrs)


def audio_media(parent: ET.Element) -> ET.Element:
    m = ET.SubElement(parent, q(C2, "media"), type="audio")
    pt = ET.SubElement(m, q(RTP, "payload-type"), id=str(OPUS_PT), name="opus", clockrate="48000",
                       channels="2")
    ET.SubElement(pt, q(RTP, "parameter"), name="minptime", value="10")
    ET.SubElement(pt, q(RTP, "parameter"), name="useinbandfec", value="1")
    ET.SubElement(pt, q(FB, "rtcp-fb"), type="transport-cc")
    ET.SubElement(m, q(RTP, "payload-type"), id=str(TELEPHONE_EVENT_PT), name="telephone-event",
                  clockrate="8000")
    for ext_id, uri in AUDIO_HDREXTS:
        ET.SubElement(m, q(HDR, "rtp-hdrext"), id=str(ext_id), uri=uri)
    ET.SubElement(m, q(HDR, "extmap-allow-mixed"))
    return m


def video_media(parent: ET.Element) -> ET.Element:
    """The video block Jicofo sends even when the room is audio-only (VP8 + rtx)."""
    m = ET.SubElement(parent, q(C2, "media"), type="video")
    vp8 = ET.SubElement(m, q(RTP, "payload-type"), id="100", name="VP8", clockrate="90000")
    for fb_type, subtype in (("ccm", "fir"), ("nack", None), ("nack", "pli"), ("transport-cc", None)):
        attrs = {"type": fb_type}
        if subtype:
            attrs["subtype"] = subtype
        ET.SubElement(vp8, q(FB, "rtcp-fb"), attrs)
    rtx = ET.SubElement(m, q(RTP, "payload-type"), id="96", name="rtx", clockrate="90000")
    ET.SubElement(rtx, q(RTP, "parameter"), name="apt", value="100")
    ET.SubElement(m, q(HDR, "rtp-hdrext"), id="3", uri=ABS_SEND_TIME_URI)
    ET.SubElement(m, q(HDR, "rtp-hdrext"), id="5", uri=TCC_URI)
    ET.SubElement(m, q(HDR, "extmap-allow-mixed"))
    return m


def audio_sources(parent: ET.Element, endpoint_id: str, ssrcs: Iterable[int]) -> ET.Element:
    s = ET.SubElement(parent, q(C2, "sources"))
    ssrcs = list(ssrcs)
    if ssrcs:
        ms = ET.SubElement(s, q(C2, "media-source"), type="audio", id=f"{endpoint_id}-a0")
        for ssrc in ssrcs:
            ET.SubElement(ms, q(SSMA, "source"), ssrc=str(ssrc), name=f"{endpoint_id}-a0")
    return s


def endpoint_create(cm: ET.Element, endpoint_id: str, ssrc: Optional[int],
                    capabilities: Sequence[str] = ("source-names",), sctp: bool = False,
                    stats_id: Optional[str] = None) -> ET.Element:
    ep = ET.SubElement(cm, q(C2, "endpoint"), id=endpoint_id, create="true",
                       **{"stats-id": stats_id or f"{endpoint_id}-stats"})
    audio_media(ep)
    video_media(ep)
    t = ET.SubElement(ep, q(C2, "transport"), **{"ice-controlling": "true"})
    if sctp:
        ET.SubElement(t, q(C2, "sctp"))
    audio_sources(ep, endpoint_id, [ssrc] if ssrc is not None else [])
    for c in capabilities:
        ET.SubElement(ep, q(C2, "capability"), name=c)
    return ep


def transport_update(cm: ET.Element, endpoint_id: str, ufrag: str, pwd: str,
                     fingerprint: Fingerprint, candidates: Iterable[Candidate],
                     stats_id: Optional[str] = None, ice_generation: Optional[int] = None) -> ET.Element:
    ep = ET.SubElement(cm, q(C2, "endpoint"), id=endpoint_id,
                       **{"stats-id": stats_id or f"{endpoint_id}-stats"})
    t = ET.SubElement(ep, q(C2, "transport"))
    attrs = {"ufrag": ufrag, "pwd": pwd}
    if ice_generation is not None:
        # lib-jitsi-meet tags the answer to an ICE restart with the bridge's ice-generation
        # (JingleSessionPC._sendIceRestartTransportInfo); Jicofo's onTransportInfo forwards it.
        attrs["ice-generation"] = str(ice_generation)
    ice = ET.SubElement(t, q(ICE, "transport"), attrs)
    ET.SubElement(ice, q(ICE, "rtcp-mux"))  # Jicofo inserts it when the client omitted it
    f = ET.SubElement(ice, q(DTLS, "fingerprint"), hash=fingerprint.hash, setup=fingerprint.setup)
    f.text = fingerprint.value
    for c in candidates:
        c.to_xml(ice)
    return ep


def ice_restart_request(cm: ET.Element, endpoint_id: str, stats_id: Optional[str] = None) -> ET.Element:
    """Jicofo's Colibri2Session.restartIce: the endpoint (id, stats-id) with a colibri2 transport
    that carries only ice-restart='true' (jitsi-xmpp-extensions Transport.setIceRestart)."""
    ep = ET.SubElement(cm, q(C2, "endpoint"), id=endpoint_id,
                       **{"stats-id": stats_id or f"{endpoint_id}-stats"})
    ET.SubElement(ep, q(C2, "transport"), **{"ice-restart": "true"})
    return ep


def as_fingerprint(fp, setup: Optional[str] = None) -> Fingerprint:
    if isinstance(fp, Fingerprint):
        return Fingerprint(fp.hash, fp.value, setup or fp.setup)
    if isinstance(fp, (tuple, list)):
        return Fingerprint(str(fp[0]).lower(), str(fp[1]), setup or "active")
    return Fingerprint("sha-256", str(fp), setup or "active")


def error_info(err: Optional[ET.Element]):
    """(condition, colibri2 reason, text) of a stanza <error/>."""
    if err is None:
        return "unknown", None, ""
    cond = next((c.tag.split("}")[1] for c in err
                 if c.tag.startswith("{" + STANZAS) and not c.tag.endswith("}text")), "unknown")
    text = err.findtext(q(STANZAS, "text")) or ""
    ext = err.find(q(C2, "error"))
    return cond, (ext.get("reason") if ext is not None else None), text


class Colibri2Focus(Focus):
    """Fake Jicofo with Colibri2 requests. `bridge` is the bridge's occupant nick in the brewery."""

    def __init__(self, jid: str, password: str, host: str, port: int, room: str, bridge: str,
                 nick: str = "focus", iq_timeout: float = 10.0, iq_type: str = "get", **kw):
        super().__init__(jid, password, host, port, room, nick, **kw)
        self.bridge_nick = bridge
        self.iq_timeout = iq_timeout
        self.iq_type = iq_type  # Jicofo's Smack default puts type='get' on the wire
        self.sent: List[ET.Element] = []  # every conference-modify sent, for debugging

    @property
    def bridge_jid(self) -> str:
        return f"{self.room}/{self.bridge_nick}"

    async def connect_and_join(self, wait_bridge: float = 20.0) -> None:
        """Session, brewery join, and the bridge's presence with colibri stats."""
        await self.start_session()
        self.join()
        await self.wait_joined()
        await self.wait_bridge(self.bridge_nick, timeout=wait_bridge)

    async def request(self, cm: ET.Element, what: str) -> ET.Element:
        """Send a conference-modify; returns the <conference-modified/> or raises Colibri2Error."""
        iq = self.make_iq_get(ito=self.bridge_jid) if self.iq_type == "get" else self.make_iq_set(ito=self.bridge_jid)
        iq.append(cm)
        self.sent.append(cm)
        try:
            reply = await iq.send(timeout=self.iq_timeout)
        except IqError as e:
            cond, reason, text = error_info(e.iq.xml.find("{jabber:client}error"))
            raise Colibri2Error(cond, reason, text, what) from None
        except IqTimeout:
            raise Colibri2Error("timeout", None, f"no reply within {self.iq_timeout:g} s", what) from None
        cmod = reply.xml.find(q(C2, "conference-modified"))
        if cmod is None:
            raise Colibri2Error("bad-reply", None, ET.tostring(reply.xml, encoding="unicode")[:800],
                                what + ": no <conference-modified/>")
        return cmod

    async def allocate(self, meeting_id: str, endpoint_id: str, ssrc: Optional[int],
                       create_conference: bool, room_name: Optional[str] = None,
                       capabilities: Sequence[str] = ("source-names",), sctp: bool = False) -> BridgeTransport:
        """Endpoint create (with the conference create on the first one). Returns the bridge transport."""
        cm = conference_modify(meeting_id, name=(room_name or f"{meeting_id}@conference.example.test")
                               if create_conference else None, create=create_conference)
        endpoint_create(cm, endpoint_id, ssrc, capabilities, sctp)
        cmod = await self.request(cm, f"allocate {endpoint_id} in {meeting_id}")
        return parse_endpoint_transport(cmod, endpoint_id)

    async def update_transport(self, meeting_id: str, endpoint_id: str, ufrag: str, pwd: str,
                               fingerprint, setup: Optional[str] = None,
                               candidates: Iterable[Candidate] = (),
                               ice_generation: Optional[int] = None) -> ET.Element:
        """The client's ICE/DTLS parameters (from its session-accept, or, with ice_generation, its
        answer to an ICE restart). `fingerprint`: a Fingerprint,
        a (hash, value) pair or a bare sha-256 value; `setup` overrides its setup."""
        fingerprint = as_fingerprint(fingerprint, setup)
        cm = conference_modify(meeting_id)
        transport_update(cm, endpoint_id, ufrag, pwd, fingerprint, candidates,
                         ice_generation=ice_generation)
        return await self.request(cm, f"transport update for {endpoint_id}")

    async def restart_ice(self, meeting_id: str, endpoint_id: str) -> Optional[BridgeTransport]:
        """Jicofo's in-place ICE restart request. The bridge's transport: new credentials with
        ice_generation set, or the current ones without (the bridge kept its transport); None when
        the reply has no <transport> (Jicofo: endpointIceRestartFailed, a re-invite follows)."""
        cm = conference_modify(meeting_id)
        ice_restart_request(cm, endpoint_id)
        cmod = await self.request(cm, f"ICE restart for {endpoint_id}")
        ep = next((e for e in cmod.findall(q(C2, "endpoint")) if e.get("id") == endpoint_id), None)
        if ep is None or ep.find(q(C2, "transport")) is None:
            return None
        return parse_endpoint_transport(cmod, endpoint_id)

    async def update_sources(self, meeting_id: str, endpoint_id: str, ssrcs: Iterable[int]) -> ET.Element:
        cm = conference_modify(meeting_id)
        ep = ET.SubElement(cm, q(C2, "endpoint"), id=endpoint_id)
        audio_sources(ep, endpoint_id, ssrcs)
        return await self.request(cm, f"sources update for {endpoint_id}")

    async def expire(self, meeting_id: str, endpoint_ids: Iterable[str]) -> ET.Element:
        cm = conference_modify(meeting_id)
        for e in endpoint_ids:
            ET.SubElement(cm, q(C2, "endpoint"), id=e, expire="true")
        return await self.request(cm, f"expire endpoints in {meeting_id}")

    async def expire_conference(self, meeting_id: str) -> ET.Element:
        return await self.request(conference_modify(meeting_id, expire=True), f"expire {meeting_id}")
