#!/usr/bin/python3
"""The .deb, built and installed for real on this machine.

THIS TEST CHANGES THE MACHINE: it installs and purges the jvb-audio package
(dpkg -i / dpkg --purge), which creates the user jvb, the group jitsi and
/etc/jitsi/videobridge. It is meant for throwaway root machines (CI). It
prints SKIP and exits 0 when not root, or when a jitsi-videobridge2 or
jvb-audio package is installed (it would replace or remove it).
An /etc/jitsi/videobridge that exists beforehand is moved aside and put back,
and the user and group are removed only when they did not exist before.

1. `cpack -G DEB`: control fields (dpkg-deb -f), contents (dpkg-deb -c), the
   maintainer scripts (dpkg-deb -e) and the packaged unit.
2. Fresh install (no jvb.conf, no jvb user): user jvb in group jitsi, the
   default jvb.conf (jvb:jitsi, 0640) in /etc/jitsi/videobridge (jvb:jitsi,
   0750), the unit's enablement symlink; purge removes all of it.
3. A machine that ran JVB (group jitsi, user jvb with JVB's home, an
   operator's jvb.conf and sip-communicator.properties): install keeps both
   files byte for byte and the user; the installed /usr/bin/jvb-audio runs on
   that jvb.conf as user jvb the way the unit runs it (setpriv: User=jvb,
   Group=jitsi, NoNewPrivileges, an empty capability bounding set) and
   answers /about/health (and /metrics, once the bridge has that route) on
   the configured private port; purge leaves the files and the user.
4. Afterwards the machine is as before.

Usage: test_package.py <build dir>
"""
import grp
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1])
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG_DIR = "/etc/jitsi/videobridge"
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/jvb-audio.service"
UNIT = "/lib/systemd/system/jvb-audio.service"
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def run(cmd, timeout=300, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def package_installed(name):
    r = run(["dpkg-query", "-W", "-f=${Status}", name])
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def package_known(name):
    r = run(["dpkg-query", "-W", "-f=${Status}", name])
    return r.returncode == 0 and "not-installed" not in r.stdout


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def owner(path):
    st = os.stat(path)
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            stat.S_IMODE(st.st_mode))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def machine_state():
    """What the package may touch, to compare before and after."""
    return {
        "user": user_exists("jvb"),
        "group": group_exists("jitsi"),
        "etc_jitsi": os.path.exists("/etc/jitsi"),
        "config_dir": os.path.exists(CONFIG_DIR),
        "state_dir": os.path.exists("/var/lib/jvb-audio"),
        "wants_link": os.path.lexists(WANTS_LINK),
        "mask": os.path.lexists("/etc/systemd/system/jvb-audio.service"),
        "unit": os.path.exists(UNIT),
        "binary": os.path.exists("/usr/bin/jvb-audio"),
        "share": os.path.exists("/usr/share/jvb-audio"),
        "doc": os.path.exists("/usr/share/doc/jvb-audio"),
        "dsh_state": os.path.exists(
            "/var/lib/systemd/deb-systemd-helper-enabled/jvb-audio.service.dsh-also"),
        "dpkg": package_known("jvb-audio"),
    }


def build_package(out):
    r = run(["cpack", "-G", "DEB", "-B", out, "--config", os.path.join(BUILD, "CPackConfig.cmake")],
            timeout=600)
    check(r.returncode == 0, f"cpack -G DEB (rc {r.returncode}) {r.stderr[-1500:]}")
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    check(len(debs) == 1, f"one .deb built: {debs}")
    return os.path.join(out, debs[0]) if debs else None


