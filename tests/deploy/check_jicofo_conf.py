#!/usr/bin/python3
"""CTest deploy.jicofo_conf: deploy/jicofo/jicofo.conf is Jicofo's dual-connection
configuration for the seed deployment, in keys Jicofo really reads.

The file is parsed with the project's own HOCON reader (the hocon_dump tool, the
parser jvb-audio reads jvb.conf with); then
  - every leaf key must be one Jicofo defines (JICOFO_KEYS below);
  - the values that make the deployment work are checked: the client connection
    to the main Prosody, the service connection to the tech Prosody on 15222,
    bridges on the Service connection, the brewery on muc.tech.<domain> (the same
    domain as the service login), use-ssrc-rewriting as shipped (true), the seed's
    max-bridge-participants (220), health checks on, no Octo.
A negative control (a misspelt key) must be refused by the same check.

usage: check_jicofo_conf.py HOCON_DUMP [CONF]
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONF = os.path.join(HERE, "..", "..", "deploy", "jicofo", "jicofo.conf")

# Every key Jicofo defines, from its three reference.conf files at jitsi/jicofo
# 7ebb13dc353953abaeec2d9ee42b735f39eaa454 (2026-08-19): the leaves as the project's
# HOCON reader lists them (an empty object such as source-signaling-delays is a leaf)
# ...
JICOFO_KEYS = frozenset([
    # jicofo/src/main/resources/reference.conf
    "jicofo.authentication.authentication-lifetime", "jicofo.authentication.enable-auto-login",
    "jicofo.authentication.enabled", "jicofo.authentication.type",
    "jicofo.conference.enable-auto-owner", "jicofo.conference.enable-ice-restart",
    "jicofo.conference.enable-moderator-checks", "jicofo.conference.initial-timeout",
    "jicofo.conference.max-audio-senders", "jicofo.conference.max-ssrc-groups-per-user",
    "jicofo.conference.max-ssrcs-per-user", "jicofo.conference.max-video-senders",
    "jicofo.conference.min-participants", "jicofo.conference.reinvite-method",
    "jicofo.conference.restart-request-rate-limits.interval",
    "jicofo.conference.restart-request-rate-limits.max-requests",
    "jicofo.conference.restart-request-rate-limits.min-interval",
    "jicofo.conference.shared-document.use-random-name",
    "jicofo.conference.single-participant-timeout", "jicofo.conference.source-signaling-delays",
    "jicofo.conference.strip-simulcast", "jicofo.conference.use-json-encoded-sources",
    "jicofo.conference.use-rtp-mid-demux", "jicofo.conference.use-ssrc-rewriting",
    "jicofo.health.enabled", "jicofo.health.interval", "jicofo.health.max-check-duration",
    "jicofo.health.room-name-prefix", "jicofo.health.timeout", "jicofo.jibri-sip",
    "jicofo.jibri.num-retries", "jicofo.jibri.pending-timeout",
    "jicofo.jibri.use-private-address-connectivity", "jicofo.jibri.xmpp-connection-name",
    "jicofo.jigasi.use-private-address-connectivity", "jicofo.jigasi.xmpp-connection-name",
    "jicofo.rest.conference-request.enabled", "jicofo.rest.debug.enabled", "jicofo.rest.enabled",
    "jicofo.rest.host", "jicofo.rest.move-endpoints.enabled", "jicofo.rest.pin.enabled",
    "jicofo.rest.port", "jicofo.rest.prometheus.enabled", "jicofo.visitors.auto-enable-broadcast",
    "jicofo.visitors.enable-live-room", "jicofo.visitors.enabled",
    "jicofo.visitors.max-participants", "jicofo.visitors.max-visitors-per-node",
    "jicofo.visitors.notification-interval", "jicofo.visitors.require-muc-config-flag",
    "tracing.enabled", "tracing.service-name",
    # jicofo-common/src/main/resources/reference.conf
    "jicofo.codec.audio.opus.enabled", "jicofo.codec.audio.opus.minptime",
    "jicofo.codec.audio.opus.pt", "jicofo.codec.audio.opus.red.enabled",
    "jicofo.codec.audio.opus.red.pt", "jicofo.codec.audio.opus.use-inband-fec",
    "jicofo.codec.audio.telephone-event.enabled", "jicofo.codec.audio.telephone-event.pt",
    "jicofo.codec.rtp-extensions.abs-send-time.enabled",
    "jicofo.codec.rtp-extensions.abs-send-time.id",
    "jicofo.codec.rtp-extensions.audio-level.enabled",
    "jicofo.codec.rtp-extensions.audio-level.id",
    "jicofo.codec.rtp-extensions.av1-dependency-descriptor.enabled",
    "jicofo.codec.rtp-extensions.av1-dependency-descriptor.id",
    "jicofo.codec.rtp-extensions.extmap-allow-mixed",
    "jicofo.codec.rtp-extensions.framemarking.enabled",
    "jicofo.codec.rtp-extensions.framemarking.id", "jicofo.codec.rtp-extensions.mid.enabled",
    "jicofo.codec.rtp-extensions.mid.id", "jicofo.codec.rtp-extensions.rid.enabled",
    "jicofo.codec.rtp-extensions.rid.id", "jicofo.codec.rtp-extensions.tcc.enabled",
    "jicofo.codec.rtp-extensions.tcc.id", "jicofo.codec.rtp-extensions.tof.enabled",
    "jicofo.codec.rtp-extensions.tof.id", "jicofo.codec.rtp-extensions.video-content-type.enabled",
    "jicofo.codec.rtp-extensions.video-content-type.id",
    "jicofo.codec.rtp-extensions.video-layers-allocation.enabled",
    "jicofo.codec.rtp-extensions.video-layers-allocation.id", "jicofo.codec.video.av1.enable-remb",
    "jicofo.codec.video.av1.enabled", "jicofo.codec.video.av1.pt", "jicofo.codec.video.av1.rtx-pt",
    "jicofo.codec.video.h264.enable-remb", "jicofo.codec.video.h264.enabled",
    "jicofo.codec.video.h264.pt", "jicofo.codec.video.h264.rtx-pt",
    "jicofo.codec.video.vp8.enable-remb", "jicofo.codec.video.vp8.enabled",
    "jicofo.codec.video.vp8.pt", "jicofo.codec.video.vp8.rtx-pt",
    "jicofo.codec.video.vp9.enable-remb", "jicofo.codec.video.vp9.enabled",
    "jicofo.codec.video.vp9.pt", "jicofo.codec.video.vp9.rtx-pt", "jicofo.metrics.update-interval",
    "jicofo.octo.allow-mixed-versions", "jicofo.octo.enabled", "jicofo.octo.sctp-datachannels",
    "jicofo.sctp.enabled", "jicofo.visitors.vnode-join-latency-interval",
    "jicofo.xmpp.client.disable-certificate-verification", "jicofo.xmpp.client.enabled",
    "jicofo.xmpp.client.hostname", "jicofo.xmpp.client.port", "jicofo.xmpp.client.reply-timeout",
    "jicofo.xmpp.client.resource", "jicofo.xmpp.client.use-tls", "jicofo.xmpp.client.username",
    "jicofo.xmpp.service.disable-certificate-verification", "jicofo.xmpp.service.enabled",
    "jicofo.xmpp.service.hostname", "jicofo.xmpp.service.port",
    "jicofo.xmpp.service.reply-timeout", "jicofo.xmpp.service.resource",
    "jicofo.xmpp.service.use-tls", "jicofo.xmpp.service.username", "jicofo.xmpp.trusted-domains",
    "jicofo.xmpp.use-jitsi-jid-validation", "jicofo.xmpp.visitors",
    # jicofo-selector/src/main/resources/reference.conf
    "jicofo.bridge.average-participant-stress", "jicofo.bridge.failure-reset-threshold",
    "jicofo.bridge.health-checks.enabled", "jicofo.bridge.health-checks.interval",
    "jicofo.bridge.health-checks.presence-timeout", "jicofo.bridge.health-checks.use-presence",
    "jicofo.bridge.ice-failure-detection.enabled", "jicofo.bridge.ice-failure-detection.interval",
    "jicofo.bridge.ice-failure-detection.min-endpoints",
    "jicofo.bridge.ice-failure-detection.threshold", "jicofo.bridge.ice-failure-detection.timeout",
    "jicofo.bridge.load-redistribution.enabled", "jicofo.bridge.load-redistribution.endpoints",
    "jicofo.bridge.load-redistribution.interval",
    "jicofo.bridge.load-redistribution.stress-threshold",
    "jicofo.bridge.load-redistribution.timeout", "jicofo.bridge.max-bridge-participants",
    "jicofo.bridge.max-bridge-participants-interval",
    "jicofo.bridge.max-bridge-participants-per-interval",
    "jicofo.bridge.participant-rampup-interval", "jicofo.bridge.selection-strategy",
    "jicofo.bridge.stress-threshold", "jicofo.bridge.topology-strategy",
    "jicofo.bridge.xmpp-connection-name", "jicofo.transcription.http-headers",
    "jicofo.transcription.ping.enabled", "jicofo.transcription.ping.interval",
    "jicofo.transcription.ping.timeout", "jicofo.translation.http-headers",
    "jicofo.translation.max-languages-per-connect", "jicofo.translation.mode",
    "jicofo.translation.ping.enabled", "jicofo.translation.ping.interval",
    "jicofo.translation.ping.timeout",
    # ... plus the keys those files document only in comments (no default there):
    "jicofo.authentication.login-url",
    "jicofo.jibri.brewery-jid", "jicofo.jibri-sip.brewery-jid", "jicofo.jigasi.brewery-jid",
    "jicofo.local-region",
    "jicofo.xmpp.client.domain", "jicofo.xmpp.client.xmpp-domain", "jicofo.xmpp.client.password",
    "jicofo.xmpp.client.conference-muc-jid", "jicofo.xmpp.client.client-proxy",
    "jicofo.xmpp.service.domain", "jicofo.xmpp.service.xmpp-domain", "jicofo.xmpp.service.password",
    "jicofo.bridge.visitor-selection-strategy", "jicofo.bridge.participant-selection-strategy",
    "jicofo.bridge.region-groups", "jicofo.bridge.health-checks.retry-delay",
    "jicofo.bridge.brewery-jid",
    "jicofo.transcription.url-template", "jicofo.translation.url-template",
])


def dump(tool: str, path: str) -> dict:
    r = subprocess.run([tool, path], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{path} does not parse: {r.stderr.strip()}")
    return json.loads(r.stdout)


def unknown_keys(leaves: dict) -> list:
    return sorted(k for k in leaves if k not in JICOFO_KEYS)


def check(leaves: dict) -> list:
    """The deployment's values; returns failures (empty when all hold)."""
    failures = []

    def value(key):
        return leaves[key]["value"] if key in leaves else None

    def want(key, expected):
        got = value(key)
        if got != expected:
            failures.append(f"{key} = {json.dumps(got)}, expected {json.dumps(expected)}")

    want("jicofo.xmpp.client.enabled", True)
    want("jicofo.xmpp.client.port", 5222)
    want("jicofo.xmpp.client.username", "focus")
    want("jicofo.xmpp.service.enabled", True)
    want("jicofo.xmpp.service.port", 15222)
    want("jicofo.xmpp.service.username", "focus")
    want("jicofo.xmpp.service.disable-certificate-verification", True)
    want("jicofo.bridge.xmpp-connection-name", "Service")
    want("jicofo.bridge.max-bridge-participants", 220)
    want("jicofo.bridge.health-checks.enabled", True)
    want("jicofo.conference.use-ssrc-rewriting", True)
    want("jicofo.octo.enabled", False)
    for key in ("jicofo.xmpp.client.hostname", "jicofo.xmpp.client.domain", "jicofo.xmpp.client.password",
                "jicofo.xmpp.service.hostname", "jicofo.xmpp.service.domain", "jicofo.xmpp.service.password"):
        if not isinstance(value(key), str) or not value(key):
            failures.append(f"{key} must be a non-empty string, got {json.dumps(value(key))}")
    tech = value("jicofo.xmpp.service.domain") or ""
    if not tech.startswith("tech."):
        failures.append(f"jicofo.xmpp.service.domain should be the tech host tech.<domain>, got {tech!r}")
    want("jicofo.bridge.brewery-jid", f"jvbbrewery@muc.{tech}")
    main = value("jicofo.xmpp.client.xmpp-domain")
    if tech != f"tech.{main}":
        failures.append(f"the tech domain {tech!r} is not tech.<client xmpp-domain {main!r}>")
    if value("jicofo.xmpp.client.port") == value("jicofo.xmpp.service.port"):
        failures.append("client and service connections use the same port")
    return failures


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    conf = sys.argv[2] if len(sys.argv) == 3 else DEFAULT_CONF
    try:
        leaves = dump(tool, conf)
    except AssertionError as e:
        print(f"FAIL: {e}")
        return 1
    bad = unknown_keys(leaves)
    if bad:
        print(f"FAIL: keys Jicofo does not define: {bad}")
        return 1
    print(f"ok: {len(leaves)} keys, all defined by Jicofo's reference.conf files")
    failures = check(leaves)
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        return 1
    print("ok: client (5222) and service (15222, tech.<domain>) connections, bridges on Service, "
          "brewery jvbbrewery@muc.tech.<domain>, use-ssrc-rewriting = true, max-bridge-participants = 220, "
          "health checks on, octo off")

    # Negative controls: the same checks refuse a misspelt key and a wrong value.
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        typo = os.path.join(tmp, "typo.conf")
        with open(typo, "w", encoding="utf-8") as f:
            f.write(text + "\njicofo.bridge.xmpp-conection-name = Service\n")
        if unknown_keys(dump(tool, typo)) != ["jicofo.bridge.xmpp-conection-name"]:
            print("FAIL: a misspelt key was not reported")
            return 1
        wrong = os.path.join(tmp, "wrong.conf")
        with open(wrong, "w", encoding="utf-8") as f:
            f.write(text + "\njicofo.bridge.xmpp-connection-name = Client\n")
        if not any("xmpp-connection-name" in x for x in check(dump(tool, wrong))):
            print("FAIL: a wrong xmpp-connection-name was not reported")
            return 1
    print("ok: a misspelt key and a wrong connection name are refused")
    print("PASS: deploy.jicofo_conf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
