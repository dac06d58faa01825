#!/usr/bin/env bash
# scripts/prosody.sh — run the project's "tech" Prosody (the seed's prosody-jvb,
# see deploy/prosody/prosody.cfg.lua.in) as a local instance in its own directory.
#
# Usage:
#   scripts/prosody.sh start    [--dir DIR] [--port N] [--domain D] [--interface ADDR]
#                               [--user NAME]... [--print-secrets]
#   scripts/prosody.sh stop     [--dir DIR] [--port N]
#   scripts/prosody.sh status   [--dir DIR] [--port N]          # exit 0 iff running
#   scripts/prosody.sh register [--dir DIR] [--port N] [--domain D] [--print-secrets] NAME...
#   scripts/prosody.sh secrets  [--dir DIR] [--port N]          # print DIR/secrets.env
# Options may come before or after the command. Environment equivalents:
#   PROSODY_DIR, PROSODY_PORT (default 15222), PROSODY_DOMAIN (default tech.example.test),
#   PROSODY_INTERFACE (default 127.0.0.1), PROSODY_EXTRA_USERS (space-separated),
#   PROSODY_START_TIMEOUT (seconds, default 20).
# Default DIR: /var/lib/jvb-audio/prosody-<port>. When stop/status/secrets get
# only --dir, port and domain are read from DIR/instance.env.
#
# start: renders the config and the mod_firewall rule into DIR, creates a
#   self-signed certificate (SAN: D, muc.D, localhost, 127.0.0.1), registers
#   the users jvb and focus (plus every --user), runs `prosodyctl check config`,
#   then starts `runuser -u prosody -- prosody --config DIR/prosody.cfg.lua -F`
#   in the background (own session), writes its PID to DIR/prosody.pid and waits
#   (bounded) until the port accepts TCP. A no-op when an instance from DIR is
#   already running (stop + start to apply template changes). Fails with a
#   clear message when the port is taken by something else, and with the tail
#   of the Prosody logs when it does not come up.
# stop: TERM by PID, bounded wait, then KILL; removes DIR/prosody.pid.
# All commands are idempotent; concurrent calls on one DIR are serialised (flock).
#
# DIR/secrets.env (root:root, mode 600; KEY=VALUE lines, usable with `source`):
#   JVB_PASSWORD=...        password of jvb@D (all bridges log in as this user)
#   JVB_XMPP_PASSWORD=...   the same value, under the name the bridge config uses
#   FOCUS_PASSWORD=...      password of focus@D (the focus / Jicofo)
#   <NAME>_PASSWORD=...     one per extra user (NAME upper-cased, [^A-Z0-9] -> _)
# Existing values are kept (JVB_XMPP_PASSWORD is used for jvb when JVB_PASSWORD is
# absent); missing ones are generated with
# `openssl rand -base64 24 | tr -d '/+=' | head -c 24`, as the seed's
# scripts/generate-secrets.sh does (24 characters).
# DIR/instance.env (mode 644, not secret): PROSODY_PORT, PROSODY_INTERFACE,
#   PROSODY_DOMAIN, PROSODY_MUC_DOMAIN, PROSODY_BREWERY_JID, PROSODY_CONFIG.
# Other files in DIR: prosody.cfg.lua, firewall/jvb_muc_presence_filter.pfw,
#   certs/D.{key,crt}, data/ (accounts), log/prosody.{log,err,console}, prosody.pid.
#
# Must run as root (it switches to user prosody). Every parent directory of DIR
# must be traversable by user prosody (e.g. not under a mode-700 directory).
set -euo pipefail

readonly SELF="prosody.sh"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly TEMPLATE_DIR="$REPO_ROOT/deploy/prosody"
readonly PROSODY_USER=prosody

