#!/usr/bin/python3
"""CTest media.impairment: three aiortc peers on the bridge, one of them behind an impaired
link and a NAT that rebinds; the others must not notice, the bridge's figures must be right.

Network namespaces the test creates (and deletes, whatever happens):
  br  10.79.2.1/24: Prosody, the bridge (media port on 10.79.2.1), the slixmpp focus and the
      two clean peers B and C (the inner run of this script).
  rt  a home router: 10.79.2.254/24 toward br (veth), 10.79.1.254/24 toward pa; IPv4
      forwarding and nftables source NAT of pa out of its br side (mapped ports 20000-20999;
      all packets in conntrack zone 1).
  pa  10.79.1.1/24: the impaired peer A, its default route over the link to rt.
The link pa <-> rt is netem_wire.py (tests/tools): two TUN devices joined in user space, which
loses, delays with jitter (reordering), duplicates or cuts packets as `tc netem` would; this
kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set).

Stages, each a few seconds, on both directions of A's link, with clean spells between them:
  loss 5%, jitter 50 +- 30 ms (reordering), duplication 1%, a 2 s outage, then a NAT
  rebinding (the router moves to conntrack zone 2 and mapped ports 21000-21999: A's next
  packet gets a new source port, the old mapping answers nothing; A itself sees nothing).
Checks, per stage: B and C go on hearing A's tone and A theirs (decoded audio analysed in
the stage's time window, and after it), B and C hear each other untouched; the bridge's
reception figures for A (/debug: rtp_expected - rtp_received) move by exactly the RTP packets
the link dropped (or, for duplicates, by minus those it duplicated: RFC 3550 A.3 counts a
duplicate as received), the drop rate is the configured one within a tolerance, and the
receiver reports the bridge sends A about its stream say the same (cumulative lost, fraction
lost within bounds, jitter near zero when clean and tens of ms under jitter, never absurd).
Rebinding: B hears A again within 2 s (A's consent checks, every ~1 s here, come from the
new port: the bridge checks it and moves A's selected pair, ice_agent.hpp), A hears the others
again, /colibri/stats total_ice_peer_moves is 1, and the router's counter of packets to the
old mapped ports stops once the pair moved (it counted the bridge's packets before that).
Wall time about 60 s. Needs root (namespaces, Prosody), nft, /dev/net/tun and python3-aiortc,
else SKIP (77).
"""
import asyncio
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, HERE)
PY = "/usr/bin/python3"
PEER = os.path.join(HERE, "aiortc_peer.py")
WIRE = os.path.join(HERE, "..", "tools", "netem_wire.py")
OUTER_LIMIT_S = 170

BR, RT_BR, RT_PA, PA = "10.79.2.1", "10.79.2.254", "10.79.1.254", "10.79.1.1"
EPOCHS = {1: "20000-20999", 2: "21000-21999"}  # the router's mapped ports before / after
CONSENT_INTERVAL_S = 1.0  # A's consent checks (aioice's default is 5 s)


def skip(why: str) -> None:
    print(f"SKIP: {why}")
    sys.exit(77)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


def nat_rules(epoch: int, fresh: bool) -> str:
    """The router's nftables: every packet in conntrack zone `epoch` (a new zone: no mapping
    of the old one applies any more, as when a home router reboots or times a mapping out)
    and pa source-NATed to the epoch's ports; packets to either epoch's ports that no
    mapping takes (they end on the router itself) counted."""
    head = "" if fresh else ("flush chain ip jvbnat raw_pre\nflush chain ip jvbnat raw_out\n"
                             "flush chain ip jvbnat post\n")
    if fresh:
        return f"""table ip jvbnat {{
  chain raw_pre {{ type filter hook prerouting priority raw; policy accept; ct zone set {epoch}; }}
  chain raw_out {{ type filter hook output priority raw; policy accept; ct zone set {epoch}; }}
  chain post {{ type nat hook postrouting priority srcnat; policy accept;
    oifname "rtb" ip saddr 10.79.1.0/24 meta l4proto udp snat to {RT_BR}:{EPOCHS[epoch]}; }}
  chain input {{ type filter hook input priority filter; policy accept;
    udp dport {EPOCHS[1]} counter comment "epoch1";
    udp dport {EPOCHS[2]} counter comment "epoch2"; }}
}}
"""
    return head + (f"add rule ip jvbnat raw_pre ct zone set {epoch}\n"
                   f"add rule ip jvbnat raw_out ct zone set {epoch}\n"
                   f"add rule ip jvbnat post oifname \"rtb\" ip saddr 10.79.1.0/24 meta l4proto udp "
                   f"snat to {RT_BR}:{EPOCHS[epoch]}\n")


