#!/usr/bin/env bash
# scripts/load.sh — the bridge under load in one command (README "Load testing"):
# builds jvb-audio and jvb-audio-load if needed, starts a tech Prosody
# (scripts/prosody.sh) in a temporary directory on a free loopback port, starts
# jvb-audio on a generated jvb.conf pointing at it (UDP media on a free port
# bound to 127.0.0.1), runs jvb-audio-load against it with --bridge-pid, and
# stops the bridge and that Prosody by PID on exit.
#
# Usage: scripts/load.sh [--loudest on|off] [--num-loudest N] [--rewriting]
#                        [--ssrc-limit N] [--new-ssrc-delay MS] [--max-queue-delay MS]
#                        [--bridge-log-level L]
#                        [jvb-audio-load options...]
#   --loudest on|off     videobridge.loudest.route-loudest-only (default off); "on" also
#                        passes --routing loudest to the tool (the bridge may leave
#                        packets out; override with a later --routing)
#   --num-loudest N      videobridge.loudest.num-loudest (default 3)
#   --rewriting          SSRC rewriting: colibri-ws on a free loopback public port
#                        (videobridge.websockets, no TLS) and --rewriting to the tool
#   --ssrc-limit N       videobridge.ssrc-limit.audio (default: the bridge's, 50)
#   --new-ssrc-delay MS  jvb-audio.ssrc-rewriting.new-ssrc-delay (default: the bridge's,
#                        200 ms), also passed to the tool
#   --max-queue-delay MS jvb-audio.media.max-queue-delay (default: the bridge's, 200 ms;
#                        0: no load shedding)
#   --bridge-log-level L the bridge's --log-level (default info; its log is printed
#                        on failure)
# Everything else goes to jvb-audio-load (see its --help), e.g.
#   scripts/load.sh -n 200 -k 3 --duration 20
#   scripts/load.sh --sweep 50:500:50 --csv sweep.csv --svg sweep.svg
# Environment:
#   JVB_BUILD_DIR      build directory (default <repo>/build; configured if missing)
#   JVB_LOAD_NO_BUILD  1: do not build, use what JVB_BUILD_DIR holds
#   JVB_LOAD_KEEP      1: keep the temporary directory (Prosody, jvb.conf, bridge.log)
#   JVB_BRIDGE_WRAPPER a command to run the bridge under (heaptrack, perf record ...)
#   JVB_PROSODY_CPUS   CPU list Prosody is pinned to once started (taskset -a -pc)
#   JVB_TOOL_WRAPPER   a command to run jvb-audio-load under (e.g. "taskset -c 0")
# The bridge runs with LD_PRELOAD=<build>/bench/load/libjvb_alloc_preload.so (added
# to any LD_PRELOAD already set; through the environment, so it reaches the bridge
# under a wrapper too) and JVB_ALLOC_COUNT_FILE, which the tool reads for the
# bridge's heap allocations per forwarded packet (not with a sanitizer build).
# Exit status: jvb-audio-load's (0 ok, 1 failure, 2 bad command line, 130
# interrupted), or 1 when the set-up failed. Needs root (Prosody runs as user prosody).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${JVB_BUILD_DIR:-$root/build}
domain=tech.example.test
loudest=off
num_loudest=3
bridge_log_level=info
rewriting=0
ssrc_limit=""
new_ssrc_delay=""
max_queue_delay=""
tool_args=()

die() { echo "load.sh: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --loudest) [ $# -ge 2 ] || die "--loudest needs on|off"; loudest=$2; shift 2 ;;
    --loudest=*) loudest=${1#*=}; shift ;;
    --num-loudest) [ $# -ge 2 ] || die "--num-loudest needs a value"; num_loudest=$2; shift 2 ;;
    --num-loudest=*) num_loudest=${1#*=}; shift ;;
    --rewriting) rewriting=1; shift ;;
    --ssrc-limit) [ $# -ge 2 ] || die "--ssrc-limit needs a value"; ssrc_limit=$2; shift 2 ;;
    --ssrc-limit=*) ssrc_limit=${1#*=}; shift ;;
    --new-ssrc-delay) [ $# -ge 2 ] || die "--new-ssrc-delay needs a value"; new_ssrc_delay=$2; shift 2 ;;
    --new-ssrc-delay=*) new_ssrc_delay=${1#*=}; shift ;;
    --max-queue-delay) [ $# -ge 2 ] || die "--max-queue-delay needs a value"; max_queue_delay=$2; shift 2 ;;
    --max-queue-delay=*) max_queue_delay=${1#*=}; shift ;;
    --bridge-log-level) [ $# -ge 2 ] || die "--bridge-log-level needs a value"; bridge_log_level=$2; shift 2 ;;
    --bridge-log-level=*) bridge_log_level=${1#*=}; shift ;;
    -h|--help) usage 0 ;;
    *) tool_args+=("$1"); shift ;;
  esac
