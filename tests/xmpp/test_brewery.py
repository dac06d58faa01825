#!/usr/bin/python3
"""jvb-audio in the brewery of a real tech Prosody (scripts/prosody.sh: TLS
required, the seed's mod_firewall rule), against a slixmpp focus that does what
Jicofo does. Checks, through the real binary:

 1. it logs in (SCRAM over STARTTLS, certificate not verified), joins the
    brewery without waiting for the firewalled join self-presence, and the focus
    sees its presence with the colibri stats Jicofo reads (drain always present);
 2. health-check IQs to the occupant JID (through the MUC) and to the real JID
    both get results; jabber:iq:version answers; an unsupported IQ gets
    service-unavailable; /about/health shows the XMPP state;
 3. a changed value (drain) reaches the focus in the next presence;
 4. two bridges share the jvb account with their own resources and nicks; a
    third (another account) with a taken nickname logs the 409 conflict and
    stays healthy;
 5. Prosody goes away: the bridge stays healthy over HTTP, reconnects with
    backoff when Prosody is back, re-joins, and the focus sees it again;
 6. SIGTERM: the bridge leaves the brewery (unavailable presence) and exits 0;
 7. (on jvb2, during 4) JVB's /colibri/muc-client/add|list|remove REST: a connection added at
    run time joins the brewery, one removed leaves it, bad requests get 400 and change nothing.

Usage: test_brewery.py <jvb-audio binary>
"""
import asyncio
import json
import os
import signal
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import rig  # noqa: E402
from xmpp_peer import Focus, PeerError  # noqa: E402

BIN = sys.argv[1]
KEEPALIVE_MS = 2500
check = rig.Checker()


async def wait_until(pred, limit_s=10.0, step=0.05):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        if await asyncio.to_thread(pred):
            return True
        await asyncio.sleep(step)
    return await asyncio.to_thread(pred)


async def iq_error_condition(focus, to, payload):
    try:
        await focus.send_iq_get(to, payload, timeout=5)
        return "result"
    except PeerError as e:
        return str(e)


