#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running bridge:
#   installs the dependencies, builds, starts the local "tech" Prosody on
#   127.0.0.1:15222 (deploy/prosody, the seed deployment's prosody-jvb), then
#   runs jvb-audio in the foreground on deploy/jvb.conf, which points at it.
# Ctrl-C (or SIGTERM) stops the bridge, then the Prosody this script started.
#
# Environment: JVB_AUDIO_STATE (default /var/lib/jvb-audio) holds the Prosody
# instance and its generated passwords; JVB_TECH_DOMAIN (default
# tech.example.test). Extra arguments go to jvb-audio (e.g. --log-level debug).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${JVB_AUDIO_STATE:-/var/lib/jvb-audio}
domain=${JVB_TECH_DOMAIN:-tech.example.test}

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO "$root/scripts/prosody.sh" start --dir "$state/prosody" --port 15222 --domain "$domain"
secrets=$($SUDO cat "$state/prosody/secrets.env")
JVB_XMPP_PASSWORD=$(printf '%s\n' "$secrets" | sed -n 's/^JVB_PASSWORD=//p')
export JVB_XMPP_PASSWORD JVB_TECH_DOMAIN="$domain"

bridge_pid=""
cleanup() {
  if [ -n "$bridge_pid" ] && kill -0 "$bridge_pid" 2>/dev/null; then
    kill -TERM "$bridge_pid" 2>/dev/null || true
    wait "$bridge_pid" 2>/dev/null || true
  fi
  $SUDO "$root/scripts/prosody.sh" stop --dir "$state/prosody" || true
}
trap cleanup EXIT
trap 'kill -TERM "$bridge_pid" 2>/dev/null || true' INT TERM

"$root/build/jvb-audio" --config "$root/deploy/jvb.conf" "$@" &
bridge_pid=$!
rc=0
# `wait` returns early when a trapped signal arrives; wait again for the exit.
while kill -0 "$bridge_pid" 2>/dev/null; do
  wait "$bridge_pid" && rc=0 || rc=$?
done
exit "$rc"