done
case "$loudest" in
  on) route_loudest=true; tool_args=(--routing loudest "${tool_args[@]}") ;;
  off) route_loudest=false ;;
  *) die "--loudest must be on or off" ;;
esac
if ! [[ "$num_loudest" =~ ^[1-9][0-9]*$ ]]; then die "--num-loudest must be a positive integer"; fi
if [ -n "$ssrc_limit" ] && ! [[ "$ssrc_limit" =~ ^[1-9][0-9]*$ ]]; then
  die "--ssrc-limit must be a positive integer"
fi
if [ -n "$max_queue_delay" ] && ! [[ "$max_queue_delay" =~ ^[0-9]+$ ]]; then
  die "--max-queue-delay must be a whole number of milliseconds"
fi
if [ -n "$new_ssrc_delay" ] && ! [[ "$new_ssrc_delay" =~ ^[0-9]+$ ]]; then
  die "--new-ssrc-delay must be a whole number of milliseconds"
fi
if [ "$rewriting" = 1 ]; then tool_args=(--rewriting "${tool_args[@]}"); fi
if [ -n "$new_ssrc_delay" ]; then tool_args=(--new-ssrc-delay "$new_ssrc_delay" "${tool_args[@]}"); fi
[ "$(id -u)" -eq 0 ] || die "must run as root (scripts/prosody.sh runs Prosody as user prosody)"

# --- Build --------------------------------------------------------------------
bridge_bin="$build/jvb-audio"
tool_bin="$build/bench/load/jvb-audio-load"
if [ "${JVB_LOAD_NO_BUILD:-0}" != 1 ]; then
  if [ ! -f "$build/build.ninja" ]; then
    echo "load.sh: configuring $build" >&2
    cmake -S "$root" -B "$build" -G Ninja >/dev/null
  fi
  targets=(jvb-audio jvb-audio-load)
  # Not defined in sanitizer or fuzzer builds (bench/load/CMakeLists.txt).
  if grep -q 'jvb_alloc_preload' "$build/build.ninja"; then targets+=(jvb_alloc_preload); fi
  cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >&2
fi
[ -x "$bridge_bin" ] || die "$bridge_bin is missing (build it, or set JVB_BUILD_DIR)"
[ -x "$tool_bin" ] || die "$tool_bin is missing (configure with -DJVB_BUILD_BENCH=ON)"

# --- Temporary directory, cleanup by PID ---------------------------------------
tmp=$(mktemp -d /tmp/jvb-audio-load.XXXXXX)
chmod 755 "$tmp"  # user prosody must traverse it
prosody_dir="$tmp/prosody"
bridge_pid=""
tool_pid=""
prosody_started=0
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$tool_pid" ] && kill -0 "$tool_pid" 2>/dev/null; then
    kill -TERM "$tool_pid" 2>/dev/null || true
    wait "$tool_pid" 2>/dev/null || true
  fi
  if [ -n "$bridge_pid" ] && kill -0 -- "-$bridge_pid" 2>/dev/null; then
    # SIGTERM: graceful shutdown, immediate without endpoints; then SIGINT
    # (skip to shutting down), then KILL. To the bridge's whole process group
    # (setsid made it the leader), so that a JVB_BRIDGE_WRAPPER that forks
    # (heaptrack) does not leave the bridge behind.
    kill -TERM -- "-$bridge_pid" 2>/dev/null || true
    for sig in INT KILL; do
      for _ in $(seq 50); do
        kill -0 -- "-$bridge_pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 -- "-$bridge_pid" 2>/dev/null || break
      echo "load.sh: bridge (process group $bridge_pid) still running; sending SIG$sig" >&2
      kill -"$sig" -- "-$bridge_pid" 2>/dev/null || true
    done
    wait "$bridge_pid" 2>/dev/null || true
  fi
  if [ "$prosody_started" = 1 ]; then
    "$root/scripts/prosody.sh" stop --dir "$prosody_dir" >/dev/null 2>&1 || true
  fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && [ -s "$tmp/bridge.log" ]; then
    echo "load.sh: ----- last lines of the bridge log ($tmp/bridge.log) -----" >&2
    tail -n 30 "$tmp/bridge.log" >&2
  fi
  if [ "${JVB_LOAD_KEEP:-0}" = 1 ]; then
    echo "load.sh: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