log() { echo "$SELF: $*" >&2; }
die() { echo "$SELF: error: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------
# Arguments
CMD=""
DIR="${PROSODY_DIR:-}"
PORT="${PROSODY_PORT:-}"
DOMAIN="${PROSODY_DOMAIN:-}"
INTERFACE="${PROSODY_INTERFACE:-}"
START_TIMEOUT="${PROSODY_START_TIMEOUT:-20}"
PRINT_SECRETS=0
# shellcheck disable=SC2206
EXTRA_USERS=(${PROSODY_EXTRA_USERS:-})
ARGS=()

while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; DIR="$2"; shift 2 ;;
    --dir=*) DIR="${1#*=}"; shift ;;
    --port) [ $# -ge 2 ] || die "--port needs a value"; PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#*=}"; shift ;;
    --domain) [ $# -ge 2 ] || die "--domain needs a value"; DOMAIN="$2"; shift 2 ;;
    --domain=*) DOMAIN="${1#*=}"; shift ;;
    --interface) [ $# -ge 2 ] || die "--interface needs a value"; INTERFACE="$2"; shift 2 ;;
    --interface=*) INTERFACE="${1#*=}"; shift ;;
    --user) [ $# -ge 2 ] || die "--user needs a value"; EXTRA_USERS+=("$2"); shift 2 ;;
    --user=*) EXTRA_USERS+=("${1#*=}"); shift ;;
    --print-secrets) PRINT_SECRETS=1; shift ;;
    -h|--help) usage ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) if [ -z "$CMD" ]; then CMD="$1"; else ARGS+=("$1"); fi; shift ;;
  esac
done
[ -n "$CMD" ] || usage
case "$CMD" in
  start|stop|status|register|secrets) ;;
  *) die "unknown command '$CMD' (start|stop|status|register|secrets)" ;;
esac
[ "$(id -u)" -eq 0 ] || die "must run as root (Prosody runs as user $PROSODY_USER via runuser)"

if [ -z "$DIR" ]; then
  DIR="/var/lib/jvb-audio/prosody-${PORT:-15222}"
fi
DIR="$(realpath -m -- "$DIR")"
[[ "$DIR" =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "instance dir '$DIR' has characters this script does not quote ([A-Za-z0-9._/+-] only)"
[ "$DIR" != "/" ] || die "refusing to use / as the instance dir"

readonly CFG="$DIR/prosody.cfg.lua"
readonly PIDFILE="$DIR/prosody.pid"
readonly SECRETS="$DIR/secrets.env"
readonly INSTANCE_ENV="$DIR/instance.env"

# Values not given fall back to the instance's recorded ones, then to defaults.
if [ -r "$INSTANCE_ENV" ]; then
  rec_port="$(sed -n 's/^PROSODY_PORT=//p' "$INSTANCE_ENV")"
  rec_domain="$(sed -n 's/^PROSODY_DOMAIN=//p' "$INSTANCE_ENV")"
  rec_interface="$(sed -n 's/^PROSODY_INTERFACE=//p' "$INSTANCE_ENV")"
else
  rec_port="" rec_domain="" rec_interface=""
fi
PORT="${PORT:-${rec_port:-15222}}"
DOMAIN="${DOMAIN:-${rec_domain:-tech.example.test}}"
INTERFACE="${INTERFACE:-${rec_interface:-127.0.0.1}}"
DOMAIN="${DOMAIN,,}"

if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then die "bad port '$PORT'"; fi
[[ "$DOMAIN" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$ ]] || die "bad domain '$DOMAIN'"
[[ "$INTERFACE" =~ ^[0-9a-fA-F.:*]+$ ]] || die "bad interface '$INTERFACE'"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "bad PROSODY_START_TIMEOUT '$START_TIMEOUT'"
readonly MUC_DOMAIN="muc.$DOMAIN"

# Address to probe for "port accepts TCP".
case "$INTERFACE" in
  0.0.0.0|'*') PROBE_ADDR=127.0.0.1 ;;
  ::) PROBE_ADDR=::1 ;;
  *) PROBE_ADDR="$INTERFACE" ;;
esac

# ---------------------------------------------------------------------------
# Helpers

