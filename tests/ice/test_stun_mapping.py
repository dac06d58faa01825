#!/usr/bin/python3
"""CTest ice.stun_mapping: the bridge behind a NAT learns its public address from a STUN
server and advertises it in Colibri2; sip-communicator.properties beside jvb.conf; XMPP
connection errors named by cause.

Three network namespaces the test creates (and deletes, whatever happens):
  bridge  10.77.1.2/24, default route via the router; lo up. The bridge, a tech Prosody
          and the slixmpp focus run here (the inner run of this script).
  router  10.77.1.1/24 toward the bridge, 203.0.113.1/24 toward the STUN server, IPv4
          forwarding and nftables masquerade out of its public side: the bridge's
          10.77.1.2 becomes 203.0.113.1.
  stun    203.0.113.2/24: coturn's turnserver in STUN-only mode (Debian coturn).
The bridge (media port on the wildcard address) is configured with that STUN server and
one that does not exist (203.0.113.9), a static mapping that matches no local address,
and, in sip-communicator.properties beside its jvb.conf, the seed's NAT_HARVESTER_* pair
(10.77.1.2 -> 198.51.100.20) and properties it ignores. Checks:
  - the log: the STUN server's answer ("public address 203.0.113.1:<port>"), the missing
    server ("no answer"), the unmatched static mapping, one warning per ignored property;
  - an endpoint created through the focus gets host 10.77.1.2, srflx 198.51.100.20 (the
    properties' static mapping) and srflx 203.0.113.1:<the port the STUN server saw>,
    both related to 10.77.1.2:<media port>;
  - the XMPP connections that cannot work are logged with their cause: connection refused
    (a closed port), DNS failure (an unresolvable name), authentication failed (a wrong
    password against the real Prosody), while the good one joins the brewery.
Wall time about 15 s. Needs root (namespaces, Prosody); SKIP (77) without root, nft or
turnserver.
"""
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
PY = "/usr/bin/python3"
OUTER_LIMIT_S = 120


def skip(why: str) -> None:
    print(f"SKIP: {why}")
    sys.exit(77)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