def check_package(deb, tmp):
    field = lambda f: run(["dpkg-deb", "-f", deb, f]).stdout.strip()
    check(field("Package") == "jvb-audio", f"Package: {field('Package')}")
    check(re.fullmatch(r"\d+\.\d+\.\d+-1", field("Version")) is not None, f"Version: {field('Version')}")
    check(field("Architecture") == run(["dpkg", "--print-architecture"]).stdout.strip(),
          f"Architecture: {field('Architecture')}")
    for f in ("Provides", "Conflicts", "Replaces"):
        check(field(f) == "jitsi-videobridge2", f"{f}: {field(f)}")
    depends = field("Depends")
    for dep in ("libc6", "libssl3", "libstrophe", "libnice10", "libusrsctp2", "libsystemd0",
                "libprometheus-cpp-core1.0",
                "passwd", "init-system-helpers"):
        check(dep in depends, f"Depends has {dep}")
    print(f"Depends: {depends}")
    check(field("Maintainer") != "", "Maintainer set")

    listing = run(["dpkg-deb", "-c", deb]).stdout
    paths = {line.split()[-1] if " -> " not in line else line.split()[-3]
             for line in listing.splitlines()}
    for p in ("./usr/bin/jvb-audio", "./lib/systemd/system/jvb-audio.service",
              "./usr/share/doc/jvb-audio/README.md", "./usr/share/doc/jvb-audio/examples/jvb.conf",
              "./usr/share/jvb-audio/jvb.conf"):
        check(p in paths, f"package has {p}")
    check(not any(p.startswith("./etc/") for p in paths),
          "package ships nothing under /etc (jvb.conf is the postinst's)")
    check(not any("jvb-audio-load" in p for p in paths), "the load tool is not packaged")

    control = os.path.join(tmp, "control")
    r = run(["dpkg-deb", "-e", deb, control])
    check(r.returncode == 0, "dpkg-deb -e")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        check(os.path.isfile(path) and os.access(path, os.X_OK), f"maintainer script {script}")
        if os.path.isfile(path):
            check(read(path) == read(os.path.join(SOURCE, "deploy/debian", script)),
                  f"{script} is deploy/debian/{script}")
            r = run(["sh", "-n", path])
            check(r.returncode == 0, f"{script} parses (sh -n)")
    conffiles = os.path.join(control, "conffiles")
    check(not os.path.exists(conffiles) or read(conffiles).strip() == "", "no conffiles")

    tree = os.path.join(tmp, "tree")
    run(["dpkg-deb", "-x", deb, tree])
    unit = read(os.path.join(tree, "lib/systemd/system/jvb-audio.service"))
    check("ExecStart=/usr/bin/jvb-audio --config /etc/jitsi/videobridge/jvb.conf" in unit,
          "packaged unit: ExecStart=/usr/bin/jvb-audio")
    r = run([os.path.join(tree, "usr/bin/jvb-audio"), "--version"])
    check(r.returncode == 0, f"packaged binary runs --version: {r.stdout.strip()}")


def dpkg(args, what):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = run(["dpkg"] + args, env=env)
    check(r.returncode == 0, f"{what} (rc {r.returncode}) {r.stderr[-1500:]}")
    return r


def check_enabled():
    check(os.path.islink(WANTS_LINK) and os.readlink(WANTS_LINK) == UNIT,
          f"unit enabled: {WANTS_LINK} -> {UNIT}")


