#!/usr/bin/python3
"""`cmake --install` and the installed systemd unit, checked offline.

1. `cmake --install <build> --prefix /usr` into a DESTDIR: the binary, the
   unit (/lib/systemd/system, ExecStart=/usr/bin/jvb-audio), the docs and
   examples, the default jvb.conf in share/ and in /etc/jitsi/videobridge;
   a second install keeps an edited /etc jvb.conf byte for byte.
2. `--prefix /opt/jvb-audio`: the unit follows the prefix.
3. `systemd-analyze verify` on the installed unit (with --root= on the
   DESTDIR, so ExecStart is the installed binary; the standard targets are
   copied in from the host), and `systemd-analyze security --offline=true`
   whose exposure score must stay at or below MAX_EXPOSURE (README,
   "Install and upgrade"). PID 1 need not be systemd: nothing here talks to it.

Usage: test_install.py <build dir>
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1])
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAX_EXPOSURE = 1.5  # measured 1.4 on Debian 12 (systemd 252)
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def run(cmd, env=None, timeout=300):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def install(destdir, prefix):
    env = dict(os.environ, DESTDIR=destdir)
    r = run(["cmake", "--install", BUILD, "--prefix", prefix], env=env)
    check(r.returncode == 0, f"cmake --install --prefix {prefix} (rc {r.returncode}) {r.stderr[-500:]}")
    return r.stdout


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def unit_line(text, key):
    m = re.search(rf"^{key}=(.*)$", text, re.M)
    return m.group(1) if m else None


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_config_starts(binary, conf, tmp):
    """The installed binary on the default jvb.conf, its two ports moved to
    free loopback ones: /about/health must answer 200."""
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    text = read(conf)
    text = text.replace('port = 8080', f'port = {http_port}')
    text = text.replace('ice.udp { port = 10000 }',
                        f'ice.udp {{ port = {udp_port}, bind-address = "127.0.0.1" }}')
    if str(http_port) not in text or str(udp_port) not in text:
        print("the default jvb.conf no longer has the expected port lines")
        return False
    path = os.path.join(tmp, "default-copy.conf")
    with open(path, "w") as f:
        f.write(text)
    proc = subprocess.Popen([binary, "--config", path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    healthy = False
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None and not healthy:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=3)
                conn.request("GET", "/about/health")
                healthy = conn.getresponse().status == 200
                conn.close()
            except OSError:
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=5)
    if not healthy:
        print(err[-2000:])
    return healthy and proc.returncode == 0


def main():
    tmp = tempfile.mkdtemp(prefix="jvb-install-")
    try:
        root = os.path.join(tmp, "root")
        install(root, "/usr")
        binary = os.path.join(root, "usr/bin/jvb-audio")
        check(os.access(binary, os.X_OK), "usr/bin/jvb-audio is executable")
        r = run([binary, "--version"])
        check(r.returncode == 0 and "jvb-audio" in r.stdout, f"installed --version: {r.stdout.strip()}")
        check(not os.path.exists(os.path.join(root, "usr/bin/jvb-audio-load")),
              "the load tool is not installed")
        unit_path = os.path.join(root, "lib/systemd/system/jvb-audio.service")
        check(os.path.isfile(unit_path), "unit in /lib/systemd/system")
        unit = read(unit_path)
        check(unit_line(unit, "ExecStart") ==
              "/usr/bin/jvb-audio --config /etc/jitsi/videobridge/jvb.conf",
              f"ExecStart: {unit_line(unit, 'ExecStart')}")
        check(not re.search(r"@[A-Z_]+@", unit), "no unsubstituted @VAR@ in the unit")
        check(unit_line(unit, "WatchdogSec") == "20", "WatchdogSec=20")
        for doc in ("README.md", "examples/jvb.conf", "examples/prosody/prosody.cfg.lua.in",
                    "examples/prosody/jvb_muc_presence_filter.pfw.in"):
            check(os.path.isfile(os.path.join(root, "usr/share/doc/jvb-audio", doc)),
                  f"share/doc/jvb-audio/{doc}")
        default = read(os.path.join(SOURCE, "deploy/jvb-default.conf"))
        check(read(os.path.join(root, "usr/share/jvb-audio/jvb.conf")) == default,
              "share/jvb-audio/jvb.conf is the default")
        etc_conf = os.path.join(root, "etc/jitsi/videobridge/jvb.conf")
        check(os.path.isfile(etc_conf) and read(etc_conf) == default,
              "/etc/jitsi/videobridge/jvb.conf written when absent")

        check(default_config_starts(binary, etc_conf, tmp), "the default jvb.conf starts the bridge")

        edited = default + "\n# the operator's edit\n"
        with open(etc_conf, "w") as f:
            f.write(edited)
        out = install(root, "/usr")
        check(read(etc_conf) == edited, "a second install keeps the existing jvb.conf")
        check("Keeping existing" in out, "the install says it kept jvb.conf")

        other = os.path.join(tmp, "opt")
        install(other, "/opt/jvb-audio")
        unit2 = read(os.path.join(other, "opt/jvb-audio/lib/systemd/system/jvb-audio.service"))
        check(unit_line(unit2, "ExecStart") ==
              "/opt/jvb-audio/bin/jvb-audio --config /etc/jitsi/videobridge/jvb.conf",
              f"--prefix /opt/jvb-audio: ExecStart {unit_line(unit2, 'ExecStart')}")
        check(os.access(os.path.join(other, "opt/jvb-audio/bin/jvb-audio"), os.X_OK),
              "--prefix /opt/jvb-audio: the binary is there")

        # systemd-analyze verify with --root: the unit's own units come from
        # the host (targets, slices), the unit and its ExecStart from DESTDIR.
        for name in os.listdir("/lib/systemd/system"):
            src = os.path.join("/lib/systemd/system", name)
            dst = os.path.join(root, "lib/systemd/system", name)
            if not os.path.lexists(dst) and (name.endswith((".target", ".slice", ".socket"))):
                if os.path.islink(src):
                    os.symlink(os.readlink(src), dst)
                else:
                    shutil.copy(src, dst)
        r = run(["systemd-analyze", "verify", f"--root={root}", unit_path])
        check(r.returncode == 0 and r.stderr.strip() == "",
              f"systemd-analyze verify (rc {r.returncode}) {r.stderr.strip()}")
        # A unit with a typo must fail the same check (the check can fail).
        bad = os.path.join(root, "lib/systemd/system/jvb-audio-bad.service")
        with open(bad, "w") as f:
            f.write(unit.replace("ProtectSystem=strict", "ProtectSystem=strickt").replace(
                "/usr/bin/jvb-audio", "/usr/bin/jvb-audio-missing"))
        r = run(["systemd-analyze", "verify", f"--root={root}", bad])
        check(r.returncode != 0 or r.stderr.strip() != "", "verify reports a broken unit")
        os.unlink(bad)

        r = run(["systemd-analyze", "security", "--offline=true", f"--root={root}", unit_path])
        m = re.search(r"Overall exposure level for jvb-audio\.service: ([0-9.]+)", r.stdout)
        score = float(m.group(1)) if m else None
        print(f"exposure score: {score}")
        check(score is not None and score <= MAX_EXPOSURE,
              f"systemd-analyze security: exposure {score} <= {MAX_EXPOSURE}")
    finally:
        shutil.rmtree(tmp)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
