"""Third-party XMPP peers for tests, built on slixmpp (Debian's python3-slixmpp).

Run under /usr/bin/python3: the python3 first on PATH may lack Debian's packages.

- Peer: a c2s client that logs in over STARTTLS (certificate not verified, as
  the seed's DISABLE_CERTIFICATE_VERIFICATION=true / disable-certificate-verification),
  records every presence and IQ it receives, and offers bounded waits on them.
- Bridge: a fake bridge (what jvb-audio does in the brewery): joins with a colibri
  <stats/> presence, re-sends it on demand, answers healthcheck IQs.
- Focus: a fake Jicofo: joins the brewery, tracks bridge occupants, sends healthcheck IQs.
- check_plaintext_auth_refused(): raw-socket proof that the server refuses
  authentication before TLS.

Every wait is bounded; failures raise PeerError with a readable message.
"""

from __future__ import annotations

import asyncio
import time
import base64
import logging
import socket
import ssl
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

# slixmpp warns at import time that it uses the pure-Python stringprep; harmless here.
logging.getLogger("slixmpp.stringprep").setLevel(logging.ERROR)

import slixmpp  # noqa: E402  (after the logger tweak above)
from slixmpp.exceptions import IqError, IqTimeout  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import MatchXPath  # noqa: E402

MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = "http://jabber.org/protocol/muc#user"
COLIBRI_NS = "http://jitsi.org/protocol/colibri"
HEALTHCHECK_NS = "http://jitsi.org/protocol/healthcheck"
STREAM_NS = "http://etherx.jabber.org/streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"

BREWERY_NODE = "jvbbrewery"

log = logging.getLogger("xmpp_peer")


class PeerError(Exception):
    """A check or a bounded wait failed."""


def read_env_file(path: str) -> Dict[str, str]:
    """KEY=VALUE lines (as scripts/prosody.sh writes secrets.env / instance.env)."""
    values: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return values


def brewery_jid(domain: str) -> str:
    return f"{BREWERY_NODE}@muc.{domain}"


@dataclass
class PresenceInfo:
    """The parts of a received presence the tests look at."""
    frm: str
    type: str  # "available" or the presence type attribute
    codes: List[str]  # muc#user status codes, in document order
    item_jid: Optional[str]  # muc#user <item jid=.../> (real JID, public rooms only)
    affiliation: Optional[str]
    role: Optional[str]
    stats: Optional[Dict[str, str]]  # colibri <stats/> as name -> value, None if absent
    xml: ET.Element = field(repr=False)
    at: float = field(default=0.0, repr=False)  # time.monotonic() on arrival

    @staticmethod
    def parse(stanza) -> "PresenceInfo":
        xml = stanza.xml
        x = xml.find(f"{{{MUC_USER_NS}}}x")
        codes: List[str] = []
        item_jid = affiliation = role = None
        if x is not None:
            codes = [s.get("code", "") for s in x.findall(f"{{{MUC_USER_NS}}}status")]
            item = x.find(f"{{{MUC_USER_NS}}}item")
            if item is not None:
                item_jid = item.get("jid")
                affiliation = item.get("affiliation")
                role = item.get("role")
        stats_el = xml.find(f"{{{COLIBRI_NS}}}stats")
        stats = None
        if stats_el is not None:
            stats = {s.get("name", ""): s.get("value", "") for s in stats_el.findall(f"{{{COLIBRI_NS}}}stat")}
        ptype = xml.get("type") or "available"
        return PresenceInfo(str(stanza["from"]), ptype, codes, item_jid, affiliation, role, stats, xml,
                            time.monotonic())

    def __str__(self) -> str:
        extra = f" item_jid={self.item_jid}" if self.item_jid else ""
        extra += f" stats={self.stats}" if self.stats is not None else ""
        return f"presence from={self.frm} type={self.type} codes={self.codes}{extra}"