# PIDs of Prosody server processes started with --config $CFG (the Lua
# interpreter running /usr/bin/prosody, not the runuser wrapper).
instance_pids() {
  local d pid args i
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    [ -r "$d/cmdline" ] || continue
    args=()
    mapfile -d '' -t args 2>/dev/null <"$d/cmdline" || continue
    [ "${#args[@]}" -ge 3 ] || continue
    case "${args[0]##*/}" in lua*) ;; *) continue ;; esac
    [ "${args[1]##*/}" = prosody ] || continue
    for ((i = 2; i < ${#args[@]} - 1; i++)); do
      if [ "${args[$i]}" = "--config" ] && [ "${args[$((i + 1))]}" = "$CFG" ]; then
        echo "$pid"
        break
      fi
    done
  done
}

# Is PID a live Prosody of this instance?
is_instance_pid() {
  local pid="$1" p
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  for p in $(instance_pids); do
    [ "$p" = "$pid" ] && return 0
  done
  return 1
}

# Prints the running instance's PID (fixing a stale or missing pid file); returns 1 if none.
running_pid() {
  local pid=""
  if [ -f "$PIDFILE" ]; then
    pid="$(tr -dc '0-9' <"$PIDFILE" || true)"
    if [ -n "$pid" ] && is_instance_pid "$pid"; then
      echo "$pid"
      return 0
    fi
    rm -f "$PIDFILE"
  fi
  pid="$(instance_pids | head -n1)"
  if [ -n "$pid" ]; then
    echo "$pid" >"$PIDFILE"
    echo "$pid"
    return 0
  fi
  return 1
}

port_accepts() {
  # shellcheck disable=SC2016  # $1/$2 expand in the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$PROBE_ADDR" "$PORT" 2>/dev/null
}

# Listening sockets on $PORT (any address), one line each; empty if none.
port_listeners() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$PORT" 2>/dev/null || true
  elif port_accepts; then
    echo "something accepts connections on $PROBE_ADDR:$PORT"
  fi
}

log_tail() {
  local f
  for f in "$DIR/log/prosody.err" "$DIR/log/prosody.log" "$DIR/log/prosody.console"; do
    if [ -s "$f" ]; then
      echo "----- tail of $f -----" >&2
      tail -n 25 "$f" >&2
    fi
  done
}

prosodyctl_run() {
  runuser -u "$PROSODY_USER" -- prosodyctl --config "$CFG" "$@"
}

secret_key_for() {
  local u="${1^^}"
  echo "${u//[^A-Z0-9]/_}_PASSWORD"
}

# Reads secrets.env into the associative array SECRET (only KEY=VALUE lines).
declare -A SECRET=()
load_secrets() {
  SECRET=()
  [ -f "$SECRETS" ] || return 0
  local line key val
  while IFS= read -r line || [ -n "$line" ]; do
    [[ "$line" =~ ^([A-Z0-9_]+)=(.*)$ ]] || continue
    key="${BASH_REMATCH[1]}"
    val="${BASH_REMATCH[2]}"
    val="${val%\"}"; val="${val#\"}"; val="${val%\'}"; val="${val#\'}"
    SECRET[$key]="$val"
  done <"$SECRETS"
}

save_secrets() {
  local tmp key
  tmp="$(mktemp "$DIR/.secrets.env.XXXXXX")"
  chmod 600 "$tmp"
  {
    echo "# Secrets of the jvb-audio tech Prosody in $DIR (written by scripts/prosody.sh). Keep private."
    echo "# JVB_XMPP_PASSWORD is JVB_PASSWORD under the name the bridge config uses."
    for key in JVB_PASSWORD JVB_XMPP_PASSWORD FOCUS_PASSWORD; do
      [ -n "${SECRET[$key]:-}" ] && echo "$key=${SECRET[$key]}"
    done
    for key in $(printf '%s\n' "${!SECRET[@]}" | sort); do
      case "$key" in JVB_PASSWORD|JVB_XMPP_PASSWORD|FOCUS_PASSWORD) continue ;; esac
      echo "$key=${SECRET[$key]}"
    done
  } >"$tmp"
  chown root:root "$tmp"
  mv -f "$tmp" "$SECRETS"
}

gen_password() {
  local p
  p="$(openssl rand -base64 24 | tr -d '/+=\n')"
  p="${p:0:24}"   # as the seed's '| head -c 24'
  [ -n "$p" ] || die "openssl rand failed"
  echo "$p"
}

