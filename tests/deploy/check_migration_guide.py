#!/usr/bin/python3
"""CTest deploy.migration_guide: docs/migration.md cannot drift from what jvb-audio reads.

The guide's key tables (rows "| `key` | status | ... |") are compared with
config/bridge_config.cpp, the one place that reads jvb.conf:
  - every key the guide calls honoured, different, parsed or own is one the loader
    reads, and every key the loader reads is in the guide with one of those statuses;
  - every key called ignored is not read and is in the loader's list of known JVB keys
    (kKnownJvbKeys: logged at debug), every key called warned is neither (logged as an
    unknown key), and every entry of that list has a row;
  - every key JVB's and ice4j's reference.conf define (embedded below, with the source
    commits), and those of jicoco's MucClientConfiguration and JettyBundleActivatorConfig,
    has a row; no key has two rows;
  - every sip-communicator.properties row is "honoured" (one of the properties that
    config/legacy_properties.cpp maps, its kNat*/kStun constants) or "warned" (any other:
    logged as ignored), and names a jvb.conf key the guide has a row for.
Negative controls: the same checks must fail on a guide with a row removed, a row whose
status is flipped, and a loader that reads one more key.

With --hocon-dump TOOL (tests/deploy/hocon_dump), the guide's ignored and warned keys are
also fed to the real loader in one jvb.conf (`hocon_dump --load`, config::loadFile at
debug level): each ignored key must be logged as a known JVB key, each warned key as an
unknown key, and the file must load.

usage: check_migration_guide.py [--hocon-dump TOOL] [GUIDE [BRIDGE_CONFIG_CPP]]
"""

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GUIDE = os.path.join(ROOT, "docs", "migration.md")
LOADER = os.path.join(ROOT, "config", "bridge_config.cpp")
LEGACY = os.path.join(ROOT, "config", "legacy_properties.cpp")


def honoured_properties() -> set:
    text = open(LEGACY, encoding="utf-8").read()
    return set(re.findall(r'constexpr std::string_view k\w+ = "(org\.[^"]+)"', text))

READ_STATUSES = {"honoured", "different", "parsed", "own"}
UNREAD_STATUSES = {"ignored", "warned"}
PROPERTY_STATUS = "not read"