async def scenario(prosody, work):
    password = prosody.secrets["JVB_PASSWORD"]
    focus = Focus(f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"], "127.0.0.1",
                  prosody.port, prosody.brewery)
    await focus.start_session()
    focus.join()
    await focus.wait_joined()

    # jvb1's keep-alive shortened from 25 s so that the test can watch it.
    b1 = rig.BridgeProcess(BIN, rig.xmpp_bridge_conf(prosody, "jvb1", password,
                                                     top=f"jvb-audio.xmpp.presence-keepalive = {KEEPALIVE_MS} ms"),
                           work, "jvb1")
    b2 = rig.BridgeProcess(BIN, rig.xmpp_bridge_conf(prosody, "jvb2", password), work, "jvb2")
    # Another account with a taken nickname: Prosody answers 409. (The same
    # account with the same nickname would join as a second session of one
    # occupant, which is why bridges sharing an account need distinct nicks.)
    dup = rig.BridgeProcess(BIN, rig.xmpp_bridge_conf(prosody, "jvb1", prosody.secrets["JVBDUP_PASSWORD"],
                                                       username="jvbdup"), work, "dup")
    try:
        await asyncio.to_thread(b1.start)
        # 1. presence with stats
        p = await focus.wait_bridge("jvb1", timeout=15)
        stats = p.stats or {}
        check(all(k in stats for k in ("stress_level", "drain", "healthy", "version",
                                       "graceful_shutdown", "shutting_down", "conferences",
                                       "participants", "region")),
              f"jvb1 presence carries the stats Jicofo reads: {sorted(stats)}")
        # relay.enabled = true in the rig, but no relay support: no relay_id.
        check("relay_id" not in stats, f"no relay_id without relay support: {stats.get('relay_id')}")
        check(stats.get("drain") == "false" and stats.get("healthy") == "true",
              "drain=false, healthy=true")
        check(p.item_jid is not None and p.item_jid.startswith(f"jvb@{prosody.domain}/jvb-audio-"),
              f"real JID with its own resource: {p.item_jid}")
        real_jid = p.item_jid
        check(await asyncio.to_thread(b1.wait_log, f"joined {prosody.brewery} as jvb1", 5),
              "join logged without waiting for the (firewalled) self-presence")

        # 2. IQs
        occupant = f"{prosody.brewery}/jvb1"
        try:
            await focus.healthcheck(occupant, timeout=5)
            check(True, "healthcheck via the occupant JID: result")
        except PeerError as e:
            check(False, f"healthcheck via the occupant JID: {e}")
        try:
            await focus.healthcheck(real_jid, timeout=5)
            check(True, "healthcheck via the real JID: result")
        except PeerError as e:
            check(False, f"healthcheck via the real JID: {e}")
        try:
            r = await focus.send_iq_get(real_jid, ET.Element("{jabber:iq:version}query"), timeout=5)
            name = r.xml.find("{jabber:iq:version}query/{jabber:iq:version}name")
            check(name is not None and name.text == "jvb-audio", "jabber:iq:version names jvb-audio")
        except PeerError as e:
            check(False, f"version IQ: {e}")
        cond = await iq_error_condition(focus, occupant,
                                        ET.Element("{http://jitsi.org/protocol/colibri}graceful-shutdown"))
        check("service-unavailable" in cond, f"unsupported IQ -> service-unavailable ({cond})")
        status, health = await asyncio.to_thread(rig.http_get, b1.http_port, "/about/health")
        check(status == 200 and health["xmpp"]["muc_clients_connected"] == 1
              and health["xmpp"]["mucs_joined"] == 1, f"/about/health shows XMPP state: {health}")

        # 3. a changed value is published
        mark = len(focus.presences)
        await asyncio.to_thread(rig.http_get, b1.http_port, "/colibri/drain/enable", "POST")
        p = await focus.wait_bridge("jvb1", lambda p: p.stats.get("drain") == "true",
                                    "with drain=true", timeout=10, start=mark)
        check(p is not None, "drain=true published after /colibri/drain/enable")
        # No presence without a change: over 2 s (presence-interval 300 ms), each
        # presence must differ from the one before in a published value, or in
        # stress_level by at least 0.1 (CPU load moves with the other tests).
        mark = len(focus.presences)
        await asyncio.sleep(2.0)
        seq = [p] + [x for x in focus.presences[mark:] if x.frm == occupant and x.stats]
        needless = 0
        for prev, cur in zip(seq, seq[1:]):
            a = {k: v for k, v in prev.stats.items() if k not in ("stress_level", "average_participant_stress")}
            b = {k: v for k, v in cur.stats.items() if k not in ("stress_level", "average_participant_stress")}
            moved = abs(float(cur.stats.get("stress_level", 0)) - float(prev.stats.get("stress_level", 0)))
            # Same values, not yet due for the keep-alive: needless.
            if a == b and moved < 0.095 and cur.at - prev.at < 0.8 * KEEPALIVE_MS / 1000:
                needless += 1
        check(needless == 0, f"no presence without a change ({len(seq) - 1} in 2 s, {needless} needless)")

        # 3b. keep-alive: with nothing changing, presence still arrives at
        # least every keep-alive period (Jicofo's presence health check).
        mark = len(focus.presences)
        t0 = asyncio.get_running_loop().time()
        await asyncio.sleep(3.2 * KEEPALIVE_MS / 1000)
        arrivals = [t0] + [x.at for x in focus.presences[mark:] if x.frm == occupant and x.stats]
        arrivals.append(asyncio.get_running_loop().time())
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        check(len(arrivals) >= 5 and max(gaps) < KEEPALIVE_MS / 1000 + 0.7,
              f"presence at least every {KEEPALIVE_MS} ms with nothing changing: gaps "
              f"{[round(g, 2) for g in gaps]}")

        # 4. shared account, nickname conflict
        await asyncio.to_thread(b2.start)
        p2 = await focus.wait_bridge("jvb2", timeout=15)
        check(p2.item_jid is not None and p2.item_jid != real_jid,
              f"jvb2 shares the account with another resource: {p2.item_jid}")
        await asyncio.to_thread(dup.start)
        check(await asyncio.to_thread(dup.wait_log, "already in use", 15),
              "duplicate nickname: 409 conflict logged")
        status, _ = await asyncio.to_thread(rig.http_get, dup.http_port, "/about/health")
        check(status == 200, "the conflicting bridge stays healthy (XMPP never fails health)")
        check(dup.stop() == 0, "conflicting bridge exits 0 on SIGTERM")
        await muc_client_rest(prosody, focus, b2, password)
        check(b2.stop() == 0, "jvb2 exits 0 on SIGTERM")

        # 5. Prosody outage and return
        await focus.close()
        await asyncio.to_thread(prosody.stop)
        check(await wait_until(lambda: b1.wait_log("reconnecting in", 0.1), 15),
              "disconnect noticed, reconnect scheduled")
        status, health = await asyncio.to_thread(rig.http_get, b1.http_port, "/about/health")
        check(status == 200 and health["xmpp"]["muc_clients_connected"] == 0,
              f"healthy over HTTP while XMPP is down: {status} {health.get('xmpp')}")
        await asyncio.to_thread(prosody.start)
        focus = Focus(f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"], "127.0.0.1",
                      prosody.port, prosody.brewery)
        await focus.start_session()
        focus.join()
        await focus.wait_joined()
        try:
            p = await focus.wait_bridge("jvb1", timeout=40)
            check(p.stats.get("drain") == "true", "re-joined after Prosody came back, state kept")
        except PeerError as e:
            check(False, f"re-join after outage: {e}")
        try:
            await focus.healthcheck(occupant, timeout=5)
            check(True, "healthcheck after reconnect: result")
        except PeerError as e:
            check(False, f"healthcheck after reconnect: {e}")

        # 6. SIGTERM leaves the brewery
        mark = len(focus.presences)
        rc = await asyncio.to_thread(b1.stop)
        check(rc == 0, f"jvb1 exits 0 on SIGTERM (got {rc})")
        try:
            await focus.wait_presence(lambda p: p.frm == occupant and p.type == "unavailable",
                                      "jvb1 unavailable", timeout=5, start=mark)
            check(True, "jvb1 left the brewery on shutdown")
        except PeerError as e:
            check(False, str(e))
    finally:
        for b in (b1, b2, dup):
            await asyncio.to_thread(b.stop, signal.SIGKILL if b.proc and b.proc.poll() is None else signal.SIGTERM)
        await focus.close()
        if check.failures:
            for b in (b1, b2, dup):
                rc = b.proc.returncode if b.proc else None
                print(f"----- {b.name} log (exit code {rc}) -----\n{b.log()[-4000:]}")


