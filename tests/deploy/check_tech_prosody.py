#!/usr/bin/python3
"""Proves that a tech Prosody started by scripts/prosody.sh behaves as the seed's:
TLS required, the brewery MUC usable by focus and jvb, and the seed's mod_firewall rule
(jvb* users get no brewery "available" presence except self-presence whose first status
code is 110). The peers are slixmpp clients (tests/tools/xmpp_peer.py).

usage: check_tech_prosody.py --port N --domain D --secrets DIR/secrets.env [--host H] [--timeout S]
Exit status 0 when every check passed; 1 with a "FAIL:" line otherwise.
"""

import argparse
import asyncio
import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

from xmpp_peer import (Bridge, Focus, PeerError, brewery_jid,  # noqa: E402
                       check_plaintext_auth_refused, read_env_file)


def ok(msg: str) -> None:
    print(f"ok: {msg}", flush=True)


def require(cond: bool, msg: str) -> None:
    if not cond:
        raise PeerError(msg)


async def settle(seconds: float = 0.5) -> None:
    """Grace period after an in-order barrier, before asserting that something did NOT arrive."""
    await asyncio.sleep(seconds)


async def scenario(args) -> None:
    secrets = read_env_file(args.secrets)
    domain = args.domain
    room = brewery_jid(domain)
    jvb_pw, focus_pw = secrets["JVB_PASSWORD"], secrets["FOCUS_PASSWORD"]

    # 1. TLS is required: no authentication on a plaintext stream.
    ok(check_plaintext_auth_refused(args.host, args.port, domain, "jvb", jvb_pw, args.timeout))

    jvb = Bridge(f"jvb@{domain}", jvb_pw, args.host, args.port, room=room, nick=args.nick, timeout=args.timeout)
    focus = Focus(f"focus@{domain}", focus_pw, args.host, args.port, room=room, timeout=args.timeout)
    try:
        # 2. jvb logs in over STARTTLS and joins the brewery (creating it).
        await jvb.start_session()
        ok(f"jvb logged in as {jvb.boundjid} over STARTTLS ({jvb.tls_info()})")
        jvb.join(stress_level=0.01)

        # 3. focus logs in and joins the same room without configuring it
        #    (muc_room_locking = false: a room created by jvb is usable at once).
        await focus.start_session()
        ok(f"focus logged in as {focus.boundjid} over STARTTLS ({focus.tls_info()})")
        focus.join()
        self_pres = await focus.wait_joined()
        ok(f"focus joined {room}: self-presence codes {self_pres.codes}, affiliation {self_pres.affiliation}")
        # Control for step 5: the room does send join self-presence whose first code is
        # not 110 -- for focus it arrives, for jvb* the firewall must drop it.
        require(self_pres.codes[:1] != ["110"],
                f"focus's join self-presence unexpectedly starts with 110: {self_pres.codes}")
        # component admins (focus, jvb) are room owners (component_admins_as_room_owners).
        require(self_pres.affiliation == "owner",
                f"focus should be room owner (MUC admins), got affiliation {self_pres.affiliation}")

        # 4. focus sees the bridge's presence, with the real JID (muc_room_default_public_jids).
        bridge_pres = await focus.wait_bridge(args.nick)
        require(bridge_pres.stats.get("stress_level") == "0.01", f"unexpected stats {bridge_pres.stats}")
        require(bridge_pres.item_jid == str(jvb.boundjid),
                f"bridge presence should carry real jid {jvb.boundjid}, got {bridge_pres.item_jid}")
        ok(f"focus sees {bridge_pres}")

        # 5. IQ focus -> occupant JID room/nick is routed through the MUC; reply reaches focus.
        #    In-order delivery makes this the barrier for "jvb got nothing before it".
        reply = await focus.healthcheck(jvb.occupant_jid)
        require(reply["type"] == "result" and str(reply["from"]) == jvb.occupant_jid,
                f"healthcheck reply type={reply['type']} from={reply['from']}")
        got = await jvb.wait_iq(lambda i: i.child.endswith("}healthcheck"), "the healthcheck IQ")
        require(got.frm == focus.occupant_jid, f"jvb got the IQ from {got.frm}, expected {focus.occupant_jid}")
        ok(f"healthcheck IQ focus -> {jvb.occupant_jid}: jvb got it from {got.frm}, "
           f"focus got type=result from {reply['from']}")

        await settle()
        seen = [str(p) for p in jvb.presences]
        from_room = [p for p in jvb.presences if p.frm.startswith(room + "/")]
        focus_avail = [p for p in from_room if p.frm == focus.occupant_jid and p.type == "available"]
        require(not focus_avail, f"FIREWALL: jvb received focus's available presence: {[str(p) for p in focus_avail]}")
        join_self = [p for p in from_room if p.frm == jvb.occupant_jid and p.codes[:1] != ["110"]]
        require(not join_self, f"FIREWALL: jvb received its join self-presence: {[str(p) for p in join_self]}")
        require(not from_room, f"jvb received brewery presence it should not have: {[str(p) for p in from_room]}")
        ok(f"firewall: jvb received no brewery presence after joining and focus joining (all presence seen: {seen})")

        # 6. jvb re-sends presence (periodic stats): the self-presence echo (code 110 only) passes.
        mark = len(jvb.presences)
        focus_mark = len(focus.presences)
        jvb.send_stats(stress_level=0.02)
        echo = await jvb.wait_presence(lambda p: p.frm == jvb.occupant_jid, "self-presence echo after a presence update",
                                       start=mark)
        require(echo.type == "available" and echo.codes == ["110"],
                f"self-presence echo should be available with codes ['110'], got {echo}")
        ok(f"jvb got its self-presence echo: {echo}")
        upd = await focus.wait_bridge(args.nick, lambda p: p.stats.get("stress_level") == "0.02",
                                      "with stress_level 0.02", start=focus_mark)
        ok(f"focus sees the update: {upd}")

        # 7. The real JID is reachable too (focus learnt it from <item jid/>).
        reply = await focus.healthcheck(bridge_pres.item_jid)
        require(reply["type"] == "result", f"healthcheck to real JID: type={reply['type']}")
        ok(f"healthcheck IQ focus -> real JID {bridge_pres.item_jid}: type=result")

        # 8. "unavailable" passes the firewall: jvb sees focus leave.
        focus.leave()
        gone = await jvb.wait_presence(lambda p: p.frm == focus.occupant_jid and p.type == "unavailable",
                                       "focus's unavailable presence")
        ok(f"jvb sees focus leave: {gone}")
        avail_from_others = [p for p in jvb.presences if p.frm.startswith(room + "/") and p.frm != jvb.occupant_jid
                             and p.type == "available"]
        require(not avail_from_others, f"FIREWALL: jvb received others' available presence: {[str(p) for p in avail_from_others]}")
        ok("all presence jvb received: " + "; ".join(str(p) for p in jvb.presences))
    finally:
        await asyncio.gather(jvb.close(), focus.close())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--domain", default="tech.example.test")
    ap.add_argument("--secrets", required=True, help="secrets.env written by scripts/prosody.sh")
    ap.add_argument("--nick", default="jvb1", help="the bridge's MUC nickname (relay id)")
    ap.add_argument("--timeout", type=float, default=10.0, help="bound of every wait, seconds")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        asyncio.run(asyncio.wait_for(scenario(args), timeout=args.timeout * 8))
    except PeerError as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    except asyncio.TimeoutError:
        print(f"FAIL: the whole scenario took more than {args.timeout * 8:g} s", flush=True)
        return 1
    except KeyError as e:
        print(f"FAIL: {args.secrets} lacks {e}", flush=True)
        return 1
    print("PASS: tech Prosody behaves as the seed's (TLS required, brewery, firewall rule, IQ routing)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