# Leaves of jitsi/jitsi-videobridge jvb/src/main/resources/reference.conf at
# a29d97d13fbfb54afc676a526485ce87df4f7a64 (2026-08-19), as the project's HOCON reader
# lists them (less the empty videobridge.apis.xmpp-client.configs container) ...
JVB_REFERENCE_KEYS = [
    "tracing.enabled", "tracing.service-name", "videobridge.apis.rest.enabled",
    "videobridge.apis.xmpp-client.jid-cache-size",
    "videobridge.apis.xmpp-client.presence-interval",
    "videobridge.apis.xmpp-client.stats-filter.enabled",
    "videobridge.apis.xmpp-client.stats-filter.whitelist", "videobridge.cc.allow-oversend-onstage",
    "videobridge.cc.bwe-change-threshold", "videobridge.cc.default-max-height-px",
    "videobridge.cc.initial-last-n", "videobridge.cc.initial-max-height-px",
    "videobridge.cc.jvb-last-n", "videobridge.cc.max-oversend-bitrate",
    "videobridge.cc.max-time-between-calculations", "videobridge.cc.onstage-preferred-framerate",
    "videobridge.cc.onstage-preferred-height-px", "videobridge.cc.padding-period",
    "videobridge.cc.trust-bwe", "videobridge.cc.use-vla-target-bitrate",
    "videobridge.connection-stats.enabled", "videobridge.connection-stats.interval",
    "videobridge.cryptex.endpoint", "videobridge.cryptex.relay",
    "videobridge.entity-expiration.check-interval", "videobridge.entity-expiration.timeout",
    "videobridge.ep-connection-status.check-interval",
    "videobridge.ep-connection-status.first-transfer-timeout",
    "videobridge.ep-connection-status.max-inactivity-limit", "videobridge.exporter.base-delay",
    "videobridge.exporter.max-delay", "videobridge.exporter.stable-connection-threshold",
    "videobridge.health.interval", "videobridge.health.max-check-duration",
    "videobridge.health.require-stun", "videobridge.health.require-valid-address",
    "videobridge.health.sticky-failures", "videobridge.health.timeout",
    "videobridge.http-servers.private.host", "videobridge.http-servers.public.port",
    "videobridge.http-servers.public.tls-port", "videobridge.ice.advertise-private-candidates",
    "videobridge.ice.keep-alive-strategy", "videobridge.ice.nomination-strategy",
    "videobridge.ice.resolve-remote-candidates", "videobridge.ice.restart.enabled",
    "videobridge.ice.restart.timeout", "videobridge.ice.restart.transition-window",
    "videobridge.ice.udp.port", "videobridge.initial-drain-mode",
    "videobridge.load-management.average-participant-stress",
    "videobridge.load-management.conference-last-n-limits",
    "videobridge.load-management.load-measurements.cpu-usage.detect-cpu-steal",
    "videobridge.load-management.load-measurements.cpu-usage.load-threshold",
    "videobridge.load-management.load-measurements.cpu-usage.recovery-threshold",
    "videobridge.load-management.load-measurements.load-measurement",
    "videobridge.load-management.load-measurements.packet-rate.load-threshold",
    "videobridge.load-management.load-measurements.packet-rate.recovery-threshold",
    "videobridge.load-management.load-reducers.last-n.impact-time",
    "videobridge.load-management.load-reducers.last-n.maximum-enforced-last-n-value",
    "videobridge.load-management.load-reducers.last-n.minimum-last-n-value",
    "videobridge.load-management.load-reducers.last-n.recover-scale",
    "videobridge.load-management.load-reducers.last-n.reduction-scale",
    "videobridge.load-management.reducer-enabled", "videobridge.loudest.always-route-dominant",
    "videobridge.loudest.energy-alpha-pct", "videobridge.loudest.energy-expire-time",
    "videobridge.loudest.num-loudest", "videobridge.loudest.route-loudest-only",
    "videobridge.redact-colibri-http-headers", "videobridge.redact-remote-addresses",
    "videobridge.relay.enabled", "videobridge.rest.debug.enabled",
    "videobridge.rest.drain.enabled", "videobridge.rest.health.enabled",
    "videobridge.rest.prometheus.enabled", "videobridge.rest.rtcstats.enabled",
    "videobridge.rest.shutdown.enabled", "videobridge.rest.version.enabled",
    "videobridge.sctp.enabled", "videobridge.sctp.max-channels",
    "videobridge.shutdown.graceful-shutdown-max-duration",
    "videobridge.shutdown.graceful-shutdown-min-participants",
    "videobridge.shutdown.shutting-down-delay",
    "videobridge.speech-activity.enable-silence-detection",
    "videobridge.speech-activity.recent-speakers-count",
    "videobridge.speech-activity.silence-detection-timeout", "videobridge.ssrc-limit.audio",
    "videobridge.ssrc-limit.video", "videobridge.stats-filter-threshold",
    "videobridge.stats.interval", "videobridge.stats.jvm.enabled",
    "videobridge.stats.transit-time.enable-jitter", "videobridge.stats.transit-time.enable-json",
    "videobridge.stats.transit-time.enable-prometheus", "videobridge.transport.send.queue-size",
    "videobridge.version.announce", "videobridge.websockets.domains",
    "videobridge.websockets.enable-compression", "videobridge.websockets.enabled",
    "videobridge.websockets.idle-timeout", "videobridge.websockets.keepalive-ping-interval",
    "videobridge.websockets.relay-domains", "videobridge.websockets.send-keepalive-pings",
    "videobridge.websockets.server-id",
    # ... and the keys that file documents only in comments.
    "videobridge.cc.assumed-bandwidth-limit", "videobridge.cc.initial-ignore-bwe-period",
    "videobridge.relay.region", "videobridge.relay.relay-id", "videobridge.websockets.tls",
    "videobridge.ice.ufrag-prefix", "videobridge.version.release",
    "videobridge.exporter.max-reconnect-attempts",
]

