#!/usr/bin/env bash
# CTest deploy.prosody_render: deploy/prosody/render.sh writes a tech Prosody for a
# real domain that Debian's Prosody accepts and that behaves as the seed's.
#   1. Render for meet.example.org with the operator defaults (/etc/prosody-jvb paths,
#      port 15222, every interface): `prosodyctl check config` passes; the firewall
#      rule names the real brewery JID and the real jvb* JIDs; the config has the
#      seed's port, GC tuning, brewery MUC component, TLS required and no
#      mod_muc_rate_limit; the systemd unit starts that config. A copy with a Lua
#      syntax error fails the same check (so the check can fail).
#   2. Render again with every path in a temporary directory, loopback and a free
#      port; register jvb and focus as the printed instructions do; start Prosody as
#      user prosody; tests/deploy/check_tech_prosody.py then proves TLS is required,
#      the brewery works for focus and a bridge (slixmpp peers), and the firewall
#      rule drops brewery presence to the bridge; stop by PID.
# Needs root, prosody, prosody-modules, openssl and python3-slixmpp
# (scripts/install-deps.sh); exits 77 (skipped) without them.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RENDER="$REPO_ROOT/deploy/prosody/render.sh"
CHECK_PY="$REPO_ROOT/tests/deploy/check_tech_prosody.py"
PYTHON=/usr/bin/python3
DOMAIN=meet.example.org
TECH=tech.$DOMAIN
BREWERY=jvbbrewery@muc.$TECH

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root (Prosody runs as user prosody via runuser)"
command -v prosody >/dev/null && command -v prosodyctl >/dev/null || skip "prosody is not installed"
id prosody >/dev/null 2>&1 || skip "user prosody does not exist"
[ -e /usr/lib/prosody/modules/mod_firewall/mod_firewall.lua ] || skip "prosody-modules (mod_firewall) is not installed"
command -v openssl >/dev/null || skip "openssl is not installed"
"$PYTHON" -c 'import slixmpp' 2>/dev/null || skip "python3-slixmpp is not installed for $PYTHON"

BASE="$(mktemp -d /tmp/jvb-audio-test-render.XXXXXX)"
chmod 755 "$BASE"   # user prosody must traverse it
PID=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null
  fi
  if [ "$rc" -ne 0 ]; then
    for f in "$BASE"/live/log/prosody.err "$BASE"/live/log/prosody.log "$BASE"/live/console.log; do
      [ -s "$f" ] && { echo "----- tail of $f -----"; tail -n 30 "$f"; }
    done
  fi
  rm -rf "$BASE"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_config() {  # check_config CFG -> prosodyctl's output; status as prosodyctl's
  runuser -u prosody -- prosodyctl --config "$1" check config 2>&1
}
# Lua statements of a rendered config (comments and blank lines dropped).
code() { sed -e 's/--.*$//' -e '/^[[:space:]]*$/d' "$1"; }

# ---- 1. the operator render ------------------------------------------------------------
ETC="$BASE/etc-prosody-jvb"
out="$("$RENDER" --no-dirs "$DOMAIN" "$ETC")" || fail "render.sh failed"
CFG="$ETC/prosody.cfg.lua"
PFW="$ETC/firewall/jvb_muc_presence_filter.pfw"
for f in "$CFG" "$PFW" "$ETC/prosody-jvb.service" "$ETC/certs/$TECH.key" "$ETC/certs/$TECH.crt"; do
  [ -s "$f" ] || fail "render.sh did not write $f"
done
if ! res="$(check_config "$CFG")"; then echo "$res"; fail "prosodyctl check config failed on the operator render"; fi
grep -q "All checks passed" <<<"$res" || { echo "$res"; fail "prosodyctl check config did not pass"; }
ok "prosodyctl check config passes on $CFG"