def fresh_install(deb, before):
    r = dpkg(["-i", deb], "dpkg -i on a fresh machine")
    check("writing a default" in r.stdout, "postinst says it wrote the default jvb.conf")
    check(package_installed("jvb-audio"), "jvb-audio is installed")
    check(user_exists("jvb") and group_exists("jitsi"), "user jvb and group jitsi exist")
    if user_exists("jvb"):
        u = pwd.getpwnam("jvb")
        check(grp.getgrgid(u.pw_gid).gr_name == "jitsi", "jvb's primary group is jitsi")
        check(u.pw_uid < 1000, f"jvb is a system user (uid {u.pw_uid})")
    conf = os.path.join(CONFIG_DIR, "jvb.conf")
    check(os.path.isfile(conf) and read(conf) == read(os.path.join(SOURCE, "deploy/jvb-default.conf")),
          "the default jvb.conf is in /etc/jitsi/videobridge")
    if os.path.isfile(conf):
        check(owner(conf) == ("jvb", "jitsi", 0o640), f"jvb.conf jvb:jitsi 0640: {owner(conf)}")
        check(owner(CONFIG_DIR) == ("jvb", "jitsi", 0o750), f"config dir jvb:jitsi 0750: {owner(CONFIG_DIR)}")
    check_enabled()
    # Reinstalling the same version (an upgrade path): nothing is re-created.
    dpkg(["-i", deb], "dpkg -i again")
    check_enabled()
    # remove keeps the configuration and the user; purge takes them.
    dpkg(["-r", "jvb-audio"], "dpkg -r")
    check(not os.path.exists("/usr/bin/jvb-audio") and not os.path.exists(UNIT),
          "remove takes the binary and the unit")
    check(os.path.isfile(conf) and user_exists("jvb"), "remove keeps jvb.conf and the user")
    # As dh_installsystemd: the enablement stays until purge, and the unit is
    # masked so that nothing starts what is no longer there.
    mask = "/etc/systemd/system/jvb-audio.service"
    check(os.path.islink(mask) and os.readlink(mask) == "/dev/null", "remove masks the unit")
    dpkg(["--purge", "jvb-audio"], "dpkg --purge")
    check(not os.path.lexists(mask), "purge unmasks the unit")
    check(not os.path.exists(conf), "purge removes the jvb.conf it wrote")
    check(not os.path.exists("/etc/jitsi"), "purge removes the /etc/jitsi it created")
    check(user_exists("jvb") == before["user"] and group_exists("jitsi") == before["group"],
          "purge removes the user and group it created, and only those")
    check(not os.path.lexists(WANTS_LINK), "purge removes the enablement symlink")