# Leaves of jitsi/ice4j src/main/resources/reference.conf at
# 6da2b08b931f7a1964ebd6554bf87489c81a59de (2026-04-22), plus its commented
# receive-buffer-size (which JVB's application.conf sets).
ICE4J_REFERENCE_KEYS = [
    "ice4j.consent-freshness.interval", "ice4j.consent-freshness.max-retransmissions",
    "ice4j.consent-freshness.max-wait-interval", "ice4j.consent-freshness.original-wait-interval",
    "ice4j.consent-freshness.randomize-interval", "ice4j.harvest.allowed-addresses",
    "ice4j.harvest.allowed-interfaces", "ice4j.harvest.blocked-addresses",
    "ice4j.harvest.blocked-interfaces", "ice4j.harvest.mapping.aws.enabled",
    "ice4j.harvest.mapping.aws.force", "ice4j.harvest.mapping.static-mappings",
    "ice4j.harvest.mapping.stun.addresses", "ice4j.harvest.timeout",
    "ice4j.harvest.udp.socket-pool-size", "ice4j.harvest.udp.use-dynamic-ports",
    "ice4j.harvest.use-ipv6", "ice4j.harvest.use-link-local-addresses",
    "ice4j.ice.max-check-list-size", "ice4j.ice.termination-delay",
    "ice4j.redact-remote-addresses", "ice4j.send-to-last-received-from-address", "ice4j.software",
    "ice4j.use-component-socket",
    "ice4j.harvest.udp.receive-buffer-size",
]

# jitsi/jicoco at e8384e28bca350e60815e4dcc3afe55ccefd87e8: MucClientConfiguration.java's
# properties (one block per connection) and JettyBundleActivatorConfig.kt's keys.
JICOCO_KEYS = [
    "videobridge.apis.xmpp-client.configs.<id>." + p for p in (
        "HOSTNAME", "PORT", "DOMAIN", "USERNAME", "PASSWORD", "MUC_JIDS", "MUC_NICKNAME",
        "DISABLE_CERTIFICATE_VERIFICATION", "IQ_HANDLER_MODE", "SECURITY_MODE")
] + [
    f"videobridge.http-servers.{s}.{k}" for s in ("private", "public") for k in ("host", "port", "tls-port")
] + [
    f"videobridge.http-servers.<server>.{k}" for k in (
        "key-store-path", "key-store-password", "need-client-auth", "send-server-version",
        "tls-protocols", "tls-cipher-suites")
]

ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*(honoured|different|parsed|own|ignored|warned|not read)\s*\|(.*)\|\s*$")


class Failure(Exception):
    pass


def guide_rows(text: str) -> dict:
    """key -> (status, rest of the row); raises Failure on a key listed twice."""
    rows = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = ROW.match(line)
        if not m:
            continue
        key, status, rest = m.group(1), m.group(2), m.group(3)
        if key in rows:
            raise Failure(f"line {n}: {key} has two rows")
        rows[key] = (status, rest)
    return rows


def block(src: str, start: str) -> str:
    """The text of a C++ function or initialiser from its first line to the next line
    that closes a block at its indentation."""
    i = src.find(start)
    if i < 0:
        raise Failure(f"bridge_config.cpp: '{start}' not found (the loader changed shape; update this test)")
    indent = len(src[src.rfind("\n", 0, i) + 1:i])
    end = re.compile(r"^" + " " * indent + r"\}", re.M).search(src, i)
    if not end:
        raise Failure(f"bridge_config.cpp: end of '{start}' not found")
    return src[i:end.end()]