# Makes sure each named user has a password in secrets.env; prints nothing.
ensure_passwords() {
  local u key changed=0
  load_secrets
  if [ -z "${SECRET[JVB_PASSWORD]:-}" ] && [ -n "${SECRET[JVB_XMPP_PASSWORD]:-}" ]; then
    SECRET[JVB_PASSWORD]="${SECRET[JVB_XMPP_PASSWORD]}"
  fi
  for u in "$@"; do
    key="$(secret_key_for "$u")"
    if [ -z "${SECRET[$key]:-}" ]; then
      SECRET[$key]="$(gen_password)"
      changed=1
    fi
  done
  if [ -n "${SECRET[JVB_PASSWORD]:-}" ] && [ "${SECRET[JVB_XMPP_PASSWORD]:-}" != "${SECRET[JVB_PASSWORD]}" ]; then
    SECRET[JVB_XMPP_PASSWORD]="${SECRET[JVB_PASSWORD]}"
    changed=1
  fi
  if [ "$changed" -eq 1 ] || [ ! -f "$SECRETS" ]; then
    save_secrets
  fi
  chown root:root "$SECRETS"
  chmod 600 "$SECRETS"
}

validate_user() {
  [[ "$1" =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "bad user name '$1' (lower-case [a-z0-9._-] only)"
}

register_users() {
  local u key out
  for u in "$@"; do validate_user "$u"; done
  ensure_passwords "$@"
  for u in "$@"; do
    key="$(secret_key_for "$u")"
    # Same command as the seed's playbook (prosodyctl register USER DOMAIN PASSWORD);
    # re-registering an existing user just sets the same password again.
    if ! out="$(prosodyctl_run register "$u" "$DOMAIN" "${SECRET[$key]}" 2>&1)"; then
      echo "$out" >&2
      die "prosodyctl register $u $DOMAIN failed"
    fi
  done
}

render() {
  local src="$1" dst="$2" mode="$3" tmp
  [ -r "$src" ] || die "template $src is missing"
  tmp="$(mktemp "$dst.XXXXXX")"
  sed -e "s|@INSTANCE_DIR@|$DIR|g" -e "s|@PORT@|$PORT|g" \
      -e "s|@INTERFACE@|$INTERFACE|g" -e "s|@TECH_DOMAIN@|$DOMAIN|g" "$src" >"$tmp"
  # Placeholders left outside comments (Lua "--", mod_firewall "#") mean a bad template.
  if grep -Ev '^[[:space:]]*(--|#)' "$tmp" | grep -Eq '@[A-Z_]+@|\{\{'; then
    rm -f "$tmp"
    die "unsubstituted placeholder left in $dst"
  fi
  chown "root:$PROSODY_USER" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dst"
}

make_cert() {
  local key="$DIR/certs/$DOMAIN.key" crt="$DIR/certs/$DOMAIN.crt" san
  san="DNS:$DOMAIN,DNS:$MUC_DOMAIN,DNS:localhost,IP:127.0.0.1"
  case "$INTERFACE" in
    127.0.0.1|0.0.0.0|'*'|::) ;;
    *) san="$san,IP:$INTERFACE" ;;
  esac
  if [ -s "$key" ] && [ -s "$crt" ] &&
     openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null 2>&1 &&
     openssl x509 -in "$crt" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:$MUC_DOMAIN"; then
    return 0
  fi
  log "generating a self-signed certificate for $DOMAIN ($san)"
  local out
  if ! out="$(openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$DOMAIN" \
        -addext "subjectAltName=$san" -keyout "$key.tmp" -out "$crt.tmp" 2>&1)"; then
    echo "$out" >&2
    die "openssl could not create the certificate"
  fi
  chown "root:$PROSODY_USER" "$key.tmp" "$crt.tmp"
  chmod 640 "$key.tmp"
  chmod 644 "$crt.tmp"
  mv -f "$key.tmp" "$key"
  mv -f "$crt.tmp" "$crt"
}