async def muc_client_rest(prosody, focus, bridge, password):
    """JVB's /colibri/muc-client REST (doc/rest-muc-client.md): a connection added at run time
    joins the brewery as its own occupant, is listed, is left alone when added again unchanged,
    and leaves the brewery when removed; bad requests are refused and change nothing."""
    port = bridge.http_port
    extra = {"id": "extra", "hostname": "127.0.0.1", "port": str(prosody.port), "domain": prosody.domain,
             "username": "jvb", "password": password, "muc_jids": prosody.brewery,
             "muc_nickname": "jvb2-extra", "disable_certificate_verification": "true"}
    mark = len(focus.presences)
    status, body = await asyncio.to_thread(rig.http_post_json, port, "/colibri/muc-client/add", extra)
    check(status == 200, f"muc-client/add: {status} {body!r}")
    try:
        p = await focus.wait_bridge("jvb2-extra", timeout=15, start=mark)
        check(p.stats is not None and "stress_level" in p.stats,
              "the added connection joins the brewery with the colibri stats")
        await focus.healthcheck(f"{prosody.brewery}/jvb2-extra", timeout=5)
        check(True, "healthcheck via the added occupant: result")
    except PeerError as e:
        check(False, f"added connection: {e}")
    status, ids = await asyncio.to_thread(rig.http_get, port, "/colibri/muc-client/list")
    ids = json.loads(ids) if isinstance(ids, str) else ids
    check(status == 200 and ids == ["tech", "extra"], f"muc-client/list: {status} {ids!r}")
    status, health = await asyncio.to_thread(rig.http_get, port, "/about/health")
    check(status == 200 and health["xmpp"]["muc_clients_configured"] == 2
          and health["xmpp"]["mucs_joined"] == 2, f"/about/health counts both connections: {health.get('xmpp')}")
    # The same id with the same server and user: nothing changes (no rejoin).
    mark = len(focus.presences)
    status, _ = await asyncio.to_thread(rig.http_post_json, port, "/colibri/muc-client/add", extra)
    await asyncio.sleep(0.7)
    gone = [x for x in focus.presences[mark:] if x.frm.endswith("/jvb2-extra") and x.type == "unavailable"]
    check(status == 200 and not gone, f"adding it again unchanged: {status}, no rejoin ({len(gone)} leaves)")
    # Bad requests: 400 with a reason, nothing added.
    for body, want in (("{", "malformed JSON"), ({"hostname": "x"}, "id"),
                       ({**extra, "id": "bad", "muc_jids": "no-at-sign"}, "invalid MUC JID"),
                       ({k: v for k, v in extra.items() if k != "hostname"} | {"id": "bad"}, "HOSTNAME"),
                       ({**extra, "id": "bad", "port": ["1"]}, "port")):
        status, text = await asyncio.to_thread(rig.http_post_json, port, "/colibri/muc-client/add", body)
        check(status == 400 and want in text, f"muc-client/add {str(body)[:40]!r}: {status} {text.strip()!r}")
    status, text = await asyncio.to_thread(rig.http_post_json, port, "/colibri/muc-client/remove", {"id": "nope"})
    check(status == 400, f"muc-client/remove of an unknown id: {status} {text.strip()!r}")
    status, ids = await asyncio.to_thread(rig.http_get, port, "/colibri/muc-client/list")
    ids = json.loads(ids) if isinstance(ids, str) else ids
    check(ids == ["tech", "extra"], f"bad requests changed nothing: {ids}")
    # Remove: the occupant leaves the brewery; the configured one stays.
    mark = len(focus.presences)
    status, _ = await asyncio.to_thread(rig.http_post_json, port, "/colibri/muc-client/remove", {"id": "extra"})
    check(status == 200, f"muc-client/remove: {status}")
    try:
        await focus.wait_presence(lambda x: x.frm == f"{prosody.brewery}/jvb2-extra" and x.type == "unavailable",
                                  "jvb2-extra unavailable", timeout=5, start=mark)
        check(True, "the removed connection left the brewery")
    except PeerError as e:
        check(False, str(e))
    status, health = await asyncio.to_thread(rig.http_get, port, "/about/health")
    check(status == 200 and health["xmpp"]["muc_clients_configured"] == 1
          and health["xmpp"]["muc_clients_connected"] == 1, f"after remove: {health.get('xmpp')}")


def main():
    rig.run_with_prosody(scenario, check, users=["jvbdup"])


if __name__ == "__main__":
    main()
