#!/usr/bin/env bash
# deploy/prosody/render.sh — writes the seed deployment's "tech" Prosody
# (prosody-jvb) for a real Jitsi domain: config, mod_firewall rule,
# certificate and systemd unit. See deploy/prosody/README.md.
#
# Usage:
#   deploy/prosody/render.sh [options] DOMAIN OUTDIR
#     DOMAIN   the Jitsi Meet domain (meet.example.org); the tech virtual host
#              is tech.DOMAIN, the brewery jvbbrewery@muc.tech.DOMAIN
#     OUTDIR   the configuration directory to write, normally /etc/prosody-jvb;
#              the config refers to its files by OUTDIR's absolute path
#   Options:
#     --port N           c2s port (default 15222, as the seed)
#     --interface ADDR   listen only on ADDR (default: every interface, as the seed)
#     --data-dir DIR     accounts (default /var/lib/prosody-jvb)
#     --log-dir DIR      logs (default /var/log/prosody-jvb)
#     --run-dir DIR      pid file (default /run/prosody-jvb, systemd's RuntimeDirectory)
#     --no-cert          do not create OUTDIR/certs/tech.DOMAIN.{key,crt}
#     --no-dirs          do not create the data, log and run directories
#     --force            overwrite an existing prosody.cfg.lua / firewall rule
#
# Writes OUTDIR/prosody.cfg.lua, OUTDIR/firewall/jvb_muc_presence_filter.pfw,
# OUTDIR/prosody-jvb.service (copy it to /etc/systemd/system/), and, unless it
# exists or --no-cert, a self-signed certificate (10 years, SAN tech.DOMAIN,
# muc.tech.DOMAIN) in OUTDIR/certs. When run as root it gives group prosody
# read access to OUTDIR and (unless --no-dirs) creates the data, log and run
# directories owned by user prosody. It then prints the commands that create the jvb and focus
# accounts. It starts nothing and registers nothing.
#
# Exit status: 0; 2 bad usage; 1 any other error (nothing half-written: files
# are written to temporary names and renamed).
set -euo pipefail

readonly SELF="render.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly PROSODY_USER=prosody

die() { echo "$SELF: error: $*" >&2; exit 1; }
usage_error() { echo "$SELF: $*" >&2; echo "usage: $SELF [options] DOMAIN OUTDIR (see --help)" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0; }

PORT=15222
INTERFACE=""
DATA_DIR=/var/lib/prosody-jvb
LOG_DIR=/var/log/prosody-jvb
RUN_DIR=/run/prosody-jvb
MAKE_CERT=1
MAKE_DIRS=1
FORCE=0
POS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --port|--interface|--data-dir|--log-dir|--run-dir)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      case "$1" in
        --port) PORT="$2" ;;
        --interface) INTERFACE="$2" ;;
        --data-dir) DATA_DIR="$2" ;;
        --log-dir) LOG_DIR="$2" ;;
        --run-dir) RUN_DIR="$2" ;;
      esac
      shift 2 ;;
    --no-cert) MAKE_CERT=0; shift ;;
    --no-dirs) MAKE_DIRS=0; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) usage ;;
    --) shift; POS+=("$@"); break ;;
    -*) usage_error "unknown option $1" ;;
    *) POS+=("$1"); shift ;;
  esac
done
[ "${#POS[@]}" -eq 2 ] || usage_error "expected DOMAIN and OUTDIR"
DOMAIN="${POS[0],,}"
OUTDIR="${POS[1]}"

[[ "$DOMAIN" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$ ]] ||
  usage_error "bad domain '$DOMAIN' (a DNS name such as meet.example.org)"
case "$DOMAIN" in tech.*) echo "$SELF: note: DOMAIN is the Jitsi domain; the tech host will be tech.$DOMAIN" >&2 ;; esac
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then usage_error "bad port '$PORT'"; fi
if [ -n "$INTERFACE" ]; then
  [[ "$INTERFACE" =~ ^[0-9a-fA-F.:]+$ ]] || usage_error "bad interface '$INTERFACE' (an IPv4 or IPv6 address)"
  INTERFACES="\"$INTERFACE\""
else
  INTERFACES='"*", "::"'
fi
# Paths end up inside Lua strings and sed replacements: keep them plain.
for p in "$OUTDIR" "$DATA_DIR" "$LOG_DIR" "$RUN_DIR"; do
  [[ "$p" =~ ^[A-Za-z0-9._/+-]+$ ]] || usage_error "path '$p' has characters this script does not quote ([A-Za-z0-9._/+-] only)"
done
OUTDIR="$(realpath -m -- "$OUTDIR")"
DATA_DIR="$(realpath -m -- "$DATA_DIR")"
LOG_DIR="$(realpath -m -- "$LOG_DIR")"
RUN_DIR="$(realpath -m -- "$RUN_DIR")"
[ "$OUTDIR" != / ] || usage_error "refusing to write into /"

readonly TECH_DOMAIN="tech.$DOMAIN"
readonly MUC_DOMAIN="muc.$TECH_DOMAIN"
readonly BREWERY="jvbbrewery@$MUC_DOMAIN"
readonly CFG="$OUTDIR/prosody.cfg.lua"
readonly PFW="$OUTDIR/firewall/jvb_muc_presence_filter.pfw"
readonly UNIT="$OUTDIR/prosody-jvb.service"
readonly KEY="$OUTDIR/certs/$TECH_DOMAIN.key"
readonly CRT="$OUTDIR/certs/$TECH_DOMAIN.crt"

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1
HAVE_PROSODY_USER=0
id "$PROSODY_USER" >/dev/null 2>&1 && HAVE_PROSODY_USER=1