write_instance_env() {
  local tmp
  tmp="$(mktemp "$INSTANCE_ENV.XXXXXX")"
  cat >"$tmp" <<EOF
# Written by scripts/prosody.sh (not secret).
PROSODY_PORT=$PORT
PROSODY_INTERFACE=$INTERFACE
PROSODY_DOMAIN=$DOMAIN
PROSODY_MUC_DOMAIN=$MUC_DOMAIN
PROSODY_BREWERY_JID=jvbbrewery@$MUC_DOMAIN
PROSODY_CONFIG=$CFG
EOF
  chmod 644 "$tmp"
  mv -f "$tmp" "$INSTANCE_ENV"
}

# Creates DIR and everything in it (not the secrets/users).
prepare_dir() {
  id "$PROSODY_USER" >/dev/null 2>&1 || die "user $PROSODY_USER does not exist (run scripts/install-deps.sh)"
  if ! command -v prosody >/dev/null || ! command -v prosodyctl >/dev/null; then
    die "prosody is not installed (run scripts/install-deps.sh)"
  fi
  [ -e /usr/lib/prosody/modules/mod_firewall/mod_firewall.lua ] ||
    die "mod_firewall is missing (Debian package prosody-modules; run scripts/install-deps.sh)"
  install -d -o root -g "$PROSODY_USER" -m 750 "$DIR" "$DIR/firewall" "$DIR/certs"
  install -d -o "$PROSODY_USER" -g "$PROSODY_USER" -m 750 "$DIR/data" "$DIR/log"
  render "$TEMPLATE_DIR/prosody.cfg.lua.in" "$CFG" 640
  render "$TEMPLATE_DIR/jvb_muc_presence_filter.pfw.in" "$DIR/firewall/jvb_muc_presence_filter.pfw" 640
  if ! runuser -u "$PROSODY_USER" -- test -r "$CFG" -a -r "$DIR/firewall/jvb_muc_presence_filter.pfw" -a -w "$DIR/data"; then
    die "user $PROSODY_USER cannot reach $DIR: a parent directory is not traversable by it (mode 700?). Use a DIR under /var/lib or /tmp, or chmod o+x its parents"
  fi
  make_cert
  write_instance_env
}

check_config() {
  local out
  if ! out="$(prosodyctl_run check config 2>&1)"; then
    echo "$out" >&2
    die "prosodyctl check config failed for $CFG"
  fi
  if ! grep -q "All checks passed" <<<"$out"; then
    echo "$out" >&2
    log "warning: prosodyctl check config did not report 'All checks passed'"
  fi
}

# Fails if the recorded settings of the running instance differ from the requested ones.
check_running_matches() {
  local what
  for what in PORT DOMAIN INTERFACE; do
    local rec_var="rec_${what,,}"
    local rec="${!rec_var}"
    local want="${!what}"
    [ "$what" = DOMAIN ] && rec="${rec,,}"
    if [ -n "$rec" ] && [ "$rec" != "$want" ]; then
      die "an instance from $DIR is already running with ${what,,} $rec (asked for $want); stop it first"
    fi
  done
}

print_secrets() {
  [ -f "$SECRETS" ] || die "$SECRETS does not exist (run start or register first)"
  grep -E '^[A-Z0-9_]+=' "$SECRETS"
}

# ---------------------------------------------------------------------------
# Commands