def loader_keys(src: str) -> tuple:
    """(keys the loader reads, kKnownJvbKeys entries), from bridge_config.cpp's text."""
    read = set()
    load = block(src, "BridgeConfig load(const std::string& sourceFile)")
    read |= set(re.findall(r'\bread(?:Bool|String|Port|Int|Duration|StringList)\(\s*"([^"]+)"', load))
    read |= set(re.findall(r'\bget\("([^"]+)"\)', load))
    http = block(src, "void readHttpServer(")
    suffixes = re.findall(r'prefix \+ "\.([a-z-]+)"', http)
    for prefix in re.findall(r'readHttpServer\("([^"]+)"', load):
        read |= {f"{prefix}.{s}" for s in suffixes}
    xmpp = block(src, "void readXmppClients(")
    prefix = re.search(r'const std::string prefix = "([^"]+)";', xmpp).group(1)
    client = block(src, "XmppClientConfig readXmppClient(")
    names = re.findall(r'"([A-Z_]+)"', block(client, "static const std::set<std::string> kKeys"))
    read |= {f"{prefix}.<id>.{n}" for n in names}
    mappings = block(src, "void readStaticMappings(")
    key = re.search(r'const std::string key = "([^"]+)";', mappings).group(1)
    read.add(key)
    fields = set(re.findall(r'\bfield\("([a-z-]+)"\)', mappings))
    required = re.search(r'for \(const char\* required : \{([^}]*)\}', mappings).group(1)
    fields |= set(re.findall(r'"([a-z-]+)"', required))
    read |= {f"{key}[].{f}" for f in fields}
    known = re.findall(r'"([^"]+)"', block(src, "constexpr std::string_view kKnownJvbKeys[]"))
    if len(read) < 60 or len(known) < 30 or len(names) < 10 or len(fields) < 5:
        raise Failure(f"bridge_config.cpp: found only {len(read)} read keys, {len(known)} known keys, "
                      f"{len(names)} XMPP keys, {len(fields)} mapping fields (the loader changed shape?)")
    return read, known


def matches_known(key: str, pattern: str) -> bool:
    """isKnownJvbKey's rule: the pattern's elements equal the key's first ones ("*" matches
    one element; a <placeholder> in the key matches only "*")."""
    p, k = pattern.split("."), key.split(".")
    if len(p) > len(k):
        return False
    return all(pe == "*" or pe == ke for pe, ke in zip(p, k))


def check(guide: str, loader: str) -> list:
    rows = guide_rows(guide)
    read, known = loader_keys(loader)
    failures = []
    config_rows = {k: v for k, v in rows.items() if not k.startswith("org.")}
    honoured = honoured_properties()
    for key, (status, rest) in sorted(rows.items()):
        if status == PROPERTY_STATUS:
            failures.append(f"{key}: 'not read': jvb-audio reads sip-communicator.properties now")
            continue
        if key.startswith("org."):
            if status not in ("honoured", "warned"):
                failures.append(f"{key}: a property row is honoured or warned, not {status}")
            elif (status == "honoured") != (key in honoured):
                failures.append(f"{key}: the guide says {status}, legacy_properties.cpp "
                                f"{'maps' if key in honoured else 'does not map'} it")
            target = re.findall(r"`([^`]+)`", rest)
            if target and target[-1] not in config_rows:
                failures.append(f"{key}: its jvb.conf key {target[-1]} has no row in the guide")
            continue
        is_known = any(matches_known(key, p) for p in known)
        if status in READ_STATUSES and key not in read:
            failures.append(f"{key}: the guide says {status}, but bridge_config.cpp does not read it")
        if status in UNREAD_STATUSES and key in read:
            failures.append(f"{key}: the guide says {status}, but bridge_config.cpp reads it")
        if status == "ignored" and not is_known:
            failures.append(f"{key}: the guide says ignored (debug log), but it is not in kKnownJvbKeys (a warning)")
        if status == "warned" and is_known:
            failures.append(f"{key}: the guide says warned, but kKnownJvbKeys lists it (debug log only)")
    for key in sorted(read):
        if key not in rows:
            failures.append(f"{key}: bridge_config.cpp reads it, the guide has no row")
        elif rows[key][0] not in READ_STATUSES:
            failures.append(f"{key}: bridge_config.cpp reads it, the guide says {rows[key][0]}")
    for pattern in known:
        if not any(matches_known(k, pattern) for k, v in config_rows.items() if v[0] == "ignored"):
            failures.append(f"kKnownJvbKeys entry {pattern}: no 'ignored' row for it in the guide")
    for key in JVB_REFERENCE_KEYS + ICE4J_REFERENCE_KEYS + JICOCO_KEYS:
        if key not in config_rows:
            failures.append(f"{key}: defined by JVB / ice4j / jicoco, the guide has no row")
    return failures


def concrete(key: str) -> str:
    """A key as it would appear in a jvb.conf: <server> -> private, a bare block gets a leaf."""
    key = key.replace("<server>", "private")
    return key if "." in key else key + ".guide-check"