if [ "$FORCE" -eq 0 ]; then
  for f in "$CFG" "$PFW"; do
    [ ! -e "$f" ] || die "$f exists (use --force to overwrite it)"
  done
fi
mkdir -p "$OUTDIR/firewall" "$OUTDIR/certs" || die "cannot create $OUTDIR"

# render SRC DST MODE: placeholder substitution into DST, atomically.
render() {
  local src="$1" dst="$2" mode="$3" tmp
  [ -r "$src" ] || die "template $src is missing"
  tmp="$(mktemp "$dst.XXXXXX")"
  sed -e "s|@CONFIG_DIR@|$OUTDIR|g" -e "s|@DATA_DIR@|$DATA_DIR|g" -e "s|@LOG_DIR@|$LOG_DIR|g" \
      -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@PORT@|$PORT|g" -e "s|@INTERFACES@|$INTERFACES|g" \
      -e "s|@INTERFACE@|${INTERFACE:-*}|g" -e "s|@TECH_DOMAIN@|$TECH_DOMAIN|g" "$src" >"$tmp"
  # A placeholder left outside comments (Lua "--", mod_firewall/systemd "#") is a template bug.
  if grep -Ev '^[[:space:]]*(--|#)' "$tmp" | grep -Eq '@[A-Z_]+@|\{\{'; then
    rm -f "$tmp"
    die "unsubstituted placeholder left in $dst"
  fi
  chmod "$mode" "$tmp"
  if [ "$IS_ROOT" -eq 1 ] && [ "$HAVE_PROSODY_USER" -eq 1 ]; then chown "root:$PROSODY_USER" "$tmp"; fi
  mv -f "$tmp" "$dst"
}

render "$HERE/prosody-jvb.cfg.lua.in" "$CFG" 640
render "$HERE/jvb_muc_presence_filter.pfw.in" "$PFW" 640
render "$HERE/prosody-jvb.service.in" "$UNIT" 644

if [ "$MAKE_CERT" -eq 1 ] && { [ ! -s "$KEY" ] || [ ! -s "$CRT" ]; }; then
  command -v openssl >/dev/null || die "openssl is needed for the certificate (or use --no-cert)"
  if ! out="$(openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$TECH_DOMAIN" \
        -addext "subjectAltName=DNS:$TECH_DOMAIN,DNS:$MUC_DOMAIN" \
        -keyout "$KEY.tmp" -out "$CRT.tmp" 2>&1)"; then
    rm -f "$KEY.tmp" "$CRT.tmp"
    echo "$out" >&2
    die "openssl could not create the certificate"
  fi
  chmod 640 "$KEY.tmp"
  chmod 644 "$CRT.tmp"
  if [ "$IS_ROOT" -eq 1 ] && [ "$HAVE_PROSODY_USER" -eq 1 ]; then chown "root:$PROSODY_USER" "$KEY.tmp" "$CRT.tmp"; fi
  mv -f "$KEY.tmp" "$KEY"
  mv -f "$CRT.tmp" "$CRT"
fi

if [ "$IS_ROOT" -eq 1 ] && [ "$HAVE_PROSODY_USER" -eq 1 ]; then
  chown "root:$PROSODY_USER" "$OUTDIR" "$OUTDIR/firewall" "$OUTDIR/certs"
  chmod 750 "$OUTDIR" "$OUTDIR/firewall" "$OUTDIR/certs"
fi
if [ "$IS_ROOT" -eq 1 ] && [ "$HAVE_PROSODY_USER" -eq 1 ] && [ "$MAKE_DIRS" -eq 1 ]; then
  install -d -o "$PROSODY_USER" -g "$PROSODY_USER" -m 750 "$DATA_DIR" "$LOG_DIR"
  install -d -o "$PROSODY_USER" -g "$PROSODY_USER" -m 755 "$RUN_DIR"
fi

cat <<EOF
Wrote $CFG
      $PFW  (drops brewery presence to jvb* users; FROM $BREWERY)
      $UNIT
      $OUTDIR/certs/$TECH_DOMAIN.{key,crt}
Tech virtual host $TECH_DOMAIN on c2s port $PORT, brewery $BREWERY.

Next steps (as root):
  runuser -u $PROSODY_USER -- prosodyctl --config $CFG check config
  # the accounts: every bridge logs in as jvb, Jicofo as focus (its service connection)
  JVB_PASSWORD=\$(openssl rand -base64 24 | tr -d '/+=' | head -c 24)
  FOCUS_PASSWORD=\$(openssl rand -base64 24 | tr -d '/+=' | head -c 24)
  runuser -u $PROSODY_USER -- prosodyctl --config $CFG register jvb $TECH_DOMAIN "\$JVB_PASSWORD"
  runuser -u $PROSODY_USER -- prosodyctl --config $CFG register focus $TECH_DOMAIN "\$FOCUS_PASSWORD"
  # \$JVB_PASSWORD goes to each bridge's jvb.conf (xmpp-client PASSWORD),
  # \$FOCUS_PASSWORD to jicofo.conf (jicofo.xmpp.service.password)
  cp $UNIT /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now prosody-jvb
EOF
