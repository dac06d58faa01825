#!/usr/bin/env bash
# CTest deploy.tech_prosody: the project's tech Prosody (deploy/prosody/*.in, started by
# scripts/prosody.sh) behaves as the seed's, checked with third-party peers (slixmpp):
#   - scripts/prosody.sh start/status/stop are idempotent and clean up by PID;
#   - TLS is required (no authentication before STARTTLS);
#   - the brewery jvbbrewery@muc.<domain> works for focus and jvb, IQs are routed
#     through the room, and the seed's mod_firewall rule filters jvb's presence
#     (see tests/deploy/check_tech_prosody.py).
# Needs root (Prosody runs as user prosody), prosody + prosody-modules and
# python3-slixmpp (scripts/install-deps.sh); exits 77 (skipped) without them.
#
# usage: test_tech_prosody.sh [--port N] [--domain D] [--keep]
#   --port N  use this port instead of picking a free one from 15322 up
#   --keep    keep the temporary instance directory (its path is printed)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PROSODY_SH="$REPO_ROOT/scripts/prosody.sh"
CHECK_PY="$REPO_ROOT/tests/deploy/check_tech_prosody.py"
PYTHON=/usr/bin/python3   # Debian's, with python3-slixmpp (not pyenv's)
DOMAIN=tech.example.test
PORT=""
KEEP=0

while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --domain) DOMAIN="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--port N] [--domain D] [--keep]" >&2; exit 2 ;;
  esac
done

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "needs root (Prosody is started as user prosody via runuser)"
command -v prosody >/dev/null || skip "prosody is not installed (scripts/install-deps.sh)"
[ -e /usr/lib/prosody/modules/mod_firewall/mod_firewall.lua ] || skip "prosody-modules (mod_firewall) is not installed"
"$PYTHON" -c 'import slixmpp' 2>/dev/null || skip "python3-slixmpp is not installed for $PYTHON"

port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

BASE="$(mktemp -d /tmp/jvb-audio-test-prosody.XXXXXX)"
chmod 755 "$BASE"   # user prosody must traverse it
DIR="$BASE/prosody"

cleanup() {
  local rc=$?
  set +e
  if [ -f "$DIR/prosody.pid" ] || [ -d "$DIR" ]; then
    "$PROSODY_SH" stop --dir "$DIR" >/dev/null 2>&1
  fi
  # Belt and braces: nothing started from this directory may survive the test.
  local left
  left="$(pgrep -f -- "--config $DIR/prosody.cfg.lua" || true)"
  if [ -n "$left" ]; then
    echo "cleanup: killing leftover processes $left"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
    [ "$rc" -ne 0 ] || rc=1
  fi
  if [ "$rc" -ne 0 ] && [ -d "$DIR/log" ]; then
    for f in "$DIR"/log/prosody.err "$DIR"/log/prosody.log "$DIR"/log/prosody.console; do
      [ -s "$f" ] && { echo "----- tail of $f -----"; tail -n 40 "$f"; }
    done
  fi
  if [ "$KEEP" -eq 1 ]; then
    echo "kept $BASE"
  else
    rm -rf "$BASE"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start on a free port; retry on the next one if another test grabbed it meanwhile.
started=0
if [ -n "$PORT" ]; then
  candidates=("$PORT")
else
  first=$((15322 + ($$ % 200)))
  candidates=()
  for ((p = first; p < first + 40; p++)); do port_free "$p" && candidates+=("$p"); done
fi
for p in "${candidates[@]:0:5}"; do
  if "$PROSODY_SH" start --dir "$DIR" --port "$p" --domain "$DOMAIN"; then
    PORT="$p"
    started=1
    break
  fi
  port_free "$p" && fail "scripts/prosody.sh start failed on free port $p"
  echo "port $p got taken meanwhile; trying the next one"
done
[ "$started" -eq 1 ] || fail "could not start the tech Prosody (ports tried: ${candidates[*]:0:5})"
PID="$(cat "$DIR/prosody.pid")"
echo "ok: instance up: pid $PID, port $PORT, dir $DIR"

# Idempotency: a second start is a no-op, status reports running.
"$PROSODY_SH" start --dir "$DIR" --port "$PORT" --domain "$DOMAIN"
[ "$(cat "$DIR/prosody.pid")" = "$PID" ] || fail "second start changed the pid ($PID -> $(cat "$DIR/prosody.pid"))"
[ "$(pgrep -fc -- "--config $DIR/prosody.cfg.lua" || true)" -le 2 ] || fail "second start spawned another server"
"$PROSODY_SH" status --dir "$DIR" || fail "status says not running"
# secrets.env: private, with the documented keys.
[ "$(stat -c '%U %a' "$DIR/secrets.env")" = "root 600" ] || fail "secrets.env is not root-owned mode 600"
for key in JVB_PASSWORD JVB_XMPP_PASSWORD FOCUS_PASSWORD; do
  grep -q "^$key=." "$DIR/secrets.env" || fail "secrets.env lacks $key"
done
# The rendered firewall rule names the real domain, not literal template braces.
grep -q "^FROM: jvbbrewery@muc.$DOMAIN\$" "$DIR/firewall/jvb_muc_presence_filter.pfw" || fail "firewall rule not rendered"
if grep -v '^#' "$DIR/firewall/jvb_muc_presence_filter.pfw" | grep -q '{{'; then fail "literal {{ }} left in the firewall rule"; fi
echo "ok: second start is a no-op, status 0, secrets.env and firewall rule as expected"

# The behaviour checks, with third-party peers.
timeout 120 "$PYTHON" "$CHECK_PY" --port "$PORT" --domain "$DOMAIN" --secrets "$DIR/secrets.env" --timeout 10 ||
  fail "check_tech_prosody.py failed (see above)"

# Stop by PID; status must then say not running and the process must be gone.
"$PROSODY_SH" stop --dir "$DIR"
if "$PROSODY_SH" status --dir "$DIR" >/dev/null; then fail "status still 0 after stop"; fi
if kill -0 "$PID" 2>/dev/null; then fail "pid $PID alive after stop"; fi
[ ! -e "$DIR/prosody.pid" ] || fail "pid file left after stop"
"$PROSODY_SH" stop --dir "$DIR"   # stopping twice is fine
echo "ok: stopped (pid $PID gone, pid file removed)"
echo "PASS: deploy.tech_prosody"
