"""Test rig pieces shared by the integration tests (run under /usr/bin/python3):

- ProsodyInstance: a tech Prosody from scripts/prosody.sh in a temporary
  directory on a free port, stopped by PID on exit.
- BridgeProcess: the jvb-audio binary on a generated jvb.conf, on free ports,
  stopped by PID on exit, its stderr kept for assertions.
- free_port(), http_get().

Every wait is bounded; every process started here is stopped here.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import sys
import threading
import time
from typing import Dict, List, Optional

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROSODY_SH = os.path.join(REPO_ROOT, "scripts", "prosody.sh")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env_file(path: str) -> Dict[str, str]:
    values: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                values[k.strip()] = v.strip().strip("'\"")
    return values


def http_get(port: int, path: str, method: str = "GET", timeout: float = 5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        body = r.read().decode()
        return r.status, (json.loads(body) if body.strip().startswith("{") else body)
    finally:
        conn.close()


def http_post_json(port: int, path: str, body, timeout: float = 5.0):
    """POST `body` (JSON-encoded unless already a str); returns (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, str) else json.dumps(body)
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


class ProsodyInstance:
    """scripts/prosody.sh start/stop on a free port in a temporary directory."""

    def __init__(self, domain: str = "tech.example.test", users: Optional[List[str]] = None):
        self.domain = domain
        self.users = users or []
        self.base = tempfile.mkdtemp(prefix="jvb-audio-rig.")
        os.chmod(self.base, 0o755)  # user prosody must traverse it
        self.dir = os.path.join(self.base, "prosody")
        self.port = 0
        self.secrets: Dict[str, str] = {}

    @property
    def brewery(self) -> str:
        return f"jvbbrewery@muc.{self.domain}"

    def start(self) -> None:
        last = ""
        for _ in range(5):
            if not self.port:
                self.port = free_port()
            args = [PROSODY_SH, "start", "--dir", self.dir, "--port", str(self.port),
                    "--domain", self.domain]
            for u in self.users:
                args += ["--user", u]
            r = subprocess.run(args, capture_output=True, text=True, timeout=60)
            if r.returncode == 0:
                self.secrets = read_env_file(os.path.join(self.dir, "secrets.env"))
                return
            last = r.stderr
            self.port = 0
        raise RuntimeError(f"prosody.sh start failed: {last[-2000:]}")

    def stop(self) -> None:
        subprocess.run([PROSODY_SH, "stop", "--dir", self.dir], capture_output=True, text=True,
                       timeout=60)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "ProsodyInstance":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BridgeProcess:
    """jvb-audio on a generated jvb.conf; stderr is collected in the background."""

    def __init__(self, binary: str, conf_text: str, workdir: str, name: str = "bridge",
                 extra_args: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None):
        self.binary = binary
        self.env = dict(os.environ, **env) if env else None
        self.name = name
        self.http_port = free_port()
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.conf_path = os.path.join(workdir, f"{name}.conf")
        with open(self.conf_path, "w", encoding="utf-8") as f:
            f.write(conf_text.replace("@HTTP_PORT@", str(self.http_port))
                             .replace("@UDP_PORT@", str(self.udp_port)))
        self.extra_args = extra_args or []
        self.proc: Optional[subprocess.Popen] = None
        self.lines: List[str] = []
        self._reader: Optional[threading.Thread] = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--config", self.conf_path] + self.extra_args,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=self.env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                http_get(self.http_port, "/about/health", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer HTTP within 20 s")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, needle: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in l for l in self.lines):
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                return None
        if self._reader is not None:
            self._reader.join(timeout=5)
        return self.proc.returncode

    def __enter__(self) -> "BridgeProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def xmpp_bridge_conf(prosody: ProsodyInstance, nick: str, password: str,
                     presence_interval: str = "300 ms", extra: str = "",
                     username: str = "jvb", top: str = "") -> str:
    """A jvb.conf pointing at `prosody`, with @HTTP_PORT@/@UDP_PORT@ left for BridgeProcess."""
    return f"""
videobridge {{
  apis.xmpp-client {{
    presence-interval = {presence_interval}
    configs {{
      tech {{
        HOSTNAME = "127.0.0.1"
        PORT = {prosody.port}
        DOMAIN = "{prosody.domain}"
        USERNAME = "{username}"
        PASSWORD = "{password}"
        MUC_JIDS = "{prosody.brewery}"
        MUC_NICKNAME = "{nick}"
        DISABLE_CERTIFICATE_VERIFICATION = true
      }}
    }}
  }}
  apis.rest.enabled = true
  http-servers.private {{ host = 127.0.0.1, port = @HTTP_PORT@ }}
  ice.udp {{ port = @UDP_PORT@, bind-address = "127.0.0.1" }}
  relay {{ enabled = true, region = "default", relay-id = "{nick}" }}
  stats.interval = 300 ms
  {extra}
}}
{top}
"""


class Checker:
    """Named checks printed as they run ('ok   ...' / 'FAIL ...'); failures are kept."""

    def __init__(self) -> None:
        self.failures: List[str] = []

    def __call__(self, cond: bool, what: str) -> bool:
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def exit(self) -> None:
        if self.failures:
            print(f"{len(self.failures)} check(s) failed")
            sys.exit(1)
        print("all checks passed")


def run_with_prosody(scenario, checker: Checker, users: Optional[List[str]] = None,
                     limit_s: float = 240) -> None:
    """Runs `await scenario(prosody, workdir)` against a fresh tech Prosody, then exits
    with the checker's verdict (77 = skipped when not root: Prosody runs as user prosody)."""
    import asyncio
    if os.geteuid() != 0:
        print("SKIP: needs root (Prosody runs as user prosody)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as work, ProsodyInstance(users=users) as prosody:
        asyncio.run(asyncio.wait_for(scenario(prosody, work), limit_s))
    checker.exit()
