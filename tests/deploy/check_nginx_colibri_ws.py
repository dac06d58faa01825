#!/usr/bin/python3
"""CTest deploy.nginx_colibri_ws: deploy/nginx/colibri-ws.conf is valid nginx and
routes the bridge channel's WebSocket as jitsi-meet's Debian config does.

  1. `nginx -t` accepts a minimal server block that includes the snippet (temporary
     prefix, no daemon); the same check refuses it included at http level.
  2. Live, on loopback only: nginx runs in the foreground with the snippet (its port
     9090 replaced by a free one), a WebSocket server (python3-websockets) stands in
     for the bridge's public port, and a WebSocket client connects through nginx:
       /colibri-ws/default-id/<conf>/<ep>?pwd=..  -> the local bridge, path and query kept
       /colibri-ws/127.0.0.1/<conf>/<ep>?pwd=..   -> the bridge at that address (server-id rule)
       /colibri-ws/other-id/..., /colibri-relay-ws/... -> not proxied (404)
     nginx is stopped by its PID.
Exit 0 when all hold, 1 on a failure, 77 (skipped) without nginx or python3-websockets.
"""

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SNIPPET = os.path.join(HERE, "..", "..", "deploy", "nginx", "colibri-ws.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def ok(msg: str) -> None:
    print(f"ok: {msg}", flush=True)


class Failure(Exception):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrapper(prefix: str, includes: list, listen_port: int) -> str:
    """A minimal nginx.conf: one plain-HTTP server on loopback including the snippet(s)."""
    inc = "\n".join(f"        include {p};" for p in includes)
    return f"""
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{listen_port};
        server_name meet.example.org;
{inc}
        location / {{ return 404; }}
    }}
}}
"""


def nginx_test(prefix: str, conf: str) -> subprocess.CompletedProcess:
    return subprocess.run([NGINX, "-t", "-p", prefix, "-c", conf], capture_output=True, text=True,
                          timeout=30)


async def ws_roundtrip(url: str) -> str:
    import websockets
    async with websockets.connect(url, open_timeout=5, close_timeout=2) as ws:
        return await asyncio.wait_for(ws.recv(), 5)


async def http_status(port: int, path: str) -> int:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: meet.example.org\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
    if not m:
        raise Failure(f"bad status line from nginx: {line!r}")
    return int(m.group(1))


async def live(tmp: str) -> None:
    import websockets

    bridge_port = free_port()
    text = open(SNIPPET, encoding="utf-8").read()
    if text.count(":9090/") != 2:
        raise Failure("the snippet should proxy both locations to port 9090")
    snippet = os.path.join(tmp, "colibri-ws.conf")
    with open(snippet, "w", encoding="utf-8") as f:
        f.write(text.replace(":9090/", f":{bridge_port}/"))

    seen = []

    async def bridge(ws, path=None):
        path = getattr(ws, "path", path)
        headers = ws.request_headers
        seen.append((path, headers.get("Upgrade"), headers.get("Connection")))
        await ws.send(path)

    server = await websockets.serve(bridge, "127.0.0.1", bridge_port)
    nginx_port = free_port()
    prefix = os.path.join(tmp, "live")
    os.makedirs(prefix)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(wrapper(prefix, [snippet], nginx_port))
    proc = subprocess.Popen([NGINX, "-p", prefix, "-c", conf, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise Failure(f"nginx exited: {proc.stderr.read().decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", nginx_port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failure("nginx did not listen within 10 s")
                await asyncio.sleep(0.05)
        ok(f"nginx (pid {proc.pid}) on 127.0.0.1:{nginx_port}, stand-in bridge on 127.0.0.1:{bridge_port}")

        local = "/colibri-ws/default-id/conf-1/ep-a?pwd=s3cret"
        echoed = await ws_roundtrip(f"ws://127.0.0.1:{nginx_port}{local}")
        if echoed != local:
            raise Failure(f"default-id: the bridge got {echoed!r}, expected {local!r}")
        if seen[-1][1] is None or seen[-1][1].lower() != "websocket" or "upgrade" not in seen[-1][2].lower():
            raise Failure(f"upgrade headers not forwarded: {seen[-1]}")
        ok(f"{local} -> 127.0.0.1:{bridge_port}{echoed} (Upgrade: {seen[-1][1]}, Connection: {seen[-1][2]})")

        remote = "/colibri-ws/127.0.0.1/conf-2/ep-b?pwd=x"
        echoed = await ws_roundtrip(f"ws://127.0.0.1:{nginx_port}{remote}")
        if echoed != remote:
            raise Failure(f"server-id rule: the bridge got {echoed!r}, expected {remote!r}")
        ok(f"{remote} -> the bridge at 127.0.0.1 (server-id = its address), path kept")

        for path in ("/colibri-ws/other-id/conf/ep?pwd=x", "/colibri-ws//conf/ep",
                     "/colibri-relay-ws/default-id/conf/relay"):
            before = len(seen)
            status = await http_status(nginx_port, path)
            if status != 404 or len(seen) != before:
                raise Failure(f"{path}: status {status}, bridge contacted: {len(seen) != before}")
        ok("other server ids, an empty id and colibri-relay-ws are not proxied (404)")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        server.close()
        await server.wait_closed()
    ok(f"nginx pid {proc.pid} stopped")


def main() -> int:
    if not os.access(NGINX, os.X_OK):
        print("SKIP: nginx is not installed (Debian package nginx-light)")
        return 77
    try:
        import websockets  # noqa: F401
    except ImportError:
        print("SKIP: python3-websockets is not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="jvb-audio-test-nginx.")
    try:
        os.chmod(tmp, 0o755)  # nginx workers (user nobody when run as root) traverse it
        prefix = os.path.join(tmp, "t")
        os.makedirs(prefix)
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(wrapper(prefix, [os.path.abspath(SNIPPET)], free_port()))
        r = nginx_test(prefix, conf)
        if r.returncode != 0 or "test is successful" not in r.stderr:
            raise Failure(f"nginx -t refused the snippet:\n{r.stderr}")
        ok("nginx -t accepts a server block including deploy/nginx/colibri-ws.conf")
        # Negative control: the same check refuses the snippet in the wrong context.
        with open(conf, "w", encoding="utf-8") as f:
            f.write(wrapper(prefix, [], free_port()).replace(
                "    server {", f"    include {os.path.abspath(SNIPPET)};\n    server {{", 1))
        r = nginx_test(prefix, conf)
        if r.returncode == 0 or "not allowed here" not in r.stderr:
            raise Failure(f"nginx -t should refuse the snippet outside a server block:\n{r.stderr}")
        ok("nginx -t refuses it outside a server block (so the check can fail)")
        asyncio.run(asyncio.wait_for(live(tmp), 60))
    except Failure as e:
        print(f"FAIL: {e}")
        for log in ("live/error.log",):
            p = os.path.join(tmp, log)
            if os.path.exists(p):
                print(f"----- {p} -----")
                print(open(p, encoding="utf-8", errors="replace").read()[-3000:])
        return 1
    except asyncio.TimeoutError:
        print("FAIL: the live check took more than 60 s")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS: deploy.nginx_colibri_ws")
    return 0


if __name__ == "__main__":
    sys.exit(main())