def jvb_machine_install(deb, tmp, before):
    # What a machine that ran JVB has (jitsi-videobridge2's postinst).
    if not before["group"]:
        run(["groupadd", "jitsi"])
    if not before["user"]:
        run(["useradd", "-r", "-g", "jitsi", "--shell", "/bin/bash", "-d",
             "/usr/share/jitsi-videobridge", "--no-create-home", "jvb"])
    check(user_exists("jvb"), "test set-up: JVB's user jvb")
    home = pwd.getpwnam("jvb").pw_dir
    os.makedirs(CONFIG_DIR)
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    conf_text = f"""# an operator's jvb.conf, from JVB's time
videobridge {{
  http-servers.private {{ host = 127.0.0.1, port = {http_port} }}
  ice.udp {{ port = {udp_port}, bind-address = "127.0.0.1" }}
  cc.trust-bwe = true
}}
"""
    sip_text = "org.jitsi.videobridge.ENABLE_STATISTICS=true\n"
    conf = os.path.join(CONFIG_DIR, "jvb.conf")
    sip = os.path.join(CONFIG_DIR, "sip-communicator.properties")
    for path, text in ((conf, conf_text), (sip, sip_text)):
        with open(path, "w") as f:
            f.write(text)

    r = dpkg(["-i", deb], "dpkg -i on a JVB machine")
    check("using the existing" in r.stdout, "postinst says it uses the existing jvb.conf")
    check(read(conf) == conf_text, "existing jvb.conf kept byte for byte")
    check(read(sip) == sip_text, "existing sip-communicator.properties kept")
    check(pwd.getpwnam("jvb").pw_dir == home, "JVB's jvb user reused")
    check(owner(CONFIG_DIR)[:2] == ("jvb", "jitsi"), "config dir owned jvb:jitsi (as JVB's postinst)")
    check_enabled()

    # As the unit runs it: User=jvb, Group=jitsi, NoNewPrivileges=yes,
    # CapabilityBoundingSet= (empty), AmbientCapabilities= (empty).
    log = open(os.path.join(tmp, "bridge.log"), "w")
    proc = subprocess.Popen(
        ["setpriv", "--reuid=jvb", "--regid=jitsi", "--init-groups", "--no-new-privs",
         "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all",
         "/usr/bin/jvb-audio", "--config", conf], stdout=subprocess.DEVNULL, stderr=log)
    try:
        status = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = http_get(http_port, "/about/health")
                break
            except OSError:
                time.sleep(0.1)
        check(status == 200, f"installed bridge as jvb: /about/health {status} on port {http_port}")
        with open(f"/proc/{proc.pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        check(fields["Uid"].split()[0] == str(pwd.getpwnam("jvb").pw_uid), "runs as uid jvb")
        check(int(fields["CapBnd"].strip(), 16) == 0, "empty capability bounding set")
        metrics = http_get(http_port, "/metrics") if status == 200 else None
        source_has_metrics = any('"/metrics"' in read(os.path.join(SOURCE, "http", f))
                                 for f in os.listdir(os.path.join(SOURCE, "http")))
        if metrics == 404 and not source_has_metrics:
            print("skip /metrics: this bridge has no /metrics route yet")
        else:
            check(metrics == 200, f"/metrics is 200 ({metrics})")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(timeout=5)
        log.close()
    check(rc == 0, f"bridge exits 0 on SIGTERM (rc {rc})")
    if rc != 0 or FAILURES:
        print(read(os.path.join(tmp, "bridge.log"))[-3000:])

    dpkg(["--purge", "jvb-audio"], "dpkg --purge on the JVB machine")
    check(read(conf) == conf_text and read(sip) == sip_text,
          "purge leaves the jvb.conf and sip-communicator.properties it did not create")
    check(user_exists("jvb") and group_exists("jitsi"), "purge leaves JVB's user and group")
    check(not os.path.lexists(WANTS_LINK), "purge removes the enablement symlink")
    # Undo the set-up (main() puts back a user or group that existed before).
    shutil.rmtree(CONFIG_DIR)
    try:
        os.rmdir("/etc/jitsi")
    except OSError:
        pass


def main():
    if os.geteuid() != 0:
        print("SKIP: the package test installs a .deb: root only")
        return 0
    for name in ("jitsi-videobridge2", "jvb-audio"):
        if package_installed(name) or package_known(name):
            print(f"SKIP: a {name} package is on this machine; the test would replace it")
            return 0
    before = machine_state()
    # A user jvb that exists without the package (postinst makes jitsi its
    # primary group): its group is put back at the end.
    jvb_gid = pwd.getpwnam("jvb").pw_gid if before["user"] else None
    tmp = tempfile.mkdtemp(prefix="jvb-package-")
    aside = None
    if os.path.exists("/etc/jitsi"):
        aside = os.path.join(tmp, "etc-jitsi")
        shutil.move("/etc/jitsi", aside)
    during = dict(before, etc_jitsi=False, config_dir=False)
    try:
        deb = build_package(os.path.join(tmp, "out"))
        if deb:
            check_package(deb, tmp)
            fresh_install(deb, during)
            jvb_machine_install(deb, tmp, during)
    finally:
        if package_known("jvb-audio"):
            run(["dpkg", "--purge", "jvb-audio"])
        if user_exists("jvb") and not before["user"]:
            run(["userdel", "jvb"])
        if group_exists("jitsi") and not before["group"]:
            run(["groupdel", "jitsi"])
        if jvb_gid is not None and pwd.getpwnam("jvb").pw_gid != jvb_gid:
            run(["usermod", "-g", str(jvb_gid), "jvb"])
        if aside:
            if os.path.exists("/etc/jitsi"):
                shutil.rmtree("/etc/jitsi")
            shutil.move(aside, "/etc/jitsi")
        after = machine_state()
        shutil.rmtree(tmp)
    check(after == before, f"the machine is as before: {sorted(k for k in after if after[k] != before[k])}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
