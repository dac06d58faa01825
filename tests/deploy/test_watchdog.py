#!/usr/bin/python3
"""The systemd notification protocol as systemd runs it, without systemd:
this test binds the unix datagram socket that systemd would ($NOTIFY_SOCKET),
sets WATCHDOG_USEC and WATCHDOG_PID the way systemd does, and starts the real
jvb-audio. It checks READY=1, STATUS= and the periodic WATCHDOG=1; then it
stops only the media thread ("jvb-media", found in /proc/<pid>/task/*/comm)
with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT, through ctypes: no hook in the
bridge) and checks that /about/health turns unhealthy and that no WATCHDOG=1
arrives for longer than the watchdog period (systemd would kill the bridge),
then resumes the thread (PTRACE_DETACH) and checks that the pings come back.

Needs root (ptrace of a process is what systemd's kill would need too: the
test must not depend on the yama scope). Exits 77 (skipped) when not root.
Usage: test_watchdog.py <path to jvb-audio>
Every wait is bounded; the bridge is stopped by its PID; the traced thread is
always detached.
"""
import ctypes
import errno
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
FAILURES = []
WATCHDOG_S = 2.0          # WATCHDOG_USEC: a ping every second
MAX_STALL_MS = 1000       # videobridge.health.max-check-duration in the test's jvb.conf

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000         # __WALL: wait for a thread of a traced process

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_status(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        conn.request("GET", "/about/health")
        r = conn.getresponse()
        r.read()
        return r.status
    except OSError:
        return None
    finally:
        conn.close()


class Notifications:
    """The datagrams the bridge sends to $NOTIFY_SOCKET, with arrival times."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # (monotonic time, "KEY=value")

    def pump(self, seconds):
        """Reads for `seconds` (bounded); returns the assignments read."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                break
            now = time.monotonic()
            for line in data.decode().split("\n"):
                if line:
                    got.append((now, line))
        self.messages += got
        return got

    def drain(self):
        """What is already queued, without waiting."""
        got = []
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(4096)
                for line in data.decode().split("\n"):
                    if line:
                        got.append((time.monotonic(), line))
        except BlockingIOError:
            pass
        self.messages += got
        return got

    def wait_for(self, predicate, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _, m in self.pump(min(0.2, max(0.01, deadline - time.monotonic()))):
                if predicate(m):
                    return m
        return None


def thread_id(pid, name):
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() == name:
                    return int(tid)
        except OSError:
            continue
    return None


def thread_state(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def ptrace(request, tid):
    if libc.ptrace(request, tid, None, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"ptrace({request:#x}, {tid}): {os.strerror(err)}")


def stop_thread(tid):
    """Stops one thread of another process; the others keep running."""
    ptrace(PTRACE_SEIZE, tid)
    ptrace(PTRACE_INTERRUPT, tid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        wpid, status = os.waitpid(tid, os.WNOHANG | WALL)
        if wpid == tid:
            return os.WIFSTOPPED(status)
        time.sleep(0.01)
    return False


def resume_thread(tid):
    try:
        ptrace(PTRACE_DETACH, tid)
    except OSError as e:
        if e.errno != errno.ESRCH:
            raise


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (ptrace of the bridge's media thread)")
        return 77
    tmp = tempfile.mkdtemp(prefix="jvb-watchdog-")
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    conf = os.path.join(tmp, "jvb.conf")
    with open(conf, "w") as f:
        f.write(f"""
videobridge {{
  http-servers.private {{ host = 127.0.0.1, port = {http_port} }}
  ice.udp {{ port = {udp_port}, bind-address = "127.0.0.1" }}
  health.max-check-duration = {MAX_STALL_MS} ms
  stats.interval = 500 ms
}}
""")
    notify = Notifications(os.path.join(tmp, "notify"))
    env = dict(os.environ, NOTIFY_SOCKET=notify.sock.getsockname(),
               WATCHDOG_USEC=str(int(WATCHDOG_S * 1e6)))
    env.pop("WATCHDOG_PID", None)
    # systemd sets WATCHDOG_PID to the service's main PID: the shell's PID is
    # the bridge's after exec.
    log_path = os.path.join(tmp, "bridge.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', BIN, "--config", conf],
        env=env, stdout=subprocess.DEVNULL, stderr=log)
    traced = None
    try:
        check(notify.wait_for(lambda m: m == "READY=1", 20) is not None, "READY=1 arrives")
        status = [m for _, m in notify.messages if m.startswith("STATUS=")]
        check(status and status[0] == "STATUS=conferences 0, endpoints 0",
              f"STATUS= with the counts comes with READY=1: {status[:1]}")
        check(health_status(http_port) == 200, "/about/health is 200")

        start = len(notify.messages)
        notify.pump(3 * WATCHDOG_S)
        pings = [t for t, m in notify.messages[start:] if m == "WATCHDOG=1"]
        check(len(pings) >= 4, f"WATCHDOG=1 every period/2 ({len(pings)} in {3 * WATCHDOG_S} s)")
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        check(all(g < WATCHDOG_S for g in gaps),
              f"no gap between pings reaches WatchdogSec: {[round(g, 2) for g in gaps]}")

        tid = thread_id(proc.pid, "jvb-media")
        check(tid is not None and tid != proc.pid, f"the media thread is named jvb-media (tid {tid})")
        if tid is None:
            return 1
        control_tid = proc.pid
        check(stop_thread(tid), "the media thread is stopped (ptrace interrupt)")
        traced = tid
        check(thread_state(proc.pid, tid) == "t", "the media thread is in a tracing stop")
        state = thread_state(proc.pid, control_tid)
        check(state != "t", f"the control thread keeps running (state {state})")

        unhealthy = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            code = health_status(http_port)
            if code is not None and code != 200:
                unhealthy = code
                break
            notify.pump(0.1)
        check(unhealthy is not None, f"/about/health turns unhealthy ({unhealthy})")
        # Pings queued before the verdict changed are already in the socket
        # buffer (a datagram is queued when sent): drop them, then listen.
        notify.drain()
        window = notify.pump(1.5 * WATCHDOG_S)
        check(not any(m == "WATCHDOG=1" for _, m in window),
              f"no WATCHDOG=1 for {1.5 * WATCHDOG_S} s (> WatchdogSec) while the media loop is stuck")
        check(any(m == "STATUS=conferences 0, endpoints 0, media loop unhealthy" for _, m in window),
              "STATUS= says the media loop is unhealthy")
        check(proc.poll() is None, "the bridge is still running (systemd, not the bridge, kills it)")

        resume_thread(traced)
        traced = None
        resumed = len(notify.messages)
        back = notify.wait_for(lambda m: m == "WATCHDOG=1", 3 * WATCHDOG_S)
        check(back is not None, "WATCHDOG=1 comes back once the media thread runs again")
        check(health_status(http_port) == 200, "/about/health is 200 again")
        notify.pump(0.5)
        check("STATUS=conferences 0, endpoints 0" in [m for _, m in notify.messages[resumed:]],
              "STATUS= healthy again")

        os.kill(proc.pid, signal.SIGTERM)
        check(notify.wait_for(lambda m: m == "STOPPING=1", 15) is not None, "STOPPING=1 on SIGTERM")
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"exit status 0 after SIGTERM (got {rc})")
    finally:
        if traced is not None:
            resume_thread(traced)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        with open(log_path) as f:
            err = f.read()
        notify.sock.close()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    withheld = err.count("withholding systemd watchdog pings")
    check(withheld == 1, f"withholding is logged once ({withheld})")
    check(err.count("systemd watchdog pings resumed") == 1, "resuming is logged once")
    if FAILURES:
        print(err[-4000:])
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