# The firewall rule names the real brewery and the real bridge JIDs, no template left.
rule="$(grep -Ev '^[[:space:]]*(#|$)' "$PFW")"
expected_rule="FROM: $BREWERY
TO: <jvb*>@$TECH
KIND: presence
TYPE: available
NOT INSPECT: {http://jabber.org/protocol/muc#user}x/status@code=110
DROP."
[ "$rule" = "$expected_rule" ] || { echo "$rule"; fail "firewall rule is not the seed's rule for $TECH"; }
ok "firewall rule: FROM $BREWERY TO <jvb*>@$TECH, drops available presence"

c="$(code "$CFG")"
grep -qx 'c2s_ports = { 15222 }' <<<"$c" || fail "c2s port is not 15222"
grep -qx 'c2s_interfaces = { "\*", "::" }' <<<"$c" || fail "default should listen on every interface (as the seed)"
grep -qx "VirtualHost \"$TECH\"" <<<"$c" || fail "no VirtualHost $TECH"
grep -qx "Component \"muc.$TECH\" \"muc\"" <<<"$c" || fail "no MUC component muc.$TECH"
grep -qx '    mode = "incremental";' <<<"$c" && grep -qx '    threshold = 400;' <<<"$c" &&
  grep -qx '    speed = 250;' <<<"$c" && grep -qx '    step_size = 13;' <<<"$c" || fail "GC tuning missing"
grep -qx 'c2s_require_encryption = true' <<<"$c" || fail "TLS is not required"
grep -qx "    \"$ETC/firewall/jvb_muc_presence_filter.pfw\";" <<<"$c" || fail "firewall_scripts does not load the rendered rule"
grep -qx '    "firewall";' <<<"$c" || fail "mod_firewall not enabled"
if grep -q 'muc_rate_limit' <<<"$c"; then fail "mod_muc_rate_limit must not be loaded"; fi
grep -qx "    admins = { \"focus@$TECH\", \"jvb@$TECH\" }" <<<"$c" || fail "MUC admins are not focus and jvb"
grep -qx "data_path = \"/var/lib/prosody-jvb\"" <<<"$c" || fail "default data_path is not /var/lib/prosody-jvb"
grep -qx "ExecStart=/usr/bin/prosody -F --config $CFG" "$ETC/prosody-jvb.service" || fail "systemd unit does not start $CFG"
openssl x509 -in "$ETC/certs/$TECH.crt" -noout -ext subjectAltName | grep -q "DNS:muc.$TECH" || fail "certificate lacks muc.$TECH"
grep -q "register jvb $TECH" <<<"$out" && grep -q "register focus $TECH" <<<"$out" || fail "render.sh did not print the account commands"
ok "config: port 15222, $TECH, muc.$TECH, GC tuning, TLS required, no muc_rate_limit; unit and certificate"

# Negative control: the same check rejects a broken copy.
cp -p "$CFG" "$ETC/broken.cfg.lua"
echo 'broken = {' >>"$ETC/broken.cfg.lua"
if check_config "$ETC/broken.cfg.lua" >/dev/null; then fail "prosodyctl check config accepted a Lua syntax error"; fi
ok "prosodyctl check config rejects a broken copy"

# Bad input: clear error, nothing written.
if "$RENDER" --no-dirs "not a domain" "$BASE/bad" 2>"$BASE/err"; then fail "render.sh accepted a bad domain"; fi
grep -q "bad domain" "$BASE/err" || fail "no clear message for a bad domain"
[ ! -e "$BASE/bad" ] || fail "render.sh wrote files for a bad domain"
if "$RENDER" --no-dirs "$DOMAIN" "$ETC" 2>/dev/null; then fail "render.sh overwrote an existing config without --force"; fi
ok "bad domain refused; existing config kept without --force"

# ---- 2. the same template, live on loopback ------------------------------------------------
port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
PORT=""
# 15822+: clear of deploy.tech_prosody (15322-15561) and of the kernel's ephemeral range.
for ((p = 15822 + ($$ % 200); p < 15822 + ($$ % 200) + 40; p++)); do
  if port_free "$p"; then PORT="$p"; break; fi
done
[ -n "$PORT" ] || fail "no free port"
LIVE="$BASE/live"
mkdir -p "$LIVE"
chmod 755 "$LIVE"
"$RENDER" --port "$PORT" --interface 127.0.0.1 --data-dir "$LIVE/data" --log-dir "$LIVE/log" \
  --run-dir "$LIVE/run" "$DOMAIN" "$LIVE/etc" >/dev/null || fail "render.sh (loopback) failed"
LCFG="$LIVE/etc/prosody.cfg.lua"
[ "$(stat -c '%U' "$LIVE/data")" = prosody ] || fail "render.sh did not create the data dir for user prosody"
# The loopback render differs from the operator one only in port, interface and paths.
diff <(sed -e "s|$LIVE/etc|CONF|g" -e "s|$LIVE/data|DATA|g" -e "s|$LIVE/log|LOG|g" -e "s|$LIVE/run|RUN|g" \
         -e "s|$PORT|PORT|g" -e 's|"127.0.0.1"|IFACES|' "$LCFG") \
     <(sed -e "s|$ETC|CONF|g" -e "s|/var/lib/prosody-jvb|DATA|g" -e "s|/var/log/prosody-jvb|LOG|g" \
         -e "s|/run/prosody-jvb|RUN|g" -e "s|15222|PORT|g" -e 's|"\*", "::"|IFACES|' "$CFG") ||
  fail "the loopback render differs from the operator render beyond port, interface and paths"
check_config "$LCFG" | grep -q "All checks passed" || fail "check config failed on the loopback render"

JVB_PASSWORD="$(openssl rand -base64 24 | tr -d '/+=\n' | head -c 24)"
FOCUS_PASSWORD="$(openssl rand -base64 24 | tr -d '/+=\n' | head -c 24)"
runuser -u prosody -- prosodyctl --config "$LCFG" register jvb "$TECH" "$JVB_PASSWORD" || fail "register jvb failed"
runuser -u prosody -- prosodyctl --config "$LCFG" register focus "$TECH" "$FOCUS_PASSWORD" || fail "register focus failed"
printf 'JVB_PASSWORD=%s\nFOCUS_PASSWORD=%s\n' "$JVB_PASSWORD" "$FOCUS_PASSWORD" >"$LIVE/secrets.env"
chmod 600 "$LIVE/secrets.env"

setsid runuser -u prosody -- prosody --config "$LCFG" -F </dev/null >"$LIVE/console.log" 2>&1 &
WRAPPER=$!
# mod_posix writes the server's PID (the Lua process, child of runuser).
for _ in $(seq 200); do
  if [ -s "$LIVE/run/prosody.pid" ]; then PID="$(tr -dc 0-9 <"$LIVE/run/prosody.pid")"; fi
  [ -n "$PID" ] && ss -Hltnp "sport = :$PORT" 2>/dev/null | grep -q "pid=$PID," && break
  kill -0 "$WRAPPER" 2>/dev/null || break
  sleep 0.1
done
[ -n "$PID" ] || { kill -KILL "$WRAPPER" 2>/dev/null; fail "Prosody wrote no pid file"; }
tr '\0' ' ' <"/proc/$PID/cmdline" | grep -q -- "--config $LCFG" || fail "pid $PID is not the Prosody of $LCFG"
ss -Hltnp "sport = :$PORT" | grep -q "pid=$PID," || fail "Prosody (pid $PID) does not listen on $PORT"
ok "Prosody up from the rendered config: pid $PID, 127.0.0.1:$PORT"

timeout 120 "$PYTHON" "$CHECK_PY" --port "$PORT" --domain "$TECH" --secrets "$LIVE/secrets.env" --timeout 10 ||
  fail "check_tech_prosody.py failed against the rendered config"

kill -TERM "$PID"
for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then fail "Prosody pid $PID still alive 10 s after TERM"; fi
wait "$WRAPPER" 2>/dev/null || true
PID=""
ok "stopped by PID"
echo "PASS: deploy.prosody_render"