def outer(binary: str) -> None:
    if os.geteuid() != 0:
        skip("needs root (network namespaces, Prosody)")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed (scripts/install-deps.sh)")
    if not os.path.exists("/dev/net/tun"):
        skip("/dev/net/tun missing (TUN devices make the impaired link)")
    try:
        have_aiortc = importlib.util.find_spec("aiortc") is not None
    except (ImportError, ValueError):
        have_aiortc = False
    if not have_aiortc:
        skip("python3-aiortc is not installed")
    tag = f"{os.getpid() % 100000}{random.getrandbits(8):02x}"
    ns = {"br": f"jvbib-{tag}", "rt": f"jvbir-{tag}", "pa": f"jvbia-{tag}"}
    created = []
    inner = None
    rc = 1
    try:
        for n in ns.values():
            sh("ip", "netns", "add", n)
            created.append(n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        b, r = ns["br"], ns["rt"]
        sh("ip", "link", "add", "brr", "netns", b, "type", "veth", "peer", "name", "rtb", "netns", r)
        sh("ip", "-n", b, "addr", "add", f"{BR}/24", "dev", "brr")
        sh("ip", "-n", r, "addr", "add", f"{RT_BR}/24", "dev", "rtb")
        sh("ip", "-n", b, "link", "set", "brr", "up")
        sh("ip", "-n", r, "link", "set", "rtb", "up")
        sh("ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        p = subprocess.run(["ip", "netns", "exec", r, "nft", "-f", "-"], input=nat_rules(1, True),
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 0:
            raise RuntimeError(f"nft: {p.stderr.strip()}")
        print(f"namespaces {ns['pa']} ({PA}) =[netem_wire]=> {r} (NAT to {RT_BR}:{EPOCHS[1]}) -> "
              f"{b} ({BR}: Prosody, bridge, focus, peers B and C)", flush=True)
        inner = subprocess.Popen(["ip", "netns", "exec", b, PY, os.path.abspath(__file__), "--inner",
                                  os.path.abspath(binary), ns["pa"], ns["rt"]])
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
        if inner is not None and inner.poll() is None:
            inner.kill()
            inner.wait(timeout=10)
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
        print(f"namespaces deleted: {' '.join(created)}", flush=True)
    sys.exit(rc)


# -- the inner run, in br ---------------------------------------------------------------------

def inner(binary: str, ns_pa: str, ns_rt: str) -> None:
    import rig
    import webrtc_sdp
    import test_aiortc_forwarding as fwd
    from colibri2_focus import Colibri2Focus

    check = rig.Checker()
    freqs = fwd.FREQS

    class Peer(fwd.PeerProc):
        def __init__(self, name, freq, ssrc, host, netns=None, extra=()):
            super().__init__(name, freq, ssrc)
            self.host, self.netns, self.extra = host, netns, list(extra)

        async def start(self, max_secs):
            others = [str(f) for f in freqs if f != self.freq]
            prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
            self.proc = await asyncio.create_subprocess_exec(
                *prefix, PY, PEER, "--name", self.name, "--freq", str(self.freq), "--ssrc", str(self.ssrc),
                "--max-secs", str(max_secs), "--host-address", self.host, *self.extra,
                "--listen-for", *others,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            self._tasks = [asyncio.ensure_future(self._read_stdout()), asyncio.ensure_future(self._read_stderr())]

        async def ask(self, cmd, event, timeout=8.0, **kw):
            mark = len(self.events)
            self.send({"cmd": cmd, **kw})
            return await self.wait_event(lambda e: e.get("event") == event, event, timeout, cmd, start=mark)

    class Wire:
        """netem_wire.py between pa (side a) and rt (side b): "ab" is A's upstream."""

        def __init__(self):
            self.proc, self.lines, self.dev_a = None, [], None

        async def start(self):
            seed = int(os.environ.get("JVB_IMPAIR_SEED") or random.getrandbits(31))
            print(f"netem_wire seed {seed} (JVB_IMPAIR_SEED={seed} repeats its draws)", flush=True)
            self.proc = await asyncio.create_subprocess_exec(
                PY, WIRE, "--a", ns_pa, f"{PA}/24", "--b", ns_rt, f"{RT_PA}/24", "--seed", str(seed),
                "--max-secs", "160", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            ev = await self.read("ready")
            self.dev_a = ev["a"]

        async def read(self, event, timeout=10.0):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = await asyncio.wait_for(self.proc.stdout.readline(), max(0.1, deadline - time.monotonic()))
                if not line:
                    break
                ev = json.loads(line)
                if ev.get("event") == "error":
                    raise RuntimeError(f"netem_wire: {ev['what']}")
                if ev.get("event") == event:
                    return ev
            raise RuntimeError(f"netem_wire: no {event}")

        async def cmd(self, obj, event):
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            await self.proc.stdin.drain()
            return await self.read(event)

        async def set(self, **kw):
            return await self.cmd({"cmd": "set", "dir": "both", **kw}, "set")

        async def stats(self):
            return await self.cmd({"cmd": "stats"}, "stats")

        async def stop(self):
            if self.proc and self.proc.returncode is None:
                try:
                    self.proc.stdin.write(b'{"cmd": "quit"}\n')
                    self.proc.stdin.close()
                    await asyncio.wait_for(self.proc.wait(), 5)
                except (asyncio.TimeoutError, ConnectionError):
                    self.proc.kill()
                    await self.proc.wait()

    def nft_counters():
        r = sh("ip", "netns", "exec", ns_rt, "nft", "list", "chain", "ip", "jvbnat", "input")
        got = {}
        for m in re.finditer(r"counter packets (\d+) bytes \d+ comment \"(epoch\d)\"", r.stdout):
            got[m.group(2)] = int(m.group(1))
        return got

    async def scenario(prosody, work):
        pw = prosody.secrets["JVB_PASSWORD"]
        conf = rig.xmpp_bridge_conf(prosody, "jvb1", pw).replace(
            'bind-address = "127.0.0.1"', f'bind-address = "{BR}"')
        bridge = rig.BridgeProcess(binary, conf, work, "jvb1")
        focus = Colibri2Focus(f"focus@{prosody.domain}", prosody.secrets["FOCUS_PASSWORD"], "127.0.0.1",
                              prosody.port, prosody.brewery, bridge="jvb1")
        wire = Wire()
        meeting = f"impair-{random.getrandbits(40):010x}"
        ssrcs = random.sample(range(0x10000, 0xFFFFFFFF), 3)
        a = Peer("A-440Hz-impaired", freqs[0], ssrcs[0], PA, ns_pa,
                 ["--consent-interval", str(CONSENT_INTERVAL_S)])
        b = Peer("B-660Hz", freqs[1], ssrcs[1], BR)
        c = Peer("C-880Hz", freqs[2], ssrcs[2], BR)
        peers = [a, b, c]
        for p in peers:
            p.endpoint_id = f"{random.getrandbits(32):08x}"
        started = time.monotonic()

        def stats():
            st, s = rig.http_get(bridge.http_port, "/colibri/stats")
            return s if st == 200 and isinstance(s, dict) else {}

        conf_id = {}

        def reception(p):
            """The bridge's figures for p's stream (/debug, the media thread's last report)."""
            if not conf_id:
                st, d = rig.http_get(bridge.http_port, "/debug")
                for k, v in (d.get("conferences") or {}).items():
                    if v.get("meeting_id") == meeting:
                        conf_id["id"] = k
            st, d = rig.http_get(bridge.http_port, f"/debug/{conf_id.get('id')}/{p.endpoint_id}")
            ep = ((d or {}).get("conferences", {}).get(conf_id.get("id"), {}).get("endpoints", {})
                  .get(p.endpoint_id, {})) if st == 200 else {}
            au = ep.get("audio", {})
            return au.get("rtp_received", 0), au.get("rtp_expected", 0)

        async def rr_blocks():
            ev = await a.ask("rr", "rr")
            return ev["blocks"].get(str(a.ssrc), [])

        async def hears(listener, speaker, t1, t2, min_frames, what):
            ev = await listener.ask("analyze", "analysis", from_tw=t1, to_tw=t2)
            tr = ev["tracks"].get(listener.mids[speaker.name], {})
            hz = tr.get("dominant_hz")
            ok = (tr.get("frames", 0) >= min_frames and hz is not None
                  and abs(hz - speaker.freq) <= fwd.FREQ_TOLERANCE_HZ)
            check(ok, f"{what}: {listener.name} hears {speaker.name}: {tr.get('frames')} frames "
                      f"(want >= {min_frames}), dominant {hz} Hz (want {speaker.freq:g})")

        async def everyone_hears(t1, t2, what, min_share=0.7):
            frames = int((t2 - t1) / 0.02 * min_share)
            for listener in peers:
                for speaker in peers:
                    if speaker is not listener:
                        await hears(listener, speaker, t1, t2, frames, what)

        try:
            await asyncio.to_thread(bridge.start)
            await wire.start()
            sh("ip", "-n", ns_pa, "route", "add", "default", "dev", wire.dev_a)
            await focus.connect_and_join(wait_bridge=20)
            await asyncio.gather(*(p.start(max_secs=150) for p in peers))
            for p in peers:
                await p.wait_event(lambda e: e.get("event") == "ready", "ready", 20, "setup")
            transports = {}
            for i, p in enumerate(peers):
                t = await focus.allocate(meeting, p.endpoint_id, p.ssrc, create_conference=(i == 0),
                                         room_name=f"{meeting}@conference.example.test")
                transports[p.name] = t
            cands = [(x.ip, x.port) for x in transports[a.name].candidates if x.protocol == "udp"]
            check((BR, bridge.udp_port) in cands, f"setup: the bridge's candidate {BR}:{bridge.udp_port}: {cands}")
            for p in peers:
                others = [q for q in peers if q is not p]
                t = transports[p.name]
                p.mids = {q.name: str(k + 1) for k, q in enumerate(others)}
                offer = webrtc_sdp.build_offer(t.ufrag, t.pwd, t.fingerprint, t.candidates,
                                               [webrtc_sdp.RemoteSource(q.endpoint_id, q.ssrc) for q in others],
                                               t.feedback_ssrc("audio"))
                p.send({"cmd": "offer", "sdp": offer})
            for p in peers:
                ev = await p.wait_event(lambda e: e.get("event") == "answer", "answer", 15, "SDP")
                ans = webrtc_sdp.parse_answer(ev["sdp"])
                await focus.update_transport(meeting, p.endpoint_id, ans.ufrag, ans.pwd, ans.fingerprint,
                                             ans.setup, ans.candidates)
            await fwd.wait_all("ICE/DTLS", peers, lambda p: p.wait_event(
                fwd.state_is("dtls", "connected"), "DTLS connected", 20, "ICE/DTLS",
                fail_pred=fwd.state_is("dtls", "failed")))
            connected = await asyncio.to_thread(bridge.wait_log, f"ICE connected to {RT_BR}:2", 5)
            check(connected, f"setup: the bridge reached A through the NAT ({RT_BR}:{EPOCHS[1]}), "
                             f"{time.monotonic() - started:.1f} s after start")
            await asyncio.sleep(2.5)
            t = time.time()
            await everyone_hears(t - 1.5, t, "baseline")

            async def stage(name, secs, settle, **impair):
                """Impairs A's link both ways for `secs`, then a clean spell of `settle` s;
                returns the bridge's, the link's and the receiver reports' figures around it."""
                r0 = await asyncio.to_thread(reception, a)
                w0 = await wire.stats()
                rr0 = await rr_blocks()
                t1 = time.time()
                await wire.set(**impair)
                wa = await wire.stats()
                await asyncio.sleep(secs)
                wb = await wire.stats()
                await wire.set(loss=0, delay_ms=0, jitter_ms=0, dup=0, down=False)
                t2 = time.time()
                await asyncio.sleep(settle)
                r1 = await asyncio.to_thread(reception, a)
                w1 = await wire.stats()
                rr1 = await rr_blocks()
                d = {k: w1["ab"]["rtp"][k] - w0["ab"]["rtp"][k] for k in w1["ab"]["rtp"]}
                # while impaired only (the spells around it are clean)
                d_in = {k: wb["ab"]["rtp"][k] - wa["ab"]["rtp"][k] for k in wb["ab"]["rtp"]}
                lost = (r1[1] - r1[0]) - (r0[1] - r0[0])
                during = [x for x in rr1 if t1 < x[0] <= t2 + 0.5]
                print(f"  {name}: link A->bridge RTP {d}; bridge lost {lost} (received "
                      f"{r1[0] - r0[0]}, expected {r1[1] - r0[1]}); RR blocks during "
                      f"{[(x[1], x[2], x[4]) for x in during]}", flush=True)
                return dict(t1=t1, t2=t2, link=d, link_impaired=d_in, lost=lost, received=r1[0] - r0[0],
                            rr_before=rr0[-1] if rr0 else None, rr_after=rr1[-1] if rr1 else None,
                            rr_during=during, rr_all=rr1)

            def cumulative(s):
                return (s["rr_after"][2] - s["rr_before"][2]) if s["rr_before"] and s["rr_after"] else None

            # 1. 5 % loss.
            s = await stage("loss 5%", 7.0, 2.5, loss=0.05)
            li = s["link_impaired"]
            rate = li["dropped"] / max(1, li["read"])
            check(0.01 <= rate <= 0.1, f"loss: the link dropped {li['dropped']} of A's {li['read']} RTP "
                                        f"packets while impaired ({rate:.1%}, configured 5%)")
            check(s["lost"] == s["link"]["dropped"],
                  f"loss: the bridge counts {s['lost']} lost for A, the link dropped {s['link']['dropped']}")
            check(cumulative(s) == s["lost"],
                  f"loss: the bridge's receiver reports to A: cumulative lost up by {cumulative(s)}")
            fr = [x[1] / 256 for x in s["rr_during"]]
            check(len(fr) >= 4 and abs(sum(fr) / len(fr) - rate) <= 0.03 and max(fr) <= 0.3,
                  f"loss: fraction lost in the {len(fr)} reports during the stage "
                  f"{[round(x, 3) for x in fr]} (mean {sum(fr) / max(1, len(fr)):.1%}, the link's {rate:.1%})")
            await everyone_hears(s["t1"], s["t2"], "loss", 0.6)

            # 2. jitter 50 +- 30 ms: packets overtake one another.
            s = await stage("jitter", 5.0, 2.5, delay_ms=50, jitter_ms=30)
            jit = [x[4] / 48.0 for x in s["rr_during"]]
            base = s["rr_before"][4] / 48.0 if s["rr_before"] else None
            after = s["rr_after"][4] / 48.0 if s["rr_after"] else None
            check(s["link"]["reordered"] >= 10, f"jitter: the link reordered {s['link']['reordered']} "
                                                f"of A's RTP packets")
            check(s["lost"] == 0, f"jitter: reordering is no loss: the bridge counts {s['lost']} lost")
            check(base is not None and base < 20 and after is not None and after < 20,
                  f"jitter: interarrival jitter in the bridge's reports before {base and round(base, 1)} ms, "
                  f"after {after and round(after, 1)} ms (clean: a few ms on a loaded host, under 20)")
            check(bool(jit) and 10 <= max(jit) <= 80 and min(jit) >= 0,
                  f"jitter: jitter in the reports during the stage {[round(x, 1) for x in jit]} ms "
                  f"(+-30 ms uniform: about 20 ms)")
            await everyone_hears(s["t1"], s["t2"], "jitter", 0.6)

            # 3. 1 % duplication: RFC 3550 A.3 counts duplicates as received (SRTP then drops
            # them as replays): the bridge's loss goes down by exactly the duplicates.
            k0 = await asyncio.to_thread(stats)
            s = await stage("duplication 1%", 6.0, 2.0, dup=0.01)
            k1 = await asyncio.to_thread(stats)
            dups = s["link"]["duplicated"]
            check(s["lost"] == -dups, f"duplication: the link duplicated {dups} of A's RTP packets, "
                                      f"the bridge's loss moved by {s['lost']}")
            check(all(x[1] == 0 for x in s["rr_during"]) and cumulative(s) == -dups,
                  f"duplication: fraction lost 0 in every report ({[x[1] for x in s['rr_during']]}), "
                  f"cumulative moved by {cumulative(s)}")
            print(f"  duplication: SRTP failures (replays) at the bridge +"
                  f"{k1.get('srtp_failures', 0) - k0.get('srtp_failures', 0)}", flush=True)
            await everyone_hears(s["t1"], s["t2"], "duplication", 0.7)

            # 4. a 2 s outage: nothing either way; consent (30 s) holds; media resumes.
            k0 = await asyncio.to_thread(stats)
            s = await stage("outage 2 s", 2.0, 3.0, down=True)
            k1 = await asyncio.to_thread(stats)
            check(s["lost"] == s["link"]["dropped"] and 80 <= s["lost"] <= 130,
                  f"outage: the bridge counts {s['lost']} lost for A, the link cut {s['link']['dropped']}")
            check(cumulative(s) == s["lost"], f"outage: receiver reports: cumulative lost up by {cumulative(s)}")
            check(k1.get("total_ice_failed") == k0.get("total_ice_failed") == 0,
                  f"outage: no ICE failure (total_ice_failed {k1.get('total_ice_failed')})")
            await everyone_hears(s["t2"] + 1.0, s["t2"] + 3.0, "after the outage", 0.8)
            await hears(b, c, s["t1"], s["t2"], 80, "during the outage (untouched)")
            await hears(c, b, s["t1"], s["t2"], 80, "during the outage (untouched)")

            # 5. NAT rebinding.
            n0 = await asyncio.to_thread(nft_counters)
            k0 = await asyncio.to_thread(stats)
            r0 = await asyncio.to_thread(reception, a)
            t0 = time.time()
            p = subprocess.run(["ip", "netns", "exec", ns_rt, "nft", "-f", "-"], input=nat_rules(2, False),
                               capture_output=True, text=True, timeout=20)
            check(p.returncode == 0, f"rebinding: the router moved to zone 2 / ports {EPOCHS[2]} {p.stderr.strip()}")
            moved = None
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                if (await asyncio.to_thread(stats)).get("total_ice_peer_moves", 0) > k0.get("total_ice_peer_moves", 0):
                    moved = time.time()
                    break
                await asyncio.sleep(0.05)
            n1 = await asyncio.to_thread(nft_counters)
            check(moved is not None, f"rebinding: the bridge moved A's selected pair "
                                     f"{(moved - t0) if moved else -1:.2f} s after the rebinding")
            line = next((l for l in bridge.lines if "ICE selected pair moved" in l), "")
            check(re.search(rf"moved from {RT_BR}:2\d{{4}} to {RT_BR}:21\d{{3}}", line) is not None,
                  f"rebinding: {line.strip()[-160:]}")
            await asyncio.sleep(3.0)
            n2 = await asyncio.to_thread(nft_counters)
            r1 = await asyncio.to_thread(reception, a)
            k2 = await asyncio.to_thread(stats)
            lost = (r1[1] - r1[0]) - (r0[1] - r0[0])
            stray = k2.get("packets_dropped_unknown_source", 0) - k0.get("packets_dropped_unknown_source", 0)
            # What A sent from its new port before the bridge had checked it (RTP, and an RTCP
            # packet or two) was dropped as from nobody's address: lost for A's stream.
            check(0 < lost <= stray <= lost + 5,
                  f"rebinding: the bridge counts {lost} of A's packets lost, {stray} datagrams dropped "
                  f"from an unknown address (A's new port before its check)")
            sent_old = n1.get("epoch1", 0) - n0.get("epoch1", 0)
            check(sent_old > 0, f"rebinding: before the move the bridge still sent {sent_old} packets to "
                                f"A's old mapping (the router's counter sees them)")
            check(n2.get("epoch1") == n1.get("epoch1"),
                  f"rebinding: nothing to the old mapping after the move ({n2.get('epoch1', 0) - n1.get('epoch1', 0)} "
                  f"packets in 3 s)")
            for listener, speaker, limit in ((b, a, 2.0), (c, a, 2.0), (a, b, 3.5), (a, c, 3.5)):
                ev = await listener.ask("rtp", "rtp")
                log = ev["ssrcs"].get(str(speaker.ssrc), {})
                resumed = [br["next"][3] for br in log.get("breaks", [])
                           if br["prev"][3] <= t0 + 0.1 and br["next"][3] > t0]
                back = (resumed[0] - t0) if resumed else None
                check(back is not None and back <= limit,
                      f"rebinding: {listener.name} hears {speaker.name} again "
                      f"{back if back is None else round(back, 2)} s after the rebinding (limit {limit:g} s)")
            t = time.time()
            await everyone_hears(t - 1.5, t, "after the rebinding", 0.8)
            k1 = await asyncio.to_thread(stats)
            check(k1.get("total_ice_peer_moves") == 1 and k1.get("total_ice_failed") == 0,
                  f"rebinding: total_ice_peer_moves {k1.get('total_ice_peer_moves')}, total_ice_failed "
                  f"{k1.get('total_ice_failed')}")
            rr = await rr_blocks()
            after = [x for x in rr if moved is not None and x[0] > moved]
            check(len(after) >= 2 and all(0 <= x[4] < 48 * 20 for x in after),
                  f"rebinding: the bridge's receiver reports reach A at its new port ({len(after)} since the "
                  f"move: {[(x[1], x[2], x[4]) for x in after]})")
            st, _ = rig.http_get(bridge.http_port, "/about/health")
            check(st == 200, f"healthy throughout: {st}")
        except fwd.StageFailed as e:
            check(False, f"FAILED AT STAGE '{e.stage}': {e.msg}")
        except Exception as e:  # pylint: disable=broad-except
            check(False, f"FAILED: {type(e).__name__}: {e}")
        finally:
            await asyncio.gather(*(p.stop() for p in peers), return_exceptions=True)
            await wire.stop()
            try:
                await focus.expire(meeting, [p.endpoint_id for p in peers])
            except Exception:  # pylint: disable=broad-except
                pass
            await focus.close()
            rc = await asyncio.to_thread(bridge.stop, signal.SIGTERM)
            check(rc == 0, f"bridge exit code {rc}")
            if check.failures:
                for p in peers:
                    if p.stderr:
                        print(f"----- {p.name} stderr (last 15 lines) -----\n" + "\n".join(p.stderr[-15:]))
                print("---- bridge log ----\n" + bridge.log()[-6000:], flush=True)
            print(f"total {time.monotonic() - started:.1f} s", flush=True)

    rig.run_with_prosody(scenario, check, limit_s=150)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--inner":
        inner(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 2:
        outer(sys.argv[1])
    else:
        print(__doc__)
        sys.exit(2)