def check_with_loader(tool: str, rows: dict) -> list:
    """Feeds every ignored/warned key to the real loader; returns failures."""
    unread = {k: v[0] for k, v in rows.items() if v[0] in UNREAD_STATUSES and not k.startswith("org.")}
    if any("<" in concrete(k) or "[" in k for k in unread):
        return [f"cannot write {k} into a jvb.conf" for k in unread if "<" in concrete(k) or "[" in k]
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "jvb.conf")
        with open(conf, "w", encoding="utf-8") as f:
            for k in sorted(unread):
                f.write(f"{concrete(k)} = true\n")
        r = subprocess.run([tool, "--load", conf], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or r.stdout.strip() != "loaded":
        return [f"the loader refused the guide's ignored/warned keys: {r.stderr.strip()}"]
    known = set(re.findall(r"known JVB key (\S+), not used by jvb-audio", r.stderr))
    unknown = set(re.findall(r"unknown key (\S+) ignored", r.stderr))
    failures = []
    for k, status in sorted(unread.items()):
        name = concrete(k)
        if status == "ignored" and name not in known:
            failures.append(f"{k}: the guide says ignored, the loader did not log it as a known JVB key")
        if status == "warned" and name not in unknown:
            failures.append(f"{k}: the guide says warned, the loader did not warn about it")
    return failures


def main() -> int:
    args = sys.argv[1:]
    tool = None
    if len(args) >= 2 and args[0] == "--hocon-dump":
        tool, args = args[1], args[2:]
    guide_path = args[0] if len(args) > 0 else GUIDE
    loader_path = args[1] if len(args) > 1 else LOADER
    guide = open(guide_path, encoding="utf-8").read()
    loader = open(loader_path, encoding="utf-8").read()
    try:
        failures = check(guide, loader)
    except Failure as e:
        failures = [str(e)]
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        return 1
    rows = guide_rows(guide)
    read, known = loader_keys(loader)
    counts = {s: sum(1 for v in rows.values() if v[0] == s)
              for s in sorted(READ_STATUSES | UNREAD_STATUSES | {PROPERTY_STATUS})}
    print(f"ok: {len(rows)} rows {counts}; bridge_config.cpp reads {len(read)} keys, lists {len(known)} known JVB keys")

    # Negative controls: each drift must be caught.
    first_read = sorted(read)[0]
    drop = "\n".join(l for l in guide.splitlines() if not l.startswith(f"| `{first_read}` |"))
    flip = guide.replace("| `videobridge.loudest.num-loudest` | honoured |", "| `videobridge.loudest.num-loudest` | ignored |")
    more = loader.replace('readBool("videobridge.initial-drain-mode"',
                          'readBool("videobridge.cc.trust-bwe", c.initialDrainMode);\n    '
                          'readBool("videobridge.initial-drain-mode"')
    for name, g, l in (("a removed row", drop, loader), ("a flipped status", flip, loader),
                       ("a loader reading one more key", guide, more)):
        if g == guide and l == loader:
            print(f"FAIL: negative control '{name}' changed nothing")
            return 1
        try:
            caught = check(g, l)
        except Failure:
            caught = ["raised"]
        if not caught:
            print(f"FAIL: {name} was not caught")
            return 1
    print("ok: a removed row, a flipped status and an extra key read are caught")

    if tool:
        failures = check_with_loader(tool, rows)
        if failures:
            for f in failures:
                print(f"FAIL: {f}")
            return 1
        n = sum(1 for k, v in rows.items() if v[0] in UNREAD_STATUSES and not k.startswith("org."))
        print(f"ok: the real loader logs all {n} ignored keys as known JVB keys and warns about the warned ones")
        flipped = dict(rows)
        flipped["tracing.enabled"] = ("ignored", "")
        if not check_with_loader(tool, flipped):
            print("FAIL: a warned key mislabelled ignored was not caught by the loader check")
            return 1
        print("ok: a warned key mislabelled ignored is caught by the loader check")
    print("PASS: deploy.migration_guide")
    return 0


if __name__ == "__main__":
    sys.exit(main())
