#!/usr/bin/env bash
# Installs every build, run and test dependency of jvb-audio from Debian 12's
# archive. Idempotent: when everything is present it only runs dpkg queries.
# Also makes sure a deb-src entry exists, so that the build can fetch Debian's
# libsrtp2 source package (see scripts/build-libsrtp2.sh).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev dpkg-dev
  # libraries of the design card
  libnice-dev libsrtp2-dev libssl-dev openssl libusrsctp-dev libboost-dev libboost-system-dev
  libstrophe-dev libbenchmark-dev libgtest-dev libgmock-dev nlohmann-json3-dev libfmt-dev
  libsystemd-dev
  # /metrics: the Prometheus registry and text serializer; the parser the tests check it with
  prometheus-cpp-dev python3-prometheus-client
  # the tech Prosody and its firewall module
  prosody prosody-modules lua-unbound lua-event
  # third-party peers and tools used by the tests
  python3-slixmpp curl iproute2 procps
  # real WebRTC peers for the media tests (tests/media): aiortc 1.4, numpy for the tone FFT
  python3-aiortc python3-numpy
  # colibri-ws client in the bridge-channel end-to-end test (tests/media/test_bridge_channel.py)
  python3-websockets
  # headless Chromium as a real browser peer (tests/media/test_chromium_forwarding.py)
  chromium
  # STUN server behind an nftables NAT in namespaces (tests/ice/test_stun_mapping.py)
  coturn nftables
  # nginx -t and a loopback proxy run of deploy/nginx/colibri-ws.conf (tests/deploy)
  nginx-light
  # install and package (tests/deploy): systemd-analyze verify/security on the unit (no
  # systemd is started), file for CPack's shlibdeps, deb-systemd-helper, setpriv
  systemd file init-system-helpers util-linux passwd
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# deb-src entry for `apt-get source libsrtp2` (Debian 12 uses deb822 .sources files).
SRC_LIST=/etc/apt/sources.list.d/jvb-audio-deb-src.sources
need_update=0
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  echo "install-deps: adding a deb-src entry ($SRC_LIST)"
  $SUDO tee "$SRC_LIST" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  need_update=1
fi
if [ "$need_update" -eq 1 ]; then
  $SUDO apt-get update -q
fi
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's prosody and nginx packages may start a system instance when a service
# manager exists; the project runs its own instances and leaves those alone.
echo "install-deps: all dependencies present"
