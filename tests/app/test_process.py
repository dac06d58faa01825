#!/usr/bin/python3
"""The jvb-audio process as an operator runs it: a real binary, real sockets,
real signals. Checks start-up on a jvb.conf, the private HTTP surface over
TCP, clean exit on SIGTERM and SIGINT, and start-up refusal on bad input.

Usage: test_process.py <path to jvb-audio>
Every process started here is stopped by its PID; every wait is bounded.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conf(directory, text):
    path = os.path.join(directory, "jvb.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def start(args, env=None):
    return subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def stop(proc, sig=signal.SIGTERM, timeout=15):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        return None, out, err
    return proc.returncode, out, err


def get(port, path, method="GET", body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, r.read().decode(), dict(r.getheaders())
    finally:
        conn.close()


def wait_http(port, proc, limit_s=20):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            get(port, "/about/health")
            return True
        except OSError:
            time.sleep(0.05)
    return False


def test_serves_http_and_stops_on_signals(tmp):
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    conf = write_conf(tmp, f"""
videobridge {{
  http-servers.private {{ host = 127.0.0.1, port = {http_port} }}
  ice.udp {{ port = {udp_port}, bind-address = "127.0.0.1" }}
  apis.rest.enabled = true
  relay {{ enabled = true, region = "default", relay-id = "jvb1" }}
  stats.interval = 200 ms
}}
""")
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = start(["--config", conf, "--log-level", "debug"])
        try:
            check(wait_http(http_port, proc), f"HTTP answers after start-up ({sig.name} round)")
            status, body, headers = get(http_port, "/about/health")
            check(status == 200, f"/about/health is 200 (got {status} {body})")
            health = json.loads(body)
            check(health.get("healthy") is True, "health body says healthy")
            check("xmpp" in health, "health body carries the XMPP state")
            status, body, _ = get(http_port, "/about/version")
            v = json.loads(body)
            check(status == 200 and v.get("name") == "jvb-audio" and v.get("os") == "Linux",
                  f"/about/version: {body}")
            # Media port is bound: datagrams are received and counted.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                for _ in range(5):
                    u.sendto(b"\x80\x6f" + b"\x00" * 30, ("127.0.0.1", udp_port))
            stats = {}
            for _ in range(100):
                status, body, _ = get(http_port, "/colibri/stats")
                stats = json.loads(body)
                if stats.get("total_packets_received", 0) >= 5:
                    break
                time.sleep(0.05)
            check(status == 200, "/colibri/stats is 200 with apis.rest.enabled")
            check(stats.get("total_packets_received") == 5, f"stats count 5 datagrams: {stats.get('total_packets_received')}")
            # relay.enabled without relay support: region yes, relay_id never
            # (Jicofo would split conferences onto a bridge that cannot relay).
            check("relay_id" not in stats and stats.get("region") == "default",
                  f"stats carry region and no relay_id: {stats.get('relay_id')}")
            check(stats.get("drain") is False and stats.get("healthy") is True, "drain/healthy stats")
            status, _, _ = get(http_port, "/nope")
            check(status == 404, f"unknown path 404 (got {status})")
            status, _, headers = get(http_port, "/about/health", method="DELETE")
            check(status == 405, f"bad method 405 (got {status})")
            status, _, _ = get(http_port, "/colibri/drain/enable", method="POST")
            _, body, _ = get(http_port, "/colibri/drain")
            check(status == 200 and json.loads(body).get("drain") is True, f"drain enabled: {body}")
        finally:
            rc, out, err = stop(proc, sig)
        check(rc == 0, f"exit code 0 after {sig.name} (got {rc})")
        check("shutting down" in err and "stopped" in err, f"shutdown logged ({sig.name})")
        check("relay.enabled = true, but jvb-audio has no relay" in err,
              f"relay.enabled without relay support is warned about ({sig.name})")
        lines = [l for l in err.splitlines() if l]
        check(all(l[:4].isdigit() and l[23] == "Z" for l in lines), "every log line is timestamped")


def test_bad_config_stops_startup(tmp):
    conf = write_conf(tmp, "videobridge {\n  ice.udp.port = 10000\n  http-servers.private.port = \"eighty\"\n}\n")
    proc = start(["--config", conf])
    proc.wait(timeout=15)
    rc, err = proc.returncode, proc.stderr.read()
    check(rc == 78, f"bad value exits 78 (got {rc})")
    check(f"{conf}:3" in err and "videobridge.http-servers.private.port" in err,
          f"error names file:line and key: {err.strip()[-300:]}")

    conf = write_conf(tmp, "videobridge {\n  ice.udp {\n    port = 10000\n")
    proc = start(["--config", conf])
    proc.wait(timeout=15)
    err = proc.stderr.read()
    check(proc.returncode == 78, f"syntax error exits 78 (got {proc.returncode})")
    check(conf in err, f"syntax error names the file: {err.strip()[-300:]}")

    proc = start(["--config", os.path.join(tmp, "missing.conf")])
    proc.wait(timeout=15)
    check(proc.returncode == 78, f"missing file exits 78 (got {proc.returncode})")

    proc = start(["--bogus"])
    proc.wait(timeout=15)
    check(proc.returncode == 64, f"unknown flag exits 64 (got {proc.returncode})")


def test_busy_ports_are_reported(tmp):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        udp_port = taken.getsockname()[1]
        conf = write_conf(tmp, f"videobridge.ice.udp {{ port = {udp_port}, bind-address = 127.0.0.1 }}\n"
                               f"videobridge.http-servers.private.port = {free_port()}\n")
        proc = start(["--config", conf])
        proc.wait(timeout=15)
        err = proc.stderr.read()
        check(proc.returncode == 69, f"busy UDP port exits 69 (got {proc.returncode})")
        check(f"127.0.0.1:{udp_port}" in err, "busy UDP port named in the error")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        http_port = taken.getsockname()[1]
        conf = write_conf(tmp, f"videobridge.ice.udp {{ port = {free_port(socket.SOCK_DGRAM)}, bind-address = 127.0.0.1 }}\n"
                               f"videobridge.http-servers.private {{ host = 127.0.0.1, port = {http_port} }}\n")
        proc = start(["--config", conf])
        proc.wait(timeout=15)
        err = proc.stderr.read()
        check(proc.returncode == 69, f"busy HTTP port exits 69 (got {proc.returncode})")
        check(str(http_port) in err, "busy HTTP port named in the error")


def test_help_and_version():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0 and "--config" in out.stdout and "--log-level" in out.stdout, "--help")
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0 and out.stdout.startswith("jvb-audio "), f"--version: {out.stdout.strip()}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_help_and_version()
        test_serves_http_and_stops_on_signals(tmp)
        test_bad_config_stops_startup(tmp)
        test_busy_ports_are_reported(tmp)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed", flush=True)
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