interrupted=0
# shellcheck disable=SC2317  # invoked by the INT/TERM trap
on_signal() {
  interrupted=1
  # The tool runs in its own session: one SIGINT lets it expire its conference.
  if [ -n "$tool_pid" ]; then kill -INT "$tool_pid" 2>/dev/null || true; else exit 130; fi
}
trap on_signal INT TERM

free_port() {  # free_port tcp|udp
  /usr/bin/python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

# --- Prosody --------------------------------------------------------------------
xmpp_port=""
for attempt in 1 2 3 4 5; do
  xmpp_port=$(free_port tcp)
  prosody_started=1  # from here on, cleanup stops whatever started
  if "$root/scripts/prosody.sh" start --dir "$prosody_dir" --port "$xmpp_port" --domain "$domain" \
      >"$tmp/prosody-start.log" 2>&1; then
    break
  fi
  "$root/scripts/prosody.sh" stop --dir "$prosody_dir" >/dev/null 2>&1 || true
  [ "$attempt" -lt 5 ] || { cat "$tmp/prosody-start.log" >&2; die "could not start Prosody"; }
done
# JVB_PROSODY_CPUS (e.g. 0): Prosody's CPUs (taskset), so that it has a core of its own.
if [ -n "${JVB_PROSODY_CPUS:-}" ]; then
  taskset -a -pc "$JVB_PROSODY_CPUS" "$(tr -dc '0-9' <"$prosody_dir/prosody.pid")" >/dev/null ||
    die "taskset of Prosody to CPUs $JVB_PROSODY_CPUS failed"
  echo "load.sh: Prosody pinned to CPUs $JVB_PROSODY_CPUS" >&2
fi
secret() { sed -n "s/^$1=//p" "$prosody_dir/secrets.env"; }
jvb_password=$(secret JVB_PASSWORD)
focus_password=$(secret FOCUS_PASSWORD)
if [ -z "$jvb_password" ] || [ -z "$focus_password" ]; then
  die "no passwords in $prosody_dir/secrets.env"
fi

# --- Bridge ---------------------------------------------------------------------
http_port=$(free_port tcp)
udp_port=$(free_port udp)
nick="jvb-load-$$"
extra_conf=""
if [ "$rewriting" = 1 ]; then
  public_port=$(free_port tcp)
  # colibri-ws as tests/media/test_bridge_channel.py runs it: no TLS, on loopback.
  extra_conf+="  websockets { enabled = true, domain = \"127.0.0.1:$public_port\", tls = false,"
  extra_conf+=" server-id = \"default-id\" }"$'\n'
  extra_conf+="  http-servers.public { host = 127.0.0.1, port = $public_port }"$'\n'
fi
if [ -n "$ssrc_limit" ]; then extra_conf+="  ssrc-limit.audio = $ssrc_limit"$'\n'; fi
top_conf=""
if [ -n "$new_ssrc_delay" ]; then
  top_conf="jvb-audio.ssrc-rewriting.new-ssrc-delay = $new_ssrc_delay ms"
fi
if [ -n "$max_queue_delay" ]; then
  top_conf+=$'\n'"jvb-audio.media.max-queue-delay = $max_queue_delay ms"
fi
# One TCP socket per colibri-ws endpoint on the bridge: raise the soft limit
# on descriptors (inherited by the bridge and the tool) to the hard one.
hard_nofile=$(ulimit -H -n)
if [ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -gt 65536 ]; then hard_nofile=65536; fi
if [ "$(ulimit -S -n)" != unlimited ] && [ "$(ulimit -S -n)" -lt "$hard_nofile" ]; then
  ulimit -S -n "$hard_nofile" 2>/dev/null || true
fi
cat >"$tmp/jvb.conf" <<EOF
videobridge {
  apis.xmpp-client {
    presence-interval = 1 second
    configs {
      tech {
        HOSTNAME = "127.0.0.1"
        PORT = $xmpp_port
        DOMAIN = "$domain"
        USERNAME = "jvb"
        PASSWORD = "$jvb_password"
        MUC_JIDS = "jvbbrewery@muc.$domain"
        MUC_NICKNAME = "$nick"
        DISABLE_CERTIFICATE_VERIFICATION = true
      }
    }
  }
  apis.rest.enabled = true
  http-servers.private { host = 127.0.0.1, port = $http_port }
  ice.udp { port = $udp_port, bind-address = "127.0.0.1" }
  loudest { route-loudest-only = $route_loudest, num-loudest = $num_loudest }
  shutdown { graceful-shutdown-max-duration = 3 seconds, shutting-down-delay = 1 second }
  stats.interval = 1 second
${extra_conf}}
${top_conf}
EOF
chmod 600 "$tmp/jvb.conf"
# Heap allocation counting (bench/load/alloc_preload.cpp): the preload counts
# every process it reaches, but only one whose executable is jvb-audio writes
# the file (not setsid or a wrapper).
preload="$build/bench/load/libjvb_alloc_preload.so"
bridge_env=()
alloc_note=""
if [ ! -f "$preload" ]; then
  alloc_note="$preload is missing"
elif ldd "$bridge_bin" 2>/dev/null | grep -Eq 'lib(a|t|l|ub|hwa)san'; then
  alloc_note="the bridge links a sanitizer runtime, which must own malloc"
else
  bridge_env=("LD_PRELOAD=$preload${LD_PRELOAD:+:$LD_PRELOAD}"
              "JVB_ALLOC_COUNT_FILE=$tmp/alloc-counts" "JVB_ALLOC_COUNT_EXE=$(basename "$bridge_bin")")
  tool_args=(--alloc-count-file "$tmp/alloc-counts" "${tool_args[@]}")
fi
if [ -n "$alloc_note" ]; then
  echo "load.sh: bridge heap allocations not measured: $alloc_note" >&2
fi
# Its own session: a Ctrl-C meant for the tool does not reach the bridge.
# JVB_BRIDGE_WRAPPER (e.g. "heaptrack -o /tmp/bridge"): a profiler to run it
# under; the CPU and RSS figures are then the wrapper's process.
# shellcheck disable=SC2086
env "${bridge_env[@]}" setsid ${JVB_BRIDGE_WRAPPER:-} "$bridge_bin" --config "$tmp/jvb.conf" --log-level "$bridge_log_level" \
  </dev/null >/dev/null 2>"$tmp/bridge.log" &
bridge_pid=$!
health_ok() {
  /usr/bin/python3 -c 'import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/about/health" % sys.argv[1], timeout=1)' "$http_port" \
    >/dev/null 2>&1
}
for _ in $(seq 200); do
  kill -0 "$bridge_pid" 2>/dev/null || { wait "$bridge_pid" || true; die "the bridge exited during start-up"; }
  health_ok && break
  sleep 0.1
done
health_ok || die "the bridge did not answer /about/health on 127.0.0.1:$http_port within 20 s"
echo "load.sh: Prosody 127.0.0.1:$xmpp_port, bridge pid $bridge_pid (UDP 127.0.0.1:$udp_port," \
  "route-loudest-only $route_loudest, num-loudest $num_loudest$( [ "$rewriting" = 1 ] &&
  echo ", SSRC rewriting, colibri-ws on 127.0.0.1:$public_port"))" >&2

# --- Load -----------------------------------------------------------------------
# The password goes through the environment, not the command line.
# shellcheck disable=SC2086
JVB_LOAD_PASSWORD="$focus_password" setsid ${JVB_TOOL_WRAPPER:-} "$tool_bin" --xmpp-host 127.0.0.1 \
  --xmpp-port "$xmpp_port" --domain "$domain" --user focus --brewery "jvbbrewery@muc.$domain" \
  --bridge-nick "$nick" --bridge-pid "$bridge_pid" \
  --stats-url "http://127.0.0.1:$http_port/colibri/stats" \
  --health-url "http://127.0.0.1:$http_port/about/health" "${tool_args[@]}" &
tool_pid=$!
rc=0
# `wait` returns early when a trapped signal arrives; wait again for the exit.
while kill -0 "$tool_pid" 2>/dev/null; do
  wait "$tool_pid" && rc=0 || rc=$?
done
tool_pid=""
if [ "$interrupted" = 1 ] && [ "$rc" -eq 0 ]; then rc=130; fi
exit "$rc"