cmd_start() {
  local pid users=(jvb focus "${EXTRA_USERS[@]}")
  if pid="$(running_pid)"; then
    check_running_matches
    if [ "${#EXTRA_USERS[@]}" -gt 0 ]; then
      register_users "${EXTRA_USERS[@]}"
    fi
    log "already running from $DIR (pid $pid, $PROBE_ADDR:$PORT, domain $DOMAIN)"
    [ "$PRINT_SECRETS" -eq 0 ] || print_secrets
    return 0
  fi

  local listeners
  listeners="$(port_listeners)"
  if [ -n "$listeners" ]; then
    echo "$listeners" >&2
    die "port $PORT is already in use by another process (see above); pick another --port"
  fi

  prepare_dir
  register_users "${users[@]}"
  check_config

  : >"$DIR/log/prosody.console"
  chown "$PROSODY_USER:$PROSODY_USER" "$DIR/log/prosody.console"
  # Own session (setsid): the instance survives the calling shell and does not
  # get its terminal's signals. runuser stays as the parent of the server.
  # 9>&- : the server must not inherit the lock on DIR/.lock.
  setsid runuser -u "$PROSODY_USER" -- prosody --config "$CFG" -F \
    </dev/null >>"$DIR/log/prosody.console" 2>&1 9>&- &
  local wrapper=$!
  disown "$wrapper" 2>/dev/null || true   # no job reports from this shell

  # Find the server process (child of runuser) and wait for the port.
  local deadline=$((SECONDS + START_TIMEOUT)) ready=0
  pid=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -z "$pid" ]; then
      pid="$(instance_pids | head -n1)"
      [ -n "$pid" ] && echo "$pid" >"$PIDFILE"
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    if [ -z "$pid" ] && ! kill -0 "$wrapper" 2>/dev/null; then
      break
    fi
    if [ -n "$pid" ] && port_accepts; then
      # Make sure the listener is ours, not a process that grabbed the port meanwhile.
      if ! command -v ss >/dev/null 2>&1 || ss -Hltnp "sport = :$PORT" 2>/dev/null | grep -q "pid=$pid,"; then
        ready=1
        break
      fi
    fi
    sleep 0.1
  done

  if [ "$ready" -ne 1 ]; then
    log "Prosody did not come up on $PROBE_ADDR:$PORT within ${START_TIMEOUT}s"
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    kill -KILL "$wrapper" 2>/dev/null || true
    rm -f "$PIDFILE"
    listeners="$(port_listeners)"
    [ -z "$listeners" ] || { echo "listeners on port $PORT:" >&2; echo "$listeners" >&2; }
    log_tail
    die "start failed"
  fi
  log "started from $DIR (pid $pid, $PROBE_ADDR:$PORT, domain $DOMAIN, brewery jvbbrewery@$MUC_DOMAIN)"
  [ "$PRINT_SECRETS" -eq 0 ] || print_secrets
}

cmd_stop() {
  local pid pids
  # The pid file first; then any other server of this DIR (e.g. pid file lost).
  pids="$( { running_pid || true; instance_pids; } | sort -u)"
  if [ -z "$pids" ]; then
    rm -f "$PIDFILE"
    log "not running ($DIR)"
    return 0
  fi
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + 10)) alive
  while :; do
    alive=""
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
    [ -n "$alive" ] || break
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "still alive after TERM:$alive; sending KILL"
      for pid in $alive; do kill -KILL "$pid" 2>/dev/null || true; done
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
  log "stopped ($DIR, pid ${pids//$'\n'/ })"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if port_accepts; then
      echo "running: pid $pid, $PROBE_ADDR:$PORT, domain $DOMAIN, dir $DIR"
    else
      echo "running: pid $pid, dir $DIR (port $PORT not accepting yet)"
    fi
    return 0
  fi
  echo "not running: dir $DIR"
  return 3
}

cmd_register() {
  [ "${#ARGS[@]}" -gt 0 ] || [ "${#EXTRA_USERS[@]}" -gt 0 ] || die "register needs at least one user name"
  local pid
  if pid="$(running_pid)"; then
    check_running_matches
  else
    prepare_dir
  fi
  [ -f "$CFG" ] || prepare_dir
  register_users "${ARGS[@]}" "${EXTRA_USERS[@]}"
  log "registered: ${ARGS[*]} ${EXTRA_USERS[*]} (passwords in $SECRETS)"
  [ "$PRINT_SECRETS" -eq 0 ] || print_secrets
}

# Serialise commands on one DIR (start/stop/register change it).
lock_dir() {
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock -w 60 9 || die "could not lock $DIR/.lock within 60 s"
}

case "$CMD" in
  start) lock_dir; cmd_start ;;
  stop)
    if [ -d "$DIR" ]; then lock_dir; fi
    cmd_stop ;;
  status)
    if [ ! -d "$DIR" ]; then echo "not running: dir $DIR (does not exist)"; exit 3; fi
    cmd_status ;;
  register) lock_dir; cmd_register ;;
  secrets) print_secrets ;;
esac