def outer(binary: str) -> None:
    if os.geteuid() != 0:
        skip("needs root (network namespaces, Prosody)")
    for tool in ("ip", "nft", "turnserver"):
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed (scripts/install-deps.sh)")
    tag = f"{os.getpid() % 100000}{random.getrandbits(8):02x}"
    ns = {"bridge": f"jvbsb-{tag}", "router": f"jvbsr-{tag}", "stun": f"jvbss-{tag}"}
    created = []
    turn = None
    inner = None
    rc = 1
    try:
        for n in ns.values():
            sh("ip", "netns", "add", n)
            created.append(n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        b, r, s = ns["bridge"], ns["router"], ns["stun"]
        # `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf: a resolver on the
        # namespace's own loopback, where nothing listens, fails a lookup at once.
        os.makedirs(f"/etc/netns/{b}", exist_ok=True)
        with open(f"/etc/netns/{b}/resolv.conf", "w", encoding="utf-8") as f:
            f.write("nameserver 127.0.0.1\n")
        sh("ip", "link", "add", "sb0", "netns", b, "type", "veth", "peer", "name", "sr0", "netns", r)
        sh("ip", "link", "add", "sr1", "netns", r, "type", "veth", "peer", "name", "ss0", "netns", s)
        sh("ip", "-n", b, "addr", "add", "10.77.1.2/24", "dev", "sb0")
        sh("ip", "-n", r, "addr", "add", "10.77.1.1/24", "dev", "sr0")
        sh("ip", "-n", r, "addr", "add", "203.0.113.1/24", "dev", "sr1")
        sh("ip", "-n", s, "addr", "add", "203.0.113.2/24", "dev", "ss0")
        for n, dev in ((b, "sb0"), (r, "sr0"), (r, "sr1"), (s, "ss0")):
            sh("ip", "-n", n, "link", "set", dev, "up")
        sh("ip", "-n", b, "route", "add", "default", "via", "10.77.1.1")
        sh("ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        sh("ip", "netns", "exec", r, "nft", "add", "table", "ip", "nat")
        sh("ip", "netns", "exec", r, "nft", "add", "chain", "ip", "nat", "post", "{", "type", "nat",
           "hook", "postrouting", "priority", "100", ";", "}")
        sh("ip", "netns", "exec", r, "nft", "add", "rule", "ip", "nat", "post", "oifname", "sr1",
           "masquerade")
        print(f"namespaces {b} (10.77.1.2) -> {r} (NAT to 203.0.113.1) -> {s} (203.0.113.2)",
              flush=True)
        turn = subprocess.Popen(
            ["ip", "netns", "exec", s, "turnserver", "--stun-only", "--no-cli", "-z",
             "--listening-ip", "203.0.113.2", "--listening-port", "3478", "--log-file", "stdout",
             "--simple-log", "--no-tls", "--no-dtls", "--pidfile", "/dev/null"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        inner = subprocess.Popen(["ip", "netns", "exec", b, PY, os.path.abspath(__file__),
                                  "--inner", binary])
        try:
            rc = inner.wait(timeout=OUTER_LIMIT_S)
        except subprocess.TimeoutExpired:
            print(f"FAIL inner run exceeded {OUTER_LIMIT_S} s, killing it", flush=True)
            inner.kill()
            inner.wait(timeout=10)
            rc = 1
    except RuntimeError as e:
        print(f"FAIL set-up: {e}", flush=True)
        rc = 1
    finally:
        for p in (inner, turn):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        for n in created:
            for attempt in range(2):
                pids = sh("ip", "netns", "pids", n, check=False).stdout.split()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL if attempt else signal.SIGTERM)
                    except (ProcessLookupError, ValueError):
                        pass
                time.sleep(1)
            sh("ip", "netns", "del", n, check=False)
        shutil.rmtree(f"/etc/netns/{ns['bridge']}", ignore_errors=True)
        print(f"namespaces deleted: {' '.join(created)}", flush=True)
    sys.exit(rc)


# -- the inner run, in the bridge's namespace -----------------------------------------------
def inner(binary: str) -> None:
    import rig
    from colibri2_focus import Colibri2Focus

    check = rig.Checker()

    def conf(prosody, pw: str, refused_port: int) -> str:
        def client(cid: str, host: str, port: int, password: str, nick: str) -> str:
            return f"""
      {cid} {{
        HOSTNAME = "{host}"
        PORT = {port}
        DOMAIN = "{prosody.domain}"
        USERNAME = "jvb"
        PASSWORD = "{password}"
        MUC_JIDS = "{prosody.brewery}"
        MUC_NICKNAME = "{nick}"
        DISABLE_CERTIFICATE_VERIFICATION = true
      }}"""
        clients = (client("tech", "127.0.0.1", prosody.port, pw, "jvb-stun")
                   + client("refused", "127.0.0.1", refused_port, pw, "jvb-r")
                   + client("nodns", "no-such-host.invalid", 5222, pw, "jvb-d")
                   + client("badpw", "127.0.0.1", prosody.port, pw + "-wrong", "jvb-p"))
        return f"""
videobridge {{
  apis.xmpp-client {{
    presence-interval = 300 ms
    configs {{ {clients}
    }}
  }}
  http-servers.private {{ host = 127.0.0.1, port = @HTTP_PORT@ }}
  ice.udp {{ port = @UDP_PORT@, bind-address = "0.0.0.0" }}
}}
ice4j.harvest.mapping.stun.addresses = [ "203.0.113.2:3478", "203.0.113.9:3478" ]
ice4j.harvest.mapping.static-mappings = [
  {{ local-address = "10.99.99.99", public-address = "198.51.100.99" }}
]
jvb-audio.stun-mapping.refresh-interval = 2 s
"""

    properties = """# the seed's sip-communicator.properties
org.jitsi.videobridge.DISABLE_VIDEO_SUPPORT=true
org.jitsi.videobridge.ENABLE_STATISTICS=true
org.ice4j.ice.harvest.DISABLE_AWS_HARVESTER=true
org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=10.77.1.2
org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.20
org.jitsi.videobridge.xmpp.user.shard.HOSTNAME=localhost
"""

    async def scenario(prosody, work):
        pw = prosody.secrets["JVB_PASSWORD"]
        refused = rig.free_port()  # nothing listens there
        with open(os.path.join(work, "sip-communicator.properties"), "w", encoding="utf-8") as f:
            f.write(properties)
        bridge = rig.BridgeProcess(binary, conf(prosody, pw, refused), work, "jvb")
        focus = Colibri2Focus(f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"],
                              "127.0.0.1", prosody.port, prosody.brewery, "jvb-stun")
        try:
            await asyncio.to_thread(bridge.start)
            # 1. STUN through the NAT
            learned = await asyncio.to_thread(bridge.wait_log, "public address 203.0.113.1:", 10)
            check(learned, "the STUN server's answer through the NAT: public address 203.0.113.1")
            mapped_port = None
            for line in bridge.lines:
                if "public address 203.0.113.1:" in line:
                    mapped_port = int(line.split("public address 203.0.113.1:")[1].split()[0])
            await focus.connect_and_join(wait_bridge=15)
            t = await focus.allocate("m-stun", "ep1", 1111, create_conference=True)
            cands = [(c.type, c.ip, c.port, c.rel_addr, c.rel_port) for c in t.candidates]
            print(f"     candidates: {cands}", flush=True)
            media = bridge.udp_port
            check(("host", "10.77.1.2", media, None, None) in cands,
                  "host candidate 10.77.1.2 on the media port")
            check(("srflx", "203.0.113.1", mapped_port, "10.77.1.2", media) in cands,
                  f"srflx 203.0.113.1:{mapped_port} (as the STUN server saw the media port)"
                  f" related to 10.77.1.2:{media}")
            # 2. sip-communicator.properties: the seed's NAT_HARVESTER_* pair
            check(("srflx", "198.51.100.20", media, "10.77.1.2", media) in cands,
                  "srflx 198.51.100.20 from NAT_HARVESTER_LOCAL/PUBLIC_ADDRESS")
            check(not any(c[1] in ("198.51.100.99", "127.0.0.1") for c in cands),
                  "no candidate for the unmatched static mapping nor loopback")
            log = bridge.log()
            check("static mapping 10.99.99.99 -> 198.51.100.99 matches no local address" in log,
                  "the unmatched static mapping is logged")
            for prop in ("DISABLE_VIDEO_SUPPORT", "ENABLE_STATISTICS", "DISABLE_AWS_HARVESTER",
                         "xmpp.user.shard.HOSTNAME"):
                check(any(prop in l and "ignored" in l and "WARN" in l for l in bridge.lines),
                      f"warning for the ignored property {prop}")
            # 3. XMPP connection errors by cause
            for needle, what in ((f"connection refused by 127.0.0.1:{refused}", "refused port"),
                                 ("DNS failure: cannot resolve no-such-host.invalid", "unresolvable host"),
                                 ("authentication failed for jvb@", "wrong password")):
                ok = await asyncio.to_thread(bridge.wait_log, needle, 10)
                check(ok, f"XMPP {what}: '{needle}'")
            # 4. the server that does not exist: logged after the retransmissions (6.3 s)
            ok = await asyncio.to_thread(bridge.wait_log,
                                         "STUN server 203.0.113.9:3478 (203.0.113.9:3478): no answer", 12)
            check(ok, "the unreachable STUN server is logged (no answer), the bridge goes on")
            st, _ = rig.http_get(bridge.http_port, "/about/health")
            check(st == 200, f"healthy throughout: {st}")
            await focus.expire_conference("m-stun")  # so that the stop below is immediate
        finally:
            try:
                focus.disconnect()
            except Exception:  # noqa: BLE001
                pass
            rc = await asyncio.to_thread(bridge.stop, signal.SIGINT)
            check(rc == 0, f"bridge exit code {rc}")
            if check.failures or sys.exc_info()[0] is not None:
                print("---- bridge log ----\n" + bridge.log()[-6000:], flush=True)

    rig.run_with_prosody(scenario, check, limit_s=90)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--inner":
        inner(sys.argv[2])
    elif len(sys.argv) == 2:
        outer(sys.argv[1])
    else:
        print("usage: test_stun_mapping.py JVB_AUDIO_BINARY")
        sys.exit(2)