@dataclass
class IqInfo:
    frm: str
    to: str
    id: str
    type: str
    child: str  # "{ns}name" of the first payload element


class Peer(slixmpp.ClientXMPP):
    """A client that records what it receives. Use from inside a running asyncio loop."""

    def __init__(self, jid: str, password: str, host: str, port: int, name: Optional[str] = None,
                 timeout: float = 10.0):
        super().__init__(jid, password)
        self.name = name or jid.split("@", 1)[0]
        self.host, self.port, self.timeout = host, port, timeout
        # Self-signed certificate on the test instance: do not verify it, as the
        # seed's bridges and focus do (DISABLE_CERTIFICATE_VERIFICATION=true).
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.presences: List[PresenceInfo] = []
        self.iqs: List[IqInfo] = []
        self.tls_done = False
        self._changed = asyncio.Event()
        self._session: Optional[asyncio.Future] = None
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("tls_success", self._on_tls)
        self.add_event_handler("presence", self._on_presence)

    # -- connection -----------------------------------------------------------------

    async def start_session(self) -> None:
        """Connect with STARTTLS (mandatory) and wait for the session to start."""
        self._session = asyncio.get_running_loop().create_future()
        self.connect((self.host, self.port), force_starttls=True)
        try:
            await asyncio.wait_for(asyncio.shield(self._session), self.timeout)
        except asyncio.TimeoutError:
            self.abort()
            raise PeerError(f"[{self.name}] no session within {self.timeout:g} s "
                            f"(connect {self.host}:{self.port} as {self.boundjid.bare})") from None
        if not self.tls_done or self.tls_info() is None:
            raise PeerError(f"[{self.name}] session started without TLS")
        log.info("[%s] session started as %s over %s", self.name, self.boundjid, self.tls_info())

    def tls_info(self) -> Optional[str]:
        """"TLSv1.3 TLS_AES_256_GCM_SHA384" while the stream is encrypted, else None."""
        transport = getattr(self, "transport", None)
        sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
        if sslobj is None:
            return None
        cipher = sslobj.cipher()
        return f"{sslobj.version()} {cipher[0] if cipher else '?'}"

    async def close(self) -> None:
        """Close the stream (bounded) and stop reconnecting."""
        try:
            if self.transport is not None:
                await asyncio.wait_for(self.disconnect(wait=1.0), 3.0)
        except (asyncio.TimeoutError, Exception):  # pylint: disable=broad-except
            self.abort()

    def _on_session_start(self, _event) -> None:
        self.send_presence()  # plain available presence to the server, as Smack does
        if self._session is not None and not self._session.done():
            self._session.set_result(True)

    def _on_failed_auth(self, _event) -> None:
        if self._session is not None and not self._session.done():
            self._session.set_exception(PeerError(f"[{self.name}] authentication failed for {self.boundjid.bare}"))

    def _on_tls(self, _event) -> None:
        self.tls_done = True

    # -- recording and bounded waits ----------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_presence(self, stanza) -> None:
        info = PresenceInfo.parse(stanza)
        log.info("[%s] got %s", self.name, info)
        self.presences.append(info)
        self._notify()

    def record_iq(self, iq) -> None:
        child = next(iter(iq.xml), None)
        self.iqs.append(IqInfo(str(iq["from"]), str(iq["to"]), iq["id"], iq["type"],
                               child.tag if child is not None else ""))
        self._notify()

    async def wait_for(self, items: Callable[[], list], pred: Callable, what: str,
                       timeout: Optional[float] = None, start: int = 0):
        """First element of items()[start:] matching pred, waiting at most timeout seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        while True:
            for item in items()[start:]:
                if pred(item):
                    return item
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PeerError(f"[{self.name}] timed out after {self.timeout if timeout is None else timeout:g} s "
                                f"waiting for {what}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def wait_presence(self, pred: Callable[[PresenceInfo], bool], what: str,
                            timeout: Optional[float] = None, start: int = 0) -> PresenceInfo:
        return await self.wait_for(lambda: self.presences, pred, what, timeout, start)

    async def wait_iq(self, pred: Callable[[IqInfo], bool], what: str,
                      timeout: Optional[float] = None, start: int = 0) -> IqInfo:
        return await self.wait_for(lambda: self.iqs, pred, what, timeout, start)

    # -- MUC -----------------------------------------------------------------------

    def muc_presence(self, room: str, nick: str, join: bool, children=()) -> slixmpp.Presence:
        """Presence to room/nick; join=True adds <x xmlns='muc'/> (a join, as Smack's createOrJoin)."""
        pres = self.make_presence(pto=f"{room}/{nick}")
        if join:
            pres.append(ET.Element(f"{{{MUC_NS}}}x"))
        for child in children:
            pres.append(child)
        return pres

    def leave_muc(self, room: str, nick: str) -> None:
        self.make_presence(pto=f"{room}/{nick}", ptype="unavailable").send()

    # -- IQ ------------------------------------------------------------------------

    async def send_iq_get(self, to: str, payload: ET.Element, timeout: Optional[float] = None):
        """Send <iq type='get'> with payload; returns the result stanza or raises PeerError."""
        iq = self.make_iq_get(ito=to)
        iq.append(payload)
        t = self.timeout if timeout is None else timeout
        try:
            return await iq.send(timeout=t)
        except IqError as e:
            raise PeerError(f"[{self.name}] IQ to {to} returned error "
                            f"{e.iq['error']['condition']} ({e.iq['error']['text']})") from None
        except IqTimeout:
            raise PeerError(f"[{self.name}] no reply to IQ to {to} within {t:g} s") from None


def colibri_stats(stats: Dict[str, str]) -> ET.Element:
    el = ET.Element(f"{{{COLIBRI_NS}}}stats")
    for name, value in stats.items():
        ET.SubElement(el, f"{{{COLIBRI_NS}}}stat", name=name, value=str(value))
    return el


class Bridge(Peer):
    """Fake bridge: brewery occupant with colibri stats; answers healthcheck IQs."""

    def __init__(self, jid: str, password: str, host: str, port: int, room: str, nick: str, **kw):
        super().__init__(jid, password, host, port, name=kw.pop("name", nick), **kw)
        self.room, self.nick = room, nick
        self.register_handler(Callback("healthcheck", MatchXPath(f"{{jabber:client}}iq/{{{HEALTHCHECK_NS}}}healthcheck"),
                                       self._on_healthcheck))

    @property
    def occupant_jid(self) -> str:
        return f"{self.room}/{self.nick}"

    def send_stats(self, stress_level: float = 0.01, join: bool = False, **extra) -> None:
        stats = {"stress_level": stress_level, "region": "default", "relay_id": self.nick, **extra}
        self.muc_presence(self.room, self.nick, join, [colibri_stats(stats)]).send()

    def join(self, stress_level: float = 0.01) -> None:
        """Join the brewery. Does not wait for the self-presence: the seed's firewall drops it."""
        self.send_stats(stress_level, join=True)

    def _on_healthcheck(self, iq) -> None:
        self.record_iq(iq)
        if iq["type"] == "get":
            iq.reply(clear=True).send()


class Focus(Peer):
    """Fake focus (Jicofo): joins the brewery, sees bridges, sends healthchecks."""

    def __init__(self, jid: str, password: str, host: str, port: int, room: str, nick: str = "focus", **kw):
        super().__init__(jid, password, host, port, name=kw.pop("name", "focus"), **kw)
        self.room, self.nick = room, nick

    @property
    def occupant_jid(self) -> str:
        return f"{self.room}/{self.nick}"

    def join(self) -> None:
        self.muc_presence(self.room, self.nick, join=True).send()

    def leave(self) -> None:
        self.leave_muc(self.room, self.nick)

    async def wait_joined(self, timeout: Optional[float] = None) -> PresenceInfo:
        return await self.wait_presence(
            lambda p: p.frm == self.occupant_jid and p.type == "available" and "110" in p.codes,
            f"own join self-presence from {self.occupant_jid}", timeout)

    async def wait_bridge(self, nick: str, pred: Callable[[PresenceInfo], bool] = lambda p: True,
                          what: str = "", timeout: Optional[float] = None, start: int = 0) -> PresenceInfo:
        occupant = f"{self.room}/{nick}"
        return await self.wait_presence(
            lambda p: p.frm == occupant and p.type == "available" and p.stats is not None and pred(p),
            f"bridge presence with colibri stats from {occupant}{' ' + what if what else ''}", timeout, start)

    async def healthcheck(self, to: str, timeout: Optional[float] = None):
        return await self.send_iq_get(to, ET.Element(f"{{{HEALTHCHECK_NS}}}healthcheck"), timeout)


def check_plaintext_auth_refused(host: str, port: int, domain: str, user: str, password: str,
                                 timeout: float = 10.0) -> str:
    """Open a plain c2s stream, check that STARTTLS is offered as required and that no SASL
    mechanism is offered, then try SASL PLAIN with valid credentials anyway and check it is
    refused with <encryption-required/>. Returns a one-line summary; raises PeerError."""
    parser = ET.XMLPullParser(events=("start", "end"))
    depth = 0

    def read_until(sock: socket.socket, want: Callable[[str, ET.Element, int], bool], what: str) -> ET.Element:
        nonlocal depth
        while True:
            for event, el in parser.read_events():
                if event == "start":
                    depth += 1
                    if want(event, el, depth):
                        return el
                else:
                    if want(event, el, depth):
                        depth -= 1
                        return el
                    depth -= 1
            try:
                data = sock.recv(65536)
            except socket.timeout:
                raise PeerError(f"plaintext check: timed out waiting for {what}") from None
            if not data:
                raise PeerError(f"plaintext check: server closed the connection while waiting for {what}")
            parser.feed(data)

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        raise PeerError(f"plaintext check: cannot connect to {host}:{port}: {e}") from None
    with sock:
        sock.sendall((f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' "
                      f"xmlns='jabber:client' xmlns:stream='{STREAM_NS}'>").encode())
        features = read_until(sock, lambda ev, el, d: ev == "end" and d == 2 and el.tag == f"{{{STREAM_NS}}}features",
                              "<stream:features/>")
        starttls = features.find(f"{{{TLS_NS}}}starttls")
        if starttls is None:
            raise PeerError("plaintext check: server does not offer STARTTLS")
        if starttls.find(f"{{{TLS_NS}}}required") is None:
            raise PeerError("plaintext check: STARTTLS is offered but not <required/>")
        mechs = features.find(f"{{{SASL_NS}}}mechanisms")
        if mechs is not None and len(mechs):
            offered = [m.text for m in mechs]
            raise PeerError(f"plaintext check: SASL mechanisms offered before TLS: {offered}")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        sock.sendall(f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{token}</auth>".encode())
        reply = read_until(sock, lambda ev, el, d: ev == "end" and d == 2, "a reply to <auth/>")
        if reply.tag == f"{{{SASL_NS}}}success":
            raise PeerError("plaintext check: SASL PLAIN SUCCEEDED without TLS")
        conditions = [c.tag.split("}", 1)[-1] for c in reply]
        if reply.tag != f"{{{SASL_NS}}}failure" or "encryption-required" not in conditions:
            raise PeerError(f"plaintext check: expected <failure><encryption-required/>, got {reply.tag} {conditions}")
        try:
            sock.sendall(b"</stream:stream>")
        except OSError:
            pass
    return ("STARTTLS offered as <required/>, no SASL mechanisms before TLS, "
            "PLAIN auth without TLS refused with <encryption-required/>")
