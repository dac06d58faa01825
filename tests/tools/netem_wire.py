#!/usr/bin/python3
"""A point-to-point IPv4 link between two network namespaces, impaired in user space as
`tc netem` would (this kernel has no sch_netem: CONFIG_NET_SCH_NETEM is not set, nor
nft's queue statement; it has TUN devices).

    netem_wire.py --a NS_A ADDR_A/PREFIX --b NS_B ADDR_B/PREFIX [--name tag] [--seed N]
                  [--max-secs S]

Two TUN devices (IFF_TUN, no packet information) are created here, moved into NS_A and
NS_B, given their address and brought up; every packet the kernel of one side sends into
its device is read here and, unless dropped, written into the other device after its
delay. Directions: "ab" (read from A, delivered to B) and "ba". The devices go away with
this process.

stdin, one JSON object a line:
  {"cmd": "set", "dir": "ab"|"ba"|"both", "loss": 0.05, "delay_ms": 50, "jitter_ms": 30,
   "dup": 0.01, "down": false}
      from now on, per packet of that direction: dropped with probability `loss` (all of
      them while `down`); else delivered after delay_ms +- jitter_ms (uniform, as netem's
      default distribution; packets overtake one another when the jitter exceeds their
      spacing) and, with probability `dup`, once more after a delay of its own. Keys left
      out keep their value. -> {"event": "set", ...the direction's settings}
  {"cmd": "stats"} -> {"event": "stats", "ab": {...}, "ba": {...}}: per direction the
      packets read, delivered (duplicates included), dropped, duplicated and reordered
      (delivered after a packet read later), each also for the UDP datagrams that are RTP
      or RTCP by RFC 7983 (first byte 128..191; RTCP when the second byte is 192..223)
  {"cmd": "quit"} (or EOF) -> exits 0
stdout: {"event": "ready", "a": dev, "b": dev} once both devices are up; errors as
{"event": "error", "what": "..."}.
Everything is bounded: the process ends after --max-secs whatever happens.
"""
import argparse
import fcntl
import heapq
import json
import os
import random
import select
import struct
import subprocess
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")


def classify(pkt):
    """'rtp', 'rtcp' or None for an IPv4 packet (UDP payload by RFC 7983 / RFC 5761)."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != 17:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    if len(pkt) < ihl + 8 + 2:
        return None
    b0, b1 = pkt[ihl + 8], pkt[ihl + 9]
    if not 128 <= b0 <= 191:
        return None
    return "rtcp" if 192 <= b1 <= 223 else "rtp"


class Direction:
    KEYS = ("read", "delivered", "dropped", "duplicated", "reordered")

    def __init__(self):
        self.loss, self.delay_ms, self.jitter_ms, self.dup, self.down = 0.0, 0.0, 0.0, 0.0, False
        self.counts = {k: 0 for k in self.KEYS}
        self.media = {c: {k: 0 for k in self.KEYS} for c in ("rtp", "rtcp")}
        self.next_index = 0
        self.max_delivered = -1

    def settings(self):
        return {"loss": self.loss, "delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms,
                "dup": self.dup, "down": self.down}

    def bump(self, key, cls):
        self.counts[key] += 1
        if cls:
            self.media[cls][key] += 1

    def stats(self):
        return dict(self.counts, **{c: dict(v) for c, v in self.media.items()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", nargs=2, required=True, metavar=("NS", "ADDR/PREFIX"))
    ap.add_argument("--b", nargs=2, required=True, metavar=("NS", "ADDR/PREFIX"))
    ap.add_argument("--name", default=f"w{os.getpid() % 100000}")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-secs", type=float, default=300.0)
    args = ap.parse_args()

    watchdog = threading.Timer(args.max_secs, lambda: os._exit(3))
    watchdog.daemon = True
    watchdog.start()

    rng = random.Random(args.seed)
    names = {"a": f"{args.name}a"[:15], "b": f"{args.name}b"[:15]}
    try:
        fds = {side: open_tun(names[side]) for side in ("a", "b")}
        for side, (ns, addr) in (("a", args.a), ("b", args.b)):
            sh("ip", "link", "set", names[side], "netns", ns)
            sh("ip", "-n", ns, "addr", "add", addr, "dev", names[side])
            sh("ip", "-n", ns, "link", "set", names[side], "up")
    except (OSError, RuntimeError) as e:
        out({"event": "error", "what": f"set-up: {e}"})
        sys.exit(1)
    dirs = {"ab": Direction(), "ba": Direction()}
    lock = threading.Lock()
    stop = threading.Event()

    def control():
        for line in sys.stdin:
            try:
                cmd = json.loads(line)
            except ValueError:
                out({"event": "error", "what": f"not JSON: {line.strip()}"})
                continue
            with lock:
                if cmd.get("cmd") == "set":
                    which = ("ab", "ba") if cmd.get("dir", "both") == "both" else (cmd["dir"],)
                    for w in which:
                        d = dirs[w]
                        for k in ("loss", "delay_ms", "jitter_ms", "dup"):
                            if k in cmd:
                                setattr(d, k, float(cmd[k]))
                        if "down" in cmd:
                            d.down = bool(cmd["down"])
                    out({"event": "set", **{w: dirs[w].settings() for w in which}})
                elif cmd.get("cmd") == "stats":
                    out({"event": "stats", "t": time.time(), **{w: d.stats() for w, d in dirs.items()}})
                elif cmd.get("cmd") == "quit":
                    break
        stop.set()

    threading.Thread(target=control, daemon=True).start()
    out({"event": "ready", "a": names["a"], "b": names["b"]})

    queue = []  # (due, tiebreak, direction, index, packet, class)
    tie = 0
    src = {fds["a"]: ("ab", fds["b"]), fds["b"]: ("ba", fds["a"])}
    while not stop.is_set():
        now = time.monotonic()
        timeout = 0.2 if not queue else max(0.0, min(0.2, queue[0][0] - now))
        readable, _, _ = select.select(list(src), [], [], timeout)
        now = time.monotonic()
        with lock:
            for fd in readable:
                w, _ = src[fd]
                d = dirs[w]
                for _ in range(64):
                    try:
                        pkt = os.read(fd, 65535)
                    except BlockingIOError:
                        break
                    cls = classify(pkt)
                    index = d.next_index
                    d.next_index += 1
                    d.bump("read", cls)
                    if d.down or rng.random() < d.loss:
                        d.bump("dropped", cls)
                        continue
                    copies = 2 if rng.random() < d.dup else 1
                    if copies == 2:
                        d.bump("duplicated", cls)
                    for _ in range(copies):
                        delay = max(0.0, d.delay_ms + rng.uniform(-d.jitter_ms, d.jitter_ms)) / 1000.0
                        tie += 1
                        heapq.heappush(queue, (now + delay, tie, w, index, pkt, cls))
            while queue and queue[0][0] <= now:
                _, _, w, index, pkt, cls = heapq.heappop(queue)
                d = dirs[w]
                try:
                    os.write(fds["b"] if w == "ab" else fds["a"], pkt)
                except OSError:
                    continue  # the device is down or gone: the packet is lost
                d.bump("delivered", cls)
                if index < d.max_delivered:
                    d.bump("reordered", cls)
                d.max_delivered = max(d.max_delivered, index)
    sys.exit(0)


if __name__ == "__main__":
    main()
